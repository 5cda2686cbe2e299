"""Base priors and output likelihoods.

Everything here is a plain ``torch.distributions.Distribution`` so that a user's own prior works
wherever ours does. Two helpers add what ``torch.distributions`` lacks:

* :func:`tempered` scales the standard deviation of a prior by a temperature ``t``
  (NVAE convention, DESIGN.md section 2.3). It is a ``functools.singledispatch`` function, so a
  user can register their own distribution type.
* :func:`sample` draws from any distribution with an optional ``torch.Generator``.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator

import torch
from torch import Tensor
from torch.distributions import (
    Distribution,
    Independent,
    MixtureSameFamily,
    MultivariateNormal,
)
from torch.distributions import Normal as _TorchNormal
from torch.distributions.utils import _standard_normal

__all__ = [
    "Normal",
    "noise_shard",
    "sample_rows",
    "standard_normal",
    "tempered",
    "sample",
    "generator_on",
    "spawn",
    "PointMass",
]


_NOISE_SHARD = (0, 1)  # (rank, world size): whose rows of the global batch's noise to draw


@contextlib.contextmanager
def noise_shard(rank: int, world_size: int) -> Iterator[None]:
    """Within this context, :class:`Normal` draws the noise of a whole global batch of
    ``world_size`` equal shards (the leading dimension) and keeps shard ``rank``'s rows. Every
    rank has the same RNG state, so the ranks of a data-parallel run together draw exactly the
    noise one process would draw for the global batch."""
    global _NOISE_SHARD
    previous, _NOISE_SHARD = _NOISE_SHARD, (rank, world_size)
    try:
        yield
    finally:
        _NOISE_SHARD = previous


def sample_rows(dist: Distribution, n: int) -> Tensor:
    """``dist.sample((n,))``; within :func:`noise_shard`, this rank's ``n`` rows of a draw for the
    whole global batch (for any distribution, not only :class:`Normal`)."""
    rank, world = _NOISE_SHARD
    if world == 1:
        return dist.sample((n,))
    with noise_shard(0, 1):
        return dist.sample((world * n,))[rank * n : (rank + 1) * n]


class Normal(_TorchNormal):
    """``torch.distributions.Normal`` whose noise follows :func:`noise_shard` (otherwise, and
    in one process, it draws exactly what torch's does)."""

    def rsample(self, sample_shape: torch.Size | tuple[int, ...] = ()) -> Tensor:
        """loc + scale * eps, eps this rank's rows of the global batch's standard normal noise."""
        rank, world = _NOISE_SHARD
        shape = self._extended_shape(torch.Size(sample_shape))
        if world == 1 or len(shape) == 0:
            return super().rsample(sample_shape)
        n = shape[0]
        noise = _standard_normal(
            (world * n, *shape[1:]), dtype=self.loc.dtype, device=self.loc.device
        )[rank * n : (rank + 1) * n]
        return self.loc.expand(shape) + noise * self.scale.expand(shape)

    def sample(self, sample_shape: torch.Size | tuple[int, ...] = ()) -> Tensor:
        """:meth:`rsample` without gradients."""
        if _NOISE_SHARD[1] == 1:
            return super().sample(sample_shape)
        with torch.no_grad():
            return self.rsample(sample_shape)


def standard_normal(
    shape: tuple[int, ...],
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
) -> Distribution:
    """N(0, I) over a latent of the given event ``shape``; ``log_prob`` sums over the event."""
    loc = torch.zeros(shape, device=device, dtype=dtype)
    return Independent(Normal(loc, torch.ones_like(loc)), len(shape))


@functools.singledispatch
def tempered(dist: Distribution, temperature: float) -> Distribution:
    """Return ``dist`` with every standard deviation multiplied by ``temperature``.

    Supported: Normal, MultivariateNormal, Independent and MixtureSameFamily of those. Register
    other types with ``@tempered.register``.
    """
    if temperature == 1.0:
        return dist
    raise TypeError(
        f"temperature {temperature} is not supported for a {type(dist).__name__} base prior; "
        "use temperature=1 or register it with @ncpvae.distributions.tempered.register"
    )


@tempered.register
def _(dist: _TorchNormal, temperature: float) -> Distribution:
    return dist if temperature == 1.0 else Normal(dist.loc, dist.scale * temperature)


@tempered.register
def _(dist: MultivariateNormal, temperature: float) -> Distribution:
    if temperature == 1.0:
        return dist
    return MultivariateNormal(dist.loc, scale_tril=dist.scale_tril * temperature)


@tempered.register
def _(dist: Independent, temperature: float) -> Distribution:
    if temperature == 1.0:
        return dist
    return Independent(tempered(dist.base_dist, temperature), dist.reinterpreted_batch_ndims)


@tempered.register
def _(dist: MixtureSameFamily, temperature: float) -> Distribution:
    if temperature == 1.0:
        return dist
    return MixtureSameFamily(
        dist.mixture_distribution, tempered(dist.component_distribution, temperature)
    )


class PointMass(Distribution):
    """A point mass at ``loc`` (batch shape ``loc.shape[:-event_dims]``): the "posterior" of a
    deterministic encoder. Sampling returns ``loc``; it has no density."""

    arg_constraints: dict = {}
    has_rsample = True

    def __init__(self, loc: Tensor, event_dims: int = 1) -> None:
        self.loc = loc
        split = loc.ndim - event_dims
        super().__init__(loc.shape[:split], loc.shape[split:], validate_args=False)

    @property
    def mean(self) -> Tensor:
        """The point itself."""
        return self.loc

    def rsample(self, sample_shape: torch.Size | tuple[int, ...] = ()) -> Tensor:
        """``loc`` repeated over ``sample_shape``."""
        return self.loc.expand(*sample_shape, *self.loc.shape)

    def log_prob(self, value: Tensor) -> Tensor:
        """Undefined: raises, saying why."""
        raise NotImplementedError(
            "a point mass has no density: this model's encoder is deterministic, so it has no "
            "importance-weighted likelihood (compare such models by FID)"
        )


def sample(
    dist: Distribution, sample_shape: tuple[int, ...], generator: torch.Generator | None = None
) -> Tensor:
    """``dist.sample(sample_shape)``, reproducible from ``generator`` when one is given.

    ``torch.distributions`` takes no generator, so the global RNG is forked and seeded from the
    generator: the same generator state gives the same samples, and the caller's global RNG state
    is left untouched.
    """
    if generator is None:
        return dist.sample(sample_shape)
    seed = int(torch.randint(0, 2**62, (), generator=generator, device=generator.device))
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return dist.sample(sample_shape)


def generator_on(device: torch.device, generator: torch.Generator | None) -> torch.Generator | None:
    """``generator`` if it lives on ``device``'s type, else a generator there seeded from it (so
    a CPU generator still gives reproducible draws on a GPU)."""
    if generator is None or generator.device.type == device.type:
        return generator
    seed = int(torch.randint(0, 2**62, (), generator=generator, device=generator.device))
    return torch.Generator(device).manual_seed(seed)


def spawn(generator: torch.Generator | None, device: torch.device) -> torch.Generator | None:
    """A new generator on ``device`` seeded from one draw of ``generator`` (None stays None): a
    loop drawing from it leaves ``generator`` one draw on, however many draws the loop makes."""
    if generator is None:
        return None
    seed = int(torch.randint(0, 2**62, (), generator=generator, device=generator.device))
    return torch.Generator(device).manual_seed(seed)
