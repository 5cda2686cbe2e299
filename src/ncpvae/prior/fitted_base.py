"""A fitted base for the NCP prior (docs/method.md section 2.6): g(z), a full-covariance Gaussian
mixture fitted to aggregate-posterior latents, in place of the VAE's own base prior, so that the
classifier bridges the smaller gap between q(z) and g(z):

    p_NCP(z) = g(z) r(z) / Z,    r(z) = q(z) / g(z) at the NCE optimum.

Its parameters are buffers, saved and loaded with the prior's weights.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.distributions import Categorical, Distribution, MultivariateNormal

from ncpvae.distributions import GaussianMixture, fit_gaussian_mixture

__all__ = ["FittedBase"]


class FittedBase(nn.Module):
    """g(z): ``components`` full-covariance Gaussians over a latent of ``dim`` dimensions (one
    component: a single Gaussian), fitted by :meth:`fit` to latents of the aggregate posterior.

    Attributes:
        logits, means, scale_tril: the mixture's log weights (K,), means (K, d) and Cholesky
            factors (K, d, d).
        fitted: a bool buffer, False until :meth:`fit` (or loading fitted weights).
    """

    logits: Tensor
    means: Tensor
    scale_tril: Tensor
    fitted: Tensor

    def __init__(self, dim: int, components: int = 1) -> None:
        super().__init__()
        if components < 1:
            raise ValueError(f"a fitted base needs at least one component, got {components}")
        self.register_buffer("logits", torch.zeros(components))
        self.register_buffer("means", torch.zeros(components, dim))
        self.register_buffer("scale_tril", torch.eye(dim).repeat(components, 1, 1))
        self.register_buffer("fitted", torch.tensor(False))

    @property
    def components(self) -> int:
        """K, the number of Gaussians."""
        return len(self.logits)

    def describe(self) -> str:
        """What g is, in words (for reports)."""
        if self.components == 1:
            return "a full-covariance Gaussian fitted to the aggregate posterior"
        return f"a {self.components}-component Gaussian mixture fitted to the aggregate posterior"

    def distribution(self) -> Distribution:
        """g as a ``torch.distributions.Distribution`` over (d,) events."""
        if not bool(self.fitted):
            raise RuntimeError(
                "the prior's fitted base is not fitted yet: train the prior (train_prior fits "
                "it first) or call fit_base"
            )
        if self.components == 1:
            return MultivariateNormal(self.means[0], scale_tril=self.scale_tril[0])
        components = MultivariateNormal(self.means, scale_tril=self.scale_tril)
        return GaussianMixture(Categorical(logits=self.logits), components)

    @torch.no_grad()
    def fit(self, latents: Tensor, seed: int = 0) -> None:
        """Fit g to ``latents`` (N, d) by maximum likelihood (see
        :func:`~ncpvae.distributions.fit_gaussian_mixture`)."""
        if latents.ndim != 2 or latents.shape[1] != self.means.shape[1]:
            raise ValueError(
                f"a fitted base over {self.means.shape[1]} dimensions needs latents (N, "
                f"{self.means.shape[1]}), got {tuple(latents.shape)}"
            )
        if len(latents) <= self.means.shape[1]:
            raise ValueError(
                f"fitting a full covariance in {self.means.shape[1]} dimensions needs more "
                f"latents than that, got {len(latents)}"
            )
        if not torch.isfinite(latents).all():
            raise ValueError("the latents to fit the base to are not all finite")
        fitted = fit_gaussian_mixture(latents, self.components, seed)
        for buffer, value in zip((self.logits, self.means, self.scale_tril), fitted, strict=True):
            buffer.copy_(value)
        self.fitted.fill_(True)
