"""How many CPU threads torch uses: by default the cores this machine has free, so that a run
beside a busy process does not make torch's threads wait on each other, and, where a piece of
the job is given to time, one thread if that is faster.

The CLI chooses once per run (``--threads``, :func:`set_threads`); the library's long calls
(training, sampling, likelihoods, log Z) make the same choice for themselves and undo it on
return (:func:`auto_threads`), unless the thread count was chosen already."""

from __future__ import annotations

import math
import os
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import torch

__all__ = ["auto_threads", "busy_cores", "free_cores", "set_threads"]

PROBE_ROUNDS = 5
BUSY_WINDOW = 0.1  # seconds of CPU accounting behind busy_cores
CHOICE_KEPT = 10.0  # seconds a library call's choice serves the next calls

_TORCH_DEFAULT = torch.get_num_threads()  # torch's own choice, before anyone changed it


@dataclass
class _Choice:
    """The process's thread choice: whether :func:`set_threads` fixed it, whether a library
    call is running, and the count a library call chose last, at ``time.monotonic()`` ``at``."""

    fixed: bool = False
    inside: bool = False
    count: int = 1
    at: float = -math.inf


_choice = _Choice()


def _cores_of_this_process(busy: float = 0.0) -> int:
    """The cores less ``busy`` (at least 1), shared among the processes of a torchrun run on
    this machine."""
    cores = os.cpu_count() or 1
    local_processes = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
    return max(1, min(cores, round(cores - busy)) // local_processes)


def _allowed_cpus() -> set[int]:
    """The CPUs this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return os.sched_getaffinity(0)
    return set(range(os.cpu_count() or 1))


def _cpu_ticks(cpus: set[int]) -> tuple[int, int] | None:
    """(busy, all) clock ticks since boot of ``cpus``, from Linux's /proc/stat (user, nice,
    system, irq, softirq and steal are busy; idle and iowait are not); None where there is no
    /proc/stat."""
    try:
        lines = Path("/proc/stat").read_text().splitlines()
    except OSError:
        return None
    names = {f"cpu{i}" for i in cpus}
    busy = total = 0
    for line in lines:
        name, *fields = line.split()
        if name in names:
            ticks = [int(f) for f in fields[:8]]
            busy += sum(ticks) - ticks[3] - ticks[4]
            total += sum(ticks)
    return (busy, total) if total else None


def busy_cores(window: float = BUSY_WINDOW) -> float:
    """How many of this process's cores other work keeps busy now: the busy share of those
    cores over ``window`` seconds (Linux's CPU accounting) less this process's own CPU time;
    the 1-minute load average where there is no such accounting (it lags by a minute)."""
    cpus = _allowed_cpus()
    first = _cpu_ticks(cpus)
    if first is None:
        return os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    own, start = time.process_time(), time.perf_counter()
    time.sleep(window)
    second = _cpu_ticks(cpus)
    own, elapsed = time.process_time() - own, time.perf_counter() - start
    if second is None or second[1] <= first[1]:
        return 0.0
    busy = (second[0] - first[0]) / (second[1] - first[1]) * len(cpus)
    return max(0.0, busy - own / elapsed)


def free_cores() -> int:
    """The cores not busy with other work now (:func:`busy_cores`; at least 1), shared among
    the processes of a torchrun run on this machine."""
    return _cores_of_this_process(busy_cores())


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
    """Set torch's intra-op threads for the rest of the process: a number, or ``auto``:
    ``OMP_NUM_THREADS`` if set, else :func:`free_cores`, or, given ``probe``, by timing.
    ``probe`` builds a small, representative piece of the job (a callable such as one training
    step that leaves no trace), or returns None where there is nothing to time (a run on a
    GPU); it is called only under ``auto`` without ``OMP_NUM_THREADS`` on more than one core.
    Its work is then timed at one thread and at all the cores, and the faster is kept: a core
    busy with other work slows the many-thread calls, and small networks, whose matrix products
    split poorly, can run faster on one thread even on a quiet machine, depending on the CPU
    (docs/benchmarks.md, "The demo's wall time"; docs/cli.md says what the thread count can
    change in a run's figures). After this call the library's calls keep the count set here
    instead of choosing their own (:func:`auto_threads`). Returns the number set."""
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
    _choice.fixed = True
    return count


def _chosen_elsewhere() -> bool:
    """Whether the thread count is someone's choice: :func:`set_threads` was called,
    ``OMP_NUM_THREADS`` is set, or the count is no longer torch's default
    (``torch.set_num_threads``)."""
    return (
        _choice.fixed
        or bool(os.environ.get("OMP_NUM_THREADS"))
        or torch.get_num_threads() != _TORCH_DEFAULT
    )


@contextmanager
def auto_threads() -> Iterator[None]:
    """Within a library call: torch's threads set to :func:`free_cores` (as ``--threads auto``
    without a probe) and put back on return, so a call beside a busy process does not spin
    torch's threads against it (docs/benchmarks.md, "Threads from Python"). It leaves the count
    alone where it was chosen (:func:`set_threads`, ``torch.set_num_threads``,
    ``OMP_NUM_THREADS``) and inside another such call; a choice serves the calls of the next
    ``CHOICE_KEPT`` seconds. Also a decorator: ``@auto_threads()``."""
    if _choice.inside or _chosen_elsewhere():
        yield
        return
    now = time.monotonic()
    if now - _choice.at >= CHOICE_KEPT:
        _choice.count, _choice.at = free_cores(), now
    _choice.inside = True
    try:
        torch.set_num_threads(_choice.count)
        yield
    finally:
        torch.set_num_threads(_TORCH_DEFAULT)
        _choice.inside = False
