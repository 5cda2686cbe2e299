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
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from torch.distributions import Bernoulli, Distribution, Independent, Normal
from torch.nn import functional as F
from torch.utils.data import Dataset

from ncpvae.checkpoint import load_weights, save_weights, write_json
from ncpvae.data.arrays import DataLike
from ncpvae.errors import CheckpointError, ConfigError
from ncpvae.models.base import LatentVariableModel
from ncpvae.nets import ResidualMLPClassifier
from ncpvae.prior import NCPPrior
from ncpvae.samplers import SamplerSettings, build_sampler
from ncpvae.training import TrainConfig, train_prior

__all__ = ["PythaeModel", "NCPSamplerConfig", "NCPSampler", "BinarizedDataset", "SUPPORTED_MODELS"]


class _PythaeBernoulli(Bernoulli):
    """A Bernoulli on the decoder's probabilities whose ``log_prob`` is minus torch's binary
    cross-entropy, as in pythae's loss and ``get_nll``: each log term is clamped at -100, so a
    saturated probability (exactly 0 or 1 in float32) costs 100 nats, not infinity."""

    def log_prob(self, value: Tensor) -> Tensor:
        return -F.binary_cross_entropy(self.probs, value, reduction="none")


# pythae models whose q(z|x) is the encoder's Gaussian, whose prior is N(0, I) and whose p(x|z)
# is the ``reconstruction_loss``'s density. Others pass a duck-type check but differ: flows after
# the encoder (VAE_IAF, VAE_LinNF), learned or other priors (VAMP, SVAE, PoincareVAE), HMC
# posteriors (HVAE, RHVAE), a likelihood that is not the loss (MSSSIM_VAE, VAEGAN).
SUPPORTED_MODELS = (
    "VAE",
    "BetaVAE",
    "DisentangledBetaVAE",
    "FactorVAE",
    "BetaTCVAE",
    "IWAE",
    "MIWAE",
    "PIWAE",
    "CIWAE",
    "INFOVAE_MMD",
)


class PythaeModel(LatentVariableModel):
    """A trained pythae VAE (one of :data:`SUPPORTED_MODELS`: a Gaussian posterior from the
    encoder's ``embedding`` and ``log_covariance``, an N(0, I) prior) as an ncpvae latent model.
    The likelihood follows the model's ``reconstruction_loss``: ``bce`` is a Bernoulli with the
    decoder's output as probabilities, ``mse`` a unit-variance Gaussian around it (the densities
    pythae's ``get_nll`` uses)."""

    def __init__(self, model: Any) -> None:
        super().__init__()
        name = getattr(model, "model_name", type(model).__name__)
        if name not in SUPPORTED_MODELS:
            raise ConfigError(
                f"NCP cannot use a pythae {name}: its posterior, prior or likelihood is not the "
                f"Gaussian VAE's; supported: {', '.join(SUPPORTED_MODELS)}"
            )
        config = model.model_config
        self.pythae = model
        self.latent_shape = (int(config.latent_dim),)
        self.loss = getattr(config, "reconstruction_loss", "mse")
        if self.loss not in ("bce", "mse"):
            raise ConfigError(f"unsupported reconstruction_loss {self.loss!r}: use bce or mse")

    def posterior(self, x: Tensor) -> Distribution:
        out = self.pythae.encoder(x)
        if getattr(out, "log_covariance", None) is None:
            raise ConfigError("this pythae model's encoder has no log_covariance: not a VAE")
        return Independent(Normal(out.embedding, torch.exp(0.5 * out.log_covariance)), 1)

    def likelihood(self, z: Tensor) -> Distribution:
        mean = self.pythae.decoder(z)["reconstruction"]
        dims = mean.dim() - 1
        if self.loss == "bce":
            return Independent(_PythaeBernoulli(probs=mean, validate_args=False), dims)
        return Independent(Normal(mean, torch.ones_like(mean)), dims)

    def log_likelihood_given(self, z: Tensor, x: Tensor) -> Tensor:
        """log p(x | z) for K latents per example, z (K, N, latent_dim), x (N, ...): (K, N),
        the densities of :meth:`likelihood` without copying x K times. For binary x the
        Bernoulli term is log p or log(1 - p) as the pixel says (clamped at -100 as in
        pythae's BCE): one logarithm per pixel instead of two."""
        k, n = z.shape[:2]
        mean = self.decode_mean(z.flatten(0, 1)).reshape(k, n, -1)
        target = x.reshape(1, n, -1)
        if self.loss == "mse":
            log_norm = 0.5 * target.shape[-1] * math.log(2 * math.pi)
            return -0.5 * (mean - target).pow(2).sum(-1) - log_norm
        if ((target == 0) | (target == 1)).all():
            chosen = torch.where(target.bool(), mean, 1 - mean)
            return chosen.log_().clamp_(min=-100).sum(-1)
        return -F.binary_cross_entropy(mean, target.expand_as(mean), reduction="none").sum(-1)

    def decode_mean(self, z: Tensor) -> Tensor:
        """The decoder's output, what pythae's samplers return as samples."""
        return self.pythae.decoder(z)["reconstruction"]


@dataclass
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
        return NCPPrior(self.latent_model.prior(), classifier, self.latent_model).to(self.device)

    def _follow_model(self) -> None:
        """Move the prior (classifier, log Z, base) to the model's device if the model moved."""
        if self.prior.log_normalizer.device != self.device:
            self.prior.to(self.device)
            self.prior.base = self.latent_model.prior()

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
