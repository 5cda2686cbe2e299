"""Latent-variable models behind one small interface (:class:`LatentVariableModel`)."""

from ncpvae.models.base import LatentVariableModel, TrainingOutput
from ncpvae.models.config import ModelConfig
from ncpvae.models.rae import RAE
from ncpvae.models.vae import VAE

__all__ = ["LatentVariableModel", "TrainingOutput", "ModelConfig", "VAE", "RAE", "MODELS"]

MODELS: dict[str, type[VAE]] = {"vae": VAE, "rae": RAE}
"""``ModelConfig.kind`` -> model class; each is built as ``MODELS[kind](config)``."""
