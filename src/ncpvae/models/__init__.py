"""Latent-variable models behind one small interface (:class:`LatentVariableModel`)."""

from ncpvae.models.base import LatentVariableModel, TrainingOutput
from ncpvae.models.config import ModelConfig
from ncpvae.models.hierarchy import HierarchicalLatentModel
from ncpvae.models.nvae import HierarchicalVAE
from ncpvae.models.rae import RAE
from ncpvae.models.vae import VAE

__all__ = [
    "LatentVariableModel",
    "TrainingOutput",
    "ModelConfig",
    "VAE",
    "RAE",
    "HierarchicalVAE",
    "HierarchicalLatentModel",
    "MODELS",
    "build_model",
]

MODELS: dict[str, type[LatentVariableModel]] = {"vae": VAE, "rae": RAE, "hvae": HierarchicalVAE}
"""``ModelConfig.kind`` -> model class; each is built as ``MODELS[kind](config)``."""


def build_model(config: ModelConfig) -> LatentVariableModel:
    """The model of ``config.kind`` (``data_shape`` must be set)."""
    return MODELS[config.kind](config)
