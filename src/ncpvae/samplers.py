"""Samplers for an NCP prior, behind one interface (DESIGN.md section 2.3).

Each sampler is a short recipe in :meth:`Sampler._sample_batch`; the batching loop lives once, in
:meth:`Sampler.sample`. Every sampler takes a ``temperature`` (scaling the base prior's standard
deviation) and a ``generator`` for reproducibility, and returns a :class:`SampleOutput`.
"""

from __future__ import annotations

import math
import warnings
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import Tensor
from tqdm.auto import tqdm

from ncpvae.distributions import generator_on, sample, tempered

if TYPE_CHECKING:
    from ncpvae.hierarchical_prior import HierarchicalNCPPrior
    from ncpvae.prior import NCPPrior

    AnyPrior = NCPPrior | HierarchicalNCPPrior

__all__ = [
    "SampleOutput",
    "Sampler",
    "BasePriorSampler",
    "SIRSampler",
    "LangevinSampler",
    "HMCSampler",
    "energy_and_grad",
    "resample_index",
    "PriorSampling",
]


@dataclass
class SampleOutput:
    """Samples and the sampler's diagnostics.

    Attributes:
        samples: (N, *event_shape) latents.
        ess: SIR only: effective sample size of the proposals behind each sample, (N,) or, for a
            hierarchical prior, (N, K), one per group.
        acceptance_rate: Metropolis-corrected samplers only.
    """

    samples: Tensor
    ess: Tensor | None = None
    acceptance_rate: float | None = None

    @staticmethod
    def concat(parts: list[SampleOutput]) -> SampleOutput:
        """Join batches: samples and ESS concatenated, acceptance rates averaged by size."""
        ess = [p.ess for p in parts if p.ess is not None]
        rates = [
            (p.acceptance_rate, len(p.samples)) for p in parts if p.acceptance_rate is not None
        ]
        return SampleOutput(
            samples=torch.cat([p.samples for p in parts]),
            ess=torch.cat(ess) if ess else None,
            acceptance_rate=(
                sum(r * n for r, n in rates) / sum(n for _, n in rates) if rates else None
            ),
        )


class Sampler(ABC):
    """Draws from p_t(z) r(z) / Z for an :class:`~ncpvae.prior.NCPPrior` (or a
    :class:`~ncpvae.hierarchical_prior.HierarchicalNCPPrior`), in batches. Set
    ``progress = True`` on an instance for progress bars.

    Base, Langevin and HMC samplers work in the prior's noise space (``prior.base``, with the
    energy ``-prior.log_prob_unnormalized``) and map their states to latents with
    ``prior.to_latent``: the identity for a flat prior; for a hierarchical one, the noise eps
    with z_k = mu_k(z_<k) + sigma_k(z_<k) eps_k (DESIGN.md section 2.3)."""

    batch_size: int = 4096
    progress: bool = False

    def _bar(self, iterable, description: str):
        return tqdm(iterable, desc=description, disable=not self.progress, leave=False)

    def sample(
        self,
        prior: AnyPrior,
        num_samples: int,
        *,
        temperature: float = 1.0,
        generator: torch.Generator | None = None,
    ) -> SampleOutput:
        """Draw ``num_samples`` latents from p_t(z) r(z) / Z, ``batch_size`` at a time; the same
        ``generator`` state gives the same samples."""
        if num_samples < 1:
            raise ValueError(f"num_samples must be positive, got {num_samples}")
        parts = []
        starts = range(0, num_samples, self.batch_size)
        for start in self._bar(starts, type(self).__name__) if len(starts) > 1 else starts:
            n = min(self.batch_size, num_samples - start)
            parts.append(self._sample_batch(prior, n, temperature, generator))
        return SampleOutput.concat(parts)

    @abstractmethod
    def _sample_batch(
        self, prior: AnyPrior, n: int, temperature: float, generator: torch.Generator | None
    ) -> SampleOutput: ...


@dataclass
class BasePriorSampler(Sampler):
    """Samples of the base prior p_t(z) alone (the VAE without NCP)."""

    batch_size: int = 65_536

    @torch.no_grad()
    def _sample_batch(self, prior, n, temperature, generator):
        return SampleOutput(
            prior.to_latent(sample(tempered(prior.base, temperature), (n,), generator))
        )


