"""Data-parallel training of VoxelMorph with torchrun: the same script runs in one process or in N.

    python benchmarks/train_ddp.py                                          # one process
    torchrun --standalone --nproc_per_node 2 benchmarks/train_ddp.py        # 2 processes on this machine
    torchrun --standalone --nproc_per_node 4 benchmarks/train_ddp.py --steps 2000 --ndim 3   # e.g. 4 GPUs
    torchrun --standalone --nproc_per_node 2 benchmarks/train_ddp.py --data hippocampus --batch-size 1   # real 3D pairs

torchrun starts N copies of this script; :func:`reglab.training.fit` sees
``WORLD_SIZE > 1`` and trains data-parallel: each process puts the model on its
own device (GPU ``LOCAL_RANK``, or the CPU), draws its share of every batch
(``--batch-size`` pairs per process, so N × that per step), the gradients are
averaged over the processes, and rank 0 alone shows the progress bar and
writes the checkpoint. The backend is gloo on CPUs and NCCL on GPUs.

The script prints the measured steps per second and the validation measures
(the same numbers in every process; rank 0 prints them).
"""

import argparse
import os
import tempfile
import time

import torch

from reglab.console import tolerate_any_terminal
from reglab.data.hippocampus import HippocampusPairs
from reglab.devices import default_device
from reglab.networks import VoxelMorph
from reglab.training import Unsupervised, fit, make_pairs


def main(argv=None):
    tolerate_any_terminal()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ndim", type=int, choices=(2, 3), default=2)
    parser.add_argument("--data", choices=("synthetic", "hippocampus"), default="synthetic",
                        help="synthetic pairs (64² or 32³), or the embedded hippocampus subjects' real 3D pairs "
                             "(HippocampusPairs: train split for training, validation split; implies --ndim 3)")
    parser.add_argument("--pairs", type=int, default=32, help="training pairs (synthetic data only)")
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--batch-size", type=int, default=2, help="pairs per step and process")
    parser.add_argument("--checkpoint", default=os.path.join(tempfile.gettempdir(), "reglab_train_ddp.pt"))
    parser.add_argument("--threads", type=int, default=1, help="CPU threads per process")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.data == "hippocampus":                                # 132 training pairs of 43 × 52 × 42, 1 mm
        args.ndim = 3
        pairs, validation = HippocampusPairs("train"), HippocampusPairs("validation")
    else:
        size = (64, 64) if args.ndim == 2 else (32, 32, 32)
        pairs = make_pairs(args.pairs, ndim=args.ndim, size=size, seed=0)
        validation = make_pairs(8, ndim=args.ndim, size=size, seed=1)
    torch.manual_seed(0)
    model = VoxelMorph(args.ndim).to(default_device())           # fit moves it to device LOCAL_RANK under torchrun
    start = time.perf_counter()
    history = fit(model, Unsupervised(), pairs, steps=args.steps, batch_size=args.batch_size, lr=1e-3,
                  validation=validation, checkpoint=args.checkpoint)
    seconds = time.perf_counter() - start
    if int(os.environ.get("RANK", "0")) == 0:
        processes = int(os.environ.get("WORLD_SIZE", "1"))
        measures = ", ".join(f"{name} {value:.3f}" for name, value in history["validation"][-1].items()
                             if name != "step")
        print(f"{processes} process(es) × {args.batch_size} pairs: {args.steps / seconds:.2f} steps/s, "
              f"loss {history['loss'][0]:.4f} → {history['loss'][-1]:.4f}; validation: {measures}")


if __name__ == "__main__":
    main()
