"""Tests for data-parallel training (reglab.training.data_parallel, fit under torchrun).

Two real processes on the CPU (the gloo backend), started by torchrun running this file, train one step; one
process then takes the same step on the union of their batches with plain autograd and Adam (the reference).
Data parallelism is right when both processes hold the reference's averaged gradient and parameters.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from reglab.networks import GANRegistration, HyperMorph, VoxelMorph
from reglab.training import Adversarial, Unsupervised, batch_indices, evaluate, fit, make_pairs
from reglab.training.data_parallel import requested

TINY_VXM = ((4, 8), (8, 8, 4))
REGIME = dict(similarity="mse", weight=0.1)
LR = 1e-2


def _pairs():
    return make_pairs(4, size=(32, 32), seed=3, landmarks=0)


def _validation():
    return make_pairs(3, seed=4)                     # 3 pairs of 64 × 64 with landmarks: shares of 2 and 1


def _voxelmorph():
    torch.manual_seed(0)
    return VoxelMorph(2, features=TINY_VXM)


OTHERS = {                                                            # regimes with their own data-parallel paths
    "gan": (lambda: GANRegistration(2, generator=VoxelMorph(2, features=TINY_VXM), features=(4, 8)), Adversarial),
    "hypermorph": (lambda: HyperMorph(2, features=TINY_VXM, hyper=(8,)), lambda: Unsupervised(similarity="mse")),
}


def _worker(folder):
    """One of the processes torchrun starts: train, save what the test compares."""
    torch.set_num_threads(1)
    rank = int(os.environ["RANK"])
    model = _voxelmorph()
    if rank == 1:                                                     # rank 0's weights must reach every copy
        with torch.no_grad():
            for parameter in model.parameters():
                parameter.add_(1.0)
    history = fit(model, Unsupervised(**REGIME), _pairs(), steps=1, batch_size=2, lr=LR, validation=_validation(),
                  checkpoint=folder / "run.pt", progress=False)
    result = {"parameters": [p.detach() for p in model.parameters()], "history": history,
              "gradients": [p.grad for p in model.parameters()]}
    for name, (model_fn, regime_fn) in OTHERS.items():
        torch.manual_seed(rank)                                       # different copies until fit wraps them
        other = model_fn()
        fit(other, regime_fn(), _pairs(), steps=2, batch_size=2, lr=LR, progress=False)
        result[name] = [p.detach() for p in other.parameters()]
    torch.save(result, folder / f"rank{rank}.pt")


@pytest.fixture(scope="module")
def two_processes(tmp_path_factory):
    """Run this file under ``torchrun --nproc_per_node 2``; return each rank's results and the folder."""
    folder = tmp_path_factory.mktemp("ddp")
    environment = {name: value for name, value in os.environ.items() if name not in ("RANK", "WORLD_SIZE",
                                                                                      "LOCAL_RANK", "MASTER_ADDR",
                                                                                      "MASTER_PORT")}
    environment["OMP_NUM_THREADS"] = "1"
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", __file__,
               str(folder)]
    with subprocess.Popen(command, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, encoding="utf-8",
                          errors="replace") as run:
        try:
            _, errors = run.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            run.terminate()                               # SIGTERM: torchrun stops its workers (own sessions) too
            _, errors = run.communicate(timeout=60)
    assert run.returncode == 0, errors[:4000]
    return [torch.load(folder / f"rank{rank}.pt", weights_only=True) for rank in range(2)], folder


def _reference_step():
    """One process, plain autograd and Adam, on the union of the two processes' batches (all 4 pairs)."""
    model = _voxelmorph()
    batch = _pairs().batch(torch.arange(4))
    optimizer = torch.optim.Adam(model.parameters(), lr=LR)
    loss, _ = Unsupervised(**REGIME)(model, batch)
    loss.backward()
    gradients = [p.grad.clone() for p in model.parameters()]
    optimizer.step()
    return model, loss.item(), gradients


def test_the_two_shares_of_a_step_are_the_union_batch():
    shares = [batch_indices(4, 2, 0, seed=0, rank=rank, world_size=2) for rank in range(2)]
    assert sorted(torch.cat(shares).tolist()) == [0, 1, 2, 3]
    permutation = torch.randperm(10, generator=torch.Generator().manual_seed(0 * 1_000_003 + 1))   # epoch 1
    assert batch_indices(10, 5, 1, seed=0, rank=1, world_size=2).tolist() == permutation[1::2].tolist()


def test_two_processes_take_the_step_of_one_process_on_the_union_batch(two_processes):
    (rank0, rank1), _ = two_processes
    reference, loss, gradients = _reference_step()
    for mine, theirs, expected in zip(rank0["gradients"], rank1["gradients"], gradients):
        torch.testing.assert_close(mine, expected, rtol=1e-4, atol=1e-7)     # averaged, not summed
        assert torch.equal(mine, theirs)
    for mine, theirs, expected in zip(rank0["parameters"], rank1["parameters"], reference.parameters()):
        torch.testing.assert_close(mine, expected.detach(), rtol=1e-5, atol=1e-6)
        assert torch.equal(mine, theirs)
    assert rank0["history"]["loss"] == rank1["history"]["loss"]
    assert rank0["history"]["loss"][0] == pytest.approx(loss, rel=1e-5)


def test_validation_measures_are_averaged_over_the_processes(two_processes):
    (rank0, rank1), _ = two_processes
    reference, _, _ = _reference_step()
    expected = evaluate(reference, _validation())
    measured = rank0["history"]["validation"][0]
    assert measured == rank1["history"]["validation"][0]
    assert sorted(measured) == ["dice", "epe", "folding", "hd95", "step", "tre"]
    for name, value in expected.items():
        assert measured[name] == pytest.approx(value, rel=1e-4, abs=1e-6), name


def test_rank_zero_writes_one_complete_checkpoint(two_processes):
    (rank0, _), folder = two_processes
    state = torch.load(folder / "run.pt", weights_only=True)
    for saved, trained in zip(state["model"].values(), rank0["parameters"]):
        assert torch.equal(saved, trained)
    assert sorted(path.name for path in folder.iterdir()) == ["rank0.pt", "rank1.pt", "run.pt"]   # no temporary


@pytest.mark.parametrize("name", list(OTHERS))
def test_gan_and_hypermorph_copies_stay_identical(two_processes, name):
    (rank0, rank1), _ = two_processes
    assert len(rank0[name]) == len(list(OTHERS[name][0]().parameters()))
    for mine, theirs in zip(rank0[name], rank1[name]):
        assert torch.equal(mine, theirs)


def test_requested_follows_the_launch(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert not requested() and requested(True) and not requested(False)
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert requested() and not requested(False)
    monkeypatch.setenv("WORLD_SIZE", "1")
    assert not requested()


def test_distributed_without_a_launch_says_how_to_launch(monkeypatch):
    for name in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ValueError, match="fit\\(\\): expected a process group or a torchrun launch.*torchrun"):
        fit(_voxelmorph(), Unsupervised(**REGIME), _pairs(), steps=1, progress=False, distributed=True)


if __name__ == "__main__":
    _worker(Path(sys.argv[1]))
