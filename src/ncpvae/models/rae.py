"""A regularised autoencoder with a Gaussian-mixture base prior (Ghosh et al., ICLR 2020).

RAE-L2: a deterministic encoder z = E(x) and the loss

    -log p(x | D(z)) + beta * 1/2 ||z||^2 + lambda * ||theta_D||^2,

then, ex post, a Gaussian mixture (full covariance) fitted on the codes of the training data is
the base prior p(z). The NCP prior works on top of it like on any other base prior (the paper's
"RAE with a 10-component GMM prior" row, docs/method.md section 3).
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.distributions import Categorical, Distribution, MultivariateNormal

from ncpvae.config.model import RAEConfig
from ncpvae.data.arrays import TensorData
from ncpvae.distributions import GaussianMixture, PointMass, fit_gaussian_mixture, tempered
from ncpvae.models.base import TrainingOutput
from ncpvae.models.vae import VAE

__all__ = ["RAE"]


class RAE(VAE):
    """Deterministic autoencoder whose base prior is a Gaussian mixture fitted on its codes by
    :meth:`fit_base_prior` (scikit-learn, ``gmm_components`` full-covariance components). Until
    then the mixture's components are all N(0, I)."""

    encoder_outputs_per_latent = 1
    has_density = False
    base_prior_fitted = True

    def __init__(self, config: RAEConfig) -> None:
        super().__init__(config)
        k, d = config.gmm_components, config.latent_dim
        self.register_buffer("gmm_logits", torch.zeros(k))
        self.register_buffer("gmm_means", torch.zeros(k, d))
        self.register_buffer("gmm_scale_tril", torch.eye(d).repeat(k, 1, 1))

    def posterior_from(self, output: Tensor) -> Distribution:
        """The point mass at the code E(x)."""
        return PointMass(output)

    def base_prior(self, temperature: float = 1.0) -> Distribution:
        """The fitted Gaussian mixture, every component's scale times ``temperature``."""
        mixture = GaussianMixture(
            Categorical(logits=self.gmm_logits),
            MultivariateNormal(self.gmm_means, scale_tril=self.gmm_scale_tril),
        )
        return tempered(mixture, temperature)

    def forward(self, x: Tensor, kl_weight: float = 1.0) -> TrainingOutput:
        """The RAE-L2 loss (``kl_weight`` is unused: an RAE has no KL term)."""
        z = self.encoder(x)
        reconstruction = self.likelihood(z).log_prob(x).mean()
        latent = 0.5 * z.pow(2).sum(-1).mean()
        decoder = sum(p.pow(2).sum() for p in self.decoder.parameters())
        loss = (
            -reconstruction
            + self.config.latent_penalty * latent
            + self.config.decoder_penalty * decoder
        )
        return TrainingOutput(loss, {"rec": reconstruction, "latent": latent, "dec_l2": decoder})

    @torch.no_grad()
    def fit_base_prior(self, data: TensorData) -> None:
        """Fit the Gaussian mixture on the codes of ``data`` (expectation-maximisation)."""
        codes = self.encoder_outputs(data, batch_size=1024)
        fitted = fit_gaussian_mixture(codes, self.config.gmm_components)
        buffers = (self.gmm_logits, self.gmm_means, self.gmm_scale_tril)
        for buffer, value in zip(buffers, fitted, strict=True):
            buffer.copy_(value)
