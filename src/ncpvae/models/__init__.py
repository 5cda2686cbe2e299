"""Latent-variable models behind one small interface (:class:`LatentVariableModel`), each with
its own config class; :data:`MODELS` maps a model kind to both and :func:`build_model` builds
the model a config describes."""

from __future__ import annotations

from ncpvae.config.model import (
    BaseModelConfig,
    HierarchicalVAEConfig,
    ModelConfig,
    RAEConfig,
    VAEConfig,
)
from ncpvae.models.base import LatentVariableModel, TrainingOutput
from ncpvae.models.hierarchy import HierarchicalLatentModel
from ncpvae.models.nvae import HierarchicalVAE
from ncpvae.models.rae import RAE
from ncpvae.models.vae import VAE

__all__ = [
    "LatentVariableModel",
    "TrainingOutput",
    "BaseModelConfig",
    "ModelConfig",
    "VAEConfig",
    "RAEConfig",
    "HierarchicalVAEConfig",
    "VAE",
    "RAE",
    "HierarchicalVAE",
    "HierarchicalLatentModel",
    "MODELS",
    "build_model",
]

MODELS: dict[str, tuple[type[BaseModelConfig], type[LatentVariableModel]]] = {
    "vae": (VAEConfig, VAE),
    "rae": (RAEConfig, RAE),
    "hvae": (HierarchicalVAEConfig, HierarchicalVAE),
}
"""Model kind -> (its config class, its model class); add a model by adding an entry."""


def build_model(config: ModelConfig) -> LatentVariableModel:
    """The model of ``config.kind``, untrained (``config.data_shape`` must be set)."""
    config_class, model_class = MODELS[config.kind]
    if type(config) is not config_class:
        raise TypeError(
            f"model kind {config.kind!r} takes a {config_class.__name__}, "
            f"got a {type(config).__name__}"
        )
    return model_class(config)
