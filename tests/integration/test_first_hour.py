"""What a new user meets first: finished work is not replaced without --overwrite, a prior over
a retrained VAE is refused naming both runs, the wrong kind of run folder is named, the ready
configs are found by name, a short summary for people ends every verb, training leaves
curves.png and TensorBoard events."""

from __future__ import annotations

import json
import math
import re

import pytest

from ncpvae.cli import main

TINY_VAE = ["--train.steps", "30", "--data.num_train", "400", "--data.num_test", "50"]
TINY_PRIOR = ["--train.steps", "20", "--log_normalizer_samples", "2000"]


def _run(capsys, *args) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main([str(a) for a in args] + ["--quiet"])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def vae_and_prior(tmp_path, capsys):
    vae, prior = tmp_path / "vae", tmp_path / "prior"
    assert _run(capsys, "train-vae", *TINY_VAE, "--out", vae)[0] == 0
    assert _run(capsys, "train-prior", "--vae", vae, *TINY_PRIOR, "--out", prior)[0] == 0
    return vae, prior


def test_finished_runs_are_kept_unless_overwrite(tmp_path, capsys, vae_and_prior):
    vae, prior = vae_and_prior
    weights = (vae / "model.safetensors").read_bytes()
    code, out, err = _run(capsys, "train-vae", *TINY_VAE, "--out", vae)
    assert code == 1 and out == "" and len(err.strip().splitlines()) == 1
    assert "holds a finished run; pass --overwrite" in err
    assert (vae / "model.safetensors").read_bytes() == weights  # untouched
    # the same for a verb that does not train
    assert (
        _run(capsys, "sample", "--prior", prior, "--num_samples", "5", "--out", tmp_path / "s")[0]
        == 0
    )
    code, _, err = _run(
        capsys, "sample", "--prior", prior, "--num_samples", "5", "--out", tmp_path / "s"
    )
    assert code == 1 and "pass --overwrite" in err


def test_a_prior_over_a_retrained_vae_is_refused_naming_both(tmp_path, capsys, vae_and_prior):
    vae, prior = vae_and_prior
    code = _run(capsys, "train-vae", *TINY_VAE, "--train.seed", "1", "--out", vae, "--overwrite")[0]
    assert code == 0
    code, out, err = _run(capsys, "sample", "--prior", prior, "--out", tmp_path / "s")
    lines = err.strip().splitlines()
    assert code == 1 and len(lines) == 1 and str(prior) in lines[0] and str(vae) in lines[0]
    assert (
        "fitted on other VAE weights" in lines[0] and not (tmp_path / "s" / "config.json").exists()
    )


@pytest.mark.parametrize(
    "verb, flag, folder, expected",
    [
        ("sample", "--prior", "vae", "is a train-vae run; this needs a train-prior run folder"),
        ("evaluate", "--prior", "vae", "is a train-vae run; this needs a train-prior run folder"),
        (
            "train-prior",
            "--vae",
            "prior",
            "is a train-prior run; this needs a train-vae run folder",
        ),
    ],
)
def test_the_wrong_kind_of_run_folder_is_named(
    tmp_path, capsys, vae_and_prior, verb, flag, folder, expected
):
    paths = dict(zip(("vae", "prior"), vae_and_prior, strict=True))
    code, _, err = _run(capsys, verb, flag, paths[folder], "--out", tmp_path / "x")
    assert code == 1 and len(err.strip().splitlines()) == 1 and expected in err


def test_every_verb_ends_with_a_summary_for_people(tmp_path, capsys, vae_and_prior):
    vae, prior = vae_and_prior
    code, out, _ = _run(
        capsys,
        "evaluate",
        "--prior",
        prior,
        "--num_test",
        "20",
        "--importance_samples",
        "10",
        "--log_normalizer_samples",
        "2000",
        "--sir_samples",
        "20",
        "--sir.num_proposals",
        "10",
        "--out",
        tmp_path / "e",
    )
    report = json.loads((tmp_path / "e" / "report.json").read_text())
    assert code == 0 and out.startswith("evaluate: 20 test examples")
    assert f"gain {report['ncp_gain']:.3f}" in out  # the figures of the report, not other ones
    assert f"wrote {tmp_path / 'e'}/" in out and "{" not in out  # no JSON dump
    # every file the verb wrote is named; a finished run's checkpoint is removed unless kept
    assert "log_likelihoods.json" in out
    code, out, _ = _run(capsys, "train-vae", *TINY_VAE, "--out", tmp_path / "v")
    assert code == 0 and "model.safetensors" in out and "checkpoint" not in out
    assert not (tmp_path / "v" / "checkpoint.pt").exists()
    code, out, _ = _run(
        capsys, "train-vae", *TINY_VAE, "--keep_checkpoint", "true", "--out", tmp_path / "k"
    )
    assert code == 0 and (tmp_path / "k" / "checkpoint.pt").is_file()
    assert re.search(r"checkpoint\.pt \(\d+\.\d MiB, kept by keep_checkpoint\)", out)


