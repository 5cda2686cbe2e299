"""Which regulariser keeps a density-ratio classifier calibrated? Stage 2 on one frozen VAE with
each regulariser in turn (``--variants``: none, weight decay, dropout, spectral normalisation, a
narrower network; each on top of the prior config's settings), each keeping the
classifier of its best validation pass, reported side by side: the best validation NCE loss and
its step, train and validation accuracy, log Z +- s.e. and SIR's mean ESS. The lowest
validation loss is the one to choose (the NCE loss is a proper scoring rule for the ratio).

The VAE run must hold validation examples out (``data.num_validation`` > 0).

    python benchmarks/classifier_regularisers.py --vae runs/celeba/conv_vae/vae \
        [--prior-config configs/image_prior.json] [--steps 2000] [--variants "none,dropout 0.5"] \
        [--out benchmarks/results/classifier_regularisers.json]
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

import torch
from _results import write_results

from ncpvae.config import PriorRunConfig, load_config
from ncpvae.data import load_data
from ncpvae.evaluation import fit_log_normalizer
from ncpvae.evaluation.classifier import classifier_fit
from ncpvae.prior import build_prior
from ncpvae.runs import load_run, load_vae, resolve_device
from ncpvae.samplers import SIRSampler
from ncpvae.training import train_prior

ROOT = Path(__file__).resolve().parents[1]
VARIANTS = {  # name -> (classifier settings, train settings) over the prior config's
    "none": ({}, {}),
    "weight decay 0.01": ({}, {"weight_decay": 0.01}),
    "weight decay 0.1": ({}, {"weight_decay": 0.1}),
    "dropout 0.2": ({"dropout": 0.2}, {}),
    "dropout 0.5": ({"dropout": 0.5}, {}),
    "spectral norm": ({"spectral_norm": True}, {}),
    "narrow (width 64; 1 block)": ({"hidden_dim": 64, "num_blocks": 1}, {}),
}
DEFAULT_VARIANTS = "none,weight decay 0.01,dropout 0.2,spectral norm"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vae", required=True, help="a train-vae run folder")
    parser.add_argument("--prior-config", default=str(ROOT / "configs/image_prior.json"))
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument(
        "--variants", default=DEFAULT_VARIANTS, help=f"comma-separated, of: {', '.join(VARIANTS)}"
    )
    parser.add_argument("--log-z-samples", type=int, default=100_000)
    parser.add_argument("--device", default="auto")
    parser.add_argument(
        "--out", default=str(ROOT / "benchmarks/results/classifier_regularisers.json")
    )
    args = parser.parse_args()
    names = args.variants.split(",")
    unknown = [name for name in names if name not in VARIANTS]
    if unknown:
        parser.error(f"unknown variant(s) {unknown}; choose from: {', '.join(VARIANTS)}")
    device = resolve_device(args.device)
    model = load_vae(args.vae, device)
    train, validation, _ = load_data(load_run(args.vae, expect="vae").data)
    if validation is None:
        parser.error(f"{args.vae} holds no validation data: train it with --data.num_validation")
    base = load_config(PriorRunConfig, args.prior_config)
    rows = []
    for name in names:
        classifier_options, train_options = VARIANTS[name]
        config = dataclasses.replace(base.train, steps=args.steps, **train_options)
        torch.manual_seed(config.seed)
        prior = build_prior(model, dataclasses.replace(base.classifier, **classifier_options))
        start = time.perf_counter()
        history = train_prior(
            prior,
            train,
            config,
            progress=False,
            validation=validation,
            generator=torch.Generator().manual_seed(config.seed),
        )
        seconds = time.perf_counter() - start
        fit = classifier_fit(prior, train, validation, config.batch_size, config.seed)
        log_z = fit_log_normalizer(prior, train, args.log_z_samples, seed=1)
        generator = torch.Generator(device).manual_seed(2)
        ess = prior.sample(500, SIRSampler(num_proposals=500), generator=generator).ess
        rows.append(
            {
                "variant": name,
                "selected_step": history.selected_step,
                "best_validation_loss": min(history.validation["loss"]),
                "last_validation_loss": history.validation["loss"][-1],
                "train_accuracy": fit["train"]["acc0"],
                "validation_accuracy": fit["validation"]["acc0"],
                "train_loss": fit["train"]["loss"],
                "validation_loss": fit["validation"]["loss"],
                "log_z": log_z.value,
                "log_z_stderr": log_z.stderr,
                "sir_ess_500": float(ess.mean()),
                "seconds": seconds,
            }
        )
        r = rows[-1]
        print(
            f"{name:>18}: best val loss {r['best_validation_loss']:.4f} at step "
            f"{r['selected_step']} (last {r['last_validation_loss']:.4f}), acc train/val "
            f"{r['train_accuracy']:.3f}/{r['validation_accuracy']:.3f}, log Z "
            f"{r['log_z']:+.3f} +- {r['log_z_stderr']:.3f}, ESS {r['sir_ess_500']:.1f}/500, "
            f"{seconds:.0f} s",
            flush=True,
        )
    write_results(
        args.out,
        device,
        vae=str(args.vae),
        prior_config=str(args.prior_config),
        steps=args.steps,
        log_z_samples=args.log_z_samples,
        rows=rows,
    )


if __name__ == "__main__":
    main()
