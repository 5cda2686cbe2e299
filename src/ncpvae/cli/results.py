"""What each verb returns, typed: ``run`` gives one of these (``evaluate`` and
``merge-evaluations`` an :class:`~ncpvae.evaluation.EvaluationReport`), ``describe`` reads its
attributes, and ``to_dict`` gives the JSON file the verb writes (``history.json``'s summary,
``summary.json``, the demo's ``report.json``), under the keys those files have always had."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ncpvae.evaluation import EvaluationReport, SamplerDiagnostics, log_normalizer_summary
from ncpvae.evaluation.classifier import ClassifierFit
from ncpvae.prior import LogNormalizer
from ncpvae.training import TrainHistory, distributed

__all__ = ["TrainingSummary", "PriorResult", "SampleResult", "MergePriorsResult", "DemoResult"]


@dataclass(frozen=True)
class TrainingSummary:
    """A training stage (``train-vae``'s result): its wall time, skipped steps and process
    count, the last logged metrics (``elbo``, ``rec``, ``kl`` or ``acc<k>``, ...), and where it
    validated, the last validation pass and the step whose weights it kept; whether stage 2
    encoded its data once."""

    seconds: float
    skipped_steps: int
    processes: int
    metrics: dict[str, float]
    validation: dict[str, float] = field(default_factory=dict)
    selected_step: int | None = None
    reused_encodings: bool = False

    @classmethod
    def of(cls, history: TrainHistory) -> TrainingSummary:
        """The summary of a run's history (in this process group)."""
        return cls(
            seconds=history.seconds,
            skipped_steps=history.skipped_steps,
            processes=distributed.world_size(),
            metrics=dict(history.metrics),
            validation={k: v[-1] for k, v in history.validation.items()},
            selected_step=history.selected_step,
            reused_encodings=history.reused_encodings,
        )

    def to_dict(self) -> dict[str, Any]:
        """The flat entries of ``history.json``: the metrics by name, the validation pass's as
        ``val_<name>``; ``selected_step`` and ``reused_encodings`` only where they apply."""
        entries: dict[str, Any] = {
            "seconds": self.seconds,
            "skipped_steps": self.skipped_steps,
            "processes": self.processes,
            **self.metrics,
        }
        entries.update({f"val_{k}": v for k, v in self.validation.items()})
        if self.selected_step is not None:
            entries["selected_step"] = self.selected_step
        if self.reused_encodings:
            entries["reused_encodings"] = True
        return entries


@dataclass(frozen=True)
class PriorResult:
    """``train-prior``'s result: the training stage, and (in the main process only) the
    classifiers' fit on training and validation data (``{}`` without validation data), the
    prior's log Z and the seconds its estimate took, its base prior in words, and the signs
    that its ratio is not to be trusted (:func:`~ncpvae.evaluation.trust.ratio_warnings`)."""

    training: TrainingSummary
    classifier_fit: ClassifierFit | None = None
    log_normalizer: LogNormalizer | None = None
    log_normalizer_seconds: float | None = None
    base: str | None = None
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The flat entries of ``history.json``."""
        entries = self.training.to_dict()
        if self.classifier_fit is not None:
            entries["classifier_fit"] = self.classifier_fit
        if self.log_normalizer is not None:
            entries.update(log_normalizer_summary(self.log_normalizer))
        if self.log_normalizer_seconds is not None:
            entries["log_normalizer_seconds"] = self.log_normalizer_seconds
        if self.base is not None:
            entries["base"] = self.base
        if self.warnings:
            entries["warnings"] = self.warnings
        return entries


@dataclass(frozen=True)
class SampleResult:
    """``sample``'s result: ``num_samples`` draws of ``sampler`` at ``temperature``, the
    seconds they took, the prior's trained groups and the sampler's diagnostics."""

    sampler: str
    num_samples: int
    temperature: float
    seconds: float
    trained_groups: list[int]
    diagnostics: SamplerDiagnostics = field(default_factory=SamplerDiagnostics)

    def to_dict(self) -> dict[str, Any]:
        """``summary.json``."""
        return {
            "sampler": self.sampler,
            "num_samples": self.num_samples,
            "temperature": self.temperature,
            "seconds": self.seconds,
            "trained_groups": self.trained_groups,
            **self.diagnostics.to_dict(),
        }


@dataclass(frozen=True)
class MergePriorsResult:
    """``merge-priors``' result: the merged run folders, the groups each trained, and each
    one's training seconds (None where its ``history.json`` has none)."""

    merged: list[str]
    groups: list[list[int]]
    seconds: list[float | None]

    def to_dict(self) -> dict[str, Any]:
        """The summary at the head of the merged run's ``history.json``."""
        return {"merged": self.merged, "groups": self.groups, "seconds": self.seconds}


@dataclass(frozen=True)
class DemoResult:
    """``demo``'s result: the evaluation of its prior, the two stages' training seconds and
    steps, the demo's wall time (``seconds``) and the CPU threads it ran on."""

    report: EvaluationReport
    vae_train_seconds: float
    prior_train_seconds: float
    vae_steps: int
    prior_steps: int
    seconds: float
    threads: int

    def to_dict(self) -> dict[str, Any]:
        """The demo's ``report.json``: the evaluation's entries (its ``seconds``, the demo's wall
        time, in place of the evaluation's parts), then the demo's."""
        entries = self.report.to_dict()
        entries.update(
            vae_train_seconds=self.vae_train_seconds,
            prior_train_seconds=self.prior_train_seconds,
            vae_steps=self.vae_steps,
            prior_steps=self.prior_steps,
            seconds=self.seconds,
            threads=self.threads,
        )
        return entries
