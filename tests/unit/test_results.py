"""The typed results (issue 29): each round-trips to the JSON keys its file has always had, the
smallest group's ESS is what ``sir_ess`` holds, and ``describe`` and the Markdown report print
the figures from the attributes."""

from __future__ import annotations

import dataclasses
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from ncpvae.cli import demo, evaluate, merge_evaluations, sample, summary, train_prior, train_vae
from ncpvae.cli.results import (
    DemoResult,
    MergePriorsResult,
    PriorResult,
    SampleResult,
    TrainingSummary,
)
from ncpvae.evaluation import (
    EvaluationReport,
    FIDRow,
    LikelihoodReport,
    MMDFigures,
    SampleQuality,
    SamplerDiagnostics,
    SIRFigures,
)
from ncpvae.evaluation.report import markdown_report, write_report
from ncpvae.prior import GroupLogNormalizer, LogNormalizer
from ncpvae.samplers import SampleOutput

OUT = Path("runs/x")


def _log_z(groups: int = 1) -> LogNormalizer:
    return LogNormalizer.from_groups(
        [
            GroupLogNormalizer(
                group=k,
                mean=-0.05 * (k + 1),
                spread=0.0 if groups == 1 else 0.01,
                stderr=0.002,
                relative_variance=0.5,
                num_contexts=1 if groups == 1 else 4,
                num_samples=1000,
            )
            for k in range(groups)
        ]
    )


def _likelihood() -> LikelihoodReport:
    return LikelihoodReport(
        vae_log_likelihood=-3.5,
        vae_log_likelihood_stderr=0.1,
        ncp_log_likelihood=-0.625,
        ncp_log_likelihood_stderr=0.09,
        ncp_gain=2.875,
        ncp_gain_stderr=0.05,
        importance_samples=100,
        ncp_normalizer_bias_estimate=1e-4,
    )


def _report(groups: int = 3) -> EvaluationReport:
    """A report with every part: likelihood, log Z per group, SIR, MMD^2 per group, FID rows of
    SIR, HMC and the automatic sampler, the classifiers' fit."""
    sir_row = FIDRow(
        "sir", 1.0, 0, 41.5, 100, 1e-3, SamplerDiagnostics(SIRFigures([7.0, 3.25, 9.0], 50))
    )
    hmc_row = FIDRow("hmc", 0.8, 1, 40.25, 100, 2e-3, SamplerDiagnostics(acceptance_rate=0.75))
    auto = SamplerDiagnostics(SIRFigures([2.0, 1.5, 4.0], 50), acceptance_rate=0.5, hmc_samples=12)
    return EvaluationReport(
        num_test=200,
        trained_groups=list(range(groups)),
        log_normalizer=_log_z(groups),
        sir=SIRFigures([12.5, 4.0, 30.0][:groups], proposals=500, samples=2000),
        mmd=MMDFigures(
            samples=200,
            bandwidth_scales=[1.0, 0.25],
            base=0.5,
            base_scales=[0.5, 0.25],
            ncp=0.125,
            ncp_scales=[0.125, 0.0625],
            base_groups=[0.25, 0.5, 0.75][:groups],
            ncp_groups=[0.0625, 0.125, 0.25][:groups],
            train=0.01,
            train_scales=[0.01, 0.02],
            train_groups=[0.01, 0.02, 0.03][:groups],
        ),
        likelihood=_likelihood(),
        fid=SampleQuality(
            reference_samples=1000,
            rows=[sir_row, hmc_row, FIDRow("auto", 1.0, 0, 39.0, 100, 3e-3, auto)],
        ),
        seconds={"log_normalizer": 1.0, "total": 135.0},
        prior="runs/prior",
        classifier_fit={
            "train": {"loss": 0.5, "nce0": 0.5, "acc0": 0.75, "logz0": -0.01},
            "validation": {"loss": 0.625, "nce0": 0.625, "acc0": 0.7, "logz0": -0.02},
        },
    )


