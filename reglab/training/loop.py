"""One training loop for every regime: batches, optimiser, progress bar, validation, checkpoints, resume.

:func:`fit` trains a registration network with a regime of
:mod:`reglab.training.regimes`. It is deterministic for a given ``seed``:
batch ``k`` is drawn from a generator seeded by ``(seed, epoch)``, the global
RNG (used by HyperMorph's λ and the GAN's instance noise) is seeded at the start
and saved in every checkpoint, so a run resumed from a checkpoint ends with
exactly the weights of an uninterrupted run. Checkpoints are plain state dicts
(``torch.save`` of tensors, numbers, lists and dicts) and are loaded with
``torch.load(..., weights_only=True)``, which never executes pickled code.

:func:`evaluate` measures a network on validation pairs: Dice, HD95, folding
fraction, TRE (when the pairs have landmarks) and the endpoint error to the
true field (when they have one).

Labs 06 and 07 use it. Mixed precision is available with ``amp=True``
(``torch.autocast`` on the data's device: bfloat16 on a CPU, float16 with a
gradient scaler elsewhere).

Data-parallel training (:mod:`reglab.training.distributed`) needs no change to
the script, only its launch: under ``torchrun --nproc_per_node N`` every process
trains a copy of the model on its shard of each batch (``batch_size`` pairs per
process), the gradients are averaged, the validation measures too, and rank 0
alone shows progress and writes checkpoints::

    torchrun --standalone --nproc_per_node 2 benchmarks/train_ddp.py     # 2 processes (gloo on CPUs, NCCL on GPUs)
    python benchmarks/train_ddp.py                                       # the same script, one process
"""

import os
import tempfile
from pathlib import Path

import torch
from torch.utils.data import DistributedSampler
from tqdm.auto import tqdm

from reglab import evaluation
from reglab.networks.hypermorph import HyperMorph
from reglab.training import data_parallel
from reglab.training.data import TensorPairs
from reglab.warping import warp


def _collate(dataset, indices):
    if isinstance(dataset, TensorPairs):
        return dataset.batch(indices)
    items = [dataset[int(i)] for i in indices]
    return {name: torch.stack([item[name] for item in items]) for name in items[0]}


def batch_indices(length, batch_size, step, seed, *, rank=0, world_size=1):
    """The dataset indices of batch ``step`` for process ``rank``: a seeded permutation per epoch, cut into batches.

    A ``DistributedSampler`` draws the permutation of epoch ``e`` from the seed
    ``seed · 1_000_003 + e`` and gives process ``rank`` every ``world_size``-th
    index (padded by repetition to equal shares); batch ``k`` of the epoch is
    items ``k · batch_size …`` of that share. With one process the share is the
    whole permutation.

    Example:
        >>> batch_indices(6, 2, 0, seed=0).tolist(), batch_indices(6, 2, 3, seed=0).tolist()
        ([2, 5], [1, 5])
        >>> batch_indices(6, 1, 0, seed=0, rank=0, world_size=2).tolist(), batch_indices(6, 1, 0, seed=0, rank=1,
        ...                                                                             world_size=2).tolist()
        ([2], [5])
    """
    sampler = DistributedSampler(range(length), num_replicas=world_size, rank=rank, shuffle=True,
                                 seed=seed * 1_000_003)
    per_epoch = max(len(sampler) // batch_size, 1)
    epoch, k = divmod(step, per_epoch)
    sampler.set_epoch(epoch)
    return torch.tensor(list(sampler)[k * batch_size:(k + 1) * batch_size], dtype=torch.long)


def _to(batch, device):
    return {name: value.to(device) for name, value in batch.items()}


def save_checkpoint(path, *, model, optimizer, regime, step, history, seed):
    """Write a checkpoint: model, optimiser and regime state dicts, step, history, seed and RNG state.

    The file is written under a temporary name in the same folder and then renamed
    (``os.replace``, atomic): an interrupted run never leaves a half-written checkpoint.
    """
    state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "regime": regime.state_dict(),
             "step": step, "history": history, "seed": seed, "rng": torch.get_rng_state()}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    try:
        torch.save(state, temporary)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


