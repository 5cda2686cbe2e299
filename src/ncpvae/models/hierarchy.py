"""The hierarchical latent-model interface (docs/method.md section 2.2):

    p(z) = prod_k p(z_k | z_<k),    q(z | x) = prod_k q(z_k | x, z_<k),

where a top-down network computes for group k a context c_k = c(z_<k) that parameterises the
prior p(z_k | z_<k). A model implements two passes: :meth:`~HierarchicalLatentModel.encode`
(bottom-up, data to one feature per group) and :meth:`~HierarchicalLatentModel.walk` (top-down,
asking a :data:`ChooseLatent` rule for z_k at every group). Everything else (the ELBO, the
stage-2 NCE pairs of every group from one encoder pass, ancestral and SIR sampling, Langevin in
the noise space, the likelihood) is a choice rule, so it is written once, here, in
:mod:`ncpvae.models.base` (the ELBO and the likelihood's pass, for flat models too) and in
:mod:`ncpvae.prior.hierarchical`, for every hierarchical model.

The flat :class:`~ncpvae.models.LatentVariableModel` interface sees z as all groups flattened and
concatenated, shape (N, D); a flat model, in turn, is a hierarchy of one group (its ``walk`` takes
one step), so the ELBO ``forward`` and the importance-weighted likelihood serve both.
"""

from __future__ import annotations

import math
from abc import abstractmethod
from typing import Any

import torch
from torch import Tensor
from torch.distributions import Distribution

from ncpvae.models.base import ChooseLatent, GroupStep, LatentVariableModel

__all__ = [
    "GroupStep",
    "ChooseLatent",
    "recording",
    "HierarchicalLatentModel",
    "HierarchicalPosterior",
    "HierarchicalBasePrior",
]


def recording(choose: ChooseLatent, into: list[Tensor]) -> ChooseLatent:
    """``choose``, appending every z_k it returns to ``into``."""

    def record(step: GroupStep) -> Tensor:
        into.append(choose(step))
        return into[-1]

    return record


class HierarchicalLatentModel(LatentVariableModel):
    """A latent-variable model with groups z_1..z_K, each with a Normal prior and posterior.

    Subclasses set ``group_shapes`` and ``context_shapes`` (one per group) and implement
    :meth:`encode` and :meth:`walk`.
    """

    group_shapes: list[tuple[int, ...]]
    context_shapes: list[tuple[int, ...]]
    max_rows_per_pass = 2048  # many wide feature maps per row: the likelihood's passes stay small

    @abstractmethod
    def encode(self, x: Tensor) -> list[Tensor]:
        """Bottom-up pass: one feature per group (each with N rows), passed back to :meth:`walk`."""

    @abstractmethod
    def walk(
        self,
        choose: ChooseLatent,
        num: int,
        features: list[Tensor] | None = None,
        temperature: float = 1.0,
        decode: bool = True,
    ) -> Distribution | None:
        """Top-down pass for ``num`` rows: at each group k build the context c_k, the prior
        p_t(z_k | z_<k) (its scale times ``temperature``) and, given encoder ``features``, the
        posterior q(z_k | x, z_<k); take z_k = choose(step) and go on. Returns p(x | z) if
        ``decode``, else None."""

    # ------------------------------------------------------------------ latent layout

    @property
    def num_groups(self) -> int:
        """K, the number of latent groups."""
        return len(self.group_shapes)

    def importance_walk(
        self, choose: ChooseLatent, x: Tensor, features: list[Tensor], samples: int
    ) -> Tensor:
        """One top-down pass of ``samples`` importance samples per example of ``x`` (see
        :meth:`LatentVariableModel.importance_walk`): the features repeated ``samples`` times,
        log p(x | z) of the decoded rows, (samples, N)."""
        likelihood = self.walk(choose, samples * len(x), repeat_rows(features, samples))
        x_rep = x.repeat(samples, *([1] * (x.dim() - 1)))
        return likelihood.log_prob(x_rep).view(samples, -1)

    def group_log_density(
        self, prior: Any, step: GroupStep, z: Tensor, generator: torch.Generator | None
    ) -> Tensor:
        """The prior's group term, ``prior.group_log_prob(step, z_k, generator)``: log
        p(z_k | z_<k) (+ f_k(z_k, c_k) - log Z_k(z_<k) for an NCP prior, Z_k estimated from
        draws of ``generator``), (N,)."""
        return prior.group_log_prob(step, z, generator)

    @property
    def row_activation_elements(self) -> int:
        """Elements of the largest feature map that one row of a top-down pass hands from layer
        to layer (it sizes the likelihood's passes on a CPU; a layer's own intermediates may be
        somewhat larger); by default the largest context map."""
        return max(math.prod(shape) for shape in self.context_shapes)

    @property
    def group_sizes(self) -> list[int]:
        """Number of latent dimensions of every group."""
        return [math.prod(shape) for shape in self.group_shapes]

    @property
    def latent_shape(self) -> tuple[int, ...]:  # type: ignore[override]
        """(D,): all groups flattened and concatenated."""
        return (sum(self.group_sizes),)

    def split_latents(self, z: Tensor) -> list[Tensor]:
        """(N, D) -> [z_k (N, *group_shape)]."""
        parts = z.split(self.group_sizes, dim=-1)
        return [
            p.reshape(*z.shape[:-1], *shape)
            for p, shape in zip(parts, self.group_shapes, strict=True)
        ]

    @staticmethod
    def join_latents(groups: list[Tensor]) -> Tensor:
        """[z_k (N, *group_shape)] -> (N, D)."""
        return torch.cat([g.flatten(1) for g in groups], dim=1)

    # ------------------------------------------------------------------ flat interface

    def posterior(self, x: Tensor) -> HierarchicalPosterior:
        """q(z | x) over the flattened groups (sampling and log_prob each take a top-down pass)."""
        return HierarchicalPosterior(self, self.encode(x))

    def encoder_output(self, x: Tensor) -> Tensor:
        """The bottom-up features of :meth:`encode`, flattened and concatenated: (N, F)."""
        features = self.encode(x)
        self._feature_shapes = [tuple(f.shape[1:]) for f in features]
        return torch.cat([f.flatten(1) for f in features], dim=1)

    def features_from(self, output: Tensor) -> list[Tensor]:
        """:meth:`encode`'s features from an :meth:`encoder_output` of this model."""
        shapes = getattr(self, "_feature_shapes", None)
        if shapes is None:
            raise RuntimeError("features_from() needs an encoder_output() of this model first")
        parts = output.split([math.prod(shape) for shape in shapes], dim=1)
        return [p.reshape(len(output), *shape) for p, shape in zip(parts, shapes, strict=True)]

    def posterior_from(self, output: Tensor) -> HierarchicalPosterior:
        """q(z | x) from an :meth:`encoder_output`."""
        return HierarchicalPosterior(self, self.features_from(output))

    def base_prior(self, temperature: float = 1.0) -> HierarchicalBasePrior:  # type: ignore[override]
        """p_t(z) = prod_k p_t(z_k | z_<k) over the flattened groups."""
        return HierarchicalBasePrior(self, temperature)

    def likelihood(self, z: Tensor) -> Distribution:
        """p(x | z) for flattened latents (N, D)."""
        groups = self.split_latents(z)
        return self.walk(lambda step: groups[step.index], len(z))


