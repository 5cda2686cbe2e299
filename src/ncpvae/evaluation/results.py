"""The evaluation report, typed: every figure of one evaluation (or of the shards a merge
joined), and its flat, JSON-ready form, ``report.json``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ncpvae.evaluation.classifier import ClassifierFit
from ncpvae.evaluation.figures import (
    MMDFigures,
    SampleQuality,
    SIRFigures,
    log_normalizer_from_summary,
    log_normalizer_summary,
)
from ncpvae.evaluation.likelihood_report import LikelihoodReport, PerExample
from ncpvae.prior import LogNormalizer

__all__ = ["EvaluationReport"]


@dataclass
class EvaluationReport:
    """An evaluation's figures: the test log-likelihood under both priors (None for a model
    without a density), log Z, SIR's ESS, the prior hole, FID (None where not asked for) and the
    wall time of each part (``seconds``). SIR, the prior hole and the classifiers' fit are None
    on likelihood shards > 0 (shard 0 has them). :meth:`to_dict` gives ``report.json``, leaving
    out what does not apply, and :meth:`from_dict` reads it back."""

    num_test: int
    trained_groups: list[int]
    log_normalizer: LogNormalizer
    sir: SIRFigures | None = None
    mmd: MMDFigures | None = None
    likelihood: LikelihoodReport | None = None
    fid: SampleQuality | None = None
    seconds: dict[str, float] = field(default_factory=dict)
    per_example: PerExample | None = None  # the log-likelihoods behind ``likelihood``
    shard: tuple[int, int] = (0, 1)  # (this run's shard, number of shards) of the likelihood
    shard_examples: list[int] | None = None  # a shard's examples: [first, stop)
    prior: str | None = None  # the prior's run folder, as the command named it
    classifier_fit: ClassifierFit | None = None  # {} without validation data
    merged: list[str] | None = None  # the shards' folders, for a merged report
    base: str | None = None  # the base prior, in words (Prior.base_description)
    warnings: list[str] = field(default_factory=list)  # evaluation.trust.ratio_warnings

    def to_dict(self) -> dict[str, Any]:
        """The flat form that ``report.json`` holds (without the per-example values,
        ``log_likelihoods.json``; a shard's report says which examples it holds)."""
        sharded = {}
        if self.shard_examples is not None:
            sharded = {
                "shard": self.shard[0],
                "num_shards": self.shard[1],
                "shard_examples": self.shard_examples,
            }
        entries: dict[str, Any] = {} if self.prior is None else {"prior": self.prior}
        if self.base is not None:
            entries["base"] = self.base
        entries.update(
            num_test=self.num_test,
            **sharded,
            trained_groups=self.trained_groups,
            **(self.likelihood.to_dict() if self.likelihood else {}),
            **log_normalizer_summary(self.log_normalizer),
            **(self.sir.to_dict() if self.sir else {}),
            **(self.mmd.to_dict() if self.mmd else {}),
            **(self.fid.to_dict() if self.fid else {}),
            seconds=self.seconds,
        )
        if self.classifier_fit is not None:
            entries["classifier_fit"] = self.classifier_fit
        if self.merged is not None:
            entries["merged"] = self.merged
        if self.warnings:
            entries["warnings"] = self.warnings
        return entries

    @classmethod
    def from_dict(cls, entries: Mapping[str, Any]) -> EvaluationReport:
        """The report of :meth:`to_dict`'s entries (a ``report.json``); raises KeyError or
        TypeError for entries that are not one."""
        return cls(
            num_test=entries["num_test"],
            trained_groups=entries["trained_groups"],
            log_normalizer=log_normalizer_from_summary(entries),
            sir=SIRFigures.from_dict(entries) if "sir_ess_groups" in entries else None,
            mmd=MMDFigures.from_dict(entries) if "mmd_samples" in entries else None,
            likelihood=LikelihoodReport.from_dict(entries)
            if "vae_log_likelihood" in entries
            else None,
            fid=SampleQuality.from_dict(entries) if "sample_quality" in entries else None,
            seconds=dict(entries.get("seconds", {})),
            shard=(entries.get("shard", 0), entries.get("num_shards", 1)),
            shard_examples=entries.get("shard_examples"),
            prior=entries.get("prior"),
            classifier_fit=entries.get("classifier_fit"),
            merged=entries.get("merged"),
            base=entries.get("base"),
            warnings=list(entries.get("warnings", [])),
        )
