"""The Noise Contrastive Prior of a hierarchical VAE (Aneja et al. 2021, Sec. 3.2;
docs/method.md section 2.2): one classifier per latent group,

    p_NCP(z) = prod_k p(z_k | z_<k) r_k(z_k, c_k) / Z_k(z_<k),    r_k = exp f_k(z_k, c_k),

where c_k is the frozen prior network's context. Real pairs are (z_k ~ q(z_k | x, z_<k), c_k),
fake pairs (z_k ~ p(z_k | z_<k), c_k) with the same posterior z_<k; at the optimum r_k is the
ratio of the aggregate conditionals q(z_k | z_<k) / p(z_k | z_<k). All K classifiers train from
one encoder pass per batch, or any subset of groups per worker, with the parts joined by
:func:`merge_priors`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torch.distributions import Distribution

from ncpvae.distributions import sample, spawn, standard_normal, tempered
from ncpvae.models.hierarchy import ChooseLatent, GroupStep, HierarchicalLatentModel, recording
from ncpvae.prior.base import NO_SHARDING, Noise, Prior, Proposals
from ncpvae.prior.nce import bridge_nce_loss, check_waymarks, waymark_batches
from ncpvae.prior.normalizer import group_log_normalizer

__all__ = ["HierarchicalNCPPrior", "merge_priors"]

PROPOSAL_ELEMENTS = 1 << 24  # latent elements per classifier batch when proposals are streamed
# on a CPU, chunks of 2^20 keep the classifier's activations (several times the latents) in
# cache; docs/benchmarks.md ("Evaluation costs beside their floors") has the measurements
CPU_PROPOSAL_ELEMENTS = 1 << 20


class HierarchicalNCPPrior(Prior):
    """Per-group classifiers f_k(z_k, c_k) on a frozen :class:`HierarchicalLatentModel`.

    Args:
        model: the frozen hierarchical VAE (not a submodule: move it to the device first).
        classifiers: K modules; ``classifier(z_k, context)`` returns logits (N,), and
            ``classifier(z_k, features=classifier.context_features(c_k))`` does the same with the
            context's share precomputed, z_k of shape (M, N, ...) for M proposals per context.
        normalizer_samples: M, the draws from p(z_k | z_<k) behind every estimate of Z_k(z_<k)
            in :meth:`group_log_prob` (the likelihood's per-sample normalisers).
        waymarks: telescoping NCP in every group, as in :class:`~ncpvae.prior.NCPPrior`: the
            waymarks of group k mix a paired z_k ~ p(z_k | z_<k) and z_k ~ q(z_k | x, z_<k) of
            one context around the conditional prior's mean, and its classifier returns K
            logits per row whose sum is f_k (docs/method.md section 2.5).

    Its sampler state is the noise eps of all groups, z_k = mu_k(z_<k) + sigma_k(z_<k) eps_k
    (NVAE's reparameterisation): eps ~ N(0, t^2 I) is ancestral sampling at temperature t.
    """

    per_sample_normalizers = True  # Z_k(z_<k) depends on the context

    def __init__(
        self,
        model: HierarchicalLatentModel,
        classifiers: Sequence[nn.Module],
        normalizer_samples: int = 100,
        waymarks: Sequence[float] = (),
    ) -> None:
        if len(classifiers) != model.num_groups:
            raise ValueError(
                f"{len(classifiers)} classifiers for a model with {model.num_groups} groups"
            )
        super().__init__(classifiers, model)
        self.normalizer_samples = normalizer_samples
        self.waymarks = check_waymarks(waymarks)

    # ----------------------------------------------------------------------------- primitives

    def _classify(self, step: GroupStep, z: Tensor) -> Tensor:
        """f_k(z_k, c_k): the classifier's logit, or the sum of its bridges' logits."""
        return self.classifiers[step.index](z, step.context).view(len(z), -1).sum(-1)

    def walk(
        self,
        choose: ChooseLatent,
        num: int,
        *,
        temperature: float = 1.0,
        data: Tensor | None = None,
    ) -> Tensor:
        """The model's top-down pass (with ``data``: its encoder features, so each step has the
        posterior q(z_k | x, z_<k))."""
        groups: list[Tensor] = []
        features = None if data is None else self.model.encode(data)
        rows = num if data is None else len(data)
        self.model.walk(
            recording(choose, groups), rows, features, temperature=temperature, decode=False
        )
        return self.model.join_latents(groups)

    def proposals(
        self,
        step: GroupStep,
        rows: int,
        num: int,
        generator: torch.Generator | None,
        budget: int,
    ) -> Proposals:
        """Draws z_k ~ p_t(z_k | z_<k), (rows, m, ...), in chunks of at most 2^24 latent
        elements (2^20 on a CPU; the group's size bounds them, ``budget`` is not needed)."""
        k = step.index
        on_cpu = step.prior.loc.device.type == "cpu"
        elements = CPU_PROPOSAL_ELEMENTS if on_cpu else PROPOSAL_ELEMENTS
        per_chunk = max(1, elements // (rows * math.prod(step.prior.loc.shape[1:])))
        classifier = self.classifiers[k]
        features = classifier.context_features(step.context) if bool(self.trained[k]) else None
        for start in range(0, num, per_chunk):
            m = min(per_chunk, num - start)
            z = sample(step.prior, (m,), generator)  # (m, rows, ...)
            if features is None:
                log_w = torch.zeros(m, rows, device=z.device)
            else:
                log_w = classifier(z, features=features).view(m, rows, -1).sum(-1)
            yield z.movedim(0, 1), log_w.t()

    def group_generator(
        self, generator: torch.Generator | None, device: torch.device
    ) -> torch.Generator | None:
        """A generator of its own, seeded from one draw of the caller's: the caller's stream
        (later groups, the importance samples) does not depend on how many proposals it takes."""
        return spawn(generator, device)

    def group_log_prob(
        self, step: GroupStep, z: Tensor, generator: torch.Generator | None = None
    ) -> Tensor:
        """log p(z_k | z_<k) + f_k(z_k, c_k) - log Z_k(z_<k) for z_k (N, ...): (N,), with Z_k
        estimated per row from ``normalizer_samples`` draws (docs/method.md section 2.2)."""
        log_p = step.prior.log_prob(z).flatten(1).sum(1)
        if not bool(self.trained[step.index]):
            return log_p
        log_z, _ = group_log_normalizer(
            self, step, len(z), self.normalizer_samples, generator, budget=0
        )
        return log_p + self._classify(step, z) - log_z.float()

    def num_contexts(self, contexts: Tensor | None) -> int:
        """The number of data points whose posterior samples give the contexts."""
        if contexts is None or len(contexts) == 0:
            raise ValueError(
                "a hierarchical prior's Z_k depend on z_<k: pass contexts (a batch of data)"
            )
        return len(contexts)

    def split(self, z: Tensor) -> list[Tensor]:
        """(N, D) -> [z_k (N, *group_shape)]."""
        return self.model.split_latents(z)

    # ----------------------------------------------------------------------------- state space

    def state_prior(self, temperature: float = 1.0) -> Distribution:
        """N(0, t^2 I) over the noise eps of all groups (N, D)."""
        noise = standard_normal(self.model.latent_shape, device=self.trained.device)
        return tempered(noise, temperature)

    def _from_noise(self, eps: Tensor) -> tuple[Tensor, Tensor]:
        """(z, sum_k f_k(z_k, c_k)) for noise eps (N, D): z_k = mu_k(z_<k) + sigma_k(z_<k) eps_k
        (differentiable in eps)."""
        noise = self.model.split_latents(eps)
        log_r = torch.zeros(len(eps), device=eps.device)

        def choose(step: GroupStep) -> Tensor:
            nonlocal log_r
            z = step.prior.loc + step.prior.scale * noise[step.index]
            log_r = log_r + self.group_log_ratio(step, z)
            return z

        return self.walk(choose, len(eps)), log_r

    def to_latent(self, state: Tensor) -> Tensor:
        """The latents z (N, D) of noise eps (N, D)."""
        with torch.no_grad():
            return self._from_noise(state)[0]

    def log_prob_unnormalized(self, state: Tensor, temperature: float = 1.0) -> Tensor:
        """The negative energy in noise space, sum_k f_k + log N(eps; 0, t^2 I)
        (docs/method.md section 2.3: E(eps) = sum_k -f_k + |eps|^2 / (2 t^2))."""
        variance = temperature**2
        log_base = -0.5 * (
            state.pow(2).sum(1) / variance + state.shape[1] * math.log(2 * math.pi * variance)
        )
        return log_base + self._from_noise(state)[1]

    # ----------------------------------------------------------------------------- fitting

    def nce_loss(
        self,
        batch: Tensor,
        groups: Sequence[int] | None = None,
        noise: Noise = NO_SHARDING,
        *,
        encoded: bool = False,
    ) -> tuple[Tensor, dict[str, float]]:
        """NCE loss summed over ``groups`` from one encoder pass over the data ``batch`` (or
        none, when ``encoded``: the batch holds the model's ``encoder_output``): at every group
        a real z_k ~ q(z_k | x, z_<k) and a fake z_k ~ p(z_k | z_<k), both with the posterior
        z_<k and its context c_k (and, with waymarks, their mixtures between them, see
        :func:`~ncpvae.prior.nce.waymark_batches`). Real and fake latents are drawn for every
        group whichever are trained, so a subset sees the same draws as the full set."""
        groups = self.check_groups(groups)
        x = batch.to(self.trained.device)
        pairs: list[tuple[Tensor, Tensor, Tensor, Tensor]] = []

        def choose(step: GroupStep) -> Tensor:
            real, fake = noise(step.posterior).sample(), noise(step.prior).sample()
            pairs.append((real, fake, step.context, step.prior.mean))
            return real

        with torch.no_grad():
            features = self.model.features_from(x) if encoded else self.model.encode(x)
            self.model.walk(choose, len(x), features, decode=False)
        total, metrics = torch.zeros((), device=x.device), {}
        for k in groups:
            real, fake, context, centre = pairs[k]
            ways = waymark_batches(real, fake, centre, self.waymarks)
            logits = self.classifiers[k](torch.cat(ways), torch.cat([context] * len(ways)))
            loss, group_metrics = bridge_nce_loss(logits.view(len(ways), len(real), -1), k)
            metrics.update(group_metrics)
            total = total + loss
        return total, metrics


def merge_priors(parts: Sequence[Prior]) -> Prior:
    """One prior from priors whose classifiers were trained on disjoint groups (one per worker):
    each group's classifier comes from the part that trained it. Refuses overlaps and gaps.
    Returns ``parts[0]``, updated in place, its log Z invalidated (estimate it again)."""
    if not parts:
        raise ValueError("nothing to merge: pass at least one prior")
    merged = parts[0]
    if merged.num_groups == 1:
        raise ValueError("a flat prior has one latent group: there are no groups to merge")
    owner: dict[int, int] = {}
    for i, part in enumerate(parts):
        if part.num_groups != merged.num_groups:
            raise ValueError(f"prior {i} has {part.num_groups} groups, prior 0 {merged.num_groups}")
        if (part.classifier_config, part.waymarks) != (merged.classifier_config, merged.waymarks):
            raise ValueError(
                f"prior {i} was trained with other classifier settings than prior 0; merge "
                "only priors trained with one classifier config"
            )
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
    merged.log_normalizer.fill_(math.nan)
    merged.log_normalizer_stderr.fill_(math.nan)
    return merged
