"""What a training verb reports about its run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ncpvae.training import TrainHistory, distributed

__all__ = ["training_summary", "history_file", "wrote", "seconds"]


def training_summary(history: TrainHistory) -> dict[str, Any]:
    """Wall time, skipped steps, process count and the final metrics of a training stage."""
    return {
        "seconds": history.seconds,
        "skipped_steps": history.skipped_steps,
        "processes": distributed.world_size(),
        **history.metrics,
    }


def history_file(summary: dict[str, Any], history: TrainHistory) -> dict[str, Any]:
    """``history.json``: the summary and the logged loss curve."""
    return {**summary, "steps": history.steps, "loss": history.losses}


def wrote(out: Path, *names: str) -> str:
    """The line that says where a verb wrote its files."""
    return f"  wrote {out}/: {', '.join(names)}"


def seconds(value: float) -> str:
    """A wall time for people: seconds, or minutes and seconds."""
    return f"{value:.0f} s" if value < 120 else f"{value // 60:.0f} min {value % 60:.0f} s"
