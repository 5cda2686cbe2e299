"""SIR where it works, HMC where it collapses (docs/method.md section 2.3: when p_NCP is far from
p, SIR's effective sample size collapses and each draw rests on a few proposals)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import torch

from ncpvae.prior import Prior
from ncpvae.samplers.base import SampleOutput, Sampler
from ncpvae.samplers.mcmc import HMCSampler
from ncpvae.samplers.sir import SIRSampler

__all__ = ["AutoSampler"]


@dataclass
class AutoSampler(Sampler):
    """SIR for every sample, then HMC for the samples whose SIR draw collapsed:

    1. Draw each sample by SIR (:class:`SIRSampler`) and keep its ESS (the smallest over groups).
    2. Where the ESS is below ``min_ess``, the draw rests on a handful of proposals: draw that
       sample again by HMC (:class:`HMCSampler`, its own chain from the base prior).

    ``SampleOutput.hmc`` says, per sample, which sampler it came from (True: HMC); the ESS of
    the SIR attempt is kept for every sample. The SIR collapse warning is not raised: this
    sampler is its remedy.
    """

    sir: SIRSampler = field(default_factory=SIRSampler)
    hmc: HMCSampler = field(default_factory=HMCSampler)
    min_ess: float = 10.0

    def __post_init__(self) -> None:
        # SIR's own collapse warning is silenced (this sampler is its remedy); HMC shows the
        # progress this sampler was asked for
        self.sir = replace(self.sir, min_ess=0.0)
        self.hmc = replace(self.hmc, progress=self.hmc.progress or self.progress)
        self.batch_size = self.sir.batch_size

    def _sample_batch(
        self, prior: Prior, n: int, temperature: float, generator: torch.Generator | None
    ) -> SampleOutput:
        out = self.sir.sample(prior, n, temperature=temperature, generator=generator)
        collapsed = out.ess.min(dim=1).values < min(self.min_ess, self.sir.num_proposals / 2)
        latents, rate = out.latents, None
        if collapsed.any():
            redrawn = self.hmc.sample(
                prior, int(collapsed.sum()), temperature=temperature, generator=generator
            )
            latents = latents.clone()
            latents[collapsed] = redrawn.latents
            rate = redrawn.acceptance_rate
        return SampleOutput(latents, ess=out.ess, acceptance_rate=rate, hmc=collapsed)