def test_training_leaves_curves_and_tensorboard_events(vae_and_prior):
    pytest.importorskip("tensorboard", reason="tensorboard is not installed (ncpvae[tensorboard])")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    vae, prior = vae_and_prior
    history = json.loads((vae / "history.json").read_text())
    for folder, stage, key in ((vae, "vae", "elbo"), (prior, "prior", "acc0")):
        events = EventAccumulator(str(folder / "tensorboard"))
        events.Reload()
        logged = [e.value for e in events.Scalars(f"{stage}/{key}")]
        assert len(logged) >= 1 and all(math.isfinite(v) for v in logged)
        assert (folder / "curves.png").stat().st_size > 5000  # a drawn figure
    values = EventAccumulator(str(vae / "tensorboard"))
    values.Reload()
    assert [round(e.value, 4) for e in values.Scalars("vae/loss")] == [
        round(v, 4) for v in history["loss"]
    ]


def test_ready_configs_are_found_by_name(tmp_path, capsys, mnist_dir):
    code, _, _ = _run(
        capsys,
        "train-vae",
        "--config",
        "mnist_mlp_vae",
        "--data.path",
        mnist_dir,
        "--train.steps",
        "2",
        "--data.num_validation",
        "2",
        "--out",
        tmp_path / "v",
    )
    saved = json.loads((tmp_path / "v" / "config.json").read_text())
    assert (
        code == 0 and saved["model"]["latent_dim"] == 50 and saved["model"]["activation"] == "tanh"
    )
    code, _, err = _run(capsys, "train-vae", "--config", "no_such_config", "--out", tmp_path / "w")
    assert code == 1 and "mnist_mlp_vae" in err and len(err.strip().splitlines()) == 1


def test_version(capsys):
    import ncpvae

    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert (
        stop.value.code == 0 and capsys.readouterr().out.strip() == f"ncpvae {ncpvae.__version__}"
    )


def test_the_top_level_help_is_a_sentence_and_names_every_verb(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["--help"])
    out = capsys.readouterr().out
    description = out.split("\n\n")[1]  # after the usage line
    assert stop.value.code == 0 and "``" not in out and description.rstrip().endswith(".")
    for verb in ("demo", "train-vae", "train-prior", "merge-priors", "sample", "evaluate"):
        assert f"\n    {verb} " in out or f"\n    {verb}\n" in out  # listed with its help


def test_typos_get_the_closest_name_and_a_bad_command_line_exits_2(tmp_path, capsys):
    code, _, err = _run(capsys, "train-vae", "--train.steps", "ten", "--out", tmp_path / "v")
    assert code == 2 and "--train.steps expects int" in err  # as an unknown flag does
    code, _, err = _run(capsys, "train-vae", "--config", "mnist_mlp", "--out", tmp_path / "v")
    assert code == 1 and "(did you mean 'mnist_mlp_vae'?)" in err
    code, _, err = _run(capsys, "sample", "--sampler", "hcm", "--prior", tmp_path / "none")
    assert code == 1 and "(did you mean 'hmc'?)" in err
    with pytest.raises(SystemExit) as stop:  # argparse's own exit
        _run(capsys, "train-vae", "--data.nam", "mnist", "--out", tmp_path / "v")
    assert stop.value.code == 2 and "(did you mean '--data.name'?)" in capsys.readouterr().err


def test_an_error_a_flag_causes_in_a_config_files_setting_names_the_file(tmp_path, capsys):
    args = ["train-vae", "--config", "mnist_mlp_vae", "--model.kind", "hvae"]
    code, _, err = _run(capsys, *args, "--out", tmp_path / "v")
    assert code == 2 and "model.latent_dim is not a setting of model kind 'hvae'" in err
    assert "(set by --config mnist_mlp_vae: drop it there" in err
    code, _, err = _run(capsys, "train-vae", "--model.kind", "hvae", "--model.hidden_dim", "3")
    assert code == 2 and "--config" not in err  # the user typed that one
