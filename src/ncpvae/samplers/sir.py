"""Sampling-importance-resampling, group by group (docs/method.md section 2.3)."""

from __future__ import annotations

import warnings
from typing import Any

import torch
from torch import Tensor

from ncpvae.config.sampling import SIRConfig
from ncpvae.metrics import LogWeightSums
from ncpvae.models.hierarchy import GroupStep
from ncpvae.prior import Prior
from ncpvae.samplers.base import SampleOutput, Sampler, resample_index

__all__ = ["SIRSampler", "collapse_threshold"]


class SIRSampler(Sampler):
    """Sampling-importance-resampling, for each group k in order (one group for a flat prior):

    1. Given the chosen z_<k, draw M proposals z_k ~ p_t(z_k | z_<k).
    2. Weight them by w_m = r_k(z_m, c_k) = exp f_k(z_m, c_k).
    3. Resample one from Categorical(w / sum w); report ESS = (sum w)^2 / sum w^2.

    Settings: :class:`~ncpvae.config.SIRConfig` (``num_proposals`` M, ``min_ess``,
    ``proposal_budget``). Proposals are streamed in chunks (the prior bounds their memory, and
    ``proposal_budget`` the proposals per classifier batch): a chunk's pick replaces
    the running pick with probability (chunk weight) / (total weight so far), which is exact SIR
    over all M. Warns when the mean ESS of any group falls below ``min_ess`` (or half the
    proposals, if fewer): each draw then rests on a handful of proposals, because the target is
    far from the base prior; more proposals or :class:`~ncpvae.samplers.HMCSampler` is the
    remedy.
    """

    config_class = SIRConfig
    config: SIRConfig

    def __init__(self, config: SIRConfig | None = None, /, **kwargs: Any) -> None:
        super().__init__(config, **kwargs)
        self.batch_size = max(1, self.config.proposal_budget // self.config.num_proposals)

    def sample(self, prior, num_samples, *, temperature=1.0, generator=None) -> SampleOutput:
        """As :meth:`Sampler.sample`, warning when the mean ESS falls below ``min_ess``."""
        out = super().sample(prior, num_samples, temperature=temperature, generator=generator)
        mean_ess = out.ess.mean(0)  # per group
        worst = int(mean_ess.argmin())
        threshold = collapse_threshold(self.config)
        if float(mean_ess[worst]) < threshold:
            where = f" in group {worst}" if len(mean_ess) > 1 else ""
            warnings.warn(
                f"SIR effective sample size collapsed{where}: mean ESS "
                f"{float(mean_ess[worst]):.1f} of {self.config.num_proposals} proposals (below "
                f"{threshold:g}), so the samples repeat few proposals; raise the proposals "
                "(--sir.num_proposals, SIRSampler(num_proposals=...)) or redraw the collapsed "
                "samples by HMC (--sampler auto, AutoSampler)",
                RuntimeWarning,
                stacklevel=2,
            )
        return out

    @torch.no_grad()
    def _sample_batch(self, prior: Prior, n, temperature, generator):
        ess: list[Tensor] = []
        num_proposals, budget = self.config.num_proposals, self.config.proposal_budget
        rows = torch.arange(n, device=prior.trained.device)

        def choose(step: GroupStep) -> Tensor:
            if not bool(prior.trained[step.index]):  # r_k = 1: the base conditional
                ess.append(torch.full((n,), float(num_proposals), device=rows.device))
                z, _ = next(prior.proposals(step, n, 1, generator, budget))
                return z[:, 0]
            local = prior.group_generator(generator, rows.device)
            sums, chosen = LogWeightSums(dim=1), None
            stream = prior.proposals(step, n, num_proposals, local, budget)
            for proposals, log_w in stream:
                pick = proposals[rows, resample_index(log_w, local)]
                if chosen is not None:
                    mass = torch.logsumexp(log_w, 1)
                    u = torch.rand(n, generator=local, device=pick.device)
                    take = u < (mass - torch.logaddexp(sums.lse, mass)).exp()
                    pick = torch.where(take.view(-1, *([1] * (pick.dim() - 1))), pick, chosen)
                chosen = pick
                sums.add(log_w)
            ess.append(sums.ess())
            return chosen

        latents = prior.walk(choose, n, temperature=temperature)
        return SampleOutput(latents, ess=torch.stack(ess, dim=1))


def collapse_threshold(config: SIRConfig) -> float:
    """The mean ESS below which SIR has collapsed: ``min_ess``, or half the proposals if fewer
    (with few proposals even a healthy draw has a small ESS)."""
    return min(config.min_ess, config.num_proposals / 2)
