"""Train the small pretrained weights that ship in reglab/networks/weights/ (Labs 06 and 07 load them).

    python benchmarks/train_pretrained.py                 # every network, about an hour on one busy CPU core
    python benchmarks/train_pretrained.py voxelmorph gan  # some of them

Data: 64 synthetic pairs of the embedded axial brain slice on a 64 × 64 grid
(``reglab.training.make_pairs(64, seed=1)``, deformations up to 5 voxels), the 3D
model on 24 pairs of the 32³ volume; held-out pairs with ``seed=2`` for the table
printed at the end. Unsupervised training uses local NCC (window 9) + 1.0 ·
diffusion; ``voxelmorph-supervised`` regresses the true field; ``gan`` is trained
adversarially. Seeded: the same command gives the same weights on the same machine.
"""

import argparse
import time

import torch

from reglab.console import tolerate_any_terminal
from reglab.networks import create
from reglab.networks.pretrained import WEIGHTS
from reglab.training import Adversarial, Supervised, Unsupervised, evaluate, fit, make_pairs

RUNS = {  # name: (ndim, regime, steps)
    "unet": (2, Unsupervised, 400), "resunet": (2, Unsupervised, 400), "voxelmorph": (2, Unsupervised, 400),
    "voxelmorph-diff": (2, Unsupervised, 400), "lapirn": (2, Unsupervised, 400), "hypermorph": (2, Unsupervised, 600),
    "symnet": (2, Unsupervised, 400), "transmorph": (2, Unsupervised, 400),
    "voxelmorph-supervised": (2, Supervised, 400), "gan": (2, Adversarial, 400), "voxelmorph-3d": (3, Unsupervised, 400),
}
LEARNING_RATE = {2: 2e-3, 3: 1e-3}          # 2e-3 diverged in 3D (batch of 2)


def main(argv=None):
    tolerate_any_terminal()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", default=list(RUNS))
    parser.add_argument("--scale", type=float, default=1.0, help="multiply the number of steps")
    args = parser.parse_args(argv)
    data = {2: make_pairs(64, seed=1), 3: make_pairs(24, ndim=3, seed=1)}
    held_out = {2: make_pairs(16, seed=2), 3: make_pairs(4, ndim=3, seed=2)}
    rows = []
    for name in args.names:
        ndim, regime, steps = RUNS[name]
        network_name = name.removesuffix("-3d")
        torch.manual_seed(0)
        network = create(network_name, ndim)
        start = time.perf_counter()
        fit(network, regime(), data[ndim], steps=int(steps * args.scale), batch_size=8 if ndim == 2 else 2, lr=LEARNING_RATE[ndim],
            seed=0, progress=False)
        seconds = time.perf_counter() - start
        torch.save(network.state_dict(), WEIGHTS / f"{network_name}_{ndim}d.pt")
        rows.append((name, network.num_parameters(), seconds, evaluate(network, held_out[ndim])))
        print(f"{name:22s} {rows[-1][1]:9,d} params {seconds:6.0f} s  " +
              "  ".join(f"{k} {v:.3f}" for k, v in rows[-1][3].items()), flush=True)
    print("\nbefore registration:", {k: round(v, 3) for k, v in evaluate(None, held_out[2]).items()})


if __name__ == "__main__":
    main()
