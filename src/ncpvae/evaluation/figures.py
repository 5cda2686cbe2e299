"""The figures an evaluation measures, typed: SIR's ESS, a sampler's diagnostics, the prior hole as
MMD^2, FID per sampler and temperature, and log Z. Each has the flat, JSON-ready form that
``report.json`` (and ``sample``'s ``summary.json``) hold under their established keys."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from torch import Tensor

from ncpvae.prior import GroupLogNormalizer, LogNormalizer
from ncpvae.samplers import SampleOutput

__all__ = [
    "SIRFigures",
    "SamplerDiagnostics",
    "MMDFigures",
    "FIDRow",
    "SampleQuality",
    "log_normalizer_summary",
    "log_normalizer_from_summary",
]


def _present(entries: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in entries.items() if v is not None}


@dataclass(frozen=True)
class SIRFigures:
    """SIR's effective sample size: each latent group's mean ESS over the draws (``group_ess``;
    one value for a flat prior), with ``proposals`` proposals a draw, over ``samples`` draws
    where an evaluation counts them. Its headline is :attr:`smallest_group_ess`."""

    group_ess: list[float]
    proposals: int
    samples: int | None = None

    @classmethod
    def of(cls, ess: Tensor, proposals: int, samples: int | None = None) -> SIRFigures:
        """From SIR's per-sample ESS (N, K)."""
        return cls(group_ess=ess.mean(0).tolist(), proposals=proposals, samples=samples)

    @property
    def smallest_group_ess(self) -> float:
        """The smallest of the groups' mean ESS: the group SIR serves worst."""
        return min(self.group_ess)

    def to_dict(self, smallest_key: str = "sir_ess") -> dict[str, Any]:
        """``sir_ess`` (the smallest group's mean; ``smallest_key`` names it, ``sir_ess_mean`` in
        ``sample``'s summary and the FID rows), ``sir_ess_groups``, ``sir_proposals`` and, where
        counted, ``sir_samples``."""
        return _present(
            {
                smallest_key: self.smallest_group_ess,
                "sir_ess_groups": self.group_ess,
                "sir_proposals": self.proposals,
                "sir_samples": self.samples,
            }
        )

    @classmethod
    def from_dict(cls, entries: Mapping[str, Any]) -> SIRFigures:
        """The figures of :meth:`to_dict`'s entries (the smallest group's value is derived)."""
        return cls(
            group_ess=entries["sir_ess_groups"],
            proposals=entries["sir_proposals"],
            samples=entries.get("sir_samples"),
        )


@dataclass(frozen=True)
class SamplerDiagnostics:
    """What a sampler says about its draws: SIR's ESS, the Metropolis acceptance rate (HMC), and
    for the automatic sampler how many samples HMC drew where SIR collapsed."""

    sir: SIRFigures | None = None
    acceptance_rate: float | None = None
    hmc_samples: int | None = None

    @classmethod
    def of(cls, output: SampleOutput, proposals: int) -> SamplerDiagnostics:
        """The diagnostics of a sampler's output; ``proposals``: SIR's M."""
        return cls(
            sir=None if output.ess is None else SIRFigures.of(output.ess, proposals),
            acceptance_rate=output.acceptance_rate,
            hmc_samples=None if output.hmc is None else int(output.hmc.sum()),
        )

    def to_dict(self) -> dict[str, Any]:
        """The entries that apply: ``sir_ess_mean`` (the smallest group's mean ESS),
        ``sir_ess_groups``, ``sir_proposals``, ``acceptance_rate``, ``hmc_samples``."""
        sir = self.sir.to_dict(smallest_key="sir_ess_mean") if self.sir else {}
        rest = {"acceptance_rate": self.acceptance_rate, "hmc_samples": self.hmc_samples}
        return {**sir, **_present(rest)}

    @classmethod
    def from_dict(cls, entries: Mapping[str, Any]) -> SamplerDiagnostics:
        """The diagnostics of :meth:`to_dict`'s entries."""
        sir = SIRFigures.from_dict(entries) if "sir_ess_groups" in entries else None
        return cls(sir, entries.get("acceptance_rate"), entries.get("hmc_samples"))


