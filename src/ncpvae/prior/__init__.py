"""The Noise Contrastive Prior: one interface (:class:`Prior`), a flat and a hierarchical kind,
a base fitted to the aggregate posterior, their log-normaliser estimate, and a builder for a
model's prior."""

from ncpvae.config.classifier import ClassifierConfig
from ncpvae.prior.base import NO_SHARDING, Noise, Prior
from ncpvae.prior.build import build_prior
from ncpvae.prior.fitted_base import FittedBase
from ncpvae.prior.flat import NCPPrior
from ncpvae.prior.hierarchical import HierarchicalNCPPrior, merge_priors
from ncpvae.prior.nce import bridge_nce_loss, nce_loss_from_logits
from ncpvae.prior.normalizer import GroupLogNormalizer, LogNormalizer

__all__ = [
    "Prior",
    "NCPPrior",
    "FittedBase",
    "HierarchicalNCPPrior",
    "merge_priors",
    "LogNormalizer",
    "GroupLogNormalizer",
    "ClassifierConfig",
    "build_prior",
    "nce_loss_from_logits",
    "bridge_nce_loss",
    "Noise",
    "NO_SHARDING",
]
