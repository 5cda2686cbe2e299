"""A prior with fresh classifiers for a model, from a :class:`ClassifierConfig`: the paper's
residual classifiers, a residual MLP f(z) for a flat model (on the model's base prior, or on a
base fitted to its aggregate posterior) and one convolutional residual classifier f_k(z_k, c_k)
per group for a hierarchical one."""

from __future__ import annotations

import math

from ncpvae.config.classifier import ClassifierConfig
from ncpvae.errors import ConfigError
from ncpvae.models.base import LatentVariableModel
from ncpvae.models.hierarchy import HierarchicalLatentModel
from ncpvae.nets import ResidualConvClassifier, ResidualMLPClassifier
from ncpvae.prior.base import Prior
from ncpvae.prior.fitted_base import FittedBase
from ncpvae.prior.flat import NCPPrior
from ncpvae.prior.hierarchical import HierarchicalNCPPrior

__all__ = ["ClassifierConfig", "build_prior"]


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
        if cfg.fitted_base:
            raise ConfigError(
                "classifier.fitted_base is for flat priors: a hierarchical VAE's base prior of "
                "each group depends on the groups above it, which one fitted mixture cannot "
                "follow; set it to 0"
            )
        if cfg.latent_noise:
            raise ConfigError(
                "classifier.latent_noise is for flat priors: a hierarchical VAE's posterior is "
                "already continuous; set it to 0"
            )
        classifiers = [
            ResidualConvClassifier(
                z[0], c[0], cfg.hidden_dim, cfg.num_blocks, outputs=cfg.waymarks + 1, **options
            )
            for z, c in zip(model.group_shapes, model.context_shapes, strict=True)
        ]
        prior: Prior = HierarchicalNCPPrior(model, classifiers, waymarks=cfg.waymark_weights())
    else:
        dim = math.prod(model.latent_shape)
        classifier = ResidualMLPClassifier(
            dim,
            cfg.hidden_dim,
            cfg.num_blocks,
            outputs=cfg.waymarks + 1,
            **options,
        )
        if cfg.fitted_base and len(model.latent_shape) != 1:
            raise ConfigError(
                f"classifier.fitted_base needs a latent vector, not one of shape "
                f"{model.latent_shape}; set it to 0"
            )
        base = FittedBase(dim, cfg.fitted_base) if cfg.fitted_base else model.base_prior()
        prior = NCPPrior(
            base,
            classifier,
            model,
            latent_noise=cfg.latent_noise,
            waymarks=cfg.waymark_weights(),
        )
    prior.classifier_config = cfg
    return prior.to(model.device)
