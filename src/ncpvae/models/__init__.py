"""Latent-variable models behind one interface (:class:`LatentVariableModel`)."""

from ncpvae.models.base import ELBOOutput, LatentVariableModel
from ncpvae.models.mlp_vae import MLPVAE, MLPVAEConfig

__all__ = ["LatentVariableModel", "ELBOOutput", "MLPVAE", "MLPVAEConfig"]
