"""The Noise Contrastive Prior (Aneja et al., NeurIPS 2021, Sec. 3; DESIGN.md section 2.1).

    p_NCP(z) = p(z) r(z) / Z,    r(z) = D(z) / (1 - D(z)) = exp f(z),    Z = E_{p(z)}[r(z)]

where f is the logit of a binary classifier D trained by noise-contrastive estimation to tell
latents of the aggregate posterior q(z) (label 1) from base-prior latents (label 0). At the
optimum r = q / p and Z = 1. The prior needs no VAE: any base ``Distribution`` and any source of
"real" latents will do.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.distributions import Distribution
from tqdm.auto import tqdm

from ncpvae.distributions import sample, sample_rows, tempered
from ncpvae.metrics import effective_sample_size
from ncpvae.samplers import PriorSampling, SampleOutput, resample_index
from ncpvae.training import (
    Checkpointing,
    TrainConfig,
    TrainHistory,
    minibatches,
    train,
    with_state,
)

__all__ = ["NCPPrior", "LogNormalizerEstimate", "RealLatents", "nce_loss"]

RealLatents = Tensor | Callable[[], Tensor]


@dataclass
class LogNormalizerEstimate:
    """log Z_hat = logsumexp_i f(z_i) - log N over N base-prior samples, with the delta-method
    standard error std(w) / (sqrt(N) mean(w)), w = exp f, and the ESS of the weights w."""

    value: float
    stderr: float
    num_samples: int
    ess: float


def nce_loss(real_logits: Tensor, fake_logits: Tensor) -> tuple[Tensor, float]:
    """BCEWithLogits(f(z_q), 1) + BCEWithLogits(f(z_p), 0) for a balanced batch of logits, and
    the classifier's accuracy (DESIGN.md section 2.1)."""
    loss = F.binary_cross_entropy_with_logits(
        real_logits, torch.ones_like(real_logits)
    ) + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
    accuracy = 0.5 * ((real_logits > 0).float().mean() + (fake_logits <= 0).float().mean())
    return loss, float(accuracy)


