"""How each sampler runs: the sampler settings of ``ncpvae sample``, ``ncpvae evaluate``, the
Python API and the pythae sampler."""

from __future__ import annotations

from typing import ClassVar

from ncpvae.settings import Int, config_section, setting

__all__ = ["SamplerSettings", "SAMPLER_NAMES"]

SAMPLER_NAMES = ("base", "sir", "langevin", "hmc", "auto")
"""``base`` (the VAE's own prior), ``sir``, ``langevin``, ``hmc``, ``auto`` (SIR, and HMC where
SIR collapses)."""


@config_section
class SamplerSettings:
    """How each sampler runs: SIR's proposals, Langevin's and HMC's steps."""

    section: ClassVar[str] = ""
    sir_proposals: Int = setting(500, "SIR: proposals M per sample (the paper uses 5000).", min=1)
    langevin_steps: Int = setting(500, "Langevin: steps per chain.", min=0)
    langevin_step_size: float = setting(1e-3, "Langevin: step size eta.", above=0)
    hmc_steps: Int = setting(100, "HMC: iterations kept after the warm-up.", min=1)
    hmc_warmup: Int = setting(100, "HMC: iterations adapting the step size first.", min=0)
    hmc_leapfrog_steps: Int = setting(10, "HMC: leapfrog steps per iteration.", min=1)
    hmc_target_acceptance: float = setting(
        0.8, "HMC: mean acceptance probability the warm-up aims for.", above=0, below=1
    )
