"""From latents to data: draws x ~ p(x | z) and the decoder means."""

from __future__ import annotations

import torch
from torch import Tensor

from ncpvae.distributions import sample
from ncpvae.errors import SamplingError
from ncpvae.models.base import LatentVariableModel

__all__ = ["decode"]


@torch.no_grad()
def decode(
    model: LatentVariableModel,
    z: Tensor,
    generator: torch.Generator | None = None,
    batch_size: int = 1024,
) -> tuple[Tensor, Tensor]:
    """(x ~ p(x | z), the mean of p(x | z)) for each latent row, decoded in batches; refuses
    non-finite latents (a diverged sampler) with a :class:`~ncpvae.errors.SamplingError`."""
    if not torch.isfinite(z).all():
        raise SamplingError(
            "the sampler produced NaN or infinite latents (it diverged); lower the step size "
            "(--langevin.step_size) or use --sampler sir"
        )
    draws, means = [], []
    for start in range(0, z.shape[0], batch_size):
        likelihood = model.likelihood(z[start : start + batch_size])
        draws.append(sample(likelihood, (), generator))
        means.append(likelihood.mean)
    return torch.cat(draws), torch.cat(means)
