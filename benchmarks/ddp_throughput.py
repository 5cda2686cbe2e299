"""Training throughput with 1 and 2 processes (torchrun + DistributedDataParallel).

Runs ``ncpvae train-vae`` for ``--steps`` steps of one config, in one process and under torchrun
with 2 processes, the same global batch, and reports examples per second of the training loop
(its own wall time, start-up and data loading excluded). On a 2-core CPU the two processes share
the cores one process could use, so the point is the overhead, not a speed-up.

    python benchmarks/ddp_throughput.py --config configs/mnist_mlp_vae.json \\
        --data ../shared/data/mnist --steps 300 [--device cpu]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import torch
from _results import write_results

from ncpvae.config import VAERunConfig, load_config


def run(config: str, data: str, steps: int, device: str, processes: int, threads: int) -> float:
    """Seconds of the training loop of one ``train-vae`` run."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    launcher = [sys.executable, "-m", "ncpvae.cli"]
    if processes > 1:
        launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
        launcher += [f"--nproc_per_node={processes}", "-m", "ncpvae.cli"]
    with tempfile.TemporaryDirectory() as out:
        args = ["train-vae", "--config", config, "--data.path", data, "--out", out]
        args += ["--train.steps", str(steps), "--device", device, "--quiet"]
        subprocess.run([*launcher, *args], env=env, check=True, capture_output=True)
        return json.loads((Path(out) / "history.json").read_text())["seconds"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="configs/mnist_mlp_vae.json")
    parser.add_argument("--data", required=True, help="the data folder the config reads")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", default="benchmarks/results/ddp_throughput.json")
    args = parser.parse_args()
    batch = load_config(VAERunConfig, args.config).train.batch_size
    cores = os.cpu_count() or 1
    layouts = [(1, cores), (2, max(1, cores // 2))]  # the same cores, split or not
    rows = []
    for processes, threads in layouts:
        seconds = run(args.config, args.data, args.steps, args.device, processes, threads)
        rows.append(
            {
                "processes": processes,
                "threads_per_process": threads,
                "global_batch": batch,
                "steps": args.steps,
                "seconds": seconds,
                "examples_per_second": args.steps * batch / seconds,
            }
        )
        r = rows[-1]
        print(
            f"{processes} process(es) x {threads} thread(s): {seconds:7.1f} s, "
            f"{r['examples_per_second']:9.0f} examples/s",
            flush=True,
        )
    device = torch.device(args.device)
    write_results(args.out, device, config=Path(args.config).name, rows=rows)


if __name__ == "__main__":
    main()
