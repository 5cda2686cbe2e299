"""A VAE with one latent vector: q(z|x) = N(mu(x), diag sigma(x)^2), the encoder and decoder of
``VAEConfig.architecture``, and any output likelihood p(x|z)."""

from __future__ import annotations

import torch
from torch import Tensor
from torch.distributions import Distribution, Independent, Normal

from ncpvae.config.model import VAEConfig
from ncpvae.data.arrays import TensorData
from ncpvae.errors import ConfigError
from ncpvae.likelihoods import build_likelihood, soft_clamp
from ncpvae.models.architectures import build_networks, set_output_bias
from ncpvae.models.base import LatentVariableModel

__all__ = ["VAE"]

MAX_ABS_LOG_SCALE = 7.0  # soft clamp of the posterior log-scales


class VAE(LatentVariableModel):
    """Gaussian encoder, decoder feeding the configured output likelihood.

    :meth:`init_from_data` sets the decoder's output bias to the data mean (logit of it for
    Bernoulli pixels, as Lawson et al. do).
    """

    encoder_outputs_per_latent = 2  # mean and raw log-scale

    def __init__(self, config: VAEConfig) -> None:
        super().__init__()
        if not config.data_shape:
            raise ConfigError(
                "model.data_shape is empty: set it to the shape of one example, e.g. 1,28,28 "
                "(the CLI fills it in from the data)"
            )
        self.config = config
        self.latent_shape = (config.latent_dim,)
        self.output = build_likelihood(
            config.likelihood, output_scale=config.output_scale, num_mixtures=config.num_mixtures
        )
        self.encoder, self.decoder = build_networks(
            config,
            self.encoder_outputs_per_latent * config.latent_dim,
            self.output.params_per_dim,
        )

    def posterior(self, x: Tensor) -> Distribution:
        """q(z|x) = N(mu(x), diag sigma(x)^2), log-scale soft-clamped to (-7, 7)."""
        return self.posterior_from(self.encoder_output(x))

    def encoder_output(self, x: Tensor) -> Tensor:
        """The encoder network's output (N, 2 L): mu and the raw log-scale."""
        return self.encoder(x)

    def posterior_from(self, output: Tensor) -> Distribution:
        """N(mu, diag sigma^2) from the encoder's output."""
        mu, raw_log_scale = output.chunk(2, dim=-1)
        return Independent(Normal(mu, soft_clamp(raw_log_scale, MAX_ABS_LOG_SCALE).exp()), 1)

    def likelihood(self, z: Tensor) -> Distribution:
        """p(x|z): the decoder's output through the configured output likelihood."""
        return self.output(self.decoder(z))

    def log_likelihood_given(self, z: Tensor, x: Tensor) -> Tensor:
        """log p(x | z) for latents (K, N, L) and data (N, *data_shape): (K, N), one decoder
        pass over all K * N latents; the data are broadcast, not copied K times."""
        params = self.decoder(z.flatten(0, 1))
        return self.output.log_prob(params.view(*z.shape[:2], *params.shape[1:]), x)

    @torch.no_grad()
    def init_from_data(self, data: TensorData) -> None:
        """Set the decoder's output bias so that the untrained model predicts the data mean
        (Lawson et al. set the logits of their Bernoulli decoder to logit(train mean))."""
        bias = self.output.initial_bias(data.mean().to(self.device))
        if bias is not None:
            set_output_bias(self.decoder, bias)
