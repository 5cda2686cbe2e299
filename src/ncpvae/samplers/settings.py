"""The samplers' settings, one type for the CLI (``ncpvae sample``, ``ncpvae evaluate``), the
Python API and the pythae sampler, and the registry that builds a sampler from them by name."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

from ncpvae.errors import ConfigError
from ncpvae.samplers.auto import AutoSampler
from ncpvae.samplers.base import BasePriorSampler, Sampler
from ncpvae.samplers.mcmc import HMCSampler, LangevinSampler
from ncpvae.samplers.sir import SIRSampler
from ncpvae.settings import check_settings, setting

__all__ = ["SamplerSettings", "SAMPLERS", "build_sampler"]


@dataclass
class SamplerSettings:
    """How each sampler runs: SIR's proposals, Langevin's and HMC's steps."""

    section: ClassVar[str] = ""
    sir_proposals: int = setting(500, "SIR: proposals M per sample (the paper uses 5000).", min=1)
    langevin_steps: int = setting(500, "Langevin: steps per chain.", min=0)
    langevin_step_size: float = setting(1e-3, "Langevin: step size eta.", above=0)
    hmc_steps: int = setting(100, "HMC: iterations kept after the warm-up.", min=1)
    hmc_warmup: int = setting(100, "HMC: iterations adapting the step size first.", min=0)
    hmc_leapfrog_steps: int = setting(10, "HMC: leapfrog steps per iteration.", min=1)
    hmc_target_acceptance: float = setting(
        0.8, "HMC: mean acceptance probability the warm-up aims for.", above=0, below=1
    )

    def __post_init__(self) -> None:
        check_settings(self)


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
