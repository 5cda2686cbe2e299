"""What a training run records."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["TrainHistory"]


@dataclass
class TrainHistory:
    """Loss every ``log_every`` steps, the last logged metrics and the wall time of the run."""

    steps: list[int] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)
    metrics: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0
    skipped_steps: int = 0  # steps skipped for a non-finite loss (TrainConfig.skip_nonfinite)
