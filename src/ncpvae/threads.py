"""How many CPU threads torch uses: by default the cores this machine has free, so that a run
beside a busy process does not make torch's threads wait on each other."""

from __future__ import annotations

import os

import torch

__all__ = ["free_cores", "set_threads"]


def free_cores() -> int:
    """The cores not busy with other work: the core count less the 1-minute load average
    (at least 1), shared among the processes of a torchrun run on this machine."""
    cores = os.cpu_count() or 1
    busy = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    local_processes = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
    return max(1, min(cores, round(cores - busy)) // local_processes)


def set_threads(threads: int | str = "auto", most: int | None = None) -> int:
    """Set torch's intra-op threads: a number, or ``auto`` (``OMP_NUM_THREADS`` if set, else
    :func:`free_cores`, at most ``most``: work on small networks, whose matrix products are too
    small to split, only waits longer with more threads). Returns the number set."""
    if threads == "auto":
        env = os.environ.get("OMP_NUM_THREADS", "")
        count = int(env) if env.isdigit() and int(env) > 0 else free_cores()
        count = min(count, most or count)
    else:
        count = int(threads)
        if count < 1:
            raise ValueError(f"threads must be at least 1 or auto, got {threads!r}")
    torch.set_num_threads(count)
    return count
