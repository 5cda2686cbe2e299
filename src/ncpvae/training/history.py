"""What a training run records."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["TrainHistory"]


@dataclass
class TrainHistory:
    """What a run logged every ``log_every`` steps: the steps, the loss, every metric and the
    learning rate (``curves``: name -> values, one per logged step), the last logged metrics, and
    the wall time of the run; the validation measurements (``validation``: name -> values, one
    per ``validation_steps``), and the step whose classifier a run kept (``selected_step``:
    the best validation loss; None where the last step's weights were kept) and whether stage 2
    encoded its data once (``reused_encodings``)."""

    steps: list[int] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)
    metrics: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0
    skipped_steps: int = 0  # steps skipped for a non-finite loss (TrainConfig.skip_nonfinite)
    curves: dict[str, list[float]] = field(default_factory=dict)
    validation_steps: list[int] = field(default_factory=list)
    validation: dict[str, list[float]] = field(default_factory=dict)
    selected_step: int | None = None
    reused_encodings: bool = False  # stage 2 drew its batches from encoder outputs computed once

    def log(self, step: int, values: dict[str, float], learning_rate: float) -> None:
        """Record one logged step: ``values`` holds the loss and the metrics."""
        values = dict(values)
        self.steps.append(step)
        self.losses.append(values.pop("loss"))
        self.metrics = values
        for name, value in {"loss": self.losses[-1], **values, "lr": learning_rate}.items():
            self.curves.setdefault(name, []).append(value)

    def log_validation(self, step: int, values: dict[str, float]) -> None:
        """Record one validation pass after ``step``."""
        self.validation_steps.append(step)
        for name, value in values.items():
            self.validation.setdefault(name, []).append(value)