def test_the_report_round_trips_through_its_json_keys():
    report = _report()
    entries = json.loads(json.dumps(report.to_dict()))
    assert EvaluationReport.from_dict(entries) == report
    assert EvaluationReport.from_dict(entries).to_dict() == entries
    assert list(entries)[:3] == ["prior", "num_test", "trained_groups"]
    # the headline ESS is the smallest group's mean, under the key it has always had
    assert entries["sir_ess"] == 4.0 and entries["sir_ess_groups"] == [12.5, 4.0, 30.0]
    assert (entries["sir_proposals"], entries["sir_samples"]) == (500, 2000)
    assert entries["log_normalizer"] == pytest.approx(-0.3)
    assert entries["log_normalizer_samples"] == 4000  # per group: 4 contexts x 1000 draws
    assert entries["mmd2_posterior_ncp_groups"] == [0.0625, 0.125, 0.25]
    rows = entries["sample_quality"]
    # the FID rows keep the name sample's summary.json has for it: sir_ess_mean
    assert rows[0]["sir_ess_mean"] == 3.25 and "acceptance_rate" not in rows[0]
    assert rows[1]["acceptance_rate"] == 0.75 and "sir_ess_mean" not in rows[1]
    assert (rows[2]["sir_ess_mean"], rows[2]["hmc_samples"]) == (1.5, 12)
    assert entries["fid_reference"] == "train" and entries["fid_reference_samples"] == 1000
    assert list(entries)[-2:] == ["seconds", "classifier_fit"]


def test_a_report_without_samples_figures_or_density_leaves_their_keys_out():
    report = EvaluationReport(num_test=10, trained_groups=[0], log_normalizer=_log_z())
    entries = report.to_dict()
    assert not {"sir_ess", "mmd_samples", "vae_log_likelihood", "sample_quality"} & set(entries)
    assert "prior" not in entries and "shard" not in entries
    assert EvaluationReport.from_dict(entries) == report
    # fewer than two latents: only the count, as before
    assert MMDFigures(samples=1).to_dict() == {"mmd_samples": 1}
    assert MMDFigures.from_dict({"mmd_samples": 1}) == MMDFigures(samples=1)


def test_equal_prior_hole_bars_are_explained_and_old_reports_have_no_floor(tmp_path: Path):
    report = _report(groups=1)
    equal = dataclasses.replace(report.mmd, base=0.00122, ncp=0.00120, train=0.0003)
    text = markdown_report(dataclasses.replace(report, mmd=equal))
    assert "the two priors score within 5 % of each other (0.00122, 0.00120)" in text
    assert "the floor (0.00030) is what no hole scores" in text
    # a report.json from before the floor was measured reads back without one
    entries = report.to_dict()
    old = {k: v for k, v in entries.items() if not k.startswith("mmd2_posterior_train")}
    assert (
        "mmd2_posterior_train_scales" in entries
        and EvaluationReport.from_dict(old).mmd.train is None
    )
    assert EvaluationReport.from_dict(old).to_dict() == old
    text = markdown_report(EvaluationReport.from_dict(old))
    assert "| all | 0.50000 | 0.12500 |\n" in text and "floor" not in text
    write_report(EvaluationReport.from_dict(old), tmp_path)  # the figure without the floor
    assert (tmp_path / "report.png").stat().st_size > 1000


def test_a_shards_report_says_which_examples_it_holds():
    report = EvaluationReport(
        num_test=5,
        trained_groups=[0],
        log_normalizer=_log_z(),
        likelihood=_likelihood(),
        shard=(1, 2),
        shard_examples=[5, 10],
    )
    entries = report.to_dict()
    assert (entries["shard"], entries["num_shards"], entries["shard_examples"]) == (1, 2, [5, 10])
    assert EvaluationReport.from_dict(entries) == report


def test_not_a_report_raises_key_error():
    with pytest.raises(KeyError):
        EvaluationReport.from_dict({"num_test": 3})