def load_checkpoint(path, *, model, optimizer=None, regime=None):
    """Restore a checkpoint written by :func:`save_checkpoint` (``weights_only=True``); return its dict.

    Example:
        >>> import tempfile, os
        >>> from reglab.networks import UNet
        >>> from reglab.training import Unsupervised
        >>> net = UNet(2, features=(4, 8)); opt = torch.optim.Adam(net.parameters())
        >>> path = os.path.join(tempfile.mkdtemp(), "run.pt")
        >>> save_checkpoint(path, model=net, optimizer=opt, regime=Unsupervised(), step=3, history={}, seed=0)
        >>> load_checkpoint(path, model=UNet(2, features=(4, 8)))["step"]
        3
    """
    state = torch.load(path, map_location="cpu", weights_only=True)
    model.load_state_dict(state["model"])
    if optimizer is not None:
        optimizer.load_state_dict(state["optimizer"])
    if regime is not None:
        regime.load_state_dict(state["regime"])
    return state


def fit(model, regime, dataset, *, steps=100, batch_size=4, lr=1e-3, validation=None, validate_every=None,
        checkpoint=None, checkpoint_every=None, resume=False, seed=0, progress=True, amp=False, distributed=None):
    """Train ``model`` with ``regime`` on ``dataset`` for ``steps`` optimiser steps.

    Args:
        model: a registration network (:mod:`reglab.networks`), already on its device.
        regime: :class:`~reglab.training.Supervised`, :class:`~reglab.training.Unsupervised`
            or :class:`~reglab.training.Adversarial`.
        dataset: a dataset of dicts of tensors (:class:`~reglab.training.TensorPairs`,
            :class:`reglab.data.SyntheticPairs`); batches are moved to the model's device.
        steps: total optimiser steps (including those done before a resume).
        batch_size: pairs per step and process (data-parallel: ``world size × batch_size`` per step).
        lr: Adam's learning rate.
        validation: pairs for :func:`evaluate`, or None.
        validate_every: validate every this many steps (default: at the end only).
        checkpoint: a path to write checkpoints to, or None.
        checkpoint_every: write one every this many steps (default: at the end only).
        resume: continue from ``checkpoint`` when the file exists.
        seed: the seed of batches, the global RNG and the run.
        progress: show a progress bar.
        amp: mixed precision (autocast) on the model's device.
        distributed: train data-parallel over the processes of a ``torch.distributed`` group
            (:mod:`reglab.training.data_parallel`; an accelerator model moves to device ``LOCAL_RANK``).
            Default: yes when launched by torchrun with ``WORLD_SIZE > 1``, or inside such a group.

    Returns:
        The history: ``{"step": [...], "loss": [...], "validation": [{"step": k, **measures}, ...]}``
        plus one list per value the regime logs (data-parallel: means over the processes, the same
        history in every process).

    Example:
        >>> from reglab.networks import UNet
        >>> from reglab.training import Unsupervised, make_pairs
        >>> _ = torch.manual_seed(0); net = UNet(2, features=(4, 8))
        >>> history = fit(net, Unsupervised(similarity="mse"), make_pairs(2, size=(16, 16), landmarks=0), steps=3,
        ...               batch_size=2, progress=False)
        >>> len(history["loss"]), history["step"]
        (3, [1, 2, 3])
    """
    parallel = data_parallel.requested(distributed)
    device = next(model.parameters()).device
    if parallel:
        device = data_parallel.start(device)
        model.to(device)
    rank, world_size = data_parallel.rank_and_size(parallel)
    optimizer = torch.optim.Adam(regime.parameters(model), lr=lr)
    history, start = {"step": [], "loss": [], "validation": []}, 0
    torch.manual_seed(seed)                                      # the same seed in every process
    if resume and checkpoint is not None and Path(checkpoint).exists():
        state = load_checkpoint(checkpoint, model=model, optimizer=optimizer, regime=regime)
        history, start = state["history"], state["step"]
        torch.set_rng_state(state["rng"])
    network = regime.distribute(model, data_parallel.wrap) if parallel else model   # what the regime calls
    scaler = torch.amp.GradScaler(device.type, enabled=amp and device.type != "cpu")
    precision = torch.bfloat16 if device.type == "cpu" else torch.float16
    network.train()
    bar = tqdm(range(start, steps), initial=start, total=steps, disable=not progress or rank != 0, desc="training")
    for step in bar:
        indices = batch_indices(len(dataset), batch_size, step, seed, rank=rank, world_size=world_size)
        batch = _to(_collate(dataset, indices), device)
        optimizer.zero_grad()
        with torch.autocast(device.type, dtype=precision, enabled=amp):
            loss, logs = regime(network, batch)
        scaler.scale(loss).backward()                            # data-parallel: gradients averaged here
        scaler.step(optimizer)
        scaler.update()
        _record(history, step + 1, loss.item(), logs, device if parallel else None)
        bar.set_postfix(loss=f"{history['loss'][-1]:.4f}")
        if validation is not None and _due(step + 1, steps, validate_every):
            history["validation"].append({"step": step + 1, **_validate(model, validation, rank, world_size)})
            network.train()
        if checkpoint is not None and rank == 0 and _due(step + 1, steps, checkpoint_every):
            save_checkpoint(checkpoint, model=model, optimizer=optimizer, regime=regime, step=step + 1,
                            history=history, seed=seed)
    model.eval()
    if parallel:
        data_parallel.wait()
    return history


