"""How many CPU threads torch uses: by default the cores this machine has free, so that a run
beside a busy process does not make torch's threads wait on each other, and, where a piece of
the job is given to time, one thread if that is faster."""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable

import torch

__all__ = ["free_cores", "set_threads"]

PROBE_ROUNDS = 5


def _cores_of_this_process(busy: float = 0.0) -> int:
    """The cores less ``busy`` (at least 1), shared among the processes of a torchrun run on
    this machine."""
    cores = os.cpu_count() or 1
    local_processes = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
    return max(1, min(cores, round(cores - busy)) // local_processes)


def free_cores() -> int:
    """The cores not busy with other work: the core count less the 1-minute load average
    (at least 1), shared among the processes of a torchrun run on this machine."""
    return _cores_of_this_process(os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0)


def _faster_of_one_and(count: int, work: Callable[[], object]) -> int:
    """1 or ``count``, whichever runs ``work`` faster: one warm-up call at each, then
    ``PROBE_ROUNDS`` timed calls at each in turn; the median call of each count is compared (a
    busy core slows most calls with more threads, not only some). If ``work`` raises, the
    thread count is put back as it was."""
    before = torch.get_num_threads()
    seconds: dict[int, list[float]] = {1: [], count: []}
    try:
        for threads in seconds:
            torch.set_num_threads(threads)
            work()
        for _ in range(PROBE_ROUNDS):
            for threads, times in seconds.items():
                torch.set_num_threads(threads)
                start = time.perf_counter()
                work()
                times.append(time.perf_counter() - start)
    except BaseException:
        torch.set_num_threads(before)
        raise
    return count if statistics.median(seconds[count]) < statistics.median(seconds[1]) else 1


def set_threads(
    threads: int | str = "auto", probe: Callable[[], Callable[[], object] | None] | None = None
) -> int:
    """Set torch's intra-op threads: a number, or ``auto``: ``OMP_NUM_THREADS`` if set, else
    :func:`free_cores`, or, given ``probe``, by timing. ``probe`` builds a small,
    representative piece of the job (a callable such as one training step that leaves no
    trace), or returns None where there is nothing to time (a run on a GPU); it is called
    only under ``auto`` without ``OMP_NUM_THREADS`` on more than one core. Its work is then
    timed at one thread and at all the cores, and the faster is kept: a core busy with other
    work slows the many-thread calls, and small networks, whose matrix products split poorly,
    can run faster on one thread even on a quiet machine, depending on the CPU
    (docs/benchmarks.md, "The demo's wall time"; docs/cli.md says what the thread count can
    change in a run's figures). The timing sees the machine as it is now; the load average
    lags by a minute. Returns the number set."""
    if threads == "auto":
        env = os.environ.get("OMP_NUM_THREADS", "")
        cores = _cores_of_this_process()
        if env.isdigit() and int(env) > 0:
            count = int(env)
        elif probe is not None and cores > 1 and (work := probe()) is not None:
            count = _faster_of_one_and(cores, work)  # its model and batch go with this frame
        else:
            count = free_cores()
    else:
        count = int(threads)
        if count < 1:
            raise ValueError(f"threads must be at least 1 or auto, got {threads!r}")
    torch.set_num_threads(count)
    return count
