"""``ncpvae train-prior``: stage 2, the NCP prior fitted on the frozen VAE of a train-vae run,
then its log Z."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import torch

from ncpvae.cli.results import PriorResult, TrainingSummary
from ncpvae.cli.summary import history_file, log_z, seconds, took, wrote
from ncpvae.config import PriorRunConfig
from ncpvae.data import load_data
from ncpvae.errors import ConfigError
from ncpvae.evaluation import fit_log_normalizer
from ncpvae.evaluation.classifier import classifier_fit, describe_fit
from ncpvae.evaluation.plotting import training_curves
from ncpvae.evaluation.trust import fit_accuracy, ratio_warnings
from ncpvae.files import write_json
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
) -> PriorResult:
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
    training = TrainingSummary.of(history)
    if not distributed.is_main():  # log Z and the files: rank 0's work
        return PriorResult(training)
    fit = classifier_fit(prior, train_data, validation, cfg.train.batch_size, cfg.train.seed)
    start = time.perf_counter()
    estimate = fit_log_normalizer(
        prior, train_data, cfg.log_normalizer_samples, cfg.train.seed, progress=progress
    )
    seconds = time.perf_counter() - start
    doubts = ratio_warnings(
        prior, log_normalizer=estimate, accuracy=fit_accuracy(fit, training.metrics)
    )
    result = PriorResult(training, fit, estimate, seconds, prior.base_description, doubts)
    save_prior(prior, out, vae=cfg.vae, config=cfg)
    write_json(out / "history.json", history_file(result.to_dict(), history))
    training_curves(history, out / "curves.png", "train-prior")
    if not cfg.keep_checkpoint:
        checkpointing.discard()
    return result


def describe(result: PriorResult, out: Path) -> str:
    """The lines a person reads at the end: accuracy, log Z, wall times, files, what next."""
    training = result.training
    metrics = training.metrics
    accuracy = ", ".join(f"{k} {v:.3f}" for k, v in metrics.items() if k.startswith("acc"))
    selected = (
        f"; kept step {training.selected_step} (lowest validation NCE loss)"
        if training.selected_step is not None
        else ""
    )
    log_z_line = [f"  {log_z(result.log_normalizer)}"] if result.log_normalizer else []
    log_z_seconds = result.log_normalizer_seconds or 0.0
    return "\n".join(
        [
            f"train-prior: classifier accuracy (last logged batch) {accuracy}{selected}",
            *([f"  base prior: {result.base}"] if result.base else []),
            *describe_fit(result.classifier_fit or {}),
            *log_z_line,
            *(f"  warning: {line}" for line in result.warnings),
            f"  training {seconds(training.seconds)}"
            f"{' (data encoded once)' if training.reused_encodings else ''}, "
            f"log Z {took(log_z_seconds)}",
            wrote(out),
            f"  next: ncpvae sample --prior {out} --out SAMPLES_FOLDER, or ncpvae evaluate "
            f"--prior {out} --out REPORT_FOLDER",
        ]
    )
