"""``ncpvae evaluate``: the evaluation report of a train-prior run's prior."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from ncpvae.cli.summary import log_z, took, wrote
from ncpvae.config import EvaluateConfig, save_config
from ncpvae.data import load_data
from ncpvae.evaluation import EvaluationReport, check_trained, evaluate
from ncpvae.evaluation.classifier import describe_fit
from ncpvae.evaluation.evaluate import likelihood_shard
from ncpvae.evaluation.report import write_report
from ncpvae.evaluation.sample_quality import fid_scorer
from ncpvae.files import write_json
from ncpvae.likelihoods import DISCRETE
from ncpvae.runs import claim_run_dir, load_prior, resolve_device, vae_run_of

__all__ = ["run", "describe", "PER_EXAMPLE_FILE"]

PER_EXAMPLE_FILE = "log_likelihoods.json"  # the per-example values a merge joins


def run(
    cfg: EvaluateConfig, out: str | Path, progress: bool = True, overwrite: bool = False
) -> EvaluationReport:
    """Evaluate and write ``report.json``, ``report.md``, ``report.png`` and sample grids."""
    device = resolve_device(cfg.device)
    vae_cfg = vae_run_of(cfg.prior, cfg.vae)
    prior = load_prior(cfg.prior, device, vae=cfg.vae)
    trained = check_trained(prior, cfg.prior)
    train, validation, test = load_data(vae_cfg.data)
    fid = fid_scorer(cfg, test, device, progress) if cfg.samples_figures else None
    likelihood_shard(prior.model, test, cfg)  # refuses a missing shard before the folder is made
    out = claim_run_dir(out, overwrite)
    report = evaluate(
        prior,
        train,
        test,
        cfg,
        validation=validation,
        fid=fid,
        grids=out,
        discrete=vae_cfg.model.likelihood in DISCRETE,
        progress=progress,
    )
    report = dataclasses.replace(report, prior=str(cfg.prior), trained_groups=trained)
    save_config(cfg, out / "config.json")
    if report.per_example is not None:
        write_json(out / PER_EXAMPLE_FILE, report.per_example.to_dict())
    write_report(report, out)
    return report


def describe(result: EvaluationReport, out: Path) -> str:
    """The lines a person reads at the end: the headline figures, wall time, files."""
    lines = [f"evaluate: {result.num_test:,} test examples"]
    if result.base is not None:
        lines.append(f"  base prior: {result.base}")
    if result.shard_examples is not None:
        first, stop = result.shard_examples
        lines[0] += (
            f" (shard {result.shard[0]} of {result.shard[1]}: examples {first} to "
            f"{stop - 1}; join the shards with ncpvae merge-evaluations)"
        )
    if result.likelihood is not None:
        ll = result.likelihood
        lines.append(
            f"  log-likelihood (nats): VAE {ll.vae_log_likelihood:.3f}, NCP "
            f"{ll.ncp_log_likelihood:.3f}, gain {ll.ncp_gain:.3f} +- {ll.ncp_gain_stderr:.3f}"
        )
    lines.append(f"  {log_z(result.log_normalizer)}")
    lines += describe_fit(result.classifier_fit or {})
    if result.sir is not None:
        lines.append(
            f"  mean SIR ESS {result.sir.smallest_group_ess:.1f} of {result.sir.proposals} "
            "(smallest group)"
        )
    if result.fid is not None:
        against = f"against {result.fid.reference_samples:,} training images"
        lines += [
            f"  FID {row.sampler} (t = {row.temperature:g}, seed {row.sampling_seed}): "
            f"{row.fid:.2f} ({row.fid_samples:,} samples, {against})"
            for row in result.fid.rows
        ]
    lines += [f"  warning: {line}" for line in result.warnings]
    lines.append(f"  took {took(result.seconds['total'])}")
    lines.append(wrote(out))
    return "\n".join(lines)
