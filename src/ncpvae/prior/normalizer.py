"""The log-normaliser estimate, log Z_hat = logsumexp_i f(z_i) - log N (docs/method.md section
2.1), with its delta-method standard error, per group (docs/method.md section 2.2: Z_k(z_<k),
estimated at a set of contexts)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from torch import Tensor

__all__ = ["LogNormalizer", "GroupLogNormalizer"]


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
        """Draws behind each per-context estimate."""
        return self.groups[0].num_samples if self.groups else 0

    @classmethod
    def from_groups(cls, groups: list[GroupLogNormalizer]) -> LogNormalizer:
        """The total of the groups' estimates."""
        return cls(
            value=sum(g.mean for g in groups),
            stderr=math.hypot(*(g.stderr for g in groups)),
            groups=groups,
        )
