"""Markov chains on the NCP energy, in the prior's state space (docs/method.md section 2.3):
E(s) = -log p_t(s) - sum_k f_k, with s = z for a flat prior and the noise eps of all groups for a
hierarchical one (``prior.to_latent`` maps the final states to z)."""

from __future__ import annotations

import math
import warnings

import torch
from torch import Tensor

from ncpvae.config.sampling import HMCConfig, LangevinConfig
from ncpvae.distributions import generator_on, sample
from ncpvae.errors import SamplingError
from ncpvae.prior import Prior
from ncpvae.samplers.base import SampleOutput, Sampler

__all__ = ["LangevinSampler", "HMCSampler", "energy_and_grad"]


class LangevinSampler(Sampler):
    """Unadjusted Langevin dynamics on the energy E(z) = -f(z) - log p_t(z), from prior samples:

        z <- z - (eta / 2) grad E(z) + sqrt(eta) * noise,   noise ~ N(0, I).

    For a hierarchical prior z is the noise eps and E(eps) = sum_k -f_k + |eps|^2 / (2 t^2).

    Run from base-prior samples for ``num_steps * step_size`` units of time, this is short-run
    Langevin, as in the paper: the chains move prior samples into the high-density regions of
    the NCP prior but need not mix between modes. The bias shrinks with ``step_size`` (eta); a
    sharp classifier needs a small one. Settings: :class:`~ncpvae.config.LangevinConfig`.
    """

    config_class = LangevinConfig
    config: LangevinConfig
    batch_size = 16_384

    def _sample_batch(self, prior, n, temperature, generator):
        step_size = self.config.step_size
        z = sample(prior.state_prior(temperature), (n,), generator)
        generator = generator_on(z.device, generator)
        noise_scale = math.sqrt(step_size)
        start_mean, start_scale = z.mean(0), z.std(0).max()
        for _ in self._bar(range(self.config.num_steps), "Langevin steps"):
            _, grad = energy_and_grad(prior, z, temperature)
            z = z - 0.5 * step_size * grad + noise_scale * _randn_like(z, generator)
        spread = (z - start_mean).abs().max()
        if not torch.isfinite(spread):
            raise SamplingError(
                "Langevin dynamics diverged to NaN or infinite values; lower the step size "
                f"(--langevin.step_size, now {step_size:g}) or use --sampler sir"
            )
        if spread > 50 * start_scale:
            warnings.warn(
                f"Langevin dynamics diverged (samples {float(spread):.3g} from the prior's mean, "
                f"50x its scale); lower step_size ({step_size:g})",
                RuntimeWarning,
                stacklevel=3,
            )
        return SampleOutput(prior.to_latent(z))


class HMCSampler(Sampler):
    """Hamiltonian Monte Carlo on E(z) = -f(z) - log p_t(z) (not in the paper; its authors name it
    as the remedy when SIR's ESS collapses; for a hierarchical prior on the noise eps, as
    :class:`LangevinSampler`). One chain per sample, started from the base prior:

    1. Draw a momentum m ~ N(0, I); H(z, m) = E(z) + |m|^2 / 2.
    2. ``num_leapfrog`` leapfrog steps of size eps:
       m -= eps/2 grad E(z);  z += eps m;  m -= eps/2 grad E(z).
    3. Accept the end point with probability min(1, exp(H_start - H_end)) (Metropolis).

    During the first ``num_warmup`` iterations eps is adapted (Robbins-Monro on log eps) so the
    mean acceptance probability approaches ``target_acceptance``; the reported
    ``acceptance_rate`` is the mean over the ``num_steps`` iterations that follow. Settings:
    :class:`~ncpvae.config.HMCConfig`.
    """

    config_class = HMCConfig
    config: HMCConfig
    batch_size = 16_384

    def _sample_batch(self, prior, n, temperature, generator):
        cfg = self.config
        z = sample(prior.state_prior(temperature), (n,), generator)
        generator = generator_on(z.device, generator)
        log_eps = math.log(cfg.step_size)
        accepted = []
        for it in self._bar(range(cfg.num_warmup + cfg.num_steps), "HMC iterations"):
            z, accept_prob = self._transition(prior, z, math.exp(log_eps), temperature, generator)
            if it < cfg.num_warmup:  # gain decays as 1/sqrt(t): converges, then freezes
                log_eps += (float(accept_prob.mean()) - cfg.target_acceptance) / math.sqrt(it + 1)
            else:
                accepted.append(accept_prob.mean())
        rate = float(torch.stack(accepted).mean()) if accepted else None
        return SampleOutput(prior.to_latent(z), acceptance_rate=rate)

    def _transition(self, prior, z, eps, temperature, generator) -> tuple[Tensor, Tensor]:
        momentum = _randn_like(z, generator)
        energy, grad = energy_and_grad(prior, z, temperature)
        h_start = energy + 0.5 * momentum.flatten(1).pow(2).sum(1)
        z_new, m = z, momentum - 0.5 * eps * grad
        num_leapfrog = self.config.num_leapfrog
        for step in range(num_leapfrog):
            z_new = z_new + eps * m
            energy_new, grad = energy_and_grad(prior, z_new, temperature)
            m = m - (eps if step < num_leapfrog - 1 else 0.5 * eps) * grad
        h_end = energy_new + 0.5 * m.flatten(1).pow(2).sum(1)
        log_accept = (h_start - h_end).nan_to_num(nan=-math.inf).clamp(max=0.0)
        accept_prob = log_accept.exp()
        uniform = torch.rand(accept_prob.shape, generator=generator, device=z.device)
        return torch.where(_per_row(uniform < accept_prob, z), z_new, z), accept_prob


def energy_and_grad(prior: Prior, z: Tensor, temperature: float) -> tuple[Tensor, Tensor]:
    """E(z) = -f(z) - log p_t(z) per row, and its gradient (no graph kept). Rows that are not
    finite (a diverged chain) get energy +inf and gradient 0, so HMC rejects them."""
    finite = torch.isfinite(z).flatten(1).all(1)
    mask = _per_row(finite, z)
    with torch.enable_grad():
        z = torch.where(mask, z, torch.zeros_like(z)).detach().requires_grad_(True)
        energy = -prior.log_prob_unnormalized(z, temperature)
        (grad,) = torch.autograd.grad(energy.sum(), z)
    return energy.detach().masked_fill(~finite, math.inf), grad.masked_fill(~mask, 0.0)


def _per_row(flags: Tensor, z: Tensor) -> Tensor:
    """(N,) flags shaped to broadcast over the rows of z (N, ...)."""
    return flags.view(-1, *([1] * (z.dim() - 1)))


def _randn_like(z: Tensor, generator: torch.Generator | None) -> Tensor:
    return torch.randn(z.shape, generator=generator, device=z.device, dtype=z.dtype)