def repeat_rows(features: list[Tensor], times: int) -> list[Tensor]:
    """Every feature (N, ...) repeated ``times`` times along the rows: (times * N, ...), row
    i * N + n being example n."""
    return [f.repeat(times, *([1] * (f.dim() - 1))) for f in features]


class HierarchicalPosterior:
    """q(z | x) of a hierarchical model for fixed encoder features, over flattened z."""

    def __init__(self, model: HierarchicalLatentModel, features: list[Tensor]) -> None:
        self.model, self.features = model, features
        self.num = len(features[0])

    def rsample(self, sample_shape: tuple[int, ...] = ()) -> Tensor:
        """z ~ q(z | x), shape (*sample_shape, N, D), reparameterised."""
        k = math.prod(sample_shape)
        groups: list[Tensor] = []
        self.model.walk(
            recording(lambda step: step.posterior.rsample(), groups),
            self.num * k,
            repeat_rows(self.features, k),
            decode=False,
        )
        return self.model.join_latents(groups).view(*sample_shape, self.num, -1)

    def sample(self, sample_shape: tuple[int, ...] = ()) -> Tensor:
        """z ~ q(z | x), shape (*sample_shape, N, D)."""
        with torch.no_grad():
            return self.rsample(sample_shape)

    def log_prob(self, z: Tensor) -> Tensor:
        """log q(z | x) for z (*sample_shape, N, D): shape (*sample_shape, N)."""
        k = math.prod(z.shape[:-1]) // self.num
        features = repeat_rows(self.features, k)
        return _log_prob_along(self.model, z.reshape(-1, z.shape[-1]), features).view(z.shape[:-1])


class HierarchicalBasePrior:
    """p_t(z) = prod_k p_t(z_k | z_<k) of a hierarchical model, over flattened z."""

    def __init__(self, model: HierarchicalLatentModel, temperature: float = 1.0) -> None:
        self.model, self.temperature = model, temperature

    def sample(self, sample_shape: tuple[int, ...] = ()) -> Tensor:
        """Ancestral samples z ~ p_t(z), shape (*sample_shape, D)."""
        groups: list[Tensor] = []
        with torch.no_grad():
            self.model.walk(
                recording(lambda step: step.prior.sample(), groups),
                math.prod(sample_shape),
                temperature=self.temperature,
                decode=False,
            )
        return self.model.join_latents(groups).view(*sample_shape, -1)

    def group_log_prob(
        self, step: GroupStep, z: Tensor, generator: torch.Generator | None = None
    ) -> Tensor:
        """log p(z_k | z_<k) at the step's prior, for z_k (N, ...): (N,) (the hierarchical
        likelihood's per-group term, as for :class:`~ncpvae.HierarchicalNCPPrior`). The
        likelihood walks at temperature 1, so this prior must have temperature 1."""
        if self.temperature != 1.0:
            raise ValueError("the hierarchical likelihood uses the prior at temperature 1")
        return step.prior.log_prob(z).flatten(1).sum(1)

    def log_prob(self, z: Tensor) -> Tensor:
        """log p_t(z) for z (..., D)."""
        flat = z.reshape(-1, z.shape[-1])
        return _log_prob_along(self.model, flat, None, self.temperature).view(z.shape[:-1])


def _log_prob_along(
    model: HierarchicalLatentModel,
    z: Tensor,
    features: list[Tensor] | None,
    temperature: float = 1.0,
) -> Tensor:
    """sum_k log q(z_k | x, z_<k) given encoder ``features``, else sum_k log p_t(z_k | z_<k),
    along the given latents (N, D)."""
    groups = model.split_latents(z)
    terms: list[Tensor] = []

    def choose(step: GroupStep) -> Tensor:
        dist = step.posterior if features is not None else step.prior
        terms.append(dist.log_prob(groups[step.index]).flatten(1).sum(1))
        return groups[step.index]

    model.walk(choose, len(z), features, temperature, decode=False)
    return torch.stack(terms).sum(0)
