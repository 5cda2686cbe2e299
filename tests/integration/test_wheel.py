"""The package as a user installs it: the wheel built from this tree, installed into a fresh
virtual environment, runs a verb with a ready config named by its name (shipped inside the
wheel), from a folder outside the repository."""

from __future__ import annotations

import json
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest
from helpers import ROOT, digits, write_mnist


def _run(*args: object, cwd: Path | None = None) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [str(a) for a in args], cwd=cwd, capture_output=True, text=True, timeout=900
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result


@pytest.mark.slow
def test_the_built_wheel_installs_and_runs_a_named_config(tmp_path):
    _run(sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", tmp_path / "dist", ROOT)
    (wheel,) = (tmp_path / "dist").glob("ncpvae-*.whl")
    env = tmp_path / "env"
    venv.create(env, with_pip=True)
    python = env / "bin" / "python"
    # the dependencies (torch, ...) come from this test's environment, not ncpvae itself: a .pth
    # line adds that site-packages folder without running its .pth files (the editable install)
    site = Path(
        _run(
            python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"
        ).stdout.strip()
    )
    (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    _run(python, "-m", "pip", "install", "-q", "--no-deps", "--no-index", wheel)
    where = _run(python, "-c", "import ncpvae; print(ncpvae.__file__)").stdout.strip()
    assert Path(where).is_relative_to(env)  # the installed wheel, not this tree's sources

    data = write_mnist(tmp_path / "mnist", digits(10_010, 0), digits(20, 1))
    work = tmp_path / "work"
    work.mkdir()
    out = _run(
        env / "bin" / "ncpvae",
        "train-vae",
        "--config",
        "mnist_mlp_vae",
        "--data.path",
        data,
        "--train.steps",
        "3",
        "--out",
        "runs/vae",
        "--quiet",
        cwd=work,
    ).stdout
    saved = json.loads((work / "runs" / "vae" / "config.json").read_text())
    assert saved["model"]["latent_dim"] == 50 and saved["model"]["activation"] == "tanh"
    assert saved["train"]["batch_size"] == 128 and saved["data"]["binarize"] is True
    assert out.startswith("train-vae: done")
