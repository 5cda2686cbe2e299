"""Evaluation: the importance-weighted likelihood, the prior hole as MMD^2, FID, and one report
of them all."""

from ncpvae.config.evaluation import EvaluationSettings
from ncpvae.evaluation.evaluate import (
    EvaluationReport,
    check_trained,
    estimate_log_normalizer,
    evaluate,
    log_normalizer_summary,
)
from ncpvae.evaluation.likelihood import LogDensity, bits_per_dim, log_likelihood, log_likelihoods
from ncpvae.evaluation.likelihood_report import LikelihoodReport, PerExample, join_shards
from ncpvae.evaluation.prior_hole import prior_hole

__all__ = [
    "EvaluationSettings",
    "EvaluationReport",
    "LikelihoodReport",
    "PerExample",
    "join_shards",
    "evaluate",
    "estimate_log_normalizer",
    "log_normalizer_summary",
    "check_trained",
    "log_likelihood",
    "log_likelihoods",
    "bits_per_dim",
    "LogDensity",
    "prior_hole",
]
