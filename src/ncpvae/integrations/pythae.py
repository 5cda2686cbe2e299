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
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from torch.distributions import Bernoulli, Distribution, Independent, Normal
from torch.nn import functional as F
from torch.utils.data import Dataset

from ncpvae.checkpoint import load_weights, save_weights, write_json
from ncpvae.errors import CheckpointError, ConfigError
from ncpvae.models.base import LatentVariableModel
from ncpvae.nets import ResidualMLPClassifier
from ncpvae.prior import NCPPrior
from ncpvae.samplers import SIRSampler
from ncpvae.stages import train_prior
from ncpvae.training import TrainConfig

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
class NCPSamplerConfig:
    """Settings of :class:`NCPSampler`: the classifier, its training and SIR."""

    hidden_dim: int = 256
    num_blocks: int = 3
    batch_norm: bool = True
    steps: int = 10_000
    batch_size: int = 256
    lr: float = 1e-3
    num_proposals: int = 500
    log_normalizer_samples: int = 1_000_000
    seed: int = 0


class NCPSampler:
    """pythae's sampler interface over an NCP prior: ``NCPSampler(model, config)``,
    ``fit(train_data)``, ``sample(num_samples, batch_size)``, ``save(dir)`` and
    ``NCPSampler.load(model, dir)``. The model is put in eval mode, and ``fit`` freezes its
    parameters (``requires_grad`` off), as NCP's second stage needs: train it further only
    after setting them back."""

    def __init__(self, model: Any, sampler_config: NCPSamplerConfig | None = None) -> None:
        self.config = sampler_config or NCPSamplerConfig()
        self.model = PythaeModel(model)
        self.model.eval()
        self.device = next(model.parameters()).device
        c = self.config
        classifier = ResidualMLPClassifier(
            self.model.latent_shape[0], c.hidden_dim, c.num_blocks, batch_norm=c.batch_norm
        )
        self.prior = NCPPrior(self.model.prior(), classifier.to(self.device))
        self.is_fitted = False

    def fit(self, train_data: Tensor, progress: bool = False, **kwargs: Any) -> None:
        """Fit the classifier on encoder samples of ``train_data`` (N, *input_dim), then
        estimate log Z."""
        c = self.config
        torch.manual_seed(c.seed)
        generator = torch.Generator().manual_seed(c.seed)
        train = TrainConfig(steps=c.steps, batch_size=c.batch_size, lr=c.lr, lr_final=1e-7)
        train_prior(
            self.prior, self.model, train_data, train, progress=progress, generator=generator
        )
        self.prior.estimate_log_normalizer(
            c.log_normalizer_samples, generator=torch.Generator(self.device).manual_seed(c.seed)
        )
        self.is_fitted = True

    @torch.no_grad()
    def sample(
        self,
        num_samples: int = 1,
        batch_size: int = 500,
        output_dir: str | None = None,
        return_gen: bool = True,
        generator: torch.Generator | None = None,
    ) -> Tensor | None:
        """``num_samples`` decoder outputs of SIR latents, decoded ``batch_size`` at a time
        (pythae's convention); images are also written to ``output_dir`` if given."""
        if not self.is_fitted:
            raise RuntimeError("fit the sampler (or load a fitted one) before sampling")
        z = self.prior.sample(
            num_samples, SIRSampler(self.config.num_proposals), generator=generator
        )
        images = torch.cat(
            [
                self.model.decode_mean(z.samples[i : i + batch_size])
                for i in range(0, num_samples, batch_size)
            ]
        )
        if output_dir is not None:
            from ncpvae.plotting import image_grid

            Path(output_dir).mkdir(parents=True, exist_ok=True)
            image_grid(images[:100].cpu(), Path(output_dir) / "samples.png")
        return images if return_gen else None

    def save(self, dir_path: str | Path) -> None:
        """Write ``sampler_config.json`` and ``ncp_prior.safetensors`` (the classifier and
        log Z) to ``dir_path``."""
        if not self.is_fitted:
            raise RuntimeError("nothing to save: fit the sampler first")
        path = Path(dir_path)
        path.mkdir(parents=True, exist_ok=True)
        save_weights(self.prior, path / "ncp_prior.safetensors")
        write_json(path / "sampler_config.json", {"name": "NCPSampler", **asdict(self.config)})

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
        saved.pop("name", None)
        sampler = cls(model, NCPSamplerConfig(**saved))
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
