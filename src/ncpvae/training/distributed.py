"""Data-parallel training on PyTorch's own engine: ``torchrun`` starts the processes,
``torch.distributed`` connects them (nccl on GPUs, gloo on CPUs), ``DistributedDataParallel``
all-reduces the gradients.

Every rank holds the same RNG states and draws the same global batch order; each takes its
shard of the rows (:class:`ncpvae.training.batches.Minibatches`) and, through
:mod:`ncpvae.training.sharding`, its shard of the global batch's noise. W processes
with batch B/W each therefore compute the gradient of the same global batch of B as one process
does, and reach the same model up to floating-point rounding (batch norm aside: each rank
normalises with its own shard's statistics on CPUs; on GPUs they are synchronised,
:func:`sync_batch_norm`). Rank 0 alone writes files and shows progress.
"""

from __future__ import annotations

import datetime
import os

import torch
import torch.distributed as dist

__all__ = [
    "setup",
    "finish",
    "sync_batch_norm",
    "rank",
    "world_size",
    "is_main",
    "all_mean",
    "all_true",
]


def setup(device: torch.device) -> torch.device:
    """Join the process group if ``torchrun`` launched this process (WORLD_SIZE > 1), and
    return the device this rank trains on (on CUDA: the GPU of its LOCAL_RANK)."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or dist.is_initialized():
        return _local(device)
    device = _local(device)
    backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":
        torch.cuda.set_device(device)
    # rank 0 alone estimates log Z and writes files after training while the others wait for
    # it in finish(): allow that wait hours, not the default minutes
    dist.init_process_group(backend, timeout=datetime.timedelta(hours=6))
    return device


def finish(wait: bool = True) -> None:
    """Leave the process group, if this process joined one; with ``wait``, once every rank has
    finished (rank 0 may still be writing files when the others are done). After an error, do
    not wait: the other ranks may never get there (torchrun stops them)."""
    if dist.is_initialized():
        if wait:
            dist.barrier()
        dist.destroy_process_group()


def _local(device: torch.device) -> torch.device:
    if device.type == "cuda" and "LOCAL_RANK" in os.environ:
        return torch.device("cuda", int(os.environ["LOCAL_RANK"]))
    return device


def sync_batch_norm(module: torch.nn.Module) -> torch.nn.Module:
    """``module`` with its batch norm layers synchronised over the ranks (SyncBatchNorm), so
    they normalise with the statistics of the global batch, as one process would. PyTorch
    supports this on GPUs only; on CPUs (and in one process) ``module`` is returned as it is."""
    first = next(module.parameters(), None)
    if world_size() == 1 or first is None or first.device.type != "cuda":
        return module
    return torch.nn.SyncBatchNorm.convert_sync_batchnorm(module)


def rank() -> int:
    """This process's rank (0 without a process group)."""
    return dist.get_rank() if dist.is_initialized() else 0


def world_size() -> int:
    """The number of processes (1 without a process group)."""
    return dist.get_world_size() if dist.is_initialized() else 1


def is_main() -> bool:
    """True on the process that writes files and shows progress (rank 0)."""
    return rank() == 0


def all_mean(values: dict[str, float]) -> dict[str, float]:
    """The mean of each value over the ranks (the values themselves in one process)."""
    if world_size() == 1 or not values:
        return values
    tensor = torch.tensor(list(values.values()), dtype=torch.float64, device=_reduce_device())
    dist.all_reduce(tensor)
    return dict(zip(values, (tensor / world_size()).tolist(), strict=True))


def all_true(flag: bool) -> bool:
    """True if ``flag`` is true on every rank (so all ranks take the same branch)."""
    if world_size() == 1:
        return flag
    tensor = torch.tensor([0.0 if flag else 1.0], device=_reduce_device())
    dist.all_reduce(tensor)
    return float(tensor) == 0.0


def _reduce_device() -> torch.device:
    return (
        torch.device("cuda", torch.cuda.current_device())
        if dist.get_backend() == "nccl"
        else torch.device("cpu")
    )
