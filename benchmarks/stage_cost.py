"""Is stage 2 cheap? The wall time of fitting all K per-group NCP classifiers next to the wall
time of training the hierarchical VAE they sit on, on the same hardware, in one process.

For each stage the training loop of the library runs ``--steps`` timed steps (after a few
untimed ones) with the batch size of its config, on the real data; the time of the whole stage
is that rate times the config's number of steps. Stage 2 is also timed with one group only
(what one worker of a group-parallel run pays per step: the frozen encoder pass is shared by all
groups, so it is paid by every worker). With ``--runs`` the measured wall times of finished run
folders (their ``history.json``) are reported as well.

    python benchmarks/stage_cost.py --data ../shared/data/mnist [--steps 100] \
        [--vae-config configs/mnist_hvae.json] [--prior-config configs/hvae_prior.json] \
        [--runs runs/mnist_hvae] [--out benchmarks/results/stage_cost.json]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
from pathlib import Path

import torch

from ncpvae.config import PriorRunConfig, VAERunConfig, load_config
from ncpvae.data import load_data
from ncpvae.models import build_model
from ncpvae.prior import build_prior
from ncpvae.runs import fit_model_to_data, resolve_device
from ncpvae.training import TrainConfig, freeze, train_prior, train_vae

ROOT = Path(__file__).resolve().parents[1]


def seconds_per_step(run, config: TrainConfig, steps: int) -> float:
    """Time ``steps`` steps of ``run(train_config)`` after 3 untimed ones."""
    run(dataclasses.replace(config, steps=3))
    return run(dataclasses.replace(config, steps=steps)).seconds / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="the data path of the VAE config")
    parser.add_argument("--vae-config", default=str(ROOT / "configs/mnist_hvae.json"))
    parser.add_argument("--prior-config", default=str(ROOT / "configs/hvae_prior.json"))
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--runs", default="", help="a folder with vae/ and prior/ runs")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--out", default=str(ROOT / "benchmarks/results/stage_cost.json"))
    args = parser.parse_args()
    device = resolve_device(args.device)

    vae_cfg = load_config(VAERunConfig, args.vae_config)
    vae_cfg.data.path = args.data
    prior_cfg = load_config(PriorRunConfig, args.prior_config)
    train_data = load_data(vae_cfg.data).train
    model_cfg = fit_model_to_data(train_data, vae_cfg.model)
    torch.manual_seed(0)
    model = build_model(model_cfg).to(device)
    generator = torch.Generator().manual_seed(0)

    def stage1(cfg: TrainConfig):
        return train_vae(model, train_data, cfg, progress=False, generator=generator)

    vae_step = seconds_per_step(stage1, vae_cfg.train, args.steps)
    freeze(model)
    rows = [("stage 1: train the VAE", vae_cfg.train, vae_step)]
    num_groups = model.num_groups
    for groups, label in (
        (None, f"stage 2: all {num_groups} classifiers"),
        ([0], "stage 2: 1 group"),
    ):
        prior = build_prior(model, prior_cfg.classifier)

        def stage2(cfg: TrainConfig, prior=prior, groups=groups):
            return train_prior(
                prior, train_data, cfg, groups=groups, progress=False, generator=generator
            )

        rows.append((label, prior_cfg.train, seconds_per_step(stage2, prior_cfg.train, args.steps)))

    results = {
        "machine": f"{platform.machine()}, {torch.get_num_threads()} threads, {device}",
        "torch": torch.__version__,
        "vae_config": Path(args.vae_config).name,
        "prior_config": Path(args.prior_config).name,
        "num_groups": num_groups,
        "timed_steps": args.steps,
        "stages": [
            {
                "stage": label,
                "batch_size": cfg.batch_size,
                "seconds_per_step": step,
                "steps": cfg.steps,
                "projected_seconds": step * cfg.steps,
            }
            for label, cfg, step in rows
        ],
    }
    if args.runs:
        for stage in ("vae", "prior"):
            history = json.loads((Path(args.runs) / stage / "history.json").read_text())
            results[f"measured_{stage}_seconds"] = history["seconds"]
    total_vae, total_prior = rows[0][2] * rows[0][1].steps, rows[1][2] * rows[1][1].steps
    results["stage2_over_stage1"] = total_prior / total_vae

    print(f"{'stage':<32} {'batch':>6} {'s/step':>8} {'steps':>7} {'projected':>10}")
    for label, cfg, step in rows:
        print(
            f"{label:<32} {cfg.batch_size:>6} {step:>8.4f} {cfg.steps:>7} {step * cfg.steps:>9.0f}s"
        )
    print(f"stage 2 / stage 1 wall time: {results['stage2_over_stage1']:.2f}")
    for stage in ("vae", "prior"):
        if f"measured_{stage}_seconds" in results:
            print(f"measured {stage} run: {results[f'measured_{stage}_seconds']:.0f}s")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
