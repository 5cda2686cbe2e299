"""NCP as a pythae post-hoc sampler (``pip install ncpvae[pythae]``).

pythae trains a VAE (``TrainingPipeline``), then a sampler is built on the model, ``fit`` on the
training data and asked to ``sample``. :class:`NCPSampler` has that shape: it wraps the trained
model as an ncpvae latent model (:class:`PythaeModel`), fits an NCP prior on its aggregate
posterior, and samples by SIR. Unlike pythae's own samplers, ``save`` keeps what was fitted (the
classifier and log Z) and :meth:`NCPSampler.load` restores it.

:class:`BinarizedDataset` gives pythae's trainer dynamically binarized images, which pythae
itself has no option for.

pythae is imported here only (and :class:`BinarizedDataset` imports it when built), so ncpvae
works without it.
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import Dataset

from ncpvae.checkpoint import load_weights, save_weights, write_json
from ncpvae.data.arrays import DataLike
from ncpvae.errors import CheckpointError, ConfigError
from ncpvae.integrations.pythae_model import SUPPORTED_MODELS, PythaeModel
from ncpvae.nets import ResidualMLPClassifier
from ncpvae.prior import NCPPrior
from ncpvae.samplers import SamplerSettings, build_sampler
from ncpvae.settings import config_section
from ncpvae.training import TrainConfig, train_prior

__all__ = ["PythaeModel", "NCPSamplerConfig", "NCPSampler", "BinarizedDataset", "SUPPORTED_MODELS"]


@config_section
class NCPSamplerConfig(SamplerSettings):
    """Settings of :class:`NCPSampler`: the classifier, its training and the sampler settings
    of ncpvae (:class:`~ncpvae.samplers.SamplerSettings`; SIR draws with ``sir_proposals``).
    ``seed`` fixes the classifier's initial weights, the training batches and noise, and log Z's
    samples."""

    hidden_dim: int = 256
    num_blocks: int = 3
    batch_norm: bool = True
    steps: int = 10_000
    batch_size: int = 256
    lr: float = 1e-3
    log_normalizer_samples: int = 1_000_000
    seed: int = 0


@contextmanager
def _seeded(seed: int) -> Iterator[None]:
    """torch's global generators (CPU and every GPU) seeded with ``seed`` inside the block and
    restored after it, so that a fit is reproducible and leaves the caller's stream alone."""
    with torch.random.fork_rng(devices=list(range(torch.cuda.device_count()))):
        torch.manual_seed(seed)
        yield