def _due(step, steps, every):
    """Whether something done "every ``every`` steps (and at the end)" is due after step ``step``."""
    return step == steps or bool(every and step % every == 0)


def _record(history, step, loss, logs, device):
    """Append one step's loss and logs to ``history``; with a ``device``, their means over the processes."""
    values = [loss, *logs.values()]
    if device is not None:
        values = data_parallel.average(values, device)
    history["step"].append(step)
    history["loss"].append(values[0])
    for name, value in zip(logs, values[1:]):
        history.setdefault(name, []).append(value)


def _validate(model, pairs, rank, world_size):
    """:func:`evaluate` with the pairs shared out over the processes (pair ``i`` to rank ``i mod world_size``)."""
    totals, count = _measure_sums(model, pairs, torch.arange(rank, len(pairs), world_size), batch_size=8, lam=None)
    if world_size > 1:
        totals, count = data_parallel.sum_over_processes(totals, count)
    return {name: total / count for name, total in sorted(totals.items())}


@torch.no_grad()
def predict(model, fixed, moving, *, lam=None):
    """The model's displacement in evaluation mode (``lam`` for HyperMorph); ``model=None`` is the identity."""
    if model is None:
        return fixed.new_zeros(fixed.shape[0], fixed.dim() - 2, *fixed.shape[2:])
    model.eval()
    return model(fixed, moving, lam=lam) if isinstance(model, HyperMorph) else model(fixed, moving)


def evaluate(model, pairs, *, batch_size=8, lam=None):
    """Mean validation measures of ``model`` on ``pairs`` (``model=None``: before registration).

    Returns a dict of floats: ``dice`` (mean over labels and pairs), ``hd95`` (voxels),
    ``folding`` (% of voxels with ``J ≤ 0``), ``tre`` (voxels, when the pairs have
    landmarks), ``epe`` (mean endpoint error to the true field, voxels, when known).

    Example:
        >>> from reglab.training import make_pairs
        >>> before = evaluate(None, make_pairs(2))
        >>> sorted(before), before["folding"]
        (['dice', 'epe', 'folding', 'hd95', 'tre'], 0.0)
    """
    totals, count = _measure_sums(model, pairs, torch.arange(len(pairs)), batch_size=batch_size, lam=lam)
    return {name: total / count for name, total in sorted(totals.items())}


def _measure_sums(model, pairs, indices, *, batch_size, lam):
    """Sums over the pairs ``indices`` of every measure of :func:`evaluate`, and their number."""
    totals, count = {}, 0
    device = next(model.parameters()).device if model is not None else None
    for chunk in indices.split(batch_size):
        batch = _collate(pairs, chunk)
        if device is not None:
            batch = _to(batch, device)
        displacement = predict(model, batch["fixed"], batch["moving"], lam=lam)
        warped_labels = warp(batch["moving_labels"], displacement, mode="nearest")
        measures = {
            "dice": evaluation.dice(batch["fixed_labels"], warped_labels).mean(dim=1),
            "hd95": evaluation.hd95(batch["fixed_labels"], warped_labels).mean(dim=1),
            "folding": 100.0 * evaluation.folding_fraction(displacement),
        }
        if batch.get("fixed_landmarks") is not None and batch["fixed_landmarks"].shape[1] > 0:
            measures["tre"] = evaluation.tre(batch["fixed_landmarks"], batch["moving_landmarks"], displacement).mean(1)
        if "displacement" in batch:
            measures["epe"] = (displacement - batch["displacement"]).norm(dim=1).flatten(1).mean(dim=1)
        for name, values in measures.items():
            totals[name] = totals.get(name, 0.0) + values.sum().item()
        count += batch["fixed"].shape[0]
    return totals, count
