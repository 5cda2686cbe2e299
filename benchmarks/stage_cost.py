"""Is stage 2 cheap? The wall time of fitting the NCP classifiers next to the wall time of
training the VAE they sit on, for each experiment, on the same hardware, in one process.

For each stage the library's training loop runs ``--steps`` timed steps (after 3 untimed ones)
with the batch size of its config, on the real data (the VAE is untrained: a step's cost does
not depend on the weights); a stage's projected time is that rate times its configured steps.
Stage 2 is timed twice: encoding every batch with the frozen encoder, and drawing the batches
from encoder outputs computed once (``reuse_encodings``, the default where the data are not
binarized afresh; the one-time encoding is timed and added). The hierarchical model is also
timed with one group only (what one worker of a group-parallel run pays per step). Validation
passes are not counted.

    CELEBA=../shared/data/celeba/celeba_align_89x109_first10k_jpg.tar
    python benchmarks/stage_cost.py --experiment mnist_mlp_vae:mnist_prior:../shared/data/mnist \
        --experiment celeba64_conv_vae:image_prior:$CELEBA \
        --experiment mnist_hvae:hvae_prior:../shared/data/mnist [--steps 100]
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

import torch
from _results import write_results

from ncpvae.config import PriorRunConfig, VAERunConfig, load_config
from ncpvae.data import load_data
from ncpvae.models import build_model
from ncpvae.prior import build_prior
from ncpvae.runs import fit_model_to_data, resolve_device
from ncpvae.training import TrainConfig, encode_once, freeze, train_prior, train_vae

ROOT = Path(__file__).resolve().parents[1]


def seconds_per_step(run, config: TrainConfig, steps: int) -> float:
    """Time ``steps`` steps of ``run(train_config)`` after 3 untimed ones."""
    run(dataclasses.replace(config, steps=3))
    return run(dataclasses.replace(config, steps=steps)).seconds / steps


def experiment_rows(spec: str, steps: int, device: torch.device) -> dict:
    """The stages of one ``VAE_CONFIG:PRIOR_CONFIG:DATA`` experiment, timed."""
    vae_name, prior_name, data_path = spec.split(":", 2)
    vae_cfg = load_config(VAERunConfig, ROOT / f"configs/{vae_name}.json")
    vae_cfg.data.path = data_path
    prior_cfg = load_config(PriorRunConfig, ROOT / f"configs/{prior_name}.json")
    train_data = load_data(vae_cfg.data).train
    torch.manual_seed(0)
    model = build_model(fit_model_to_data(train_data, vae_cfg.model)).to(device)
    generator = torch.Generator().manual_seed(0)

    def stage1(cfg: TrainConfig):
        return train_vae(model, train_data, cfg, progress=False, generator=generator)

    rows = [
        (
            "stage 1: train the VAE",
            vae_cfg.train,
            seconds_per_step(stage1, vae_cfg.train, steps),
            0.0,
        )
    ]
    freeze(model)
    start = time.perf_counter()
    reusable = encode_once(model, train_data) is not None
    encode_seconds = time.perf_counter() - start if reusable else 0.0
    groups = getattr(model, "num_groups", 1)
    variants = [(None, False, f"stage 2: {groups} classifier(s), encoder every batch")]
    if reusable:
        variants.append((None, True, f"stage 2: {groups} classifier(s), data encoded once"))
    if groups > 1:
        variants.append(([0], reusable, "stage 2: 1 group"))
    for chosen, reuse, label in variants:
        prior = build_prior(model, prior_cfg.classifier)

        def stage2(cfg: TrainConfig, prior=prior, chosen=chosen, reuse=reuse):
            return train_prior(
                prior,
                train_data,
                cfg,
                groups=chosen,
                progress=False,
                generator=generator,
                reuse_encodings=reuse,
            )

        step = seconds_per_step(stage2, prior_cfg.train, steps)
        rows.append((label, prior_cfg.train, step, encode_seconds if reuse else 0.0))
    stage1_seconds = rows[0][2] * rows[0][1].steps
    return {
        "vae_config": vae_name,
        "prior_config": prior_name,
        "binarized": vae_cfg.data.binarize,
        "training_examples": len(train_data),
        "encode_once_seconds": encode_seconds,
        "stages": [
            {
                "stage": label,
                "batch_size": cfg.batch_size,
                "seconds_per_step": step,
                "steps": cfg.steps,
                "projected_seconds": step * cfg.steps + once,
                "fraction_of_stage1": (step * cfg.steps + once) / stage1_seconds,
            }
            for label, cfg, step, once in rows
        ],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--experiment",
        action="append",
        required=True,
        help="VAE_CONFIG:PRIOR_CONFIG:DATA_PATH (config names in configs/), repeatable",
    )
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--out", default=str(ROOT / "benchmarks/results/stage_cost.json"))
    args = parser.parse_args()
    device = resolve_device(args.device)
    experiments = [experiment_rows(spec, args.steps, device) for spec in args.experiment]

    header = ("experiment", "stage", "s/step", "steps", "projected (s)", "/ stage 1")
    print("{:<18} {:<52} {:>8} {:>7} {:>13} {:>9}".format(*header))
    for experiment in experiments:
        for row in experiment["stages"]:
            cells = (experiment["vae_config"], row["stage"], row["seconds_per_step"], row["steps"])
            cells += (row["projected_seconds"], row["fraction_of_stage1"])
            print("{:<18} {:<52} {:>8.4f} {:>7} {:>13.0f} {:>9.3f}".format(*cells))
    write_results(args.out, device, timed_steps=args.steps, experiments=experiments)


if __name__ == "__main__":
    main()
