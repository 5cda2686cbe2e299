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


def _sir(s: SamplerSettings, progress: bool) -> SIRSampler:
    return SIRSampler(num_proposals=s.sir_proposals, progress=progress)


def _hmc(s: SamplerSettings, progress: bool) -> HMCSampler:
    return HMCSampler(
        s.hmc_steps,
        s.hmc_warmup,
        s.hmc_leapfrog_steps,
        target_acceptance=s.hmc_target_acceptance,
        progress=progress,
    )


def _langevin(s: SamplerSettings, progress: bool) -> LangevinSampler:
    return LangevinSampler(s.langevin_steps, s.langevin_step_size, progress=progress)


SAMPLERS: dict[str, Callable[[SamplerSettings, bool], Sampler]] = {
    "base": lambda s, progress: BasePriorSampler(progress=progress),
    "sir": _sir,
    "langevin": _langevin,
    "hmc": _hmc,
    "auto": lambda s, progress: AutoSampler(_sir(s, False), _hmc(s, progress), progress=progress),
}
"""Sampler name -> builder from the settings and whether to show progress: ``base`` (the VAE's
own prior), ``sir``, ``langevin``, ``hmc``, ``auto`` (SIR, and HMC where SIR collapses)."""


def build_sampler(
    name: str, settings: SamplerSettings | None = None, progress: bool = False
) -> Sampler:
    """The sampler called ``name`` with ``settings`` (defaults if None)."""
    if name not in SAMPLERS:
        raise ConfigError(f"unknown sampler {name!r}; use one of {sorted(SAMPLERS)}")
    return SAMPLERS[name](settings or SamplerSettings(), progress)
