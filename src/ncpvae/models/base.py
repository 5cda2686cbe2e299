"""The latent-model interface: the little that the NCP prior needs from a VAE.

A model implements :meth:`posterior` (q(z|x)) and :meth:`likelihood` (p(x|z)); it inherits a
standard-Normal base prior, an ELBO ``forward`` and a ``device`` property. The flat MLP VAE and
a user's own model implement it (convolutional, hierarchical and RAE models are planned to), and
every stage-2 routine (NCE fitting, sampling, likelihood evaluation) is written against it alone.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.distributions import Distribution, kl_divergence

from ncpvae.distributions import standard_normal, tempered

__all__ = ["LatentVariableModel", "ELBOOutput"]


@dataclass
class ELBOOutput:
    """What one ELBO evaluation returns: ``loss`` to minimise, and its parts (batch means)."""

    loss: Tensor
    elbo: Tensor
    reconstruction: Tensor
    kl: Tensor

    def metrics(self) -> dict[str, float]:
        """The parts as floats, for logs and progress bars."""
        parts = {"elbo": self.elbo, "rec": self.reconstruction, "kl": self.kl}
        return {k: float(v.detach()) for k, v in parts.items()}


class LatentVariableModel(nn.Module, ABC):
    """A VAE-like model with latent ``z`` of shape ``latent_shape`` (one latent group).

    Contract: for a batch ``x`` of N data points, ``posterior(x)`` is a distribution with batch
    shape (N,) and event shape ``latent_shape`` that supports ``rsample`` and ``log_prob``;
    ``likelihood(z)`` for z of shape (N, *latent_shape) has batch shape (N,) and ``log_prob(x)``
    sums over the data dimensions.
    """

    latent_shape: tuple[int, ...]

    @abstractmethod
    def posterior(self, x: Tensor) -> Distribution:
        """The approximate posterior q(z | x)."""

    @abstractmethod
    def likelihood(self, z: Tensor) -> Distribution:
        """The decoder's distribution p(x | z)."""

    @property
    def device(self) -> torch.device:
        """The device of the model's parameters."""
        return next(self.parameters()).device

    def prior(self, temperature: float = 1.0) -> Distribution:
        """The base prior p(z), N(0, I) unless overridden, with its scale times ``temperature``."""
        return tempered(standard_normal(self.latent_shape, device=self.device), temperature)

    def forward(self, x: Tensor, kl_weight: float = 1.0) -> ELBOOutput:
        """Negative ELBO with a weight on the KL term (KL warm-up), averaged over the batch:
        ELBO = E_q[log p(x|z)] - KL(q(z|x) || p(z)); KL in closed form when torch has one."""
        q = self.posterior(x)
        z = q.rsample()
        reconstruction = self.likelihood(z).log_prob(x)
        p = self.prior()
        try:
            kl = kl_divergence(q, p)
        except NotImplementedError:
            kl = q.log_prob(z) - p.log_prob(z)
        loss = -(reconstruction - kl_weight * kl).mean()
        return ELBOOutput(loss, (reconstruction - kl).mean(), reconstruction.mean(), kl.mean())
