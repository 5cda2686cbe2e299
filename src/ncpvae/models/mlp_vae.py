"""A flat VAE with MLP encoder and decoder (vector data, one latent group)."""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor
from torch.distributions import Distribution, Independent, Normal

from ncpvae.distributions import LIKELIHOODS, soft_clamp
from ncpvae.errors import require
from ncpvae.models.base import LatentVariableModel
from ncpvae.nets import mlp

__all__ = ["MLPVAEConfig", "MLPVAE"]


@dataclass
class MLPVAEConfig:
    """Sizes of an :class:`MLPVAE`; ``likelihood`` is a key of ``distributions.LIKELIHOODS``."""

    data_dim: int = 2
    latent_dim: int = 2
    hidden_dim: int = 256
    depth: int = 3
    likelihood: str = "gaussian"

    def __post_init__(self) -> None:
        for name in ("data_dim", "latent_dim", "hidden_dim", "depth"):
            require(getattr(self, name) >= 1, f"model.{name} must be at least 1")
        require(
            self.likelihood in LIKELIHOODS,
            f"unknown model.likelihood {self.likelihood!r}; choose one of {sorted(LIKELIHOODS)}",
        )


class MLPVAE(LatentVariableModel):
    """Encoder q(z|x) = N(mu(x), diag sigma(x)^2); MLP decoder feeding an output likelihood."""

    def __init__(self, config: MLPVAEConfig) -> None:
        super().__init__()
        self.config = config
        self.latent_shape = (config.latent_dim,)
        self.output = LIKELIHOODS[config.likelihood]()
        self.encoder = mlp(config.data_dim, config.hidden_dim, config.depth, 2 * config.latent_dim)
        self.decoder = mlp(
            config.latent_dim,
            config.hidden_dim,
            config.depth,
            self.output.params_per_dim * config.data_dim,
        )

    def posterior(self, x: Tensor) -> Distribution:
        """q(z|x) = N(mu(x), diag sigma(x)^2), log-scale soft-clamped to (-7, 7)."""
        mu, raw_log_scale = self.encoder(x).chunk(2, dim=-1)
        return Independent(Normal(mu, soft_clamp(raw_log_scale, 7.0).exp()), 1)

    def likelihood(self, z: Tensor) -> Distribution:
        """p(x|z): the decoder's output through the configured output likelihood."""
        return self.output(self.decoder(z))