class NCPPrior(PriorSampling, nn.Module):
    """A base prior reweighted by a classifier: log p_NCP(z) = log p(z) + f(z) - log Z.

    Args:
        base: the base prior p(z), any ``torch.distributions.Distribution`` with ``sample`` and
            ``log_prob`` (``log_prob`` must sum over the latent's event dimensions). It is not a
            module: build it on the device the prior will run on.
        classifier: a module mapping a batch of latents (N, *event_shape) to logits f(z) of
            shape (N,).
    """

    def __init__(self, base: Distribution, classifier: nn.Module) -> None:
        super().__init__()
        self.base = base
        self.classifier = classifier
        self.register_buffer("log_normalizer", torch.tensor(math.nan))
        self.register_buffer("log_normalizer_stderr", torch.tensor(math.nan))
        self.eval()  # a prior is used in eval mode; fit() switches to train mode while it runs

    # ----------------------------------------------------------------------------- densities

    def log_ratio(self, z: Tensor) -> Tensor:
        """log r(z) = f(z), the classifier's logit."""
        return self.classifier(z)

    def log_prob_unnormalized(self, z: Tensor, temperature: float = 1.0) -> Tensor:
        """log p_t(z) + f(z): the log density up to log Z (the negative energy)."""
        return tempered(self.base, temperature).log_prob(z) + self.log_ratio(z)

    def log_prob(self, z: Tensor) -> Tensor:
        """log p_NCP(z) = log p(z) + f(z) - log Z, with the stored estimate of log Z."""
        if not torch.isfinite(self.log_normalizer):
            raise RuntimeError("log Z is not estimated yet: call estimate_log_normalizer() first")
        return self.log_prob_unnormalized(z) - self.log_normalizer

    # ----------------------------------------------------------------------------- fitting

    def nce_loss(self, real: Tensor) -> tuple[Tensor, dict[str, float]]:
        """Noise-contrastive loss on a balanced batch: BCE(f(z_q), 1) + BCE(f(z_p), 0) with
        z_p ~ p(z) drawn fresh, as many as ``real`` has rows. Returns (loss, metrics)."""
        fake = sample_rows(self.base, real.shape[0])  # this rank's rows under torchrun
        real = real.to(fake.device)
        logits = self.log_ratio(torch.cat([real, fake]))
        loss, accuracy = nce_loss(*logits.split(real.shape[0]))
        return loss, {"acc": accuracy}

    def fit(
        self,
        real: RealLatents,
        config: TrainConfig | None = None,
        *,
        progress: bool = True,
        generator: torch.Generator | None = None,
        checkpointing: Checkpointing | None = None,
    ) -> TrainHistory:
        """Train the classifier by NCE. ``real`` is a tensor of aggregate-posterior latents (drawn
        from in random minibatches of ``config.batch_size``) or a callable returning a fresh batch
        (for a VAE: :func:`ncpvae.stages.posterior_latents`). Leaves the prior in eval mode and
        invalidates the stored log Z. ``checkpointing`` saves and resumes the fit (with the
        classifier and, for a tensor ``real``, its batch stream)."""
        config = config or TrainConfig(lr_final=1e-7)
        if isinstance(real, Tensor):
            batches = minibatches(real, config.batch_size, generator)
            draw = lambda: next(batches)  # noqa: E731
            checkpointing = with_state(checkpointing, batches=batches)
        else:
            draw = real
        self.train()
        try:
            history = train(
                lambda step: self.nce_loss(draw()),
                self.classifier.parameters(),
                config,
                description="fit NCP prior",
                progress=progress,
                checkpointing=checkpointing,
            )
        finally:
            self.eval()
            self.log_normalizer.fill_(math.nan)
            self.log_normalizer_stderr.fill_(math.nan)
        return history

    @torch.no_grad()
    def estimate_log_normalizer(
        self,
        num_samples: int = 1_000_000,
        batch_size: int = 65_536,
        generator: torch.Generator | None = None,
        progress: bool = False,
    ) -> LogNormalizerEstimate:
        """Estimate log Z = log E_p[exp f(z)] from ``num_samples`` base-prior samples, store it
        (used by :meth:`log_prob`) and return it with its standard error.

        Jensen: E[log Z_hat] <= log Z, so use enough samples that ``stderr`` is far below the
        digits you report (10^6 or more for small latents)."""
        lse = lse_sq = torch.tensor(-math.inf, device=self.log_normalizer.device)
        starts = range(0, num_samples, batch_size)
        for start in tqdm(starts, desc="log Z", disable=not progress, leave=False):
            n = min(batch_size, num_samples - start)
            f = self.log_ratio(sample(self.base, (n,), generator)).double()
            lse = torch.logaddexp(lse, torch.logsumexp(f, 0))
            lse_sq = torch.logaddexp(lse_sq, torch.logsumexp(2 * f, 0))
        log_z = float(lse) - math.log(num_samples)
        inverse_ess = math.exp(float(lse_sq - 2 * lse))
        # Var(w)/(N mean(w)^2) = (mean(w^2)/mean(w)^2 - 1)/N = 1/ESS - 1/N
        stderr = math.sqrt(max(inverse_ess - 1.0 / num_samples, 0.0))
        self.log_normalizer.fill_(log_z)
        self.log_normalizer_stderr.fill_(stderr)
        return LogNormalizerEstimate(log_z, stderr, num_samples, 1.0 / inverse_ess)

    # ----------------------------------------------------------------------------- sampling

    def to_latent(self, z: Tensor) -> Tensor:
        """The latent of a sampler state: the identity (a flat prior samples z directly)."""
        return z

    @torch.no_grad()
    def importance_resample(
        self,
        num: int,
        num_proposals: int,
        temperature: float = 1.0,
        generator: torch.Generator | None = None,
    ) -> SampleOutput:
        """SIR (:class:`~ncpvae.samplers.SIRSampler`): M proposals z_m ~ p_t(z) per sample,
        weights w_m = exp f(z_m), one index resampled from Categorical(w / sum w); with the ESS
        of each sample's weights."""
        proposals = sample(tempered(self.base, temperature), (num, num_proposals), generator)
        log_w = self.log_ratio(proposals.flatten(0, 1)).view(num, num_proposals)
        index = resample_index(log_w, generator)
        chosen = proposals[torch.arange(num, device=proposals.device), index]
        return SampleOutput(chosen, ess=effective_sample_size(log_w, dim=1))
