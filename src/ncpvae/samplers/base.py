"""The sampler interface (docs/method.md section 2.3): each sampler is a short recipe in
:meth:`Sampler._sample_batch`; the batching loop lives once, in :meth:`Sampler.sample`. Every
sampler takes a ``temperature`` (scaling the base prior's standard deviation) and a ``generator``
for reproducibility, and returns a :class:`SampleOutput`. Samplers know the
:class:`~ncpvae.prior.Prior` interface and nothing else of a prior.
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import Tensor

from ncpvae.distributions import generator_on, sample
from ncpvae.prior import Prior
from ncpvae.progress import progress_bar
from ncpvae.threads import auto_threads

__all__ = ["SampleOutput", "Sampler", "BasePriorSampler", "resample_index"]


@dataclass
class SampleOutput:
    """Latents and the sampler's diagnostics.

    Attributes:
        latents: (N, D) latents z (decode them with ``model.likelihood``).
        ess: SIR only: effective sample size of the proposals behind each sample, per group,
            (N, K) (K = 1 for a flat prior).
        acceptance_rate: Metropolis-corrected samplers only.
        hmc: the automatic sampler only: (N,) bool, True where a sample was drawn by HMC
            because SIR collapsed.
    """

    latents: Tensor
    ess: Tensor | None = None
    acceptance_rate: float | None = None
    hmc: Tensor | None = None

    @staticmethod
    def concat(parts: list[SampleOutput]) -> SampleOutput:
        """Join batches: latents, ESS and sampler flags concatenated, acceptance rates
        averaged by the samples behind them."""
        ess = [p.ess for p in parts if p.ess is not None]
        hmc = [p.hmc for p in parts if p.hmc is not None]
        rates = [
            (p.acceptance_rate, len(p.latents)) for p in parts if p.acceptance_rate is not None
        ]
        return SampleOutput(
            latents=torch.cat([p.latents for p in parts]),
            ess=torch.cat(ess) if ess else None,
            acceptance_rate=(
                sum(r * n for r, n in rates) / sum(n for _, n in rates) if rates else None
            ),
            hmc=torch.cat(hmc) if hmc else None,
        )


class Sampler(ABC):
    """Draws from p_t(z) r(z) / Z for a :class:`~ncpvae.prior.Prior`, in batches.

    A sampler's constructor takes its config section (``config_class``, e.g.
    :class:`~ncpvae.config.SIRConfig`), or that section's fields as keywords, or both (the
    keywords replace the section's values): ``SIRSampler(num_proposals=100)``. Every sampler
    takes ``progress`` (keyword): show progress bars over its batches and iterations."""

    config_class: ClassVar[type | None] = None
    batch_size: int = 4096  # samples drawn per batch

    def __init__(self, config: Any = None, /, *, progress: bool = False, **settings: Any) -> None:
        self.progress = progress
        cls = self.config_class
        if cls is None:
            if config is not None or settings:
                raise TypeError(f"{type(self).__name__} takes no settings")
            return
        if config is not None and not isinstance(config, cls):
            raise TypeError(
                f"{type(self).__name__} takes a {cls.__name__} or its fields as keywords, "
                f"got {config!r}"
            )
        self.config = dataclasses.replace(config if config is not None else cls(), **settings)

    def __repr__(self) -> str:
        config = getattr(self, "config", "")
        return f"{type(self).__name__}({config!r})"

    def _bar(self, iterable, description: str):
        return progress_bar(iterable, description, self.progress, leave=False)

    @auto_threads()
    def sample(
        self,
        prior: Prior,
        num_samples: int,
        *,
        temperature: float = 1.0,
        generator: torch.Generator | None = None,
    ) -> SampleOutput:
        """Draw ``num_samples`` latents from p_t(z) r(z) / Z, ``batch_size`` at a time; the same
        ``generator`` state gives the same samples."""
        if num_samples < 1:
            raise ValueError(f"num_samples must be positive, got {num_samples}")
        parts = []
        starts = range(0, num_samples, self.batch_size)
        for start in self._bar(starts, type(self).__name__) if len(starts) > 1 else starts:
            n = min(self.batch_size, num_samples - start)
            parts.append(self._sample_batch(prior, n, temperature, generator))
        return SampleOutput.concat(parts)

    @abstractmethod
    def _sample_batch(
        self, prior: Prior, n: int, temperature: float, generator: torch.Generator | None
    ) -> SampleOutput: ...


class BasePriorSampler(Sampler):
    """Samples of the base prior p_t(z) alone (the VAE without NCP); no settings."""

    batch_size = 65_536

    @torch.no_grad()
    def _sample_batch(self, prior, n, temperature, generator):
        states = sample(prior.state_prior(temperature), (n,), generator)
        return SampleOutput(prior.to_latent(states))


def resample_index(log_weights: Tensor, generator: torch.Generator | None) -> Tensor:
    """One index per row of ``log_weights`` (n, M), drawn from Categorical(softmax(row))."""
    probs = torch.softmax(log_weights, dim=1)
    return torch.multinomial(probs, 1, generator=generator_on(probs.device, generator)).squeeze(1)
