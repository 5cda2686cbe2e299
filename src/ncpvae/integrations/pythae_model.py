"""A trained pythae VAE as an ncpvae latent model: its encoder's Gaussian, its N(0, I) prior and
the density of its ``reconstruction_loss`` (what pythae's ``get_nll`` uses). pythae itself is
not imported: the wrapper reads the model's attributes."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor
from torch.distributions import Bernoulli, Distribution, Independent, Normal
from torch.nn import functional as F

from ncpvae.errors import ConfigError
from ncpvae.models.base import LatentVariableModel

__all__ = ["PythaeModel", "SUPPORTED_MODELS"]


class _PythaeBernoulli(Bernoulli):
    """A Bernoulli on the decoder's probabilities whose ``log_prob`` is minus torch's binary
    cross-entropy, as in pythae's loss and ``get_nll``: each log term is clamped at -100, so a
    saturated probability (exactly 0 or 1 in float32) costs 100 nats, not infinity."""

    def log_prob(self, value: Tensor) -> Tensor:
        return -F.binary_cross_entropy(self.probs, value, reduction="none")


# pythae models whose q(z|x) is the encoder's Gaussian, whose prior is N(0, I) and whose p(x|z)
# is the ``reconstruction_loss``'s density. Others pass a duck-type check but differ: flows after
# the encoder (VAE_IAF, VAE_LinNF), learned or other priors (VAMP, SVAE, PoincareVAE), HMC
# posteriors (HVAE, RHVAE), a likelihood that is not the loss (MSSSIM_VAE, VAEGAN).
SUPPORTED_MODELS = (
    "VAE",
    "BetaVAE",
    "DisentangledBetaVAE",
    "FactorVAE",
    "BetaTCVAE",
    "IWAE",
    "MIWAE",
    "PIWAE",
    "CIWAE",
    "INFOVAE_MMD",
)


class PythaeModel(LatentVariableModel):
    """A trained pythae VAE (one of :data:`SUPPORTED_MODELS`: a Gaussian posterior from the
    encoder's ``embedding`` and ``log_covariance``, an N(0, I) prior) as an ncpvae latent model.
    The likelihood follows the model's ``reconstruction_loss``: ``bce`` is a Bernoulli with the
    decoder's output as probabilities, ``mse`` a unit-variance Gaussian around it (the densities
    pythae's ``get_nll`` uses)."""

    def __init__(self, model: Any) -> None:
        super().__init__()
        name = getattr(model, "model_name", type(model).__name__)
        if name not in SUPPORTED_MODELS:
            raise ConfigError(
                f"NCP cannot use a pythae {name}: its posterior, prior or likelihood is not the "
                f"Gaussian VAE's; supported: {', '.join(SUPPORTED_MODELS)}"
            )
        config = model.model_config
        self.pythae = model
        self.latent_shape = (int(config.latent_dim),)
        self.loss = getattr(config, "reconstruction_loss", "mse")
        if self.loss not in ("bce", "mse"):
            raise ConfigError(f"unsupported reconstruction_loss {self.loss!r}: use bce or mse")

    def posterior(self, x: Tensor) -> Distribution:
        out = self.pythae.encoder(x)
        if getattr(out, "log_covariance", None) is None:
            raise ConfigError("this pythae model's encoder has no log_covariance: not a VAE")
        return Independent(Normal(out.embedding, torch.exp(0.5 * out.log_covariance)), 1)

    def likelihood(self, z: Tensor) -> Distribution:
        mean = self.pythae.decoder(z)["reconstruction"]
        dims = mean.dim() - 1
        if self.loss == "bce":
            return Independent(_PythaeBernoulli(probs=mean, validate_args=False), dims)
        return Independent(Normal(mean, torch.ones_like(mean)), dims)

    def log_likelihood_given(self, z: Tensor, x: Tensor) -> Tensor:
        """log p(x | z) for K latents per example, z (K, N, latent_dim), x (N, ...): (K, N),
        the densities of :meth:`likelihood` without copying x K times. For binary x the
        Bernoulli term is log p or log(1 - p) as the pixel says (clamped at -100 as in
        pythae's BCE): one logarithm per pixel instead of two."""
        k, n = z.shape[:2]
        mean = self.decode_mean(z.flatten(0, 1)).reshape(k, n, -1)
        target = x.reshape(1, n, -1)
        if self.loss == "mse":
            log_norm = 0.5 * target.shape[-1] * math.log(2 * math.pi)
            return -0.5 * (mean - target).pow(2).sum(-1) - log_norm
        if ((target == 0) | (target == 1)).all():
            chosen = torch.where(target.bool(), mean, 1 - mean)
            return chosen.log_().clamp_(min=-100).sum(-1)
        return -F.binary_cross_entropy(mean, target.expand_as(mean), reduction="none").sum(-1)

    def decode_mean(self, z: Tensor) -> Tensor:
        """The decoder's output, what pythae's samplers return as samples."""
        return self.pythae.decoder(z)["reconstruction"]
