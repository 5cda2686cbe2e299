"""``ncpvae train-vae``: stage 1, a VAE trained by the ELBO on the configured data."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import torch

from ncpvae.cli.results import TrainingSummary
from ncpvae.cli.summary import history_file, took, wrote
from ncpvae.config import VAERunConfig
from ncpvae.data import load_data
from ncpvae.evaluation.plotting import training_curves
from ncpvae.files import write_json
from ncpvae.models import build_model
from ncpvae.runs import (
    checkpointing_for,
    claim_run_dir,
    fit_model_to_data,
    resolve_device,
    save_vae,
)
from ncpvae.training import distributed, train_vae
from ncpvae.training.events import EventFile

__all__ = ["run", "describe"]


def run(
    cfg: VAERunConfig,
    out: str | Path,
    progress: bool = True,
    resume: bool = False,
    overwrite: bool = False,
) -> TrainingSummary:
    """Train, then write the run folder; returns the training summary (the final ELBO parts
    among its metrics). Saves ``checkpoint.pt`` every ``cfg.checkpoint_every`` steps;
    ``resume`` continues from it."""
    device = distributed.setup(resolve_device(cfg.device))
    splits = load_data(cfg.data)
    cfg = dataclasses.replace(cfg, model=fit_model_to_data(splits.train, cfg.model))
    out = claim_run_dir(out, overwrite, resume)
    checkpointing = checkpointing_for(cfg, out, resume)
    torch.manual_seed(cfg.train.seed)
    model = distributed.sync_batch_norm(build_model(cfg.model).to(device))
    with EventFile(out / "tensorboard", "vae", enabled=distributed.is_main()) as events:
        history = train_vae(
            model,
            splits.train,
            cfg.train,
            kl_warmup_fraction=cfg.kl_warmup_fraction,
            progress=progress,
            generator=torch.Generator().manual_seed(cfg.train.seed),
            checkpointing=checkpointing,
            on_log=events,
            validation=splits.validation,
        )
    summary = TrainingSummary.of(history)
    if distributed.is_main():
        save_vae(model, out, cfg)
        write_json(out / "history.json", history_file(summary.to_dict(), history))
        training_curves(history, out / "curves.png", "train-vae")
        if not cfg.keep_checkpoint:
            checkpointing.discard()
    return summary


def describe(result: TrainingSummary, out: Path) -> str:
    """The lines a person reads at the end: the last ELBO, wall time, files, what next."""
    parts = ("elbo", "rec", "kl")
    terms = ", ".join(f"{k} {result.metrics[k]:.4g}" for k in parts if k in result.metrics)
    validation = result.validation
    held_out = ", ".join(f"{k} {validation[k]:.4g}" for k in parts if k in validation)
    return "\n".join(
        [
            f"train-vae: done in {took(result.seconds)}; last logged {terms or 'loss'}"
            + (f"; validation {held_out}" if held_out else ""),
            wrote(out),
            f"  next: ncpvae train-prior --vae {out} --out PRIOR_FOLDER",
        ]
    )
