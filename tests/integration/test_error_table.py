"""Every row of the errors table in docs/cli.md, walked: each input is reproduced in a folder of
its own, and the CLI answers with exactly the documented line (``...`` stands for any text),
alone on stderr, with a non-zero exit status and no new run folder. A row without a
reproduction here, or a reproduction without its row, fails the test."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import MNIST_DIR_VALIDATION, ROOT, digits, error_line, write_mnist

import ncpvae.data.mnist as mnist
from ncpvae.cli import main

TINY = "--train.steps 30 --data.num_train 400 --data.num_test 50"


def table() -> dict[str, str]:
    """Input cell -> the documented message (the first code span of the message cell)."""
    text = (ROOT / "docs" / "cli.md").read_text().split("## Errors", 1)[1]
    rows = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
        if len(cells) == 2 and cells[1].startswith("`ncpvae"):
            rows[cells[0]] = re.match(r"`([^`]*)`", cells[1]).group(1)
    return rows


def _run(command: str) -> None:
    assert main([*command.split(), "--quiet"]) == 0, command


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    """Finished runs made once: a 25-Gaussians VAE and its prior, and a tiny MNIST VAE and its
    prior (images, for FID)."""
    root = tmp_path_factory.mktemp("finished")
    _run(f"train-vae {TINY} --keep_checkpoint true --out {root / 'vae'}")
    _run(
        f"train-prior --vae {root / 'vae'} --train.steps 20 --classifier.hidden_dim 16 "
        f"--log_normalizer_samples 2000 --out {root / 'prior'}"
    )
    data = write_mnist(root / "mnist", digits(21, 0), digits(12, 1))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(mnist, "NUM_VALIDATION", MNIST_DIR_VALIDATION)
        _run(
            f"train-vae --data.name mnist --data.path {data} --data.binarize true "
            f"--model.likelihood bernoulli --model.hidden_dim 8 --train.steps 2 "
            f"--out {root / 'mnist_vae'}"
        )
        _run(
            f"train-prior --vae {root / 'mnist_vae'} --train.steps 2 --classifier.hidden_dim 8 "
            f"--log_normalizer_samples 1000 --out {root / 'mnist_prior'}"
        )
    return root


def _copy(finished: Path, *names: str) -> None:
    for name in names:
        shutil.copytree(finished / name, Path("runs") / name)


def _save(name: str, array: np.ndarray) -> None:
    np.save(name, array, allow_pickle=array.dtype == object)


def _unfinished(finished: Path) -> None:
    """runs/vae holding only the checkpoint of the finished run (as a crash leaves it)."""
    Path("runs/vae").mkdir(parents=True)
    shutil.copy(finished / "vae" / "checkpoint.pt", "runs/vae/checkpoint.pt")


def _pickled_object(name: str) -> None:
    torch.save(Path("x"), name)  # any Python object: weights-only loading refuses it


def _retrained(finished: Path) -> None:
    _run(f"train-vae {TINY} --out runs/vae")
    _run(
        "train-prior --vae runs/vae --train.steps 5 --log_normalizer_samples 1000 --out runs/prior"
    )
    _run(f"train-vae {TINY} --train.seed 1 --out runs/vae --overwrite")


def _foreign_setting(finished: Path) -> None:
    """runs/vae (25 Gaussians) whose config.json also holds a folder source's setting, changed."""
    _copy(finished, "vae")
    config = json.loads(Path("runs/vae/config.json").read_text())
    config["data"]["image_size"] = 32
    Path("runs/vae/config.json").write_text(json.dumps(config))


