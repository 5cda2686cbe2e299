"""Each rank's share of the global batch's noise under torchrun, for any model.

Every rank has the same RNG state. Asked for n samples (``sample((n,))``), a rank draws W n and
keeps its block of n; a distribution over this rank's n rows of a global batch of W n rows
(sampled with no sample shape) is expanded to (W, n, ...), sampled, and this rank's block kept.
Either way the ranks together draw exactly the noise one process draws for the global batch,
whatever the distribution (anything ``torch.distributions`` can ``expand``). The copy keeps the
distribution's type, so ``log_prob`` and ``kl_divergence`` work on it unchanged.

Stage 1 routes the posterior and prior of every group step of a model's :meth:`walk` (a flat
model walks one group; the ELBO ``forward`` draws its noise there) through
:func:`sharded_model`; stage 2 passes :func:`shard_noise` to the prior's ``nce_loss``. A model
whose training loss draws noise from anything else (a ``forward`` of its own that samples
:meth:`posterior` or builds its own distribution) draws the same noise on every rank: correct
gradients, but not those of one process with the global batch.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
from collections.abc import Iterator
from functools import partial
from typing import Any

import torch
from torch import Tensor
from torch.distributions import Distribution

from ncpvae.models.base import ChooseLatent, GroupStep, LatentVariableModel
from ncpvae.prior import NO_SHARDING, Noise
from ncpvae.training import distributed

__all__ = ["shard_noise", "sharded", "sharded_model"]


def _draw(dist: Distribution, method: str, rank: int, world: int, sample_shape=()) -> Tensor:
    shape = torch.Size(sample_shape)
    draw = getattr(dist, method)
    if len(shape) > 0:  # rows are the leading sample dimension
        n = shape[0]
        return draw(torch.Size([world * n]) + shape[1:])[rank * n : (rank + 1) * n]
    if len(dist.batch_shape) == 0:  # one draw, no rows: nothing to shard
        return draw(shape)
    try:  # rows are the leading batch dimension
        whole = dist.expand(torch.Size([world]) + dist.batch_shape)
    except NotImplementedError:  # no expand (a point mass): no noise to shard
        return draw(shape)
    return getattr(whole, method)(shape)[rank]


def sharded(dist: Distribution, rank: int, world: int) -> Distribution:
    """A copy of ``dist`` whose ``sample`` and ``rsample`` give rank ``rank``'s rows of the draw
    for ``world`` equal shards."""
    if world == 1:
        return dist
    copied = copy.copy(dist)
    copied.sample = partial(_draw, dist, "sample", rank, world)  # type: ignore[method-assign]
    copied.rsample = partial(_draw, dist, "rsample", rank, world)  # type: ignore[method-assign]
    return copied


def shard_noise() -> Noise:
    """This process's :data:`~ncpvae.prior.Noise`: the identity in one process."""
    world = distributed.world_size()
    if world == 1:
        return NO_SHARDING
    return partial(sharded, rank=distributed.rank(), world=world)


@contextlib.contextmanager
def sharded_model(model: LatentVariableModel) -> Iterator[None]:
    """Within this context the posterior and prior draws of every step of the model's
    :meth:`walk` (for a flat model, its one step) are this process's shard."""
    noise = shard_noise()
    if noise is NO_SHARDING:
        yield
        return
    walk = model.walk

    def sharded_walk(choose: ChooseLatent, *args: Any, **kwargs: Any) -> Distribution | None:
        def choose_sharded(step: GroupStep) -> Tensor:
            posterior = None if step.posterior is None else noise(step.posterior)
            return choose(dataclasses.replace(step, prior=noise(step.prior), posterior=posterior))

        return walk(choose_sharded, *args, **kwargs)

    model.__dict__["walk"] = sharded_walk
    try:
        yield
    finally:
        del model.__dict__["walk"]