@dataclass
class SIRSampler(Sampler):
    """Sampling-importance-resampling (the recipe is the prior's ``importance_resample``).

    1. Draw M proposals z_1..z_M ~ p_t(z).
    2. Weight them by w_m = r(z_m) = exp f(z_m).
    3. Resample one index from Categorical(w / sum w); report ESS = (sum w)^2 / sum w^2.

    A hierarchical prior does this group by group: given the chosen z_<k, M proposals of z_k
    from p_t(z_k | z_<k), weighted by r_k(z_k, c_k); the ESS is then reported per group.

    Warns when the mean ESS (of any group) falls below ``min_ess`` (or half the proposals, if
    fewer): each draw then rests on a handful of proposals, because the target is far from the
    base prior; more proposals or :class:`LangevinSampler` is the remedy.
    """

    num_proposals: int = 500
    proposal_budget: int = 1 << 18  # proposals evaluated in one classifier batch
    min_ess: float = 10.0

    def __post_init__(self) -> None:
        if self.num_proposals < 1:
            raise ValueError(f"num_proposals must be positive, got {self.num_proposals}")
        self.batch_size = max(1, self.proposal_budget // self.num_proposals)

    def sample(self, prior, num_samples, *, temperature=1.0, generator=None) -> SampleOutput:
        """As :meth:`Sampler.sample`, warning when the mean ESS falls below ``min_ess``."""
        out = super().sample(prior, num_samples, temperature=temperature, generator=generator)
        mean_ess = out.ess.reshape(len(out.ess), -1).mean(0)  # per group
        worst = int(mean_ess.argmin())
        threshold = min(self.min_ess, self.num_proposals / 2)
        if float(mean_ess[worst]) < threshold:
            where = f" in group {worst}" if len(mean_ess) > 1 else ""
            warnings.warn(
                f"SIR effective sample size collapsed{where}: mean ESS "
                f"{float(mean_ess[worst]):.1f} of {self.num_proposals} proposals (below "
                f"{threshold:g}), so the samples repeat few proposals; raise the number of "
                "proposals (sir_proposals) or sample with HMC (sampler hmc)",
                RuntimeWarning,
                stacklevel=2,
            )
        return out

    @torch.no_grad()
    def _sample_batch(self, prior, n, temperature, generator):
        return prior.importance_resample(n, self.num_proposals, temperature, generator)


@dataclass
class LangevinSampler(Sampler):
    """Unadjusted Langevin dynamics on the energy E(z) = -f(z) - log p_t(z), from prior samples:

        z <- z - (eta / 2) grad E(z) + sqrt(eta) * noise,   noise ~ N(0, I).

    For a hierarchical prior z is the noise eps and E(eps) = sum_k -f_k + |eps|^2 / (2 t^2).

    Run from base-prior samples for ``num_steps * step_size`` units of time, this is short-run
    Langevin, as in the paper: the chains move prior samples into the high-density regions of
    the NCP prior but need not mix between modes. The bias shrinks with ``step_size`` (eta); a
    sharp classifier needs a small one.
    """

    num_steps: int = 500
    step_size: float = 1e-3
    batch_size: int = 16_384

    def _sample_batch(self, prior, n, temperature, generator):
        z = sample(tempered(prior.base, temperature), (n,), generator)
        generator = generator_on(z.device, generator)
        noise_scale = math.sqrt(self.step_size)
        start_mean, start_scale = z.mean(0), z.std(0).max()
        for _ in self._bar(range(self.num_steps), "Langevin steps"):
            _, grad = energy_and_grad(prior, z, temperature)
            z = z - 0.5 * self.step_size * grad + noise_scale * _randn_like(z, generator)
        spread = (z - start_mean).abs().max()
        if not torch.isfinite(spread) or spread > 50 * start_scale:
            warnings.warn(
                f"Langevin dynamics diverged (samples {float(spread):.3g} from the prior's mean, "
                f"50x its scale); lower step_size ({self.step_size:g})",
                RuntimeWarning,
                stacklevel=3,
            )
        return SampleOutput(prior.to_latent(z))


@dataclass
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
    ``acceptance_rate`` is the mean over the ``num_steps`` iterations that follow.
    """

    num_steps: int = 100
    num_warmup: int = 100
    num_leapfrog: int = 10
    step_size: float = 0.1
    target_acceptance: float = 0.8
    batch_size: int = 16_384

    def _sample_batch(self, prior, n, temperature, generator):
        z = sample(tempered(prior.base, temperature), (n,), generator)
        generator = generator_on(z.device, generator)
        log_eps = math.log(self.step_size)
        accepted = []
        for it in self._bar(range(self.num_warmup + self.num_steps), "HMC iterations"):
            z, accept_prob = self._transition(prior, z, math.exp(log_eps), temperature, generator)
            if it < self.num_warmup:  # gain decays as 1/sqrt(t): converges, then freezes
                log_eps += (float(accept_prob.mean()) - self.target_acceptance) / math.sqrt(it + 1)
            else:
                accepted.append(accept_prob.mean())
        rate = float(torch.stack(accepted).mean()) if accepted else None
        return SampleOutput(prior.to_latent(z), acceptance_rate=rate)

    def _transition(self, prior, z, eps, temperature, generator) -> tuple[Tensor, Tensor]:
        momentum = _randn_like(z, generator)
        energy, grad = energy_and_grad(prior, z, temperature)
        h_start = energy + 0.5 * momentum.flatten(1).pow(2).sum(1)
        z_new, m = z, momentum - 0.5 * eps * grad
        for step in range(self.num_leapfrog):
            z_new = z_new + eps * m
            energy_new, grad = energy_and_grad(prior, z_new, temperature)
            m = m - (eps if step < self.num_leapfrog - 1 else 0.5 * eps) * grad
        h_end = energy_new + 0.5 * m.flatten(1).pow(2).sum(1)
        log_accept = (h_start - h_end).nan_to_num(nan=-math.inf).clamp(max=0.0)
        accept_prob = log_accept.exp()
        uniform = torch.rand(accept_prob.shape, generator=generator, device=z.device)
        return torch.where(_per_row(uniform < accept_prob, z), z_new, z), accept_prob


def energy_and_grad(prior: AnyPrior, z: Tensor, temperature: float) -> tuple[Tensor, Tensor]:
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


def resample_index(log_weights: Tensor, generator: torch.Generator | None) -> Tensor:
    """One index per row of ``log_weights`` (n, M), drawn from Categorical(softmax(row))."""
    probs = torch.softmax(log_weights, dim=1)
    return torch.multinomial(probs, 1, generator=generator_on(probs.device, generator)).squeeze(1)


class PriorSampling:
    """``prior.sample(num_samples, sampler)`` for the NCP priors (flat and hierarchical)."""

    def sample(
        self,
        num_samples: int,
        sampler: Sampler | None = None,
        *,
        temperature: float = 1.0,
        generator: torch.Generator | None = None,
    ) -> SampleOutput:
        """Draw ``num_samples`` latents with ``sampler`` (default: SIR with 500 proposals)."""
        sampler = sampler or SIRSampler()
        return sampler.sample(self, num_samples, temperature=temperature, generator=generator)
