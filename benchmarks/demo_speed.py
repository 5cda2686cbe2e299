"""How long does the main job take on the machine a user has? ``ncpvae demo`` (default threads:
whichever of one thread and all the cores runs its VAE's training step faster) timed alone and
beside one busy process (a pure-Python loop holding one core, as another job would), each in a
fresh process, with its wall time, CPU time, phase times and the figures it must reach (NCP test
log-likelihood >= -1.0 nats and >= 1.5 nats above the VAE's; ``meets_targets`` checks these, not
the time).

    python benchmarks/demo_speed.py [--config CONFIG] [--out benchmarks/results/demo_speed.json]

Run it on an otherwise quiet machine. ``--config gaussians25_full`` times the full protocol of
the README's table instead of the demo's defaults.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from _results import write_results

ROOT = Path(__file__).resolve().parents[1]
NCP_TARGET, GAIN_TARGET = -1.0, 1.5
BUSY = "while True: pass"


def run_demo(out: Path, config: str) -> dict:
    """One ``ncpvae demo`` in a fresh process: wall and CPU seconds, and its report."""
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    command = [sys.executable, "-m", "ncpvae.cli", "demo", "--out", str(out), "--quiet"]
    if config:
        command += ["--config", config]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    report = json.loads((out / "report.json").read_text())
    evaluation = json.loads((out / "evaluate" / "report.json").read_text())["seconds"]
    prior = json.loads((out / "prior" / "history.json").read_text())
    return {
        "wall_seconds": wall,
        "cpu_seconds": cpu,
        "threads": report["threads"],
        "vae_seconds": report["vae_train_seconds"],
        "prior_seconds": report["prior_train_seconds"],
        "prior_log_z_seconds": prior["log_normalizer_seconds"],
        "evaluate_seconds": evaluation["total"],
        "rest_seconds": wall
        - report["vae_train_seconds"]
        - report["prior_train_seconds"]
        - prior["log_normalizer_seconds"]
        - evaluation["total"],
        "vae_log_likelihood": report["vae_log_likelihood"],
        "ncp_log_likelihood": report["ncp_log_likelihood"],
        "ncp_gain": report["ncp_gain"],
        "meets_targets": report["ncp_log_likelihood"] >= NCP_TARGET
        and report["ncp_gain"] >= GAIN_TARGET,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="", help="a demo config (default: the defaults)")
    parser.add_argument("--out", default=str(ROOT / "benchmarks/results/demo_speed.json"))
    args = parser.parse_args()
    rows = {}
    with tempfile.TemporaryDirectory() as folder:
        rows["alone"] = run_demo(Path(folder) / "alone", args.config)
        busy = subprocess.Popen([sys.executable, "-c", BUSY])
        try:
            time.sleep(1)
            rows["beside one busy process"] = run_demo(Path(folder) / "busy", args.config)
        finally:
            busy.kill()
            busy.wait()
    print(
        f"{'':>24} | threads | wall s | CPU s | VAE | prior | log Z | evaluate | rest | "
        "NCP ll | gain"
    )
    for name, r in rows.items():
        print(
            f"{name:>24} | {r['threads']:7d} | {r['wall_seconds']:6.1f} | "
            f"{r['cpu_seconds']:5.1f} | "
            f"{r['vae_seconds']:4.1f} | {r['prior_seconds']:5.1f} | {r['prior_log_z_seconds']:5.1f}"
            f" | {r['evaluate_seconds']:8.1f} | {r['rest_seconds']:4.1f} | "
            f"{r['ncp_log_likelihood']:.3f} | {r['ncp_gain']:.2f}"
        )
    write_results(
        args.out,
        torch.device("cpu"),
        config=args.config or "defaults",
        cores=os.cpu_count(),
        rows=rows,
    )


if __name__ == "__main__":
    main()