class NCPSampler:
    """pythae's sampler interface over an NCP prior: ``NCPSampler(model, sampler_config)``,
    ``fit(train_data)``, ``sample(num_samples, batch_size, output_dir)``, ``save(dir_path)`` and
    ``NCPSampler.load(model, dir_path)``. As in pythae, ``model`` is the pythae model and
    ``sampler_config`` the settings; ``latent_model`` is the model as ncpvae sees it
    (:class:`PythaeModel`) and ``prior`` the fitted :class:`~ncpvae.prior.NCPPrior`. The model is
    put in eval mode, and ``fit`` freezes its parameters (``requires_grad`` off), as NCP's
    second stage needs: train it further only after setting them back. The prior follows the
    model to whichever device it is on (pythae's own samplers move it to a visible GPU)."""

    def __init__(self, model: Any, sampler_config: NCPSamplerConfig | None = None) -> None:
        self.model = model
        self.sampler_config = sampler_config or NCPSamplerConfig()
        self.latent_model = PythaeModel(model)
        self.latent_model.eval()
        self.prior = self._new_prior()
        self.is_fitted = False
        self.ess: Tensor | None = None

    @property
    def device(self) -> torch.device:
        """The device of the model (and of the prior, which follows it)."""
        return self.latent_model.device

    def _new_prior(self) -> NCPPrior:
        """An unfitted prior on the model's device, its classifier initialised from the seed."""
        c = self.sampler_config
        with _seeded(c.seed):
            classifier = ResidualMLPClassifier(
                self.latent_model.latent_shape[0],
                c.hidden_dim,
                c.num_blocks,
                batch_norm=c.batch_norm,
            )
        return NCPPrior(self.latent_model.base_prior(), classifier, self.latent_model).to(
            self.device
        )

    def _follow_model(self) -> None:
        """Move the prior (classifier, log Z, base) to the model's device if the model moved."""
        if self.prior.log_normalizer.device != self.device:
            self.prior.to(self.device)
            self.prior.base = self.latent_model.base_prior()

    def fit(self, train_data: DataLike, progress: bool = False, **kwargs: Any) -> None:
        """Fit a fresh classifier on encoder samples of ``train_data`` (N, *input_dim): a tensor
        or numpy array in the model's input range (uint8 pixels are scaled to [0, 1]), a
        map-style ``Dataset``, or a :class:`~ncpvae.data.TensorData` (``TensorData.images(pixels,
        binarize=True)`` binarizes every batch afresh, the paper's MNIST protocol); then
        estimate log Z. The same data and seed give the same fit. pythae's other options
        (``eval_data``, ``training_config``, ...) do not apply and are ignored with a warning:
        the training is set by :class:`NCPSamplerConfig`."""
        if kwargs:
            warnings.warn(
                f"NCPSampler.fit ignores {', '.join(sorted(kwargs))}: its training is set by "
                "NCPSamplerConfig",
                UserWarning,
                stacklevel=2,
            )
        c = self.sampler_config
        self.prior = self._new_prior()
        train = TrainConfig(steps=c.steps, batch_size=c.batch_size, lr=c.lr, lr_final=1e-7)
        with _seeded(c.seed):
            batches = torch.Generator().manual_seed(c.seed)
            train_prior(
                self.prior,
                train_data,
                train,
                progress=progress,
                generator=batches,
            )
            self.prior.estimate_log_normalizer(
                c.log_normalizer_samples,
                generator=torch.Generator(self.device).manual_seed(c.seed),
            )
        self.is_fitted = True

    @torch.no_grad()
    def sample(
        self,
        num_samples: int = 1,
        batch_size: int = 500,
        output_dir: str | None = None,
        return_gen: bool = True,
        save_sampler_config: bool = False,
        generator: torch.Generator | None = None,
    ) -> Tensor | None:
        """``num_samples`` decoder outputs of SIR latents (M = ``sir_proposals`` proposals each;
        the draws' effective sample sizes are kept in ``self.ess``), decoded ``batch_size`` at a
        time. As in pythae, ``output_dir`` receives one PNG per sample (``00000000.png``, ...)
        and, with ``save_sampler_config``, the sampler itself (:meth:`save`); ``generator``
        makes the draws reproducible."""
        if not self.is_fitted:
            raise RuntimeError("fit the sampler (or load a fitted one) before sampling")
        self._follow_model()
        z = self.prior.sample(
            num_samples, build_sampler("sir", self.sampler_config), generator=generator
        )
        self.ess = z.ess
        images = torch.cat(
            [
                self.latent_model.decode_mean(z.latents[i : i + batch_size])
                for i in range(0, num_samples, batch_size)
            ]
        )
        if output_dir is not None:
            from ncpvae.evaluation.plotting import image_files

            image_files(images.cpu(), Path(output_dir))
            if save_sampler_config:
                self.save(output_dir)
        return images if return_gen else None

    def save(self, dir_path: str | Path) -> None:
        """Write ``sampler_config.json`` and ``ncp_prior.safetensors`` (the classifier and
        log Z) to ``dir_path``."""
        if not self.is_fitted:
            raise RuntimeError("nothing to save: fit the sampler first")
        path = Path(dir_path)
        path.mkdir(parents=True, exist_ok=True)
        save_weights(self.prior, path / "ncp_prior.safetensors")
        record = {
            "name": "NCPSampler",
            "latent_dim": self.latent_model.latent_shape[0],
            **asdict(self.sampler_config),
        }
        write_json(path / "sampler_config.json", record)

    @classmethod
    def load(cls, model: Any, dir_path: str | Path) -> NCPSampler:
        """The fitted sampler saved in ``dir_path``, on ``model`` (the same trained model)."""
        path = Path(dir_path)
        try:
            saved = json.loads((path / "sampler_config.json").read_text())
        except (OSError, ValueError) as err:
            raise CheckpointError(
                f"no readable sampler_config.json in {str(path)!r} ({err})"
            ) from None
        if "num_proposals" in saved:  # its name before SamplerSettings
            saved["sir_proposals"] = saved.pop("num_proposals")
        known = {f.name for f in fields(NCPSamplerConfig)}
        unknown = sorted(set(saved) - known - {"name", "latent_dim"})
        if saved.get("name") != "NCPSampler" or unknown:
            raise CheckpointError(
                f"{str(path / 'sampler_config.json')!r} is not an NCPSampler's "
                f"(unknown keys: {', '.join(unknown) or 'none'}; name {saved.get('name')!r}); "
                "was it written by another sampler or a newer ncpvae?"
            )
        sampler = cls(model, NCPSamplerConfig(**{k: v for k, v in saved.items() if k in known}))
        latent_dim = sampler.latent_model.latent_shape[0]
        if saved.get("latent_dim", latent_dim) != latent_dim:
            raise CheckpointError(
                f"the sampler in {str(path)!r} was fitted on a model with a "
                f"{saved['latent_dim']}-D latent; this model's is {latent_dim}-D"
            )
        load_weights(sampler.prior, path / "ncp_prior.safetensors", sampler.device)
        if math.isnan(float(sampler.prior.log_normalizer)):
            raise CheckpointError(f"the prior in {str(path)!r} has no log Z: it was never fitted")
        sampler.is_fitted = True
        return sampler


class BinarizedDataset(Dataset):
    """A pythae training set of images with intensities in [0, 1] whose pixels are drawn afresh
    from Bernoulli(intensity) at every read (dynamic binarization): pass it to pythae's
    ``TrainingPipeline`` as ``train_data``. Draws come from ``generator`` (default: torch's
    global generator, which pythae's trainer seeds with its config's ``seed``). With loader
    workers, each worker gets a copy of an explicit ``generator`` and so the same draws: keep
    the default then."""

    def __init__(self, images: Tensor, generator: torch.Generator | None = None) -> None:
        from pythae.data.datasets import DatasetOutput

        if images.numel() and not (images.min() >= 0 and images.max() <= 1):
            raise ConfigError("BinarizedDataset needs intensities in [0, 1]: divide pixels by 255")
        self.images, self.generator, self._output = images.float(), generator, DatasetOutput

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> Any:
        return self._output(data=torch.bernoulli(self.images[index], generator=self.generator))
