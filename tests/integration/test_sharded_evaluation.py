"""A test-set likelihood split over runs (``evaluate --shard I --num_shards N``) and joined by
``merge-evaluations`` gives the figures of one run over the whole test set, bit for bit; parts
that do not make one evaluation are refused in one line."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from ncpvae.cli import main
from ncpvae.evaluation.likelihood import log_likelihoods, plan
from ncpvae.models import VAE, VAEConfig

TINY_VAE = [
    "--train.steps",
    "30",
    "--data.num_train",
    "400",
    "--data.num_test",
    "50",
    "--model.hidden_dim",
    "32",
]
TINY_PRIOR = [
    "--train.steps",
    "20",
    "--log_normalizer_samples",
    "2000",
    "--classifier.hidden_dim",
    "16",
    "--classifier.num_blocks",
    "1",
]
# 10,000 importance samples put 6 test examples in a chunk: 50 examples make 9 chunks
EVALUATE = [
    "--importance_samples", "10000", "--log_normalizer_samples", "2000",
    "--sir_samples", "40", "--sir.num_proposals", "10",
]  # fmt: skip
LIKELIHOOD = ("vae_log_likelihood", "ncp_log_likelihood", "ncp_gain", "ncp_gain_stderr")


def _run(capsys, *args) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main([str(a) for a in args] + ["--quiet"])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture(scope="module")
def evaluations(tmp_path_factory):
    root = tmp_path_factory.mktemp("sharded")
    assert main(["train-vae", *TINY_VAE, "--out", str(root / "vae"), "--quiet"]) == 0
    args = ["train-prior", "--vae", str(root / "vae"), *TINY_PRIOR, "--out", str(root / "prior")]
    assert main([*args, "--quiet"]) == 0
    one = ["evaluate", "--prior", str(root / "prior"), *EVALUATE, "--quiet"]
    assert main([*one, "--out", str(root / "whole")]) == 0
    for shard in range(3):
        sharded = ["--shard", str(shard), "--num_shards", "3", "--out", str(root / f"part{shard}")]
        assert main([*one, *sharded]) == 0
    return root


def _report(folder) -> dict:
    return json.loads((folder / "report.json").read_text())


def test_merged_shards_give_the_figures_of_one_run(evaluations, capsys):
    root = evaluations
    parts = [_report(root / f"part{k}") for k in range(3)]
    assert [p["shard_examples"] for p in parts] == [[0, 18], [18, 36], [36, 50]]
    assert sum(p["num_test"] for p in parts) == 50
    # in any order
    joined = ",".join(str(root / f"part{k}") for k in (2, 0, 1))
    code, out, err = _run(capsys, "merge-evaluations", "--evaluations", joined, "--out", root / "m")
    assert code == 0, err
    merged, whole = _report(root / "m"), _report(root / "whole")
    assert merged["num_test"] == whole["num_test"] == 50
    for key in LIKELIHOOD:
        assert merged[key] == whole[key], key  # the same draws: equal, not close
    assert merged["sir_ess"] == whole["sir_ess"] and "shard" not in merged
    per_example = json.loads((root / "m" / "log_likelihoods.json").read_text())
    assert (
        per_example["vae"]
        == json.loads((root / "whole" / "log_likelihoods.json").read_text())["vae"]
    )
    assert "3 shards, 50 test examples" in out
    # a shard's own figures differ from the whole set's: the merge is not a copy of one
    assert parts[0]["ncp_log_likelihood"] != whole["ncp_log_likelihood"]
    # only shard 0 samples (SIR, MMD^2), fits the classifiers' report and draws report.png;
    # the merge takes these from it
    assert parts[0]["sir_ess"] == whole["sir_ess"] and "classifier_fit" in parts[0]
    for other in parts[1:]:
        assert not {"sir_ess", "mmd_samples", "classifier_fit"} & other.keys()
        assert "sir_and_mmd" not in other["seconds"]
    assert (root / "part0" / "report.png").is_file()
    assert not (root / "part1" / "report.png").exists()
    assert merged["classifier_fit"] == whole["classifier_fit"]


def test_parts_that_are_not_one_evaluation_are_refused(evaluations, capsys, tmp_path):
    root = evaluations
    part = [str(root / f"part{k}") for k in range(3)]
    cases = [
        (part[:2], "every shard 0 .. N-1"),
        ([part[0], part[0], part[1]], "every shard 0 .. N-1"),
        ([*part[:2], str(root / "prior")], "not a sharded evaluate run folder"),
        ([*part[:2], str(root / "whole")], "every shard 0 .. N-1"),
    ]
    for folders, message in cases:
        code, _, err = _run(
            capsys, "merge-evaluations", "--evaluations", ",".join(folders), "--out", tmp_path / "x"
        )
        assert code == 1 and message in err and len(err.strip().splitlines()) == 1, err
    code, _, err = _run(capsys, "evaluate", "--prior", root / "prior", "--shard", "3",
                        "--num_shards", "3", "--out", tmp_path / "y")  # fmt: skip
    assert code == 2 and "use 0 <= shard < num_shards" in err  # a bad command line
    code, _, err = _run(capsys, "evaluate", "--prior", root / "prior", *EVALUATE, "--shard", "0",
                        "--num_shards", "10", "--out", tmp_path / "z")  # fmt: skip
    assert code == 1 and "split them over at most 9 shard(s)" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "z").exists()


def test_shards_may_differ_in_what_the_likelihood_does_not_use(evaluations, capsys):
    # the docs' recipe: FID only on shard 0 (here: other SIR settings on shard 1)
    root = evaluations
    args = ["evaluate", "--prior", root / "prior", *EVALUATE, "--shard", "1", "--num_shards", "3"]
    assert _run(capsys, *args, "--sir_samples", "30", "--out", root / "other1")[0] == 0
    parts = f"{root / 'part0'},{root / 'other1'},{root / 'part2'}"
    code, _, err = _run(capsys, "merge-evaluations", "--evaluations", parts, "--out", root / "m2")
    assert code == 0, err
    assert (
        _report(root / "m2")["ncp_log_likelihood"] == _report(root / "whole")["ncp_log_likelihood"]
    )
    # but not in what it does
    args = [*args[:-2], "--seed", "1", "--shard", "1", "--num_shards", "3"]
    assert _run(capsys, *args, "--out", root / "seed1")[0] == 0
    parts = f"{root / 'part0'},{root / 'seed1'},{root / 'part2'}"
    code, _, err = _run(capsys, "merge-evaluations", "--evaluations", parts, "--out", root / "m3")
    assert code == 1 and "different settings" in err


def test_a_shard_of_the_likelihood_is_its_part_of_the_whole():
    torch.manual_seed(0)
    model = VAE(
        VAEConfig(data_shape=[4], latent_dim=2, hidden_dim=8, depth=1, likelihood="gaussian")
    ).eval()
    data = torch.randn(23, 4)
    batching = plan(model, (4,), num_samples=50, chunk=200)  # 4 examples a chunk
    assert batching.examples_per_chunk == 4
    shards = [batching.shard(23, k, 3) for k in range(3)]
    assert [list(s) for s in shards] == [list(range(0, 8)), list(range(8, 16)), list(range(16, 23))]
    priors = {"p": model.base_prior()}

    def run(examples=None):
        generator = torch.Generator().manual_seed(4)
        return log_likelihoods(
            model, data, priors, num_samples=50, chunk=200, generator=generator, examples=examples
        )["p"]

    whole = run()
    assert torch.equal(torch.cat([run(s) for s in shards]), whole)
    with pytest.raises(ValueError, match="not whole chunks"):
        run(range(2, 8))


def test_a_shard_overwriting_a_whole_run_leaves_no_figure_of_it(evaluations, capsys, tmp_path):
    folder = tmp_path / "again"
    shutil.copytree(evaluations / "whole", folder)
    assert (folder / "report.png").is_file()
    args = ["evaluate", "--prior", evaluations / "prior", *EVALUATE, "--shard", "1"]
    code, out, err = _run(capsys, *args, "--num_shards", "3", "--out", folder, "--overwrite")
    assert code == 0, err
    assert not (folder / "report.png").exists() and "sir_ess" not in _report(folder)
    assert "wrote" in out and "report.png" not in out and "SIR ESS" not in out
