"""The samplers' settings, one type for the CLI (``ncpvae sample``, ``ncpvae evaluate``), the
Python API and the pythae sampler, and the registry that builds a sampler from them by name."""

from __future__ import annotations

from collections.abc import Callable

from ncpvae.config.sampling import SamplerSettings
from ncpvae.errors import ConfigError
from ncpvae.samplers.auto import AutoSampler
from ncpvae.samplers.base import BasePriorSampler, Sampler
from ncpvae.samplers.mcmc import HMCSampler, LangevinSampler
from ncpvae.samplers.sir import SIRSampler

__all__ = ["SamplerSettings", "SAMPLERS", "build_sampler"]


def _hmc(s: SamplerSettings) -> HMCSampler:
    return HMCSampler(
        s.hmc_steps, s.hmc_warmup, s.hmc_leapfrog_steps, target_acceptance=s.hmc_target_acceptance
    )


SAMPLERS: dict[str, Callable[[SamplerSettings], Sampler]] = {
    "base": lambda s: BasePriorSampler(),
    "sir": lambda s: SIRSampler(num_proposals=s.sir_proposals),
    "langevin": lambda s: LangevinSampler(s.langevin_steps, s.langevin_step_size),
    "hmc": lambda s: _hmc(s),
    "auto": lambda s: AutoSampler(SIRSampler(num_proposals=s.sir_proposals, min_ess=0.0), _hmc(s)),
}
"""Sampler name -> builder: ``base`` (the VAE's own prior), ``sir``, ``langevin``, ``hmc``,
``auto`` (SIR, and HMC where SIR collapses)."""


def build_sampler(
    name: str, settings: SamplerSettings | None = None, progress: bool = False
) -> Sampler:
    """The sampler called ``name`` with ``settings`` (defaults if None)."""
    if name not in SAMPLERS:
        raise ConfigError(f"unknown sampler {name!r}; use one of {sorted(SAMPLERS)}")
    sampler = SAMPLERS[name](settings or SamplerSettings())
    sampler.progress = progress
    return sampler
