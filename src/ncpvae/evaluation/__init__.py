"""Evaluation: the importance-weighted likelihood, the prior hole as MMD^2, FID, and one report
of them all, typed (:class:`EvaluationReport` and the figures it holds)."""

from ncpvae.config.evaluation import EvaluationSettings
from ncpvae.evaluation.evaluate import (
    check_trained,
    evaluate,
    fit_log_normalizer,
)
from ncpvae.evaluation.figures import (
    FIDRow,
    MMDFigures,
    SampleQuality,
    SamplerDiagnostics,
    SIRFigures,
    log_normalizer_from_summary,
    log_normalizer_summary,
)
from ncpvae.evaluation.likelihood import LogDensity, bits_per_dim, log_likelihood, log_likelihoods
from ncpvae.evaluation.likelihood_report import LikelihoodReport, PerExample, join_shards
from ncpvae.evaluation.prior_hole import prior_hole
from ncpvae.evaluation.results import EvaluationReport

__all__ = [
    "EvaluationSettings",
    "EvaluationReport",
    "LikelihoodReport",
    "SIRFigures",
    "SamplerDiagnostics",
    "MMDFigures",
    "FIDRow",
    "SampleQuality",
    "PerExample",
    "join_shards",
    "evaluate",
    "fit_log_normalizer",
    "log_normalizer_summary",
    "log_normalizer_from_summary",
    "check_trained",
    "log_likelihood",
    "log_likelihoods",
    "bits_per_dim",
    "LogDensity",
    "prior_hole",
]
