"""The log-normaliser estimate, log Z_hat = logsumexp_i f(z_i) - log N (docs/method.md section
2.1), with its delta-method standard error, per group (docs/method.md section 2.2: Z_k(z_<k),
estimated at a set of contexts)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from ncpvae.distributions import sample
from ncpvae.metrics import LogWeightSums
from ncpvae.models.hierarchy import GroupStep
from ncpvae.progress import progress_bar

__all__ = ["LogNormalizer", "GroupLogNormalizer", "group_log_normalizer", "log_normalizer_estimate"]

LOG_NORMALIZER_CHUNK = 65_536  # proposals per classifier batch when estimating log Z


@dataclass
class GroupLogNormalizer:
    """log Z_k of one group over ``num_contexts`` contexts (one for a flat prior), each from
    ``num_samples`` draws: ``mean`` and ``spread`` (standard deviation over the contexts) of the
    per-context estimates; ``stderr``, the mean over contexts of one estimate's delta-method
    standard error std(w) / (sqrt(M) mean(w)); ``relative_variance``, the mean over contexts of
    Var(w) / E[w]^2, w = exp f_k. An estimate from M draws is biased low by about
    ``relative_variance`` / (2 M) (Jensen)."""

    group: int
    mean: float
    spread: float
    stderr: float
    relative_variance: float
    num_contexts: int
    num_samples: int

    @classmethod
    def from_estimates(
        cls, group: int, log_z: Tensor, ess: Tensor, num_samples: int
    ) -> GroupLogNormalizer:
        """From per-context estimates (C,) and the ESS of their draws (C,)."""
        # Var(w) / (M E[w]^2) = (E[w^2] / E[w]^2 - 1) / M = 1/ESS - 1/M
        inverse_excess = (1 / ess - 1 / num_samples).clamp(min=0)
        return cls(
            group=group,
            mean=float(log_z.mean()),
            spread=float(log_z.std()) if len(log_z) > 1 else 0.0,
            stderr=float(inverse_excess.sqrt().mean()),
            relative_variance=float((num_samples * inverse_excess).mean()),
            num_contexts=len(log_z),
            num_samples=num_samples,
        )


@dataclass
class LogNormalizer:
    """log Z of a prior: ``value``, the sum over its trained groups of their mean log Z_k (for a
    flat prior, the one estimate), and its ``stderr`` (the groups' errors added in quadrature);
    ``groups`` holds each group's values."""

    value: float
    stderr: float
    groups: list[GroupLogNormalizer] = field(default_factory=list)

    @property
    def num_samples(self) -> int:
        """Draws behind each group's estimate, over all its contexts."""
        return self.groups[0].num_samples * self.groups[0].num_contexts if self.groups else 0

    @classmethod
    def from_groups(cls, groups: list[GroupLogNormalizer]) -> LogNormalizer:
        """The total of the groups' estimates."""
        return cls(
            value=sum(g.mean for g in groups),
            stderr=math.hypot(*(g.stderr for g in groups)),
            groups=groups,
        )


def group_log_normalizer(
    prior: Any,
    step: GroupStep,
    rows: int,
    num: int,
    generator: torch.Generator | None,
    budget: int,
    progress: bool = False,
) -> tuple[Tensor, Tensor]:
    """log Z_k = log E_{p(z_k | z_<k)} exp f_k at every row of ``step`` from ``num`` draws of
    ``prior`` (a :class:`~ncpvae.prior.Prior`): logsumexp f - log M, in float64, with the ESS of
    the draws. Jensen: biased low by about Var(w) / (2 M E[w]^2) = (1/ESS - 1/M) / 2."""
    sums = LogWeightSums(dim=1)
    local = prior.group_generator(generator, prior.trained.device)
    stream = prior.proposals(step, rows, num, local, budget)
    for _, log_w in progress_bar(stream, "log Z", progress, leave=False):
        sums.add(log_w.double())
    return sums.lse - math.log(num), sums.ess()


def log_normalizer_estimate(
    prior: Any,
    num_samples: int,
    contexts: Tensor | None,
    generator: torch.Generator | None,
    progress: bool = False,
) -> LogNormalizer:
    """log Z of every trained group of ``prior`` (see
    :meth:`~ncpvae.prior.Prior.estimate_log_normalizer`), ``num_samples`` draws over the
    contexts, in chunks of :data:`LOG_NORMALIZER_CHUNK` proposals (fewer for large groups)."""
    rows = prior.num_contexts(contexts)
    per_context = max(1, num_samples // rows)
    groups: list[GroupLogNormalizer] = []

    def choose(step: GroupStep) -> Tensor:
        # every group draws (an untrained one's weights are 1), so that a group's estimate does
        # not depend on which others are trained; only the trained ones are reported
        log_z, ess = group_log_normalizer(
            prior, step, rows, per_context, generator, LOG_NORMALIZER_CHUNK, progress
        )
        if bool(prior.trained[step.index]):
            groups.append(GroupLogNormalizer.from_estimates(step.index, log_z, ess, per_context))
        if step.posterior is None:  # no later group needs this one's latent
            return torch.zeros(0)
        return sample(step.posterior, (), generator)

    data = None if contexts is None else contexts.to(prior.trained.device)
    prior.walk(choose, rows, data=data)
    return LogNormalizer.from_groups(groups)
