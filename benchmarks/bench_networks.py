"""Speed and accuracy of reglab's registration networks.

    python benchmarks/bench_networks.py                          # every table, CPU (+ GPU columns when there is one)
    python benchmarks/bench_networks.py --tables speed --shapes 3d --threads 1 --repeats 5
    python benchmarks/bench_networks.py --tables voxelmorph --shapes 2d 3d
    python benchmarks/bench_networks.py --quick                  # 2D only, 2 repeats

Tables:
1. ``speed``: training steps per second (forward + local NCC/diffusion loss + backward + Adam, batch 1) and
   inference time per pair, for each network's default (small) configuration, 2D 128 × 128 and 3D 64 × 64 × 64;
   one pair of columns per device (the CPU, and the GPU when PyTorch sees one);
2. ``voxelmorph``: reglab's VoxelMorph training step next to the ``voxelmorph`` package's PyTorch model
   (``VxmPairwise``) of the same configuration: the same convolutions (encoder 16-32-32-32, decoder 32-32-32-32
   and one full-resolution 32, LeakyReLU 0.2, max pooling, nearest upsampling), the same integration (none, or
   7 scaling-and-squaring steps), the same loss (MSE or local NCC, window 9, + λ · squared-gradient, λ = 0.01) each
   package computing it with its own warping and loss functions, the same input, optimiser (Adam, lr 1e-4) and
   threads. The two steps alternate within each repeat, so a change of machine load hits both;
3. ``accuracy``: the shipped pretrained weights on 16 held-out synthetic 64 × 64 pairs (seed 2): Dice, HD95
   (voxels), TRE (voxels), endpoint error to the true field (voxels), folding (% of voxels with J ≤ 0).

Every time is the median over ``--repeats`` timed calls after one warm-up call; ``--threads`` fixes the CPU
threads (default 1, the number the course's tests and labs use per process).
"""

import argparse
import statistics
import time

import torch
from torch import nn

from reglab.console import tolerate_any_terminal
from reglab.networks import NETWORKS, VoxelMorph, create, load_pretrained
from reglab.training import Unsupervised, evaluate, make_pairs

BENCHMARKED = ["unet", "resunet", "voxelmorph", "voxelmorph-diff", "lapirn", "hypermorph", "symnet", "transmorph",
               "gan"]
SHAPES = {"2d": (128, 128), "3d": (64, 64, 64)}
SAME_FEATURES = ((16, 32, 32, 32), (32, 32, 32, 32, 32))
"""reglab's ``features`` that build the convolutions of ``VxmPairwise(nb_features=[[16, 32, 32, 32], [32] * 4])``."""
WEIGHT = 0.01
"""λ of the comparison's loss."""


def _synchronize(device):
    if device.type != "cpu":
        getattr(torch, device.type).synchronize()


def _once(function, device):
    """Seconds of one call of ``function`` (the device synchronised before and after)."""
    _synchronize(device)
    start = time.perf_counter()
    function()
    _synchronize(device)
    return time.perf_counter() - start


def _median_times(functions, repeats, device):
    """Median seconds per call of each function; one warm-up call each, then they alternate ``repeats`` times."""
    for function in functions:
        function()
    times = [[] for _ in functions]
    for _ in range(repeats):
        for function, collected in zip(functions, times):
            collected.append(_once(function, device))
    return [statistics.median(collected) for collected in times]


def _adam_step(network, loss_fn):
    """A training step: zero the gradients, ``loss_fn()``, backward, Adam (lr 1e-4)."""
    optimizer = torch.optim.Adam(network.parameters(), lr=1e-4)

    def step():
        optimizer.zero_grad()
        loss_fn().backward()
        optimizer.step()
    return step


def step_and_inference(network, size, device, repeats):
    """(training steps per second, inference milliseconds per pair) of one network with reglab's default loss."""
    network = network.to(device)
    generator = torch.Generator().manual_seed(0)
    fixed = torch.rand(1, 1, *size, generator=generator).to(device)
    moving = torch.rand(1, 1, *size, generator=generator).to(device)
    regime, batch = Unsupervised(), {"fixed": fixed, "moving": moving}
    train_step = _adam_step(network, lambda: regime(network, batch)[0])

    def inference():
        with torch.no_grad():
            network(fixed, moving)

    network.train()
    (step,) = _median_times([train_step], repeats, device)
    network.eval()
    (infer,) = _median_times([inference], repeats, device)
    return 1.0 / step, 1000.0 * infer


def speed_table(shapes, devices, repeats, networks):
    print("\nTraining steps per second and inference time per pair (default configurations, batch 1, local NCC + "
          "diffusion)")
    header = "".join(f"{'steps/s ' + d.type:>16s}{'ms/pair ' + d.type:>16s}" for d in devices)
    print(f"{'network':16s}{'size':>10s}{'parameters':>12s}{header}")
    for size in shapes:
        for name in networks:
            columns = ""
            for device in devices:
                torch.manual_seed(0)
                network = create(name, len(size))
                steps, milliseconds = step_and_inference(network, size, device, repeats)
                columns += f"{steps:16.3f}{milliseconds:16.1f}"
            print(f"{name:16s}{'×'.join(map(str, size)):>10s}{network.num_parameters():12,d}{columns}", flush=True)


