"""The samplers by name (``--sampler NAME`` on the command line): each built from its own config
section, taken from a run config that holds them (``sir``, ``langevin``, ``hmc``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ncpvae.errors import ConfigError, did_you_mean
from ncpvae.samplers.auto import AutoSampler
from ncpvae.samplers.base import BasePriorSampler, Sampler
from ncpvae.samplers.mcmc import HMCSampler, LangevinSampler
from ncpvae.samplers.sir import SIRSampler

__all__ = ["SAMPLERS", "build_sampler"]


def _section(config: Any, name: str) -> Any:
    """The sampler section ``name`` of ``config`` (None, for the defaults, where it has none)."""
    return getattr(config, name, None)


SAMPLERS: dict[str, Callable[[Any, bool], Sampler]] = {
    "base": lambda c, progress: BasePriorSampler(progress=progress),
    "sir": lambda c, progress: SIRSampler(_section(c, "sir"), progress=progress),
    "langevin": lambda c, progress: LangevinSampler(_section(c, "langevin"), progress=progress),
    "hmc": lambda c, progress: HMCSampler(_section(c, "hmc"), progress=progress),
    "auto": lambda c, progress: AutoSampler(
        _section(c, "sir"), _section(c, "hmc"), progress=progress
    ),
}
"""Sampler name -> builder from a config and whether to show progress: ``base`` (the VAE's own
prior), ``sir``, ``langevin``, ``hmc``, ``auto`` (SIR, and HMC where SIR collapses)."""


def build_sampler(name: str, config: Any = None, progress: bool = False) -> Sampler:
    """The sampler called ``name``, with its settings from the ``sir``, ``langevin`` or ``hmc``
    section of ``config`` (a :class:`~ncpvae.config.SampleConfig`, an
    :class:`~ncpvae.config.EvaluationSettings`, ...; the defaults where it has none)."""
    if name not in SAMPLERS:
        hint = did_you_mean(name, SAMPLERS)
        raise ConfigError(f"unknown sampler {name!r}{hint}; use one of {sorted(SAMPLERS)}")
    return SAMPLERS[name](config, progress)