def _truncate(path: str) -> None:
    data = Path(path).read_bytes()
    Path(path).write_bytes(data[: len(data) // 2])


Setup = Callable[[Path], None]
REAL = np.random.default_rng(0).normal(size=(300, 2)).astype(np.float32)
# input cell of the table -> (what to set up in the row's folder, the command)
ROWS: dict[str, tuple[Setup, str]] = {
    "`ncpvae train-vae --train.stepz 5`": (lambda f: None, "train-vae --train.stepz 5"),
    "`ncpvae sample --sir_proposals 100` (ncpvae 0.1.0's flag)": (
        lambda f: None,
        "sample --sir_proposals 100",
    ),
    "`--train.steps many`": (lambda f: None, "train-vae --train.steps many"),
    "`--config missing.json`": (lambda f: None, "train-vae --config missing.json"),
    'a config with `{"train": {"stepz": 3}}`': (
        lambda f: Path("bad.json").write_text('{"train": {"stepz": 3}}'),
        "train-vae --config bad.json",
    ),
    "a NaN or infinite loss": (
        lambda f: _save("x.npy", REAL * 1e30),
        "train-vae --data.name file --data.path x.npy --data.num_test 50 --train.steps 5",
    ),
    "`--data.name file --data.path missing.npy`": (
        lambda f: None,
        "train-vae --data.name file --data.path missing.npy",
    ),
    "`--data.name mnist --data.path /nonexistent`": (
        lambda f: None,
        "train-vae --data.name mnist --data.path /nonexistent",
    ),
    "a data file that is not an array (`junk.npy`)": (
        lambda f: _save("junk.npy", np.array([{"a": 1}], dtype=object)),
        "train-vae --data.name file --data.path junk.npy",
    ),
    "a `.pt` data file holding a pickled object (`obj.pt`)": (
        lambda f: _pickled_object("obj.pt"),
        "train-vae --data.name file --data.path obj.pt",
    ),
    "`--data.name mnist --data.path mnist.tar` (a file)": (
        lambda f: Path("mnist.tar").write_bytes(b"\0" * 512),
        "train-vae --data.name mnist --data.path mnist.tar",
    ),
    "an empty data file": (
        lambda f: _save("empty.npy", np.zeros((0, 2), np.float32)),
        "train-vae --data.name file --data.path empty.npy --data.num_test 1",
    ),
    "data of shape (300,)": (
        lambda f: _save("x.npy", np.zeros(300, np.float32)),
        "train-vae --data.name file --data.path x.npy",
    ),
    "RGB images with `--model.data_shape 1,8,8`": (
        lambda f: _save("x.npy", np.zeros((300, 3, 8, 8), np.uint8)),
        "train-vae --data.name file --data.path x.npy --data.num_test 50 "
        "--model.architecture conv --model.data_shape 1,8,8",
    ),
    "`--out /proc/nope` (unwritable)": (lambda f: None, "train-vae --out /proc/nope"),
    "data with NaN rows": (
        lambda f: _save("x.npy", np.where(np.arange(300)[:, None] == 7, np.nan, REAL)),
        "train-vae --data.name file --data.path x.npy --data.num_test 50",
    ),
    "`ncpvae sample --temperature 0`": (lambda f: None, "sample --temperature 0"),
    "`--model.likelihood bernoulli` on real-valued data": (
        lambda f: None,
        "train-vae --model.likelihood bernoulli",
    ),
    "`ncpvae sample --sampler langevin --langevin.step_size 100`": (
        lambda f: _copy(f, "prior"),
        "sample --prior runs/prior --sampler langevin --langevin.step_size 100 "
        "--num_samples 10 --langevin.num_steps 50",
    ),
    "`ncpvae sample --seed 99999999999999999999999`": (
        lambda f: None,
        "sample --seed 99999999999999999999999",
    ),
    "`ncpvae sample --prior runs/nothing`": (lambda f: None, "sample --prior runs/nothing"),
    "`ncpvae sample --prior runs/vae` (a VAE run)": (
        lambda f: _copy(f, "vae"),
        "sample --prior runs/vae",
    ),
    "`ncpvae train-vae --model.kind hvae --model.hidden_dim 3`": (
        lambda f: None,
        "train-vae --model.kind hvae --model.hidden_dim 3",
    ),
    "`ncpvae train-vae --data.name mnist --data.grid_size 3`": (
        lambda f: None,
        "train-vae --data.name mnist --data.grid_size 3",
    ),
    "a run folder whose `config.json` holds a setting of another data source": (
        _foreign_setting,
        "train-prior --vae runs/vae --out runs/prior",
    ),
    "`ncpvae evaluate --fid_samples 1000` without the FID weights": (
        lambda f: shutil.copytree(f / "mnist_prior", "runs/prior"),
        "evaluate --prior runs/prior --fid_samples 1000 --fid_weights missing/inception.pt",
    ),
    "`ncpvae evaluate --fid_samples 100 --samplers sir,gibbs`": (
        lambda f: _copy(f, "prior"),
        "evaluate --prior runs/prior --fid_samples 100 --samplers sir,gibbs",
    ),
    "`--fid_samples 100` on 25 Gaussians": (
        lambda f: _copy(f, "prior"),
        "evaluate --prior runs/prior --fid_samples 100",
    ),
    "`ncpvae evaluate --shard 0 --num_shards 2` on 50 test examples": (
        lambda f: _copy(f, "prior"),
        "evaluate --prior runs/prior --shard 0 --num_shards 2",
    ),
    "`ncpvae merge-evaluations --evaluations runs/prior`": (
        lambda f: _copy(f, "prior"),
        "merge-evaluations --evaluations runs/prior",
    ),
    "`ncpvae train-vae --out runs/vae` over a finished run": (
        lambda f: _copy(f, "vae"),
        f"train-vae {TINY} --out runs/vae",
    ),
    "`ncpvae train-vae --out runs/vae --resume` over a finished run": (
        lambda f: _copy(f, "vae"),
        f"train-vae {TINY} --out runs/vae --resume",
    ),
    "`ncpvae sample --prior runs/prior` after `runs/vae` was trained again": (
        _retrained,
        "sample --prior runs/prior",
    ),
    "`ncpvae train-vae --out runs/vae` over an unfinished run's checkpoint": (
        _unfinished,
        f"train-vae {TINY} --out runs/vae",
    ),
    "`--resume` with another `--train.lr`": (
        _unfinished,
        f"train-vae {TINY} --out runs/vae --resume --train.lr 0.01",
    ),
    "`--resume` with a truncated, corrupt or code-carrying checkpoint": (
        lambda f: (_unfinished(f), _truncate("runs/vae/checkpoint.pt")),
        f"train-vae {TINY} --out runs/vae --resume",
    ),
    "a truncated weights file": (
        lambda f: (_copy(f, "vae"), _truncate("runs/vae/model.safetensors")),
        "train-prior --vae runs/vae --out runs/prior",
    ),
}


def test_every_row_has_a_reproduction():
    assert sorted(table()) == sorted(ROWS)


@pytest.mark.parametrize("row", sorted(ROWS))
def test_the_documented_line_and_nothing_else(row, finished, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(mnist, "NUM_VALIDATION", MNIST_DIR_VALIDATION)
    setup, command = ROWS[row]
    setup(finished)
    before = sorted(str(p) for p in tmp_path.rglob("config.json"))
    line = error_line(capsys, command)
    pattern = ".*".join(re.escape(part) for part in table()[row].split("..."))
    assert re.fullmatch(pattern, line), f"{row}\n  documented: {table()[row]}\n  printed:    {line}"
    assert sorted(str(p) for p in tmp_path.rglob("config.json")) == before  # nothing finished
