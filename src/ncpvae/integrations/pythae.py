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
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import Tensor
from torch.utils.data import Dataset

from ncpvae.config import (
    RENAMED_KEYS,
    ClassifierConfig,
    HMCConfig,
    LangevinConfig,
    SIRConfig,
    TrainConfig,
    from_dict,
    to_dict,
)
from ncpvae.config.sampling import sampler_section
from ncpvae.data.arrays import DataLike
from ncpvae.errors import CheckpointError, ConfigError
from ncpvae.files import write_json
from ncpvae.integrations.pythae_model import SUPPORTED_MODELS, PythaeModel
from ncpvae.prior import Prior, build_prior
from ncpvae.samplers import build_sampler
from ncpvae.settings import Int, config_section, setting
from ncpvae.tensor_files import load_weights, save_weights
from ncpvae.threads import auto_threads
from ncpvae.training import train_prior

__all__ = ["PythaeModel", "NCPSamplerConfig", "NCPSampler", "BinarizedDataset", "SUPPORTED_MODELS"]


@config_section
class NCPSamplerConfig:
    """Settings of :class:`NCPSampler`, the sections ncpvae's own stage 2 and sampling use: the
    classifier, its training (``train.seed`` fixes the classifier's initial weights, the
    training batches and noise, and log Z's samples), SIR, and log Z's samples."""

    section: ClassVar[str] = ""
    classifier: ClassifierConfig = setting(
        help="The classifier f(z) = log r(z).", default_factory=ClassifierConfig
    )
    train: TrainConfig = setting(
        help="The classifier's training.",
        default_factory=lambda: TrainConfig(steps=10_000, lr_final=1e-7),
    )
    sir: SIRConfig = sampler_section(SIRConfig)
    langevin: LangevinConfig = sampler_section(LangevinConfig)
    hmc: HMCConfig = sampler_section(HMCConfig)
    log_normalizer_samples: Int = setting(
        1_000_000, "Base-prior draws behind the estimate of log Z.", min=1
    )


# sampler_config.json as ncpvae 0.1 wrote it (flat; SIR's proposals named twice over time):
# key -> (section, field) of the current layout
_FLAT_KEYS = {
    "hidden_dim": ("classifier", "hidden_dim"),
    "num_blocks": ("classifier", "num_blocks"),
    "batch_norm": ("classifier", "batch_norm"),
    "steps": ("train", "steps"),
    "batch_size": ("train", "batch_size"),
    "lr": ("train", "lr"),
    "seed": ("train", "seed"),
    "num_proposals": ("sir", "num_proposals"),  # its name before sir_proposals (RENAMED_KEYS)
}


def _current_layout(saved: dict[str, Any]) -> dict[str, Any]:
    """A saved config in the current layout: a flat one (ncpvae 0.1) nested by section, with
    the training defaults it was fitted with."""
    if not any(key in saved for key in _FLAT_KEYS):
        return saved
    out: dict[str, Any] = {"train": {"lr_final": 1e-7, "steps": 10_000}}
    for key, value in saved.items():
        if key in _FLAT_KEYS:
            section, name = _FLAT_KEYS[key]
            out.setdefault(section, {})[name] = value
        elif key in RENAMED_KEYS:  # the other samplers' settings
            section, name = RENAMED_KEYS[key].split(".")
            out.setdefault(section, {})[name] = value
        else:
            out[key] = value
    return out


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

    def _new_prior(self) -> Prior:
        """An unfitted prior on the model's device, its classifier initialised from the seed."""
        c = self.sampler_config
        with _seeded(c.train.seed):
            return build_prior(self.latent_model, c.classifier)

    def _follow_model(self) -> None:
        """Move the prior (classifier, log Z, base) to the model's device if the model moved."""
        if self.prior.log_normalizer.device != self.device:
            self.prior.to(self.device)  # a fitted base moves with it, as buffers
            if getattr(self.prior, "fitted_base", None) is None:
                self.prior.base = self.latent_model.base_prior()

    @auto_threads()
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
        seed = c.train.seed
        with _seeded(seed):
            batches = torch.Generator().manual_seed(seed)
            train_prior(self.prior, train_data, c.train, progress=progress, generator=batches)
            self.prior.estimate_log_normalizer(
                c.log_normalizer_samples,
                generator=torch.Generator(self.device).manual_seed(seed),
            )
        self.is_fitted = True

    @auto_threads()
    @torch.no_grad()
    def sample(
        self,
        num_samples: int = 1,
        batch_size: int = 500,
        output_dir: str | None = None,
        return_gen: bool = True,
        save_sampler_config: bool = False,
        generator: torch.Generator | None = None,
        sampler: str = "sir",
    ) -> Tensor | None:
        """``num_samples`` decoder outputs of NCP latents, decoded ``batch_size`` at a time.
        As in pythae, ``output_dir`` receives one PNG per sample (``00000000.png``, ...) and,
        with ``save_sampler_config``, the sampler itself (:meth:`save`). NCP adds ``generator``
        (reproducible draws) and ``sampler``: ``sir`` (M = ``sir.num_proposals`` each; the
        draws' effective sample sizes are kept in ``self.ess``), ``hmc``, ``auto`` (SIR, and
        HMC where it collapses), ``langevin`` or ``base`` (the base prior alone), each with the
        settings of its section of the config."""
        if not self.is_fitted:
            raise RuntimeError("fit the sampler (or load a fitted one) before sampling")
        self._follow_model()
        z = self.prior.sample(
            num_samples, build_sampler(sampler, self.sampler_config), generator=generator
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
            **to_dict(self.sampler_config),
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
        name, latent_dim = saved.pop("name", None), saved.pop("latent_dim", None)
        try:
            if name != "NCPSampler":
                raise ConfigError(f"name {name!r}")
            config = from_dict(NCPSamplerConfig, _current_layout(saved))
        except ConfigError as err:
            raise CheckpointError(
                f"{str(path / 'sampler_config.json')!r} is not an NCPSampler's ({err}); was it "
                "written by another sampler or a newer ncpvae?"
            ) from None
        sampler = cls(model, config)
        model_dim = sampler.latent_model.latent_shape[0]
        if latent_dim is not None and latent_dim != model_dim:
            raise CheckpointError(
                f"the sampler in {str(path)!r} was fitted on a model with a "
                f"{latent_dim}-D latent; this model's is {model_dim}-D"
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
