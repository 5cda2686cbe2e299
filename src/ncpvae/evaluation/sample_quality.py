"""Sample quality: FID of each sampler's decoded samples at each temperature against training
images, with the sampler's diagnostics and a sample grid (docs/method.md section 2.4)."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import torch

from ncpvae.config.evaluation import EvaluationSettings
from ncpvae.data import TensorData
from ncpvae.errors import ConfigError, did_you_mean
from ncpvae.evaluation.fid import FID, InceptionFeatures, reference_cache_name
from ncpvae.evaluation.figures import FIDRow, SampleQuality, SamplerDiagnostics
from ncpvae.prior import Prior
from ncpvae.samplers import SAMPLERS, build_sampler, decode

__all__ = ["fid_reference", "fid_scorer", "sample_quality", "GRID_IMAGES"]

GRID_IMAGES = 100  # images in a sample grid (10 x 10)


def fid_reference(fid: FID, train: TensorData, num: int, cache_dir: str = "") -> int:
    """Give ``fid`` the reference statistics of the first ``num`` training images (pixel
    intensities, never binarized), from the cache in ``cache_dir`` when it has them; returns
    how many images they rest on."""
    images = dataclasses.replace(train, binarize=False)
    n = min(num, len(images))
    cache = None
    if cache_dir:
        cache = Path(cache_dir) / reference_cache_name(images.values[:n], fid.extractor_id)
    fid.set_reference(images.batch, num=n, cache=cache)
    return fid.num_reference


FID_SEED_OFFSET, FID_SEED_STRIDE = 5, 1000


def fid_sampling_seed(seed: int, repeat: int) -> int:
    """The seed of FID's ``repeat``-th sampling stream: ``seed`` + 5 + 1000 ``repeat`` (apart
    from the streams ``seed`` itself starts for the likelihood and SIR's figures)."""
    return seed + FID_SEED_OFFSET + FID_SEED_STRIDE * repeat


def sample_quality(
    prior: Prior, fid: FID, settings: EvaluationSettings, grids: Path | None, progress: bool
) -> SampleQuality:
    """For each sampler at each temperature and each of ``fid_seeds`` sampling seeds:
    ``fid_samples`` images (decoder means), their FID against ``fid``'s reference, seconds per
    sample, ESS or acceptance rate, and (for the first seed) a sample grid in ``grids``."""
    from ncpvae.evaluation.plotting import image_grid

    rows = []
    for temperature in settings.temperatures:
        for name in settings.samplers:
            for repeat in range(settings.fid_seeds):
                seed = fid_sampling_seed(settings.seed, repeat)
                generator = torch.Generator(prior.model.device).manual_seed(seed)
                start = time.perf_counter()
                result = prior.sample(
                    settings.fid_samples,
                    build_sampler(name, settings, progress),
                    temperature=temperature,
                    generator=generator,
                )
                _, images = decode(prior.model, result.latents, generator)
                seconds = time.perf_counter() - start
                row = FIDRow(
                    sampler=name,
                    temperature=temperature,
                    sampling_seed=seed,
                    fid=fid(images),
                    fid_samples=len(images),
                    seconds_per_sample=seconds / len(images),
                    diagnostics=SamplerDiagnostics.of(result, settings.sir.num_proposals),
                )
                if grids is not None and repeat == 0:
                    image_grid(
                        images[:GRID_IMAGES].cpu(), grids / f"samples_{name}_t{temperature:g}.png"
                    )
                rows.append(row)
    return SampleQuality(reference_samples=fid.num_reference, rows=rows)


def fid_scorer(
    settings: EvaluationSettings, test: TensorData, device: torch.device, progress: bool
) -> FID | None:
    """The FID scorer if FID was asked for, refusing non-image data and unknown samplers before
    any long work starts."""
    unknown = sorted(set(settings.samplers) - set(SAMPLERS))
    if unknown:
        hint = did_you_mean(unknown[0], SAMPLERS)
        raise ConfigError(f"unknown sampler(s) {unknown}{hint}; choose from {sorted(SAMPLERS)}")
    if settings.fid_samples == 0:
        return None
    if len(test.shape) != 3 or test.shape[0] not in (1, 3):
        raise ConfigError(
            f"FID needs grey or RGB images, and these data have shape {test.shape}; "
            "set --fid_samples 0"
        )
    weights = InceptionFeatures(settings.fid_weights)
    return FID(weights, device, settings.fid_batch_size, progress)
