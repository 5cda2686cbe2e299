"""``ncpvae sample``: latents from a sampler of a train-prior run's prior, decoded to data."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch

from ncpvae.checkpoint import save_array, write_json
from ncpvae.cli.summary import seconds, wrote
from ncpvae.config import SampleConfig, save_config
from ncpvae.evaluation import check_trained
from ncpvae.evaluation.plotting import image_grid, scatter
from ncpvae.evaluation.sample_quality import GRID_IMAGES, ess_summary
from ncpvae.runs import claim_run_dir, load_prior, resolve_device
from ncpvae.samplers import build_sampler, decode

__all__ = ["run", "describe"]


def run(
    cfg: SampleConfig, out: str | Path, progress: bool = True, overwrite: bool = False
) -> dict[str, Any]:
    """Draw ``cfg.num_samples`` samples and write ``latents.npy``, ``samples.npy`` (x ~ p(x|z)),
    ``summary.json`` and ``samples.png`` (decoder means as a grid, or a 2-D scatter plot)."""
    device = resolve_device(cfg.device)
    sampler = build_sampler(cfg.sampler, cfg, progress)
    prior = load_prior(cfg.prior, device)
    trained = check_trained(prior, cfg.prior)
    out = claim_run_dir(out, overwrite)
    generator = torch.Generator(device).manual_seed(cfg.seed)
    start = time.perf_counter()
    result = prior.sample(
        cfg.num_samples, sampler, temperature=cfg.temperature, generator=generator
    )
    x, x_mean = decode(prior.model, result.latents, generator)
    seconds = time.perf_counter() - start
    save_array(out / "latents.npy", result.latents)
    save_array(out / "samples.npy", x)
    save_config(cfg, out / "config.json")
    summary: dict[str, Any] = {
        "sampler": cfg.sampler,
        "num_samples": cfg.num_samples,
        "temperature": cfg.temperature,
        "seconds": seconds,
        "trained_groups": trained,
    }
    if result.ess is not None:
        summary.update(ess_summary(result.ess), sir_proposals=cfg.sir.num_proposals)
    if result.acceptance_rate is not None:
        summary["acceptance_rate"] = result.acceptance_rate
    if result.hmc is not None:  # the automatic sampler: which samples HMC drew
        summary["hmc_samples"] = int(result.hmc.sum())
        save_array(out / "hmc.npy", result.hmc)
    if x.ndim == 4 and x.shape[1] in (1, 3):  # grey or RGB images: a grid of the decoder means
        image_grid(x_mean[:GRID_IMAGES].cpu(), out / "samples.png")
    elif x.shape[1] == 2:
        scatter(x.cpu(), out / "samples.png", f"{cfg.sampler} samples (t={cfg.temperature})")
    write_json(out / "summary.json", summary)
    return summary


def describe(result: dict[str, Any], out: Path) -> str:
    """The lines a person reads at the end: the sampler's diagnostics, wall time, files."""
    line = (
        f"sample: {result['num_samples']:,} samples by {result['sampler']} "
        f"(t = {result['temperature']:g}) in {seconds(result['seconds'])}"
    )
    if "sir_ess_mean" in result:
        line += f"; mean SIR ESS {result['sir_ess_mean']:.1f} of {result['sir_proposals']}"
    if "hmc_samples" in result:
        line += f"; {result['hmc_samples']:,} drawn by HMC where SIR collapsed"
    if "acceptance_rate" in result:
        line += f"; HMC acceptance {result['acceptance_rate']:.2f}"
    files = ["samples.npy", "latents.npy", "summary.json"]
    if (out / "samples.png").is_file():
        files.append("samples.png")
    return "\n".join([line, wrote(out, *files)])