def test_sir_figures_are_each_groups_mean_and_the_smallest_of_those():
    ess = torch.tensor([[2.0, 10.0], [4.0, 30.0]])  # (N, K): group 0 means 3, group 1 means 20
    sir = SIRFigures.of(ess, proposals=50)
    assert sir.group_ess == [3.0, 20.0] and sir.smallest_group_ess == 3.0
    assert sir.to_dict() == {"sir_ess": 3.0, "sir_ess_groups": [3.0, 20.0], "sir_proposals": 50}
    output = SampleOutput(latents=torch.zeros(2, 2), ess=ess)
    diagnostics = SamplerDiagnostics.of(output, proposals=50)
    assert diagnostics.to_dict() == {
        "sir_ess_mean": 3.0,
        "sir_ess_groups": [3.0, 20.0],
        "sir_proposals": 50,
    }
    assert SamplerDiagnostics.from_dict(diagnostics.to_dict()) == diagnostics


def test_markdown_report_prints_the_figures_of_the_attributes(tmp_path: Path):
    report = _report()
    text = markdown_report(report)
    assert text.startswith("# ncpvae evaluation of `runs/prior`")
    assert "| NCP | -0.625 ± 0.090 |" in text
    assert "Mean ESS per group: 12.5, 4.0, 30.0 (of M = 500, over 2000 samples)." in text
    assert "| group 1 | 0.50000 | 0.12500 | 0.02000 |" in text  # base, NCP, the floor
    assert "| all, bandwidth 0.25 x median | 0.25000 | 0.06250 | 0.02000 |" in text
    assert "another draw of q(z) itself" in text and "within 5 %" not in text
    assert "| sir | 1 | 0 | 41.50 | 100 | 1.000 | ESS 3.2 / 50 |" in text
    assert "| hmc | 0.8 | 1 | 40.25 | 100 | 2.000 | acceptance 0.75 |" in text
    assert "| 0 | 0.5000 / 0.6250 | 0.7500 / 0.7000 | -0.0100 / -0.0200 |" in text
    # what a reader would ask: where the seeds and the MMD sample counts come from
    assert "seed: the sampling seed of the row, --seed + 5 + 1000 x repeat" in text
    mmd = report.mmd.samples
    assert f"Each prior's first {mmd} samples (of the 2000 SIR samples) against" in text
    write_report(report, tmp_path)
    assert json.loads((tmp_path / "report.json").read_text()) == report.to_dict()
    assert (tmp_path / "report.md").read_text() == text
    assert (tmp_path / "report.png").stat().st_size > 1000


def test_evaluate_describes_the_attributes(monkeypatch):
    monkeypatch.setattr(summary, "process_seconds", lambda: 34.0 + 135)
    text = evaluate.describe(_report(), OUT)
    assert text.splitlines()[0] == "evaluate: 200 test examples"
    assert "log-likelihood (nats): VAE -3.500, NCP -0.625, gain 2.875 +- 0.050" in text
    assert "mean SIR ESS 4.0 of 500 (smallest group)" in text
    assert "FID hmc (t = 0.8, seed 1): 40.25 (100 samples, against 1,000 training images)" in text
    assert (
        "mean over 4 contexts (near 0 at the optimum): 0: -0.0500, 1: -0.1000, 2: -0.1500" in text
    )
    # the evaluation's own time, then the command's wall time with start-up and loading
    assert "took 2 min 15 s (2 min 49 s with start-up, loading and writing)" in text


def test_a_verbs_wall_time_counts_from_the_start_of_its_process():
    code = "import time; time.sleep(1.5); from ncpvae.cli.summary import took; print(took(0.5))"
    line = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    match = re.fullmatch(r"0 s \((\d+) s with start-up, loading and writing\)\n", line)
    assert match and 2 <= int(match.group(1)) < 30, line  # the sleep and the imports


def test_merge_evaluations_describes_the_joined_figures():
    report = _report(groups=1)
    report.merged = ["e0", "e1"]
    report.seconds = {"likelihood": 30.0, "likelihood_longest_shard": 16.0, "total": 40.0}
    text = merge_evaluations.describe(report, OUT)
    assert text.startswith("merge-evaluations: 2 shards, 200 test examples: log-likelihood VAE")
    assert "gain 2.875 +- 0.050 (nats)" in text and "30 s over all shards, 16 s the longest" in text
    assert report.to_dict()["merged"] == ["e0", "e1"]


