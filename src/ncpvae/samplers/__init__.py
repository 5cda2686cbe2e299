"""Samplers for an NCP prior behind one interface (docs/method.md section 2.3): the base prior,
SIR (group by group), Langevin dynamics and HMC (in the prior's state space)."""

from ncpvae.config.sampling import HMCConfig, LangevinConfig, SIRConfig
from ncpvae.samplers.auto import AutoSampler
from ncpvae.samplers.base import BasePriorSampler, SampleOutput, Sampler, resample_index
from ncpvae.samplers.decode import decode
from ncpvae.samplers.mcmc import HMCSampler, LangevinSampler, energy_and_grad
from ncpvae.samplers.registry import SAMPLERS, build_sampler
from ncpvae.samplers.sir import SIRSampler

__all__ = [
    "SampleOutput",
    "Sampler",
    "BasePriorSampler",
    "SIRSampler",
    "LangevinSampler",
    "HMCSampler",
    "AutoSampler",
    "SIRConfig",
    "LangevinConfig",
    "HMCConfig",
    "SAMPLERS",
    "build_sampler",
    "energy_and_grad",
    "resample_index",
    "decode",
]
