"""``ncpvae merge-evaluations``: one report from ``evaluate`` runs that each computed a shard of
the test-set likelihood (``--shard I --num_shards N``): the same figures as one run over the
whole test set, since every shard draws what that run would have drawn for its examples."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from ncpvae.cli.evaluate import PER_EXAMPLE_FILE
from ncpvae.cli.summary import seconds, wrote
from ncpvae.config import MergeEvaluationsConfig
from ncpvae.errors import CheckpointError, ConfigError
from ncpvae.evaluation import EvaluationReport
from ncpvae.evaluation.likelihood_report import LikelihoodReport, PerExample, join_shards
from ncpvae.evaluation.report import write_report
from ncpvae.files import read_json, write_json
from ncpvae.runs import claim_run_dir

__all__ = ["run", "describe"]

# the settings that decide the likelihood's draws and figures: the shards must share them (the
# rest, such as --fid_samples, --device or where the prior folder lies, may differ)
LIKELIHOOD_SETTINGS = (
    "num_test",
    "importance_samples",
    "log_normalizer_samples",
    "group_normalizer_samples",
    "group_normalizer_contexts",
    "seed",
)


def _read(folder: Path, name: str) -> dict[str, Any]:
    missing = (
        f"{str(folder)!r} is not a sharded evaluate run folder (no {name}); make the parts "
        "with ncpvae evaluate --shard I --num_shards N"
    )
    return read_json(folder / name, missing)


def _per_example(folder: Path) -> PerExample:
    try:
        return PerExample(**_read(folder, PER_EXAMPLE_FILE))
    except TypeError:
        raise CheckpointError(
            f"{str(folder / PER_EXAMPLE_FILE)!r} does not hold per-example log-likelihoods"
        ) from None


def _report(folder: Path) -> EvaluationReport:
    try:
        return EvaluationReport.from_dict(_read(folder, "report.json"))
    except (KeyError, TypeError):
        raise CheckpointError(
            f"{str(folder / 'report.json')!r} does not hold an evaluation report"
        ) from None


def run(
    cfg: MergeEvaluationsConfig, out: str | Path, progress: bool = True, overwrite: bool = False
) -> EvaluationReport:
    """Join the shards ``cfg.evaluations`` into one report in ``out``."""
    folders = [Path(path) for path in cfg.evaluations]
    if not folders:
        raise ConfigError("name the evaluate run folders to merge: --evaluations runs/e0,runs/e1")
    if any(Path(out).resolve() == folder.resolve() for folder in folders):
        raise ConfigError(f"--out {str(out)!r} is one of the shards to merge; choose a new folder")
    parts = [_per_example(folder) for folder in folders]  # first: names a folder of another kind
    configs = [_read(folder, "config.json") for folder in folders]
    reports = [_report(folder) for folder in folders]
    count = len(folders)
    shards = [c.get("shard", 0) for c in configs]
    if sorted(shards) != list(range(count)) or any(c.get("num_shards") != count for c in configs):
        found = [f"{c.get('shard')} of {c.get('num_shards')}" for c in configs]
        raise ConfigError(
            f"merge needs every shard 0 .. N-1 of one N-shard evaluation once; got {found}"
        )
    settings = [{k: c.get(k) for k in LIKELIHOOD_SETTINGS} for c in configs]
    if any(other != settings[0] for other in settings):
        raise ConfigError(
            f"the shards were evaluated with different settings ({', '.join(LIKELIHOOD_SETTINGS)}"
            " must agree); merge the shards of one evaluation"
        )
    try:
        joined = join_shards(parts)
    except ValueError as err:
        raise ConfigError(str(err)) from None
    first, shard0 = reports[shards.index(0)], configs[shards.index(0)]
    likelihood = [r.seconds.get("likelihood", 0.0) for r in reports]
    report = dataclasses.replace(
        first,
        num_test=len(joined.vae),
        likelihood=LikelihoodReport.of(joined),
        seconds={
            **first.seconds,
            "likelihood": sum(likelihood),
            "likelihood_longest_shard": max(likelihood),
        },
        per_example=joined,
        shard=(0, 1),
        shard_examples=None,
        merged=[str(folder) for folder in folders],
    )
    out = claim_run_dir(out, overwrite)
    write_json(out / "config.json", {**shard0, "shard": 0, "num_shards": 1})
    write_json(out / PER_EXAMPLE_FILE, joined.to_dict())
    write_report(report, out)
    return report


def describe(result: EvaluationReport, out: Path) -> str:
    """The lines a person reads at the end: the joined figures and files."""
    ll, merged = result.likelihood, result.merged or []
    assert ll is not None  # a merge joins likelihoods
    return "\n".join(
        [
            f"merge-evaluations: {len(merged)} shards, {result.num_test:,} test "
            f"examples: log-likelihood VAE {ll.vae_log_likelihood:.3f}, NCP "
            f"{ll.ncp_log_likelihood:.3f}, gain {ll.ncp_gain:.3f} "
            f"+- {ll.ncp_gain_stderr:.3f} (nats)",
            f"  likelihood {seconds(result.seconds['likelihood'])} over all shards, "
            f"{seconds(result.seconds['likelihood_longest_shard'])} the longest",
            wrote(out),
        ]
    )
