"""Data-parallel training: one process per device, each on its shard of every batch, gradients averaged.

``torchrun --nproc_per_node N script.py`` starts ``N`` copies of the same
script and tells each one who it is through the environment: ``RANK``
(0 … N − 1), ``LOCAL_RANK`` (its device on this machine), ``WORLD_SIZE`` (N)
and the address of the rendezvous. :func:`reglab.training.fit` then trains
data-parallel (Li et al. 2020):

1. every process holds a copy of the model; ``DistributedDataParallel``
   broadcasts rank 0's weights when it wraps the model, so the copies start equal;
2. every process draws a different shard of each batch (``DistributedSampler``
   cuts one seeded permutation per epoch into ``N`` interleaved shards);
3. during the backward pass the gradients are averaged over the processes (an
   all-reduce), so every copy takes the same optimiser step: the step of one
   process on the union of the shards, ``N`` times the batch;
4. validation measures are summed over the shards and averaged; only rank 0
   shows progress bars and writes checkpoints;
5. the process group is destroyed when the program ends.

The communication backend follows the device: gloo on CPUs, NCCL on NVIDIA GPUs
(PyTorch's ``torch.distributed.Backend.default_device_backend_map``). Run without torchrun,
the same script trains in one process and nothing here is used.

Reference: S. Li et al., "PyTorch Distributed: experiences on accelerating data
parallel training", VLDB 2020.
"""

import atexit
import os

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

LAUNCH = ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")
"""The environment variables torchrun sets and ``init_process_group`` reads."""


def requested(distributed=None):
    """Whether to train data-parallel: ``distributed`` when given, else True under torchrun with
    ``WORLD_SIZE > 1`` or inside an initialised process group of more than one process.

    Example:
        >>> requested(False), requested(None)                  # a plain ``python script.py``
        (False, False)
    """
    if distributed is not None:
        return bool(distributed)
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        return True
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def start(device):
    """Join the process group, creating it when the caller has not; return this process's device.

    A group created here lives until the program ends (then :func:`_destroy` tears it
    down), so a script that calls ``fit`` several times reuses one group instead of
    creating it again.

    Args:
        device: the model's device; an accelerator is replaced by the one of index
            ``LOCAL_RANK`` (one device per process), a CPU stays the CPU.

    Raises:
        RuntimeError: this PyTorch has no ``torch.distributed``.
        ValueError: no process group and no torchrun environment to create one from.
    """
    if not dist.is_available():
        raise RuntimeError("fit(): expected a PyTorch with torch.distributed for distributed=True, got one without.")
    if device.type != "cpu":
        device = torch.device(device.type, int(os.environ.get("LOCAL_RANK", device.index or 0)))
        getattr(torch, device.type).set_device(device.index)          # collectives use this device
    if dist.is_initialized():
        return device
    missing = [name for name in LAUNCH if name not in os.environ]
    if missing:
        raise ValueError(f"fit(): expected a process group or a torchrun launch for distributed training, got no "
                         f"{', '.join(missing)} in the environment. Hint: torchrun --nproc_per_node 2 script.py.")
    dist.init_process_group(backend=dist.Backend.default_device_backend_map[device.type])   # gloo, nccl, ...
    atexit.register(_destroy)
    return device


def _destroy():
    """Destroy the process group (at the program's end), unless the script already did."""
    if dist.is_initialized():
        dist.destroy_process_group()


def rank_and_size(parallel):
    """``(rank, world size)`` of this process: ``(0, 1)`` when not ``parallel``."""
    return (dist.get_rank(), dist.get_world_size()) if parallel else (0, 1)


def wrap(model):
    """``DistributedDataParallel(model)``: averages the gradients of the copies during ``backward``.

    No ``device_ids``: the wrapper takes the device from the model's parameters
    (one device per process), which works for CPUs and GPUs alike.
    """
    return DistributedDataParallel(model)


def unwrap(model):
    """The network inside a ``DistributedDataParallel`` wrapper (or ``model`` itself)."""
    return model.module if isinstance(model, DistributedDataParallel) else model


def average(values, device):
    """The mean over the processes of a list of floats (every process passes as many, in the same order)."""
    total = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(total)                                          # sum over the processes
    return (total / dist.get_world_size()).tolist()


def sum_over_processes(totals, count):
    """``(totals, count)`` summed over the processes: ``totals`` a dict name → float, ``count`` an int.

    A process with an empty shard passes ``({}, 0)``; the names are the union.
    """
    gathered = [None] * dist.get_world_size()
    dist.all_gather_object(gathered, (totals, count))
    merged, number = {}, 0
    for part, part_count in gathered:
        for name, total in part.items():
            merged[name] = merged.get(name, 0.0) + total
        number += part_count
    return merged, number


def wait():
    """Wait for every process: rank 0's last checkpoint is on disk when ``fit`` returns anywhere."""
    dist.barrier()