@dataclass(frozen=True)
class MMDFigures:
    """The prior hole (:func:`~ncpvae.evaluation.prior_hole.prior_hole`): unbiased MMD^2
    between ``samples`` aggregate-posterior latents of test examples and as many draws of the
    base prior (``base``), of the NCP prior by SIR (``ncp``) and of the aggregate posterior
    itself, latents of training examples (``train``: the floor, what a prior equal to q(z)
    would score at this sample size), at the median-heuristic bandwidth, at that bandwidth
    times each of ``bandwidth_scales`` (``*_scales``) and, for several latent groups, per group
    (``*_groups``). Only ``samples`` with fewer than two samples; no ``train`` in reports from
    before it was measured."""

    samples: int
    bandwidth_scales: list[float] = field(default_factory=list)
    base: float | None = None
    base_scales: list[float] = field(default_factory=list)
    ncp: float | None = None
    ncp_scales: list[float] = field(default_factory=list)
    base_groups: list[float] | None = None
    ncp_groups: list[float] | None = None
    train: float | None = None
    train_scales: list[float] = field(default_factory=list)
    train_groups: list[float] | None = None

    SETS: ClassVar[tuple[str, ...]] = ("base", "ncp", "train")

    def to_dict(self) -> dict[str, Any]:
        """``mmd_samples``, ``mmd_bandwidth_scales`` and ``mmd2_posterior_<base|ncp|train>``
        with their ``_scales`` and ``_groups``, where measured."""
        if self.base is None:
            return {"mmd_samples": self.samples}
        entries = {"mmd_samples": self.samples, "mmd_bandwidth_scales": self.bandwidth_scales}
        measured = [name for name in self.SETS if getattr(self, name) is not None]
        for name in measured:
            entries[f"mmd2_posterior_{name}"] = getattr(self, name)
            entries[f"mmd2_posterior_{name}_scales"] = getattr(self, f"{name}_scales")
        for name in measured:
            entries[f"mmd2_posterior_{name}_groups"] = getattr(self, f"{name}_groups")
        return _present(entries)

    @classmethod
    def from_dict(cls, entries: Mapping[str, Any]) -> MMDFigures:
        """The figures of :meth:`to_dict`'s entries, or of ``mmd_samples`` and
        :func:`~ncpvae.evaluation.prior_hole.prior_hole`'s."""
        named = {
            f"{name}{part}": entries.get(f"mmd2_posterior_{name}{part}")
            for name in cls.SETS
            for part in ("", "_scales", "_groups")
        }
        named.update({f"{name}_scales": named[f"{name}_scales"] or [] for name in cls.SETS})
        scales = entries.get("mmd_bandwidth_scales", [])
        return cls(samples=entries["mmd_samples"], bandwidth_scales=scales, **named)

    def indistinct(self, tolerance: float = 0.05) -> bool:
        """Whether the base prior and NCP score within ``tolerance`` (relative) of each other
        at the median bandwidth: that scale does not tell the two priors apart."""
        if self.base is None or self.ncp is None:
            return False
        return abs(self.base - self.ncp) <= tolerance * max(abs(self.base), abs(self.ncp))


@dataclass(frozen=True)
class FIDRow:
    """FID of ``fid_samples`` decoded samples of one sampler at one temperature and sampling
    seed, the seconds per sample it took to draw and decode them, and the sampler's
    diagnostics."""

    sampler: str
    temperature: float
    sampling_seed: int
    fid: float
    fid_samples: int
    seconds_per_sample: float
    diagnostics: SamplerDiagnostics = field(default_factory=SamplerDiagnostics)

    def to_dict(self) -> dict[str, Any]:
        """One row of ``sample_quality`` in ``report.json``."""
        names = [f.name for f in dataclasses.fields(self) if f.name != "diagnostics"]
        return {**{k: getattr(self, k) for k in names}, **self.diagnostics.to_dict()}

    @classmethod
    def from_dict(cls, entries: Mapping[str, Any]) -> FIDRow:
        """The row of :meth:`to_dict`'s entries."""
        names = [f.name for f in dataclasses.fields(cls) if f.name != "diagnostics"]
        return cls(
            **{k: entries[k] for k in names}, diagnostics=SamplerDiagnostics.from_dict(entries)
        )


@dataclass(frozen=True)
class SampleQuality:
    """FID per sampler, temperature and seed (``rows``) against the statistics of
    ``reference_samples`` images of the ``reference`` split (the training images, as
    :func:`~ncpvae.evaluation.sample_quality.fid_reference` takes them)."""

    reference_samples: int
    rows: list[FIDRow]
    reference: str = "train"

    def to_dict(self) -> dict[str, Any]:
        """``fid_reference``, ``fid_reference_samples`` and the rows as ``sample_quality``."""
        return {
            "fid_reference": self.reference,
            "fid_reference_samples": self.reference_samples,
            "sample_quality": [row.to_dict() for row in self.rows],
        }

    @classmethod
    def from_dict(cls, entries: Mapping[str, Any]) -> SampleQuality:
        """The figures of :meth:`to_dict`'s entries."""
        return cls(
            reference_samples=entries["fid_reference_samples"],
            rows=[FIDRow.from_dict(row) for row in entries["sample_quality"]],
            reference=entries["fid_reference"],
        )


def log_normalizer_summary(estimate: LogNormalizer) -> dict[str, Any]:
    """log Z as report entries: the total, its standard error and draws, and per group."""
    return {
        "log_normalizer": estimate.value,
        "log_normalizer_stderr": estimate.stderr,
        "log_normalizer_samples": estimate.num_samples,
        "log_normalizer_groups": [dataclasses.asdict(g) for g in estimate.groups],
    }


def log_normalizer_from_summary(entries: Mapping[str, Any]) -> LogNormalizer:
    """The estimate of :func:`log_normalizer_summary`'s entries (the draws are derived)."""
    return LogNormalizer(
        value=entries["log_normalizer"],
        stderr=entries["log_normalizer_stderr"],
        groups=[GroupLogNormalizer(**g) for g in entries["log_normalizer_groups"]],
    )