def _peer(ndim, integration_steps):
    """voxelmorph's ``VxmPairwise`` with the convolutions of ``VoxelMorph(ndim, features=SAME_FEATURES)``."""
    from voxelmorph.nn.models import VxmPairwise
    return VxmPairwise(ndim, 1, 1, nb_features=[list(SAME_FEATURES[0]), list(SAME_FEATURES[1][:4])],
                       activations=nn.LeakyReLU(0.2), integration_steps=integration_steps,
                       unet_kwargs={"upsample_mode": "nearest"})


def _peer_loss(peer, fixed, moving, similarity):
    """voxelmorph/neurite's own loss: MSE or −local NCC (window 9) + λ · squared spatial gradient."""
    import neurite as ne
    displacement, warped = peer(moving, fixed, return_warped_source=True)     # source = moving, target = fixed
    if similarity == "mse":
        dissimilarity = ne.nn.modules.MSE()(warped, fixed)
    else:
        dissimilarity = -ne.nn.modules.NCC(window_size=9)(fixed, warped).mean()
    return dissimilarity + WEIGHT * ne.nn.modules.SpatialGradient(penalty="l2")(displacement)


def voxelmorph_comparison(shapes, devices, repeats):
    """reglab's VoxelMorph step vs voxelmorph's VxmPairwise step, same configuration; prints one row per case."""
    try:
        import voxelmorph  # noqa: F401
    except ImportError:
        print("\nvoxelmorph is not installed: no comparison")
        return
    print(f"\nVoxelMorph training step, reglab vs the voxelmorph package (same convolutions, batch 1, λ = {WEIGHT})")
    print(f"{'device':>8s}{'size':>10s}{'loss':>11s}{'integration':>13s}{'reglab steps/s':>16s}"
          f"{'voxelmorph steps/s':>20s}{'ratio':>8s}{'parameters (reglab / vxm)':>28s}")
    for device in devices:
        for size in shapes:
            for similarity in ("mse", "local_ncc"):
                for steps in (0, 7):
                    generator = torch.Generator().manual_seed(0)
                    fixed = torch.rand(1, 1, *size, generator=generator).to(device)
                    moving = torch.rand(1, 1, *size, generator=generator).to(device)
                    torch.manual_seed(0)
                    ours = VoxelMorph(len(size), features=SAME_FEATURES, diffeomorphic=steps > 0, steps=steps or 7)
                    peer = _peer(len(size), steps)
                    ours, peer = ours.to(device).train(), peer.to(device).train()
                    regime = Unsupervised(similarity=similarity, weight=WEIGHT)
                    batch = {"fixed": fixed, "moving": moving}
                    ours_step = _adam_step(ours, lambda: regime(ours, batch)[0])
                    peer_step = _adam_step(peer, lambda: _peer_loss(peer, fixed, moving, similarity))
                    ours_time, peer_time = _median_times([ours_step, peer_step], repeats, device)
                    parameters = f"{ours.num_parameters():,} / {sum(p.numel() for p in peer.parameters()):,}"
                    print(f"{device.type:>8s}{'×'.join(map(str, size)):>10s}{similarity:>11s}{steps:13d}"
                          f"{1 / ours_time:16.3f}{1 / peer_time:20.3f}{peer_time / ours_time:8.2f}{parameters:>28s}",
                          flush=True)


def accuracy_table():
    print("\nPretrained weights on 16 held-out 64 × 64 pairs")
    pairs = make_pairs(16, seed=2)
    measures = ("dice", "hd95", "tre", "epe", "folding")
    print(f"{'network':22s}" + "".join(f"{m:>9s}" for m in measures))
    rows = [("before", evaluate(None, pairs))]
    for name in NETWORKS:
        try:
            rows.append((name, evaluate(load_pretrained(name), pairs)))
        except ValueError:
            continue
    for name, values in rows:
        print(f"{name:22s}" + "".join(f"{values[m]:9.3f}" for m in measures))


def main(argv=None):
    tolerate_any_terminal()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", nargs="+", choices=("speed", "voxelmorph", "accuracy"),
                        default=["speed", "voxelmorph", "accuracy"])
    parser.add_argument("--shapes", nargs="+", choices=tuple(SHAPES), default=list(SHAPES))
    parser.add_argument("--networks", nargs="+", choices=BENCHMARKED, default=BENCHMARKED)
    parser.add_argument("--repeats", type=int, default=5, help="timed calls per measurement (median)")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads (torch.set_num_threads)")
    parser.add_argument("--quick", action="store_true", help="2D only, 2 repeats")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    devices = [torch.device("cpu")] + ([torch.accelerator.current_accelerator()]
                                       if hasattr(torch, "accelerator") and torch.accelerator.is_available() else [])
    repeats = 2 if args.quick else args.repeats
    shapes = [SHAPES["2d"]] if args.quick else [SHAPES[name] for name in args.shapes]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads, devices: "
          f"{', '.join(d.type for d in devices)}, median of {repeats} repeats")
    if "speed" in args.tables:
        speed_table(shapes, devices, repeats, args.networks)
    if "voxelmorph" in args.tables:
        voxelmorph_comparison(shapes, devices, repeats)
    if "accuracy" in args.tables:
        accuracy_table()


if __name__ == "__main__":
    main()
