"""What a training verb reports about its run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ncpvae.training import TrainHistory, distributed

__all__ = ["training_summary", "history_file", "wrote", "seconds", "log_z"]


def training_summary(history: TrainHistory) -> dict[str, Any]:
    """Wall time, skipped steps, process count, the final metrics of a training stage, and
    where it validated, the last validation pass (``val_<name>``) and the selected step, and
    whether stage 2 encoded its data once (``reused_encodings``)."""
    summary: dict[str, Any] = {
        "seconds": history.seconds,
        "skipped_steps": history.skipped_steps,
        "processes": distributed.world_size(),
        **history.metrics,
    }
    summary.update({f"val_{k}": v[-1] for k, v in history.validation.items()})
    if history.selected_step is not None:
        summary["selected_step"] = history.selected_step
    if history.reused_encodings:
        summary["reused_encodings"] = True
    return summary


def history_file(summary: dict[str, Any], history: TrainHistory) -> dict[str, Any]:
    """``history.json``: the summary, the logged curves and the validation passes."""
    return {
        **summary,
        "steps": history.steps,
        "loss": history.losses,
        "curves": history.curves,
        "validation_steps": history.validation_steps,
        "validation": history.validation,
    }


def wrote(out: Path, *names: str) -> str:
    """The line that says where a verb wrote its files."""
    return f"  wrote {out}/: {', '.join(names)}"


def seconds(value: float) -> str:
    """A wall time for people: seconds, or minutes and seconds."""
    return f"{value:.0f} s" if value < 120 else f"{value // 60:.0f} min {value % 60:.0f} s"


def log_z(result: dict[str, Any]) -> str:
    """log Z as people read it: one value with its standard error, or, for a prior whose Z_k
    depend on contexts, each group's mean over the contexts (near 0 at the NCE optimum)."""
    groups = result["log_normalizer_groups"]
    if len(groups) == 1 and groups[0]["num_contexts"] == 1:
        return (
            f"log Z {result['log_normalizer']:+.4f} +- {result['log_normalizer_stderr']:.4f} "
            f"({result['log_normalizer_samples']:,} samples; near 0 at the NCE optimum)"
        )
    values = ", ".join(f"{g['group']}: {g['mean']:+.4f}" for g in groups)
    contexts = groups[0]["num_contexts"] if groups else 0
    return f"log Z_k per group, mean over {contexts} contexts (near 0 at the optimum): {values}"
