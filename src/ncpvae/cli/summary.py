"""What the verbs report: the history file of a training run, and the pieces of the lines a
person reads at the end."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ncpvae.prior import LogNormalizer
from ncpvae.training import TrainHistory

__all__ = ["history_file", "wrote", "seconds", "took", "process_seconds", "log_z"]


def history_file(summary: dict[str, Any], history: TrainHistory) -> dict[str, Any]:
    """``history.json``: the run's summary (a result's ``to_dict()``), the logged curves and the
    validation passes."""
    return {
        **summary,
        "steps": history.steps,
        "loss": history.losses,
        "curves": history.curves,
        "validation_steps": history.validation_steps,
        "validation": history.validation,
    }


def wrote(out: Path) -> str:
    """The line that says where a verb wrote its files: everything in ``out``, folders with a
    trailing ``/`` and a kept checkpoint with its size."""
    names = []
    for path in sorted(Path(out).iterdir()) if Path(out).is_dir() else []:
        name = path.name + ("/" if path.is_dir() else "")
        if path.name == "checkpoint.pt":
            name += f" ({path.stat().st_size / 2**20:.1f} MiB, kept by keep_checkpoint)"
        names.append(name)
    return f"  wrote {out}/: {', '.join(names)}"


def seconds(value: float) -> str:
    """A wall time for people: seconds, or minutes and seconds."""
    return f"{value:.0f} s" if value < 120 else f"{value // 60:.0f} min {value % 60:.0f} s"


def process_seconds() -> float | None:
    """Seconds since this process started, start-up included (from Linux's /proc); None
    where that is not known."""
    try:
        fields = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
        uptime = float(Path("/proc/uptime").read_text().split()[0])
        return uptime - int(fields[19]) / os.sysconf("SC_CLK_TCK")  # field 22: starttime
    except (OSError, ValueError, IndexError):
        return None


def took(work: float, *notes: str) -> str:
    """A verb's time for people: ``work`` (what its result measured), then in brackets the
    ``notes`` and the command's wall time so far, which adds start-up, loading and writing,
    where known: ``2 s (34 s with start-up, loading and writing)``."""
    wall = process_seconds()
    if wall is not None and wall >= work:
        notes = (*notes, f"{seconds(wall)} with start-up, loading and writing")
    return seconds(work) + (f" ({'; '.join(notes)})" if notes else "")


def log_z(estimate: LogNormalizer) -> str:
    """log Z as people read it: one value with its standard error, or, for a prior whose Z_k
    depend on contexts, each group's mean over the contexts (near 0 at the NCE optimum)."""
    groups = estimate.groups
    if len(groups) == 1 and groups[0].num_contexts == 1:
        return (
            f"log Z {estimate.value:+.4f} +- {estimate.stderr:.4f} "
            f"({estimate.num_samples:,} samples; near 0 at the NCE optimum)"
        )
    values = ", ".join(f"{g.group}: {g.mean:+.4f}" for g in groups)
    contexts = groups[0].num_contexts if groups else 0
    return f"log Z_k per group, mean over {contexts} contexts (near 0 at the optimum): {values}"
