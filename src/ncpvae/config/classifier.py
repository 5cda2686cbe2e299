"""The ``classifier`` section: the NCP classifier f(z) = log r(z) that stage 2 fits."""

from __future__ import annotations

from typing import ClassVar

from ncpvae.settings import Int, config_section, setting

__all__ = ["ClassifierConfig"]


@config_section
class ClassifierConfig:
    """The residual classifier f(z) = log r(z) (the paper's: Swish, batch norm and
    squeeze-and-excitation in every block)."""

    section: ClassVar[str] = "classifier"
    hidden_dim: Int = setting(256, "Width of the classifier's residual blocks.", min=1)
    num_blocks: Int = setting(3, "Residual blocks (0: a linear classifier).", min=0)
    batch_norm: bool = setting(True, "Batch norm in every block.")
    squeeze_excitation: bool = setting(True, "Squeeze-and-excitation in every block.")
    dropout: float = setting(
        0.0, "Dropout probability inside every block (a regulariser of the ratio).", min=0, below=1
    )
    spectral_norm: bool = setting(
        False, "Spectral normalisation of every layer (a regulariser of the ratio)."
    )
    latent_noise: float = setting(
        0.0,
        "Standard deviation of Gaussian noise added to the aggregate-posterior latents in stage "
        "2: the prior fits q(z) smoothed by N(0, s^2 I) (for a deterministic encoder, whose "
        "codes are points; flat priors only).",
        min=0,
    )
