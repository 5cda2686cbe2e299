"""The Noise Contrastive Prior of a hierarchical VAE (Aneja et al. 2021, Sec. 3.2; DESIGN.md
section 2.2): one classifier per latent group,

    p_NCP(z) = prod_k p(z_k | z_<k) r_k(z_k, c_k) / Z_k(z_<k),    r_k = exp f_k(z_k, c_k),

where c_k is the frozen prior network's context. Real pairs are (z_k ~ q(z_k | x, z_<k), c_k),
fake pairs (z_k ~ p(z_k | z_<k), c_k) with the same posterior z_<k; at the optimum r_k is the
ratio of the aggregate conditionals q(z_k | z_<k) / p(z_k | z_<k). All K classifiers train from
one encoder pass per batch, or any subset of groups per worker (``groups``), with the parts
joined by :func:`merge_priors`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.distributions import Distribution

from ncpvae.distributions import sample, spawn, standard_normal
from ncpvae.models.hierarchy import GroupStep, HierarchicalLatentModel, recording
from ncpvae.prior import nce_loss
from ncpvae.samplers import PriorSampling, SampleOutput, resample_index
from ncpvae.training import Checkpointing, TrainConfig, TrainHistory, train

__all__ = ["HierarchicalNCPPrior", "GroupLogNormalizer", "merge_priors"]

PROPOSAL_ELEMENTS = 1 << 24  # latent elements per classifier batch when proposals are streamed


@dataclass
class GroupLogNormalizer:
    """log Z_k(z_<k) of one group over a set of contexts, each estimated from ``num_samples``
    draws of p(z_k | z_<k): ``mean`` and ``spread`` (standard deviation) over the contexts of the
    per-context estimates; ``stderr``, the mean over contexts of one estimate's delta-method
    standard error; ``relative_variance``, the mean over contexts of Var(w) / E[w]^2, w = exp f_k.
    An estimate from M draws is biased low by about ``relative_variance`` / (2 M) (Jensen)."""

    mean: float
    spread: float
    stderr: float
    relative_variance: float
    num_contexts: int
    num_samples: int


class HierarchicalNCPPrior(PriorSampling, nn.Module):
    """Per-group classifiers f_k(z_k, c_k) on a frozen :class:`HierarchicalLatentModel`.

    Args:
        model: the frozen hierarchical VAE. It is not a submodule (its weights stay in its own
            run folder), so ``prior.to(device)`` does not move it: move the model first.
        classifiers: K modules; ``classifier(z_k, context)`` returns logits (N,), and
            ``classifier(z_k, features=classifier.context_features(c_k))`` does the same with the
            context's share precomputed, z_k of shape (M, N, ...) for M proposals per context.

    A group whose classifier is not trained (``trained[k]`` False) keeps its base conditional
    (r_k = 1). ``normalizer_samples`` is M, the number of draws from p(z_k | z_<k) behind every
    estimate of Z_k(z_<k) in :meth:`group_log_prob`.
    """

    def __init__(
        self,
        model: HierarchicalLatentModel,
        classifiers: Sequence[nn.Module],
        normalizer_samples: int = 100,
    ) -> None:
        super().__init__()
        if len(classifiers) != model.num_groups:
            raise ValueError(
                f"{len(classifiers)} classifiers for a model with {model.num_groups} groups"
            )
        self.__dict__["model"] = model  # not registered: the prior's weights are its own
        self.classifiers = nn.ModuleList(classifiers)
        self.register_buffer("trained", torch.zeros(model.num_groups, dtype=torch.bool))
        self.normalizer_samples = normalizer_samples
        self.eval()

    @property
    def num_groups(self) -> int:
        """K, the number of latent groups (and classifiers)."""
        return len(self.classifiers)

    @property
    def trained_groups(self) -> list[int]:
        """The groups whose classifier is trained."""
        return [k for k in range(self.num_groups) if bool(self.trained[k])]

    # ----------------------------------------------------------------------------- fitting

    def nce_loss(self, x: Tensor, groups: Iterable[int]) -> tuple[Tensor, dict[str, float]]:
        """NCE loss summed over ``groups`` from one encoder pass over the batch ``x``: at every
        group a real z_k ~ q(z_k | x, z_<k) and a fake z_k ~ p(z_k | z_<k), both with the
        posterior z_<k and its context c_k. Real and fake latents are drawn for every group
        whichever are trained, so a subset sees the same draws as the full set."""
        pairs: list[tuple[Tensor, Tensor, Tensor]] = []

        def choose(step: GroupStep) -> Tensor:
            real, fake = step.posterior.sample(), step.prior.sample()
            pairs.append((real, fake, step.context))
            return real

        with torch.no_grad():
            self.model.walk(choose, len(x), self.model.encode(x), decode=False)
        total, metrics = torch.zeros((), device=x.device), {}
        for k in groups:
            real, fake, context = pairs[k]
            logits = self.classifiers[k](torch.cat([real, fake]), torch.cat([context, context]))
            loss, metrics[f"acc{k}"] = nce_loss(*logits.split(len(real)))
            total = total + loss
        return total, metrics

    def fit(
        self,
        draw: Callable[[], Tensor],
        config: TrainConfig | None = None,
        *,
        groups: Sequence[int] | None = None,
        progress: bool = True,
        checkpointing: Checkpointing | None = None,
    ) -> TrainHistory:
        """Train the classifiers of ``groups`` (default: all) by NCE on data batches from
        ``draw()`` and mark them trained; the others are left untouched. ``checkpointing``
        saves and resumes the fit (the caller adds its batch stream to its state)."""
        config = config or TrainConfig(lr_final=1e-7)
        groups = self.check_groups(groups)
        params = [p for k in groups for p in self.classifiers[k].parameters()]
        self.model.eval()  # the VAE is frozen: its batch norm uses its running statistics
        self.train()
        try:
            history = train(
                lambda step: self.nce_loss(draw(), groups),
                params,
                config,
                description=f"fit NCP prior ({len(groups)} of {self.num_groups} groups)",
                progress=progress,
                checkpointing=checkpointing,
            )
        finally:
            self.eval()
        self.trained[groups] = True
        return history

    def check_groups(self, groups: Sequence[int] | None) -> list[int]:
        """``groups`` sorted and deduplicated (all groups if empty); ValueError if one does not
        exist."""
        groups = sorted(set(groups or range(self.num_groups)))
        bad = [k for k in groups if not 0 <= k < self.num_groups]
        if bad:
            raise ValueError(
                f"groups {bad} do not exist: this VAE has groups 0..{self.num_groups - 1}"
            )
        return groups

    # ----------------------------------------------------------------------------- per group

    def log_ratio_group(self, k: int, z: Tensor, context: Tensor) -> Tensor:
        """f_k(z_k, c_k) for z (N, *group_shape) and its context: (N,); 0 if not trained."""
        if not bool(self.trained[k]):
            return torch.zeros(len(z), device=z.device)
        return self.classifiers[k](z, context)

    def _proposals(
        self, step: GroupStep, num: int, generator: torch.Generator | None
    ) -> Iterator[tuple[Tensor, Tensor]]:
        """``num`` draws z_k ~ p_t(z_k | z_<k) per row of ``step`` and their log weights f_k,
        streamed in chunks of shape (m, N, ...) and (m, N) to bound memory."""
        k, rows = step.index, len(step.context)
        per_chunk = max(1, PROPOSAL_ELEMENTS // (rows * math.prod(step.prior.loc.shape[1:])))
        classifier = self.classifiers[k]
        features = classifier.context_features(step.context) if bool(self.trained[k]) else None
        for start in range(0, num, per_chunk):
            m = min(per_chunk, num - start)
            proposals = sample(step.prior, (m,), generator)
            if features is None:
                yield proposals, torch.zeros(m, rows, device=proposals.device)
            else:
                yield proposals, classifier(proposals, features=features)

    def log_normalizer_group(
        self, step: GroupStep, num_samples: int, generator: torch.Generator | None = None
    ) -> tuple[Tensor, Tensor]:
        """log Z_k(z_<k) = log E_{p(z_k | z_<k)} exp f_k for every row of ``step``, from
        ``num_samples`` draws: (estimate (N,), ESS of the draws (N,)). Jensen: the estimate is
        biased low by about Var(w) / (2 M mean(w)^2) = (1/ESS - 1/M) / 2."""
        lse = lse_sq = None
        # a generator of its own: the caller's stream does not depend on num_samples
        generator = spawn(generator, step.context.device)
        for _, log_w in self._proposals(step, num_samples, generator):
            log_w = log_w.double()
            a, b = torch.logsumexp(log_w, 0), torch.logsumexp(2 * log_w, 0)
            lse = a if lse is None else torch.logaddexp(lse, a)
            lse_sq = b if lse_sq is None else torch.logaddexp(lse_sq, b)
        ess = torch.exp(2 * lse - lse_sq)
        return (lse - math.log(num_samples)).float(), ess.float()

    def group_log_prob(
        self, step: GroupStep, z: Tensor, generator: torch.Generator | None = None
    ) -> Tensor:
        """log p(z_k | z_<k) + f_k(z_k, c_k) - log Z_k(z_<k) for z_k (N, ...): (N,), with Z_k
        estimated from ``normalizer_samples`` draws (DESIGN.md section 2.2)."""
        log_p = step.prior.log_prob(z).flatten(1).sum(1)
        if not bool(self.trained[step.index]):
            return log_p
        log_z, _ = self.log_normalizer_group(step, self.normalizer_samples, generator)
        return log_p + self.classifiers[step.index](z, step.context) - log_z

    @torch.no_grad()
    def estimate_log_normalizers(
        self,
        x: Tensor,
        num_samples: int = 10_000,
        generator: torch.Generator | None = None,
    ) -> list[GroupLogNormalizer]:
        """log Z_k(z_<k) of every group at the contexts of posterior samples z_<k ~ q(. | x): at
        the optimum Z_k = 1 there, so the estimates are a diagnostic of each classifier."""
        out: list[GroupLogNormalizer] = []

        def choose(step: GroupStep) -> Tensor:
            log_z, ess = self.log_normalizer_group(step, num_samples, generator)
            inverse_excess = (1 / ess - 1 / num_samples).clamp(min=0)  # Var(w) / (N E[w]^2)
            out.append(
                GroupLogNormalizer(
                    float(log_z.mean()),
                    float(log_z.std()) if len(log_z) > 1 else 0.0,
                    float(inverse_excess.sqrt().mean()),
                    float((num_samples * inverse_excess).mean()),
                    len(log_z),
                    num_samples,
                )
            )
            return sample(step.posterior, (), generator)

        self.model.walk(choose, len(x), self.model.encode(x), decode=False)
        return out

    # ----------------------------------------------------------------------------- sampling

    @property
    def base(self) -> Distribution:
        """N(0, I) over the noise eps of all groups, the state space of the base, Langevin and HMC
        samplers (z_k = mu_k + sigma_k eps_k, so eps ~ N(0, t^2 I) is ancestral sampling at
        temperature t; :meth:`to_latent` maps eps to z). Not a distribution over z."""
        return standard_normal(self.model.latent_shape, device=self.trained.device)

    def _from_noise(self, eps: Tensor) -> tuple[Tensor, Tensor]:
        """(z, sum_k f_k(z_k, c_k)) for noise eps (N, D): z_k = mu_k(z_<k) + sigma_k(z_<k) eps_k
        (the reparameterisation of NVAE, so the map is differentiable)."""
        noise = self.model.split_latents(eps)
        groups: list[Tensor] = []
        log_r = torch.zeros(len(eps), device=eps.device)

        def choose(step: GroupStep) -> Tensor:
            nonlocal log_r
            z = step.prior.loc + step.prior.scale * noise[step.index]
            log_r = log_r + self.log_ratio_group(step.index, z, step.context)
            return z

        self.model.walk(recording(choose, groups), len(eps), decode=False)
        return self.model.join_latents(groups), log_r

    def noise_log_ratio(self, eps: Tensor) -> Tensor:
        """sum_k f_k(z_k, c_k) at the latents of noise eps (N, D)."""
        return self._from_noise(eps)[1]

    def log_ratio(self, z: Tensor) -> Tensor:
        """sum_k f_k(z_k, c_k) = log prod_k r_k for latents z (N, D) (as from :meth:`sample`)."""
        groups = self.model.split_latents(z)
        log_r = torch.zeros(len(z), device=z.device)

        def choose(step: GroupStep) -> Tensor:
            nonlocal log_r
            log_r = log_r + self.log_ratio_group(step.index, groups[step.index], step.context)
            return groups[step.index]

        self.model.walk(choose, len(z), decode=False)
        return log_r

    def log_prob_unnormalized(self, eps: Tensor, temperature: float = 1.0) -> Tensor:
        """The negative energy in noise space, sum_k f_k + log N(eps; 0, t^2 I) (DESIGN.md
        section 2.3: E(eps) = sum_k -f_k + |eps|^2 / (2 t^2))."""
        variance = temperature**2
        log_base = -0.5 * (
            eps.pow(2).sum(1) / variance + eps.shape[1] * math.log(2 * math.pi * variance)
        )
        return log_base + self.noise_log_ratio(eps)

    def to_latent(self, eps: Tensor) -> Tensor:
        """The latents z (N, D) of noise eps (N, D)."""
        with torch.no_grad():
            return self._from_noise(eps)[0]

    @torch.no_grad()
    def importance_resample(
        self,
        num: int,
        num_proposals: int,
        temperature: float = 1.0,
        generator: torch.Generator | None = None,
    ) -> SampleOutput:
        """Hierarchical SIR: for k = 1..K, given the chosen z_<k, draw M proposals
        z_k ~ p_t(z_k | z_<k), weight them by exp f_k(z_k, c_k) and resample one. Proposals are
        streamed in chunks: a chunk's pick replaces the running pick with probability (chunk
        weight) / (total weight so far), which is exact SIR over all M. ESS per group (num, K)."""
        ess: list[Tensor] = []
        groups: list[Tensor] = []

        def choose(step: GroupStep) -> Tensor:
            if not bool(self.trained[step.index]):  # r_k = 1: the base conditional
                ess.append(torch.full((num,), float(num_proposals), device=step.context.device))
                return sample(step.prior, (), generator)
            local = spawn(generator, step.context.device)  # one draw of the caller's stream
            chosen = total = total_sq = None
            for proposals, log_w in self._proposals(step, num_proposals, local):
                rows = torch.arange(num, device=proposals.device)
                pick = proposals[resample_index(log_w.t(), local), rows]
                mass, mass_sq = torch.logsumexp(log_w, 0), torch.logsumexp(2 * log_w, 0)
                if chosen is None:
                    chosen, total, total_sq = pick, mass, mass_sq
                    continue
                new_total = torch.logaddexp(total, mass)
                u = torch.rand(num, generator=local, device=pick.device)
                take = (u < (mass - new_total).exp()).view(-1, *([1] * (pick.dim() - 1)))
                chosen = torch.where(take, pick, chosen)
                total, total_sq = new_total, torch.logaddexp(total_sq, mass_sq)
            ess.append(torch.exp(2 * total - total_sq))
            return chosen

        self.model.walk(recording(choose, groups), num, temperature=temperature, decode=False)
        return SampleOutput(self.model.join_latents(groups), ess=torch.stack(ess, dim=1))


def merge_priors(parts: Sequence[HierarchicalNCPPrior]) -> HierarchicalNCPPrior:
    """One prior from priors whose classifiers were trained on disjoint groups (one per worker):
    each group's classifier comes from the part that trained it. Refuses overlaps and gaps.
    Returns ``parts[0]``, updated in place."""
    if not parts:
        raise ValueError("nothing to merge: pass at least one prior")
    merged = parts[0]
    owner: dict[int, int] = {}
    for i, part in enumerate(parts):
        if part.num_groups != merged.num_groups:
            raise ValueError(f"prior {i} has {part.num_groups} groups, prior 0 {merged.num_groups}")
        for k in part.trained_groups:
            if k in owner:
                raise ValueError(f"group {k} was trained by both prior {owner[k]} and prior {i}")
            owner[k] = i
    missing = [k for k in range(merged.num_groups) if k not in owner]
    if missing:
        raise ValueError(
            f"no prior trained groups {missing}; train them (--groups) and merge again"
        )
    for k, i in owner.items():
        merged.classifiers[k].load_state_dict(parts[i].classifiers[k].state_dict())
    merged.trained.fill_(True)
    return merged
