"""``ncpvae sample``: latents from a sampler of a train-prior run's prior, decoded to data."""

from __future__ import annotations

import time
from pathlib import Path

import torch

from ncpvae.cli.results import SampleResult
from ncpvae.cli.summary import took, wrote
from ncpvae.config import SampleConfig, save_config
from ncpvae.evaluation import SamplerDiagnostics, check_trained
from ncpvae.evaluation.plotting import image_grid, scatter
from ncpvae.evaluation.sample_quality import GRID_IMAGES
from ncpvae.files import write_json
from ncpvae.runs import claim_run_dir, load_prior, resolve_device
from ncpvae.samplers import build_sampler, decode
from ncpvae.tensor_files import save_array

__all__ = ["run", "describe"]


def run(
    cfg: SampleConfig, out: str | Path, progress: bool = True, overwrite: bool = False
) -> SampleResult:
    """Draw ``cfg.num_samples`` samples and write ``latents.npy``, ``samples.npy`` (x ~ p(x|z)),
    ``summary.json`` and ``samples.png`` (decoder means as a grid, or a 2-D scatter plot)."""
    device = resolve_device(cfg.device)
    sampler = build_sampler(cfg.sampler, cfg, progress)
    prior = load_prior(cfg.prior, device, vae=cfg.vae)
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
    summary = SampleResult(
        sampler=cfg.sampler,
        num_samples=cfg.num_samples,
        temperature=cfg.temperature,
        seconds=seconds,
        trained_groups=trained,
        diagnostics=SamplerDiagnostics.of(result, cfg.sir.num_proposals),
    )
    if result.hmc is not None:  # the automatic sampler: which samples HMC drew
        save_array(out / "hmc.npy", result.hmc)
    if x.ndim == 4 and x.shape[1] in (1, 3):  # grey or RGB images: a grid of the decoder means
        image_grid(x_mean[:GRID_IMAGES].cpu(), out / "samples.png")
    elif x.shape[1] == 2:
        scatter(x.cpu(), out / "samples.png", f"{cfg.sampler} samples (t={cfg.temperature})")
    write_json(out / "summary.json", summary.to_dict())
    return summary


def describe(result: SampleResult, out: Path) -> str:
    """The lines a person reads at the end: the sampler's diagnostics, wall time, files."""
    line = (
        f"sample: {result.num_samples:,} samples by {result.sampler} "
        f"(t = {result.temperature:g}) in {took(result.seconds)}"
    )
    diagnostics = result.diagnostics
    if diagnostics.sir is not None:
        sir = diagnostics.sir
        line += f"; mean SIR ESS {sir.smallest_group_ess:.1f} of {sir.proposals}"
        if len(sir.group_ess) > 1:  # as evaluate says it: the group SIR serves worst
            line += " (smallest group)"
    if diagnostics.hmc_samples is not None:
        line += f"; {diagnostics.hmc_samples:,} drawn by HMC where SIR collapsed"
    if diagnostics.acceptance_rate is not None:
        line += f"; HMC acceptance {diagnostics.acceptance_rate:.2f}"
    return "\n".join([line, wrote(out)])
