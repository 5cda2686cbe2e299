"""The latent-model interface: the little that the NCP prior needs from a VAE.

A model implements :meth:`posterior` (q(z|x)) and :meth:`likelihood` (p(x|z)); it inherits a
standard-Normal base prior, an ELBO ``forward``, no-op data hooks and a ``device`` property. The
VAEs and the RAE of :mod:`ncpvae.models` and a user's own model implement it, and every stage-2
routine (NCE fitting, sampling, likelihood evaluation) is written against it alone.

A flat model is a hierarchy of one group (docs/method.md section 2.2 with K = 1), as a flat prior
is in :mod:`ncpvae.prior`: :meth:`~LatentVariableModel.encode` and
:meth:`~LatentVariableModel.walk` take one :class:`GroupStep` with no context, so the ELBO, the
importance-weighted likelihood (:meth:`~LatentVariableModel.importance_walk`) and torchrun's
noise sharding are each written once, for every model, on the walk.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn
from torch.distributions import Distribution, kl_divergence

from ncpvae.data.arrays import TensorData
from ncpvae.distributions import sample, standard_normal, tempered

__all__ = ["LatentVariableModel", "TrainingOutput", "GroupStep", "ChooseLatent", "RepeatedRows"]


@dataclass
class GroupStep:
    """What the top-down pass knows at group k: the context c_k (a function of z_<k; None for a
    flat model's one group), the prior p_t(z_k | z_<k) and, when walking with data, the posterior
    q(z_k | x, z_<k). A hierarchical model's are elementwise ``Normal`` with batch shape
    (N, *group_shape); a flat model's one step holds its base prior and q(z | x) as they are."""

    index: int
    context: Tensor | None
    prior: Distribution
    posterior: Distribution | None = None


ChooseLatent = Callable[[GroupStep], Tensor]
"""A rule returning z_k (N, *group_shape) for a :class:`GroupStep`."""


class RepeatedRows(Distribution):
    """``times`` draws of ``rows`` (batch shape (N, ...)) as one distribution over times * N rows,
    row i * N + n being a draw of row n: what a top-down pass over repeated rows draws, without
    repeating ``rows``' parameters. ``sample`` is ``rows.sample((times,))`` flattened (the same
    random numbers); ``log_prob`` scores each row under its own row of ``rows``."""

    arg_constraints: dict = {}

    def __init__(self, rows: Distribution, times: int) -> None:
        self.rows, self.times = rows, times
        batch = torch.Size([times * rows.batch_shape[0], *rows.batch_shape[1:]])
        super().__init__(batch, rows.event_shape, validate_args=False)

    @property
    def has_rsample(self) -> bool:  # type: ignore[override]
        """As ``rows``."""
        return self.rows.has_rsample

    def sample(self, sample_shape: torch.Size | tuple[int, ...] = ()) -> Tensor:
        """(*sample_shape, times * N, ...) from ``rows.sample((*sample_shape, times))``."""
        shape = tuple(sample_shape)
        return sample(self.rows, (*shape, self.times)).flatten(len(shape), len(shape) + 1)

    def rsample(self, sample_shape: torch.Size | tuple[int, ...] = ()) -> Tensor:
        """The reparameterised :meth:`sample`."""
        shape = tuple(sample_shape)
        draws = self.rows.rsample((*shape, self.times))
        return draws.flatten(len(shape), len(shape) + 1)

    def log_prob(self, value: Tensor) -> Tensor:
        """log q(value) for values (..., times * N, *event_shape), each row by its own row."""
        at = value.dim() - len(self.batch_shape) - len(self.event_shape)
        rows = value.unflatten(at, (self.times, -1))
        return self.rows.log_prob(rows).flatten(at, at + 1)


@dataclass
class TrainingOutput:
    """What one training-loss evaluation returns: ``loss`` to minimise, and named terms (batch
    means) to log."""

    loss: Tensor
    terms: dict[str, Tensor]

    @classmethod
    def from_elbo(cls, reconstruction: Tensor, kl: Tensor, kl_weight: float) -> TrainingOutput:
        """The negative ELBO with a weight on the KL (warm-up), batch mean, from per-example
        log p(x|z) and KL terms; logs the ELBO, its reconstruction term and the KL."""
        loss = -(reconstruction - kl_weight * kl).mean()
        terms = {
            "elbo": (reconstruction - kl).mean(),
            "rec": reconstruction.mean(),
            "kl": kl.mean(),
        }
        return cls(loss, terms)

    def metrics(self) -> dict[str, float]:
        """The terms as floats, for logs and progress bars."""
        return {k: float(v.detach()) for k, v in self.terms.items()}


class LatentVariableModel(nn.Module, ABC):
    """A VAE-like model with latent ``z`` of shape ``latent_shape`` (one latent group).

    Contract: for a batch ``x`` of N data points, ``posterior(x)`` is a distribution with batch
    shape (N,) and event shape ``latent_shape`` that supports ``rsample`` and ``log_prob``;
    ``likelihood(z)`` for z of shape (N, *latent_shape) has batch shape (N,) and ``log_prob(x)``
    sums over the data dimensions.
    """

    latent_shape: tuple[int, ...]
    has_density: bool = True  # False when q(z|x) has no density (an RAE): no likelihood then
    base_prior_fitted: bool = False  # True when the base prior is fitted to the codes (an RAE)

    @abstractmethod
    def posterior(self, x: Tensor) -> Distribution:
        """The approximate posterior q(z | x)."""

    def encoder_output(self, x: Tensor) -> Tensor:
        """The deterministic part of q(z | x): a tensor (N, ...) with one row per example from
        which :meth:`posterior_from` builds q(z | x). Stage 2 computes it once for data that do
        not change between epochs and reuses it. Default: x itself (nothing to reuse)."""
        return x

    def posterior_from(self, output: Tensor) -> Distribution:
        """q(z | x) from ``encoder_output(x)``: ``posterior(x)`` without the encoder pass."""
        return self.posterior(output)

    @torch.no_grad()
    def encoder_outputs(self, data: TensorData, batch_size: int = 256) -> Tensor:
        """:meth:`encoder_output` of every example of ``data`` in order, in batches of
        ``batch_size``, in eval mode, on the model's device."""
        was_training = self.training
        self.eval()
        try:
            return torch.cat(
                [
                    self.encoder_output(data.batch(slice(i, i + batch_size)).to(self.device))
                    for i in range(0, len(data), batch_size)
                ]
            )
        finally:
            self.train(was_training)

    @abstractmethod
    def likelihood(self, z: Tensor) -> Distribution:
        """The decoder's distribution p(x | z)."""

    # ------------------------------------------------------------------ the walk of one group

    def encode(self, x: Tensor) -> list[Tensor]:
        """The bottom-up pass: one feature per group, here :meth:`encoder_output` for the one
        group (each with N rows), passed back to :meth:`walk` and :meth:`importance_walk`."""
        return [self.encoder_output(x)]

    def walk(
        self,
        choose: ChooseLatent,
        num: int,
        features: list[Tensor] | None = None,
        temperature: float = 1.0,
        decode: bool = True,
    ) -> Distribution | None:
        """The top-down pass of one group: z = choose(step) for the step holding the base prior
        at ``temperature`` and, given :meth:`encode`'s ``features``, q(z | x) of their rows (a
        flat step has no context, and ``num`` is the rows of ``features``). Returns p(x | z) if
        ``decode``, else None."""
        posterior = None if features is None else self.posterior_from(features[0])
        z = choose(GroupStep(0, None, self.base_prior(temperature), posterior))
        return self.likelihood(z) if decode else None

    def importance_walk(
        self, choose: ChooseLatent, x: Tensor, features: list[Tensor], samples: int
    ) -> Tensor:
        """One pass of ``samples`` importance samples per example of ``x`` (N examples whose
        :meth:`encode` gave ``features``): ``samples * N`` rows, row i * N + n for example n,
        z_k = choose(step) at every group's step, whose posterior is q(z_k | x, z_<k) of those
        rows. Returns log p(x | z), (samples, N). The one group of a flat model draws q(z | x)
        ``samples`` times per example (:class:`RepeatedRows`) and is decoded by
        :meth:`log_likelihood_given` (x is not copied)."""
        q = RepeatedRows(self.posterior_from(features[0]), samples)
        z = choose(GroupStep(0, None, self.base_prior(), q))
        return self.log_likelihood_given(z.unflatten(0, (samples, -1)), x)

    def group_log_density(
        self, prior: Any, step: GroupStep, z: Tensor, generator: torch.Generator | None
    ) -> Tensor:
        """A prior's term for the latents z_k (N, ...) that a walk chose at ``step``, (N,): the
        one group of a flat model is all of z, so its term is ``prior.log_prob(z)`` (a
        ``Distribution`` or an NCP prior, whose log Z is stored: no ``generator`` needed)."""
        return prior.log_prob(z)

    max_rows_per_pass: int | None = None
    """The most rows one :meth:`importance_walk` should take (None: no bound of the model's
    own, only the likelihood's bound on data elements)."""

    @property
    def row_activation_elements(self) -> int | None:
        """Elements of the largest feature map one row of a pass hands from layer to layer,
        where the model states it (it sizes the likelihood's passes on a CPU); None: unstated."""
        return None

    def log_likelihood_given(self, z: Tensor, x: Tensor) -> Tensor:
        """log p(x | z) for K latents per example, z (K, N, *latent_shape), and the N examples x:
        shape (K, N). Override to avoid copying x K times (the VAEs do)."""
        k = z.shape[0]
        x_rep = x.unsqueeze(0).expand(k, *x.shape).flatten(0, 1)
        return self.likelihood(z.flatten(0, 1)).log_prob(x_rep).view(k, -1)

    @property
    def device(self) -> torch.device:
        """The device of the model's parameters."""
        return next(self.parameters()).device

    def base_prior(self, temperature: float = 1.0) -> Distribution:
        """The base prior p(z), N(0, I) unless overridden, with its scale times ``temperature``."""
        return tempered(standard_normal(self.latent_shape, device=self.device), temperature)

    def init_from_data(self, data: TensorData) -> None:
        """Called once before training (for example to set the decoder's output bias to the
        data mean, as Lawson et al. do). Does nothing unless overridden."""

    def fit_base_prior(self, data: TensorData) -> None:
        """Called once after training, for models whose base prior is fitted ex post (the RAE's
        Gaussian mixture). Does nothing unless overridden."""

    def forward(self, x: Tensor, kl_weight: float = 1.0) -> TrainingOutput:
        """Negative ELBO with a weight on the KL (warm-up), batch mean, over one :meth:`walk`:
        ELBO = E_q[log p(x|z)] - sum_k KL(q(z_k | x, z_<k) || p(z_k | z_<k)), every group's KL
        in closed form at the sampled z_<k where torch has one (else its one-sample estimate
        log q - log p). With several groups each group's is logged too (``kl0``, ``kl1``, ...:
        the training curves show which groups are used)."""
        kls: list[Tensor] = []

        def choose(step: GroupStep) -> Tensor:
            q, p = step.posterior, step.prior
            z = q.rsample()
            try:
                kl = kl_divergence(q, p)
            except NotImplementedError:
                kl = q.log_prob(z) - p.log_prob(z)
            kls.append(kl.reshape(len(z), -1).sum(1))
            return z

        reconstruction = self.walk(choose, len(x), self.encode(x)).log_prob(x)
        kl = torch.stack(kls, dim=1)
        out = TrainingOutput.from_elbo(reconstruction, kl.sum(1), kl_weight)
        if len(kls) > 1:
            out.terms.update({f"kl{k}": group.mean() for k, group in enumerate(kl.unbind(1))})
        return out
