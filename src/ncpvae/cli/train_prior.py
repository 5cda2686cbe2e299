"""``ncpvae train-prior``: stage 2, the NCP prior fitted on the frozen VAE of a train-vae run,
then its log Z."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

import torch

from ncpvae.checkpoint import write_json
from ncpvae.cli.summary import history_file, log_z, seconds, training_summary, wrote
from ncpvae.config import PriorRunConfig
from ncpvae.data import load_data
from ncpvae.errors import ConfigError
from ncpvae.evaluation import estimate_log_normalizer, log_normalizer_summary
from ncpvae.evaluation.classifier import classifier_fit, describe_fit
from ncpvae.evaluation.plotting import training_curves
from ncpvae.prior import build_prior
from ncpvae.runs import (
    checkpointing_for,
    claim_run_dir,
    load_run,
    load_vae,
    resolve_device,
    save_prior,
)
from ncpvae.training import distributed, train_prior
from ncpvae.training.events import EventFile

__all__ = ["run", "describe"]


def run(
    cfg: PriorRunConfig,
    out: str | Path,
    progress: bool = True,
    resume: bool = False,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Fit the prior's classifiers (``cfg.groups``, default all), estimate log Z, write the run
    folder. Saves ``checkpoint.pt`` every ``cfg.checkpoint_every`` steps; ``resume`` continues
    from it."""
    device = distributed.setup(resolve_device(cfg.device))
    model, vae_cfg = load_vae(cfg.vae, device), load_run(cfg.vae, expect="vae")
    torch.manual_seed(cfg.train.seed)
    prior = build_prior(model, cfg.classifier)
    try:
        groups = prior.check_groups(cfg.groups)
    except ValueError as err:
        raise ConfigError(str(err)) from None
    train_data, validation, _ = load_data(vae_cfg.data)
    out = claim_run_dir(out, overwrite, resume)
    # the VAE folder as an absolute path, so the prior folder works from any directory
    cfg = dataclasses.replace(cfg, vae=str(Path(cfg.vae).resolve()))
    checkpointing = checkpointing_for(cfg, out, resume)
    prior = distributed.sync_batch_norm(prior)
    with EventFile(out / "tensorboard", "prior", enabled=distributed.is_main()) as events:
        history = train_prior(
            prior,
            train_data,
            cfg.train,
            groups=groups,
            progress=progress,
            generator=torch.Generator().manual_seed(cfg.train.seed),
            checkpointing=checkpointing,
            on_log=events,
            validation=validation,
            select_best=cfg.select_best,
        )
    summary = training_summary(history)
    if not distributed.is_main():  # log Z and the files: rank 0's work
        return summary
    summary["classifier_fit"] = classifier_fit(
        prior, train_data, validation, cfg.train.batch_size, cfg.train.seed
    )
    start = time.perf_counter()
    estimate = estimate_log_normalizer(
        prior, train_data, cfg.log_normalizer_samples, cfg.train.seed, progress=progress
    )
    summary.update(log_normalizer_summary(estimate))
    summary["log_normalizer_seconds"] = time.perf_counter() - start
    save_prior(prior, out, vae=cfg.vae, config=cfg)
    write_json(out / "history.json", history_file(summary, history))
    training_curves(history, out / "curves.png", "train-prior")
    return summary


def describe(result: dict[str, Any], out: Path) -> str:
    """The lines a person reads at the end: accuracy, log Z, wall times, files, what next."""
    accuracy = ", ".join(f"{k} {v:.3f}" for k, v in result.items() if k.startswith("acc"))
    selected = (
        f"; kept step {result['selected_step']} (lowest validation NCE loss)"
        if "selected_step" in result
        else ""
    )
    return "\n".join(
        [
            f"train-prior: classifier accuracy (last logged batch) {accuracy}{selected}",
            *describe_fit(result.get("classifier_fit", {})),
            f"  {log_z(result)}",
            f"  training {seconds(result['seconds'])}"
            f"{' (data encoded once)' if result.get('reused_encodings') else ''}, "
            f"log Z {seconds(result['log_normalizer_seconds'])}",
            wrote(out, "config.json", "prior.safetensors", "history.json", "curves.png"),
            f"  next: ncpvae sample --prior {out} --out SAMPLES_FOLDER, or ncpvae evaluate "
            f"--prior {out} --out REPORT_FOLDER",
        ]
    )
