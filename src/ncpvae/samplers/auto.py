"""SIR where it works, HMC where it collapses (docs/method.md section 2.3: when p_NCP is far from
p, SIR's effective sample size collapses and each draw rests on a few proposals)."""

from __future__ import annotations

import torch

from ncpvae.config.sampling import HMCConfig, SIRConfig
from ncpvae.prior import Prior
from ncpvae.samplers.base import SampleOutput, Sampler
from ncpvae.samplers.mcmc import HMCSampler
from ncpvae.samplers.sir import SIRSampler, collapse_threshold

__all__ = ["AutoSampler"]


class AutoSampler(Sampler):
    """SIR for every sample, then HMC for the samples whose SIR draw collapsed:

    1. Draw each sample by SIR (:class:`SIRSampler` with the settings ``sir``) and keep its ESS
       (the smallest over groups).
    2. Where the ESS is below SIR's collapse threshold (``sir.min_ess``, or half the proposals
       if fewer), the draw rests on a handful of proposals: draw that sample again by HMC
       (:class:`HMCSampler` with the settings ``hmc``, its own chain from the base prior).

    ``SampleOutput.hmc`` says, per sample, which sampler it came from (True: HMC); the ESS of
    the SIR attempt is kept for every sample. The SIR collapse warning is not raised: this
    sampler is its remedy.
    """

    def __init__(
        self, sir: SIRConfig | None = None, hmc: HMCConfig | None = None, *, progress: bool = False
    ) -> None:
        super().__init__(progress=progress)
        self.sir = SIRSampler(sir, min_ess=0.0)  # its own warning silenced
        self.hmc = HMCSampler(hmc, progress=progress)
        self.threshold = collapse_threshold(sir or SIRConfig())
        self.batch_size = self.sir.batch_size

    def __repr__(self) -> str:
        return f"AutoSampler({self.sir.config!r}, {self.hmc.config!r})"

    def _sample_batch(
        self, prior: Prior, n: int, temperature: float, generator: torch.Generator | None
    ) -> SampleOutput:
        out = self.sir.sample(prior, n, temperature=temperature, generator=generator)
        collapsed = out.ess.min(dim=1).values < self.threshold
        latents, rate = out.latents, None
        if collapsed.any():
            redrawn = self.hmc.sample(
                prior, int(collapsed.sum()), temperature=temperature, generator=generator
            )
            latents = latents.clone()
            latents[collapsed] = redrawn.latents
            rate = redrawn.acceptance_rate
        return SampleOutput(latents, ess=out.ess, acceptance_rate=rate, hmc=collapsed)
