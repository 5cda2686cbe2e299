"""The latent-model interface: the little that the NCP prior needs from a VAE.

A model implements :meth:`posterior` (q(z|x)) and :meth:`likelihood` (p(x|z)); it inherits a
standard-Normal base prior, an ELBO ``forward``, no-op data hooks and a ``device`` property. The
VAEs and the RAE of :mod:`ncpvae.models` and a user's own model implement it, and every stage-2
routine (NCE fitting, sampling, likelihood evaluation) is written against it alone.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.distributions import Distribution, kl_divergence

from ncpvae.data.arrays import TensorData
from ncpvae.distributions import standard_normal, tempered

__all__ = ["LatentVariableModel", "TrainingOutput"]


@dataclass
class TrainingOutput:
    """What one training-loss evaluation returns: ``loss`` to minimise, and named terms (batch
    means) to log."""

    loss: Tensor
    terms: dict[str, Tensor]

    @classmethod
    def from_elbo(cls, reconstruction: Tensor, kl: Tensor, kl_weight: float) -> TrainingOutput:
        """The negative ELBO with a weight on the KL (warm-up), batch mean, from per-example
        log p(x|z) and KL terms; logs the ELBO, its reconstruction term and the KL."""
        loss = -(reconstruction - kl_weight * kl).mean()
        terms = {
            "elbo": (reconstruction - kl).mean(),
            "rec": reconstruction.mean(),
            "kl": kl.mean(),
        }
        return cls(loss, terms)

    def metrics(self) -> dict[str, float]:
        """The terms as floats, for logs and progress bars."""
        return {k: float(v.detach()) for k, v in self.terms.items()}


class LatentVariableModel(nn.Module, ABC):
    """A VAE-like model with latent ``z`` of shape ``latent_shape`` (one latent group).

    Contract: for a batch ``x`` of N data points, ``posterior(x)`` is a distribution with batch
    shape (N,) and event shape ``latent_shape`` that supports ``rsample`` and ``log_prob``;
    ``likelihood(z)`` for z of shape (N, *latent_shape) has batch shape (N,) and ``log_prob(x)``
    sums over the data dimensions.
    """

    latent_shape: tuple[int, ...]
    has_density: bool = True  # False when q(z|x) has no density (an RAE): no likelihood then

    @abstractmethod
    def posterior(self, x: Tensor) -> Distribution:
        """The approximate posterior q(z | x)."""

    def encoder_output(self, x: Tensor) -> Tensor:
        """The deterministic part of q(z | x): a tensor (N, ...) with one row per example from
        which :meth:`posterior_from` builds q(z | x). Stage 2 computes it once for data that do
        not change between epochs and reuses it. Default: x itself (nothing to reuse)."""
        return x

    def posterior_from(self, output: Tensor) -> Distribution:
        """q(z | x) from ``encoder_output(x)``: ``posterior(x)`` without the encoder pass."""
        return self.posterior(output)

    @torch.no_grad()
    def encoder_outputs(self, data: TensorData, batch_size: int = 256) -> Tensor:
        """:meth:`encoder_output` of every example of ``data`` in order, in batches of
        ``batch_size``, in eval mode, on the model's device."""
        was_training = self.training
        self.eval()
        try:
            return torch.cat(
                [
                    self.encoder_output(data.batch(slice(i, i + batch_size)).to(self.device))
                    for i in range(0, len(data), batch_size)
                ]
            )
        finally:
            self.train(was_training)

    @abstractmethod
    def likelihood(self, z: Tensor) -> Distribution:
        """The decoder's distribution p(x | z)."""

    def log_likelihood_given(self, z: Tensor, x: Tensor) -> Tensor:
        """log p(x | z) for K latents per example, z (K, N, *latent_shape), and the N examples x:
        shape (K, N). Override to avoid copying x K times (the VAEs do)."""
        k = z.shape[0]
        x_rep = x.unsqueeze(0).expand(k, *x.shape).flatten(0, 1)
        return self.likelihood(z.flatten(0, 1)).log_prob(x_rep).view(k, -1)

    @property
    def device(self) -> torch.device:
        """The device of the model's parameters."""
        return next(self.parameters()).device

    def base_prior(self, temperature: float = 1.0) -> Distribution:
        """The base prior p(z), N(0, I) unless overridden, with its scale times ``temperature``."""
        return tempered(standard_normal(self.latent_shape, device=self.device), temperature)

    def init_from_data(self, data: TensorData) -> None:
        """Called once before training (for example to set the decoder's output bias to the
        data mean, as Lawson et al. do). Does nothing unless overridden."""

    def fit_base_prior(self, data: TensorData) -> None:
        """Called once after training, for models whose base prior is fitted ex post (the RAE's
        Gaussian mixture). Does nothing unless overridden."""

    def forward(self, x: Tensor, kl_weight: float = 1.0) -> TrainingOutput:
        """Negative ELBO with a weight on the KL term (KL warm-up), averaged over the batch:
        ELBO = E_q[log p(x|z)] - KL(q(z|x) || p(z)); KL in closed form when torch has one."""
        q = self.posterior(x)
        z = q.rsample()
        reconstruction = self.likelihood(z).log_prob(x)
        p = self.base_prior()
        try:
            kl = kl_divergence(q, p)
        except NotImplementedError:
            kl = q.log_prob(z) - p.log_prob(z)
        return TrainingOutput.from_elbo(reconstruction, kl, kl_weight)
