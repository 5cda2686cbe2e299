"""The ``train`` section: the optimiser settings shared by both stages."""

from __future__ import annotations

from typing import ClassVar

from ncpvae.errors import ConfigError
from ncpvae.settings import Int, config_section, setting

__all__ = ["TrainConfig"]


@config_section
class TrainConfig:
    """Optimiser settings shared by both stages. ``seed`` seeds the CLI's runs (the API leaves the
    global RNG to the caller)."""

    section: ClassVar[str] = "train"
    steps: Int = setting(20_000, "Optimisation steps.", min=1)
    batch_size: Int = setting(256, "Examples per step, over all processes.", min=1)
    lr: float = setting(1e-3, "Adam's initial learning rate.", above=0)
    lr_final: float = setting(0.0, "Learning rate at the last step (cosine schedule).", min=0)
    grad_clip: float = setting(0.0, "Clip the gradient norm to this (0: no clipping).", min=0)
    weight_decay: float = setting(
        0.0, "Decoupled weight decay (AdamW; 0: plain Adam), a regulariser.", min=0
    )
    validate_every: Int = setting(
        500, "Steps between validation passes (with data.num_validation > 0).", min=1
    )
    skip_nonfinite: bool = setting(
        False, "Skip steps whose loss is NaN or infinite instead of stopping."
    )
    seed: Int = setting(0, "Seed of the run's initial weights, batches and noise.")

    def __post_init__(self) -> None:
        if self.lr_final > self.lr:
            raise ConfigError("train.lr_final must be between 0 and train.lr")