def test_training_results_keep_the_history_keys_and_describe_them():
    training = TrainingSummary(
        seconds=12.0,
        skipped_steps=0,
        processes=1,
        metrics={"loss": 3.0, "elbo": -3.0, "rec": -2.5, "kl": 0.5},
        validation={"elbo": -3.25},
        selected_step=None,
    )
    assert training.to_dict() == {
        "seconds": 12.0,
        "skipped_steps": 0,
        "processes": 1,
        "loss": 3.0,
        "elbo": -3.0,
        "rec": -2.5,
        "kl": 0.5,
        "val_elbo": -3.25,
    }
    text = train_vae.describe(training, OUT)
    assert "last logged elbo -3, rec -2.5, kl 0.5; validation elbo -3.25" in text

    stage2 = TrainingSummary(12.0, 0, 1, {"loss": 0.5, "acc0": 0.875}, selected_step=99)
    result = PriorResult(stage2, {}, _log_z(), 2.0)
    entries = result.to_dict()
    assert entries["selected_step"] == 99 and entries["classifier_fit"] == {}
    assert entries["log_normalizer"] == pytest.approx(-0.05)
    assert entries["log_normalizer_samples"] == 1000 and entries["log_normalizer_seconds"] == 2.0
    text = train_prior.describe(result, OUT)
    assert "acc0 0.875; kept step 99 (lowest validation NCE loss)" in text
    assert "log Z -0.0500 +- 0.0020 (1,000 samples" in text
    assert "base" not in entries and "warnings" not in entries and "warning:" not in text
    doubtful = PriorResult(stage2, {}, _log_z(), 2.0, "the VAE's base prior", ["log Z is far"])
    entries, text = doubtful.to_dict(), train_prior.describe(doubtful, OUT)
    assert entries["base"] == "the VAE's base prior" and entries["warnings"] == ["log Z is far"]
    assert "  base prior: the VAE's base prior" in text and "  warning: log Z is far" in text
    # a process other than the main one has only the training stage
    assert PriorResult(stage2).to_dict() == stage2.to_dict()


def test_sample_and_merge_priors_keep_their_summary_keys():
    diagnostics = SamplerDiagnostics(SIRFigures([5.0, 2.5], 100))
    result = SampleResult("sir", 50, 1.0, 2.0, [0, 1], diagnostics)
    assert result.to_dict() == {
        "sampler": "sir",
        "num_samples": 50,
        "temperature": 1.0,
        "seconds": 2.0,
        "trained_groups": [0, 1],
        "sir_ess_mean": 2.5,
        "sir_ess_groups": [5.0, 2.5],
        "sir_proposals": 100,
    }
    text = sample.describe(result, OUT)
    assert "mean SIR ESS 2.5 of 100 (smallest group)" in text
    hmc = SampleResult("hmc", 50, 1.0, 2.0, [0], SamplerDiagnostics(acceptance_rate=0.8))
    assert hmc.to_dict()["acceptance_rate"] == 0.8 and "HMC acceptance 0.80" in sample.describe(
        hmc, OUT
    )
    merged = MergePriorsResult(["a", "b"], [[0], [1, 2]], [10.0, None])
    assert merged.to_dict() == {
        "merged": ["a", "b"],
        "groups": [[0], [1, 2]],
        "seconds": [10.0, None],
    }


def test_the_demo_result_is_the_evaluation_then_the_demos_figures(monkeypatch):
    report = _report(groups=1)
    result = DemoResult(report, 10.0, 20.0, 3000, 3000, 95.0, 2)
    entries = result.to_dict()
    evaluation = report.to_dict()
    assert list(entries)[: len(evaluation)] == list(evaluation)
    assert entries["seconds"] == 95.0  # the demo's wall time, in the evaluation's place
    assert [entries[k] for k in ("vae_steps", "prior_steps", "threads")] == [3000, 3000, 2]
    monkeypatch.setattr(summary, "process_seconds", lambda: None)  # not known here
    text = demo.describe(result, OUT)
    assert "test log-likelihood VAE -3.500, NCP -0.625 nats (gain 2.88;" in text
    assert "log Z -0.0500; mean SIR ESS 12.5 of 500; took 95 s (2 CPU threads)" in text
