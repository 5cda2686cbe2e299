"""Sample quality: FID of each sampler's decoded samples at each temperature against training
images, with the sampler's diagnostics and a sample grid (docs/method.md section 2.4)."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

import torch

from ncpvae.config.evaluation import EvaluationSettings
from ncpvae.data import TensorData
from ncpvae.errors import ConfigError
from ncpvae.evaluation.fid import FID, InceptionFeatures, reference_cache_name
from ncpvae.prior import Prior
from ncpvae.samplers import SAMPLERS, build_sampler, decode

__all__ = ["ess_summary", "fid_reference", "fid_scorer", "sample_quality", "GRID_IMAGES"]

GRID_IMAGES = 100  # images in a sample grid (10 x 10)


def ess_summary(ess: torch.Tensor) -> dict[str, Any]:
    """SIR's ESS (N, K): the mean per group, and the smallest of those."""
    per_group = ess.mean(0)
    return {"sir_ess_mean": float(per_group.min()), "sir_ess_groups": per_group.tolist()}


def fid_reference(fid: FID, train: TensorData, num: int, cache_dir: str = "") -> dict[str, Any]:
    """Give ``fid`` the reference statistics of the first ``num`` training images (pixel
    intensities, never binarized), from the cache in ``cache_dir`` when it has them."""
    images = dataclasses.replace(train, binarize=False)
    n = min(num, len(images))
    cache = None
    if cache_dir:
        cache = Path(cache_dir) / reference_cache_name(images.values[:n], fid.extractor_id)
    fid.set_reference(images.batch, num=n, cache=cache)
    return {"fid_reference": "train", "fid_reference_samples": fid.num_reference}


def sample_quality(
    prior: Prior, fid: FID, settings: EvaluationSettings, grids: Path | None, progress: bool
) -> list[dict[str, Any]]:
    """For each sampler at each temperature and each of ``fid_seeds`` sampling seeds:
    ``fid_samples`` images (decoder means), their FID, seconds per sample, ESS or acceptance
    rate, and (for the first seed) a sample grid in ``grids``."""
    from ncpvae.evaluation.plotting import image_grid

    rows = []
    for temperature in settings.temperatures:
        for name in settings.samplers:
            for repeat in range(settings.fid_seeds):
                seed = settings.seed + 5 + 1000 * repeat
                generator = torch.Generator(prior.model.device).manual_seed(seed)
                start = time.perf_counter()
                result = prior.sample(
                    settings.fid_samples,
                    build_sampler(name, settings, progress),
                    temperature=temperature,
                    generator=generator,
                )
                _, images = decode(prior.model, result.latents, generator)
                row: dict[str, Any] = {
                    "sampler": name,
                    "temperature": temperature,
                    "sampling_seed": seed,
                    "fid": fid(images),
                    "fid_samples": len(images),
                    "seconds_per_sample": (time.perf_counter() - start) / len(images),
                }
                if result.ess is not None:
                    row.update(ess_summary(result.ess), sir_proposals=settings.sir.num_proposals)
                if result.acceptance_rate is not None:
                    row["acceptance_rate"] = result.acceptance_rate
                if result.hmc is not None:
                    row["hmc_samples"] = int(result.hmc.sum())
                if grids is not None and repeat == 0:
                    image_grid(
                        images[:GRID_IMAGES].cpu(), grids / f"samples_{name}_t{temperature:g}.png"
                    )
                rows.append(row)
    return rows


def fid_scorer(
    settings: EvaluationSettings, test: TensorData, device: torch.device, progress: bool
) -> FID | None:
    """The FID scorer if FID was asked for, refusing non-image data and unknown samplers before
    any long work starts."""
    unknown = sorted(set(settings.samplers) - set(SAMPLERS))
    if unknown:
        raise ConfigError(f"unknown sampler(s) {unknown}; choose from {sorted(SAMPLERS)}")
    if settings.fid_samples == 0:
        return None
    if len(test.shape) != 3 or test.shape[0] not in (1, 3):
        raise ConfigError(
            f"FID needs grey or RGB images, and these data have shape {test.shape}; "
            "set --fid_samples 0"
        )
    weights = InceptionFeatures(settings.fid_weights)
    return FID(weights, device, settings.fid_batch_size, progress)
