"""torchrun with 2 processes on CPU (gloo): a few steps of each stage give the weights of one
process with the same global batch, up to floating-point rounding (the ranks draw their shards of
the same global batch and of its noise; DDP averages their gradients). Both stages validate on
held-out data every 10 steps, and stage 2 keeps its best classifier: every rank must choose the
same one."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from safetensors.torch import load_file

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
DATA = "--data.num_train 2000 --data.num_test 100 --data.num_validation 300"
COMMON = "--train.steps 30 --train.batch_size 64 --train.validate_every 10 --device cpu --quiet"
PRIOR = (
    "--classifier.hidden_dim 32 --classifier.num_blocks 1 --classifier.batch_norm false "
    "--log_normalizer_samples 1000"
)


def ncpvae(args: str, processes: int) -> None:
    launcher = [sys.executable, "-m", "ncpvae.cli"]
    if processes > 1:
        launcher = [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            f"--nproc_per_node={processes}",
            "-m",
            "ncpvae.cli",
        ]
    result = subprocess.run(
        [*launcher, *args.split()], env=ENV, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr[-3000:]


def largest_difference(a: Path, b: Path) -> float:
    first, second = load_file(str(a)), load_file(str(b))
    assert first.keys() == second.keys()
    return max(float((first[k].double() - second[k].double()).abs().max()) for k in first)


@pytest.mark.slow  # 64-94 s alone: the default suite keeps under 5 minutes on 2 cores
def test_two_processes_match_one_with_the_same_global_batch(tmp_path: Path):
    for processes in (1, 2):
        vae, prior = tmp_path / f"vae{processes}", tmp_path / f"prior{processes}"
        ncpvae(f"train-vae --out {vae} {DATA} {COMMON}", processes)
        # stage 2 of each on the same (single-process) VAE, so only stage 2 differs
        ncpvae(f"train-prior --vae {tmp_path / 'vae1'} --out {prior} {PRIOR} {COMMON}", processes)
    # another seed's batches and noise move the weights by far more than rounding does
    ncpvae(f"train-vae --out {tmp_path / 'vae_seed1'} {DATA} {COMMON} --train.seed 1", 1)
    model = "model.safetensors"
    assert largest_difference(tmp_path / "vae1" / model, tmp_path / "vae_seed1" / model) > 1e-3
    assert largest_difference(tmp_path / "vae1" / model, tmp_path / "vae2" / model) < 1e-5
    prior = "prior.safetensors"
    assert largest_difference(tmp_path / "prior1" / prior, tmp_path / "prior2" / prior) < 1e-5
    kept = [json.loads((tmp_path / f"prior{p}" / "history.json").read_text()) for p in (1, 2)]
    assert kept[0]["selected_step"] == kept[1]["selected_step"] in (9, 19, 29)
    assert kept[0]["validation_steps"] == kept[1]["validation_steps"] == [9, 19, 29]
    # a base prior that is not a Normal (the RAE's Gaussian mixture): its fake samples are
    # sharded too
    ncpvae(f"train-vae --out {tmp_path / 'rae'} --model.kind rae {DATA} {COMMON}", 1)
    for processes in (1, 2):
        out = tmp_path / f"rae_prior{processes}"
        ncpvae(f"train-prior --vae {tmp_path / 'rae'} --out {out} {PRIOR} {COMMON}", processes)
    rae_priors = [tmp_path / f"rae_prior{p}" / prior for p in (1, 2)]
    assert largest_difference(*rae_priors) < 1e-5
    # only rank 0 wrote; the history records the process count and the averaged metrics
    history = (tmp_path / "vae2" / "history.json").read_text()
    assert '"processes": 2' in history
