"""How each sampler runs (docs/method.md section 2.3): one section per sampler, whose fields are
that sampler's constructor arguments, under one name everywhere: ``SIRSampler(num_proposals=
100)`` in Python, ``--sir.num_proposals 100`` on the command line, ``{"sir": {"num_proposals":
100}}`` in a JSON config, ``NCPSamplerConfig(sir=SIRConfig(num_proposals=100))`` for pythae."""

from __future__ import annotations

from typing import Any, ClassVar

from ncpvae.settings import Int, config_section, setting

__all__ = [
    "SIRConfig",
    "LangevinConfig",
    "HMCConfig",
    "RENAMED_KEYS",
    "sampler_section",
]


@config_section
class SIRConfig:
    """Sampling-importance-resampling: M proposals from the base prior per sample, one kept."""

    section: ClassVar[str] = "sir"
    num_proposals: Int = setting(500, "Proposals M per sample (the paper uses 5000).", min=1)
    min_ess: float = setting(
        10.0,
        "Warn when the mean effective sample size of a group falls below this (or below half "
        "the proposals); the auto sampler redraws by HMC each sample below it.",
        min=0,
    )
    proposal_budget: Int = setting(
        1 << 18, "Proposals scored by the classifier in one batch (bounds the memory).", min=1
    )


@config_section
class LangevinConfig:
    """Short-run unadjusted Langevin dynamics from base-prior samples."""

    section: ClassVar[str] = "langevin"
    num_steps: Int = setting(500, "Steps per chain.", min=0)
    step_size: float = setting(1e-3, "Step size eta.", above=0)


@config_section
class HMCConfig:
    """Hamiltonian Monte Carlo, one chain per sample, its step size adapted in a warm-up."""

    section: ClassVar[str] = "hmc"
    num_steps: Int = setting(100, "Iterations kept after the warm-up.", min=1)
    num_warmup: Int = setting(100, "Iterations adapting the step size first.", min=0)
    num_leapfrog: Int = setting(10, "Leapfrog steps per iteration.", min=1)
    step_size: float = setting(0.1, "Leapfrog step size the warm-up starts from.", above=0)
    target_acceptance: float = setting(
        0.8, "Mean acceptance probability the warm-up aims for.", above=0, below=1
    )


SECTION_HELP = {
    "sir": "How SIR samples.",
    "langevin": "How Langevin dynamics samples.",
    "hmc": "How HMC samples.",
}


def sampler_section(cls: type) -> Any:
    """The field of a config that holds sampler section ``cls`` (its defaults unless set): the
    one declaration of ``sir``, ``langevin`` and ``hmc`` in every config that samples."""
    return setting(help=SECTION_HELP[cls.section], default_factory=cls)


RENAMED_KEYS = {
    "sir_proposals": "sir.num_proposals",
    "langevin_steps": "langevin.num_steps",
    "langevin_step_size": "langevin.step_size",
    "hmc_steps": "hmc.num_steps",
    "hmc_warmup": "hmc.num_warmup",
    "hmc_leapfrog_steps": "hmc.num_leapfrog",
    "hmc_target_acceptance": "hmc.target_acceptance",
}
"""The sampler settings of ncpvae 0.1.0 (flat keys and flags) -> their key since."""
