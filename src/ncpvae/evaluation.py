"""Importance-weighted log-likelihood (DESIGN.md section 2.4):

    log p(x) ~ logmeanexp_k [ log p(x | z_k) + log p(z_k) - log q(z_k | x) ],   z_k ~ q(z | x),

with p either the base prior or the NCP prior (whose log density uses the estimated log Z).
Importance samples are batched: the decoder sees ``chunk`` rows at a time, across examples and
samples together.
"""

from __future__ import annotations

from typing import Protocol

import torch
from torch import Tensor
from tqdm.auto import tqdm

from ncpvae.metrics import log_mean_exp
from ncpvae.models.base import LatentVariableModel

__all__ = ["log_likelihood", "LogDensity"]


class LogDensity(Protocol):
    """Anything with ``log_prob(z)``: a ``Distribution`` or an :class:`~ncpvae.NCPPrior`."""

    def log_prob(self, z: Tensor) -> Tensor: ...


@torch.no_grad()
def log_likelihood(
    model: LatentVariableModel,
    data: Tensor,
    prior: LogDensity | None = None,
    *,
    num_samples: int = 1000,
    chunk: int = 1 << 16,
    progress: bool = False,
) -> Tensor:
    """Per-example importance-weighted estimate of log p(x) (nats) with ``num_samples`` samples
    from q(z|x). ``prior`` defaults to the model's base prior; pass an NCP prior (with log Z
    estimated) for log p_NCP(x). Returns a tensor of shape (N,)."""
    prior = prior if prior is not None else model.prior()
    examples_per_chunk = max(1, chunk // num_samples)
    samples_per_chunk = max(1, chunk // examples_per_chunk)
    results = []
    starts = range(0, data.shape[0], examples_per_chunk)
    for start in tqdm(starts, desc="log-likelihood", disable=not progress, mininterval=1.0):
        x = data[start : start + examples_per_chunk].to(model.device)
        q = model.posterior(x)
        log_w = []
        for k0 in range(0, num_samples, samples_per_chunk):
            k = min(samples_per_chunk, num_samples - k0)
            z = q.sample((k,))  # (k, B, *latent)
            flat = z.flatten(0, 1)
            x_rep = x.unsqueeze(0).expand(k, *x.shape).flatten(0, 1)
            log_px_z = model.likelihood(flat).log_prob(x_rep).view(k, -1)
            log_pz = prior.log_prob(flat).view(k, -1)
            log_w.append(log_px_z + log_pz - q.log_prob(z))
        results.append(log_mean_exp(torch.cat(log_w), dim=0))
    return torch.cat(results)
