"""A prior with fresh classifiers for a model, from a :class:`ClassifierConfig`: the paper's
residual classifiers, a residual MLP f(z) for a flat model and one convolutional residual
classifier f_k(z_k, c_k) per group for a hierarchical one."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

from ncpvae.errors import ConfigError
from ncpvae.models.base import LatentVariableModel
from ncpvae.models.hierarchy import HierarchicalLatentModel
from ncpvae.nets import ResidualConvClassifier, ResidualMLPClassifier
from ncpvae.prior.base import Prior
from ncpvae.prior.flat import NCPPrior
from ncpvae.prior.hierarchical import HierarchicalNCPPrior
from ncpvae.settings import check_settings, setting

__all__ = ["ClassifierConfig", "build_prior"]


@dataclass
class ClassifierConfig:
    """The residual classifier f(z) = log r(z) (the paper's: Swish, batch norm and
    squeeze-and-excitation in every block)."""

    section: ClassVar[str] = "classifier"
    hidden_dim: int = setting(256, "Width of the classifier's residual blocks.", min=1)
    num_blocks: int = setting(3, "Residual blocks (0: a linear classifier).", min=0)
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

    def __post_init__(self) -> None:
        check_settings(self)


def build_prior(model: LatentVariableModel, config: ClassifierConfig | None = None) -> Prior:
    """An NCP prior on ``model``'s base prior with fresh classifiers (on the model's device)."""
    cfg = config or ClassifierConfig()
    options = dict(
        batch_norm=cfg.batch_norm,
        squeeze_excitation=cfg.squeeze_excitation,
        dropout=cfg.dropout,
        spectral_norm=cfg.spectral_norm,
    )
    if isinstance(model, HierarchicalLatentModel):
        if cfg.latent_noise:
            raise ConfigError(
                "classifier.latent_noise is for flat priors: a hierarchical VAE's posterior is "
                "already continuous; set it to 0"
            )
        classifiers = [
            ResidualConvClassifier(z[0], c[0], cfg.hidden_dim, cfg.num_blocks, **options)
            for z, c in zip(model.group_shapes, model.context_shapes, strict=True)
        ]
        prior: Prior = HierarchicalNCPPrior(model, classifiers)
    else:
        classifier = ResidualMLPClassifier(
            math.prod(model.latent_shape), cfg.hidden_dim, cfg.num_blocks, **options
        )
        prior = NCPPrior(model.base_prior(), classifier, model, latent_noise=cfg.latent_noise)
    prior.classifier_config = cfg
    return prior.to(model.device)
