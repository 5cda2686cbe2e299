"""Importance-weighted log-likelihood (docs/method.md section 2.4):

    log p(x) ~ logmeanexp_k [ log p(x | z_k) + log p(z_k) - log q(z_k | x) ],   z_k ~ q(z | x),

with p the base prior, the NCP prior (whose log density uses the estimated log Z), or several
priors at once: the decoder pass, the costly part, is then shared by all of them, and their
estimates use the same importance samples (so their difference has less noise). Importance
samples are batched: the decoder sees up to ``chunk`` rows (and about 2^24 data elements on a
GPU, 2^22 on a CPU) at a time, across examples and samples.

One loop serves every model: each batch of samples is one walk over the model's groups
(docs/method.md section 2.2; a flat model is one group), summing log q(z_k | x, z_<k) and each
prior's term of log p(z) group by group.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Protocol

import torch
from torch import Tensor

from ncpvae.data.arrays import DataLike, as_data
from ncpvae.distributions import sample
from ncpvae.metrics import log_mean_exp
from ncpvae.models.base import GroupStep, LatentVariableModel
from ncpvae.progress import progress_bar
from ncpvae.threads import auto_threads

__all__ = ["log_likelihood", "log_likelihoods", "bits_per_dim", "LogDensity", "Plan", "plan"]

MAX_ELEMENTS_PER_PASS = 1 << 24
# a CPU runs the elementwise work of a pass (activations, the likelihood) faster when it stays in
# cache, so its passes are smaller: about 2^22 data elements, and about 2^22 elements in the
# largest feature map where the model states it (its row_activation_elements: the hierarchical
# models); docs/benchmarks.md has the measurements behind both
CPU_ELEMENTS_PER_PASS = 1 << 22
CPU_ACTIVATION_ELEMENTS = 1 << 22


class LogDensity(Protocol):
    """Anything with ``log_prob(z)``: a ``Distribution`` or an NCP :class:`~ncpvae.prior.Prior`.
    For a hierarchical model: anything with ``group_log_prob(step, z_k, generator)``, the term
    log p(z_k | z_<k) (+ f_k - log Z_k for an NCP prior): ``model.base_prior()`` or an NCP prior
    (the model's ``group_log_density`` says which it asks for)."""

    def log_prob(self, z: Tensor) -> Tensor:
        """log p(z) for latents ``z`` (N, *latent_shape), shape (N,)."""
        ...


@dataclass(frozen=True)
class Plan:
    """How :func:`log_likelihoods` batches its work: ``examples_per_chunk`` examples at a time,
    ``samples_per_chunk`` of their importance samples per pass. Each chunk of examples draws
    from its own generator, seeded in turn from the caller's, so that a shard (a range of whole
    chunks) draws what it would have drawn in one run over all examples."""

    examples_per_chunk: int
    samples_per_chunk: int

    def shard(self, num_examples: int, index: int, count: int) -> range:
        """The examples of shard ``index`` of ``count``: whole chunks, about as many each."""
        if not 0 <= index < count:
            raise ValueError(f"shard {index} of {count} does not exist (0 <= shard < count)")
        chunks = math.ceil(num_examples / self.examples_per_chunk)
        if count > chunks:
            raise ValueError(
                f"{num_examples} test examples make {chunks} batch(es) of "
                f"{self.examples_per_chunk}: split them over at most {chunks} shard(s)"
            )
        first, last = (chunks * index) // count, (chunks * (index + 1)) // count
        step = self.examples_per_chunk
        return range(first * step, min(last * step, num_examples))


def plan(
    model: LatentVariableModel, data_shape: tuple[int, ...], num_samples: int, chunk: int = 1 << 16
) -> Plan:
    """The batching of :func:`log_likelihoods` for ``model`` on examples of ``data_shape``: at
    most ``chunk`` rows and about 2^24 (CPU: 2^22) data elements per decoder pass (a
    convolutional decoder's activations are many times the size of its output; on a CPU a
    model's largest feature map, where it states one, is kept to about 2^22 elements a pass), and
    at most the model's own ``max_rows_per_pass``."""
    on_cpu = model.device.type == "cpu"
    elements = MAX_ELEMENTS_PER_PASS
    if on_cpu:
        elements = min(elements, CPU_ELEMENTS_PER_PASS)
    chunk = max(1, min(chunk, elements // math.prod(data_shape)))
    if model.max_rows_per_pass is not None:
        chunk = min(chunk, model.max_rows_per_pass)
    if on_cpu and model.row_activation_elements is not None:
        chunk = min(chunk, max(1, CPU_ACTIVATION_ELEMENTS // model.row_activation_elements))
    examples_per_chunk = max(1, chunk // num_samples)
    return Plan(examples_per_chunk, max(1, chunk // examples_per_chunk))


@torch.no_grad()
@auto_threads()
def log_likelihoods(
    model: LatentVariableModel,
    data: DataLike,
    priors: Mapping[str, LogDensity],
    *,
    num_samples: int = 1000,
    chunk: int = 1 << 16,
    generator: torch.Generator | None = None,
    examples: range | None = None,
    progress: bool = False,
) -> dict[str, Tensor]:
    """Per-example importance-weighted estimates of log p(x) (nats), one tensor of shape (N,)
    per named prior, all from the same ``num_samples`` samples of q(z|x) per example.

    Dynamically binarized data are binarized once. Each batch of importance samples takes one
    walk over the model's groups that sums, per prior, the group terms
    log p(z_k | z_<k) [+ f_k(z_k, c_k) - log Z_k(z_<k), Z_k estimated per sample] (a flat
    model's one group: log p(z) [+ f(z) - log Z]).

    Every chunk of examples (see :func:`plan`) draws from a generator of its own, seeded in turn
    from ``generator``; ``examples`` (a range of whole chunks, :meth:`Plan.shard`) evaluates
    those examples only, with the draws a run over all of ``data`` gives them."""
    data = as_data(data)
    batching = plan(model, data.shape, num_samples, chunk)
    step = batching.examples_per_chunk
    examples = examples if examples is not None else range(len(data))
    if (
        examples.step != 1
        or examples.stop > len(data)
        or examples.start % step
        or (examples.stop % step and examples.stop != len(data))
    ):
        raise ValueError(f"examples {examples} are not whole chunks of {step}: use Plan.shard")
    if len(examples) == 0:
        return {name: torch.zeros(0) for name in priors}
    if generator is None:
        generator = torch.Generator().manual_seed(int(torch.randint(2**62, ())))
    chunks = math.ceil(len(data) / step)  # one seed each, however many are evaluated
    seeds = torch.randint(2**62, (chunks,), generator=generator, device=generator.device)
    results: dict[str, list[Tensor]] = {name: [] for name in priors}
    starts = range(examples.start, examples.stop, step)
    for start in progress_bar(starts, "log-likelihood", progress):
        draws = torch.Generator(generator.device).manual_seed(int(seeds[start // step]))
        x = data.batch(slice(start, min(start + step, examples.stop)), draws).to(model.device)
        log_w: dict[str, list[Tensor]] = {name: [] for name in priors}
        for weights in _weights(model, x, priors, num_samples, batching.samples_per_chunk, draws):
            for name in priors:
                log_w[name].append(weights[name])
        for name in priors:
            results[name].append(log_mean_exp(torch.cat(log_w[name]), dim=0))
    return {name: torch.cat(parts) for name, parts in results.items()}


Weights = Iterator[dict[str, Tensor]]


def _weights(
    model: LatentVariableModel,
    x: Tensor,
    priors: Mapping[str, LogDensity],
    num_samples: int,
    samples_per_chunk: int,
    generator: torch.Generator,
) -> Weights:
    """log p(x|z) + sum_k [prior's term for z_k - log q(z_k | x, z_<k)] for batches of samples
    z ~ q(z|x), (k, B) per prior: one encoder pass, then one walk over the groups per batch."""
    features = model.encode(x)
    for k0 in range(0, num_samples, samples_per_chunk):
        k = min(samples_per_chunk, num_samples - k0)
        yield _pass(model, x, features, k, priors, generator)


def _pass(
    model: LatentVariableModel,
    x: Tensor,
    features: list[Tensor],
    samples: int,
    priors: Mapping[str, LogDensity],
    generator: torch.Generator,
) -> dict[str, Tensor]:
    """One walk with z_k ~ q(z_k | x, z_<k) for ``samples`` rows per example (row i B + n for
    example n): log p(x | z) + sum_k [prior's group term - log q(z_k | x, z_<k)], (samples, B)."""
    rows = samples * len(x)
    log_q = torch.zeros(rows, device=x.device)
    log_p = {name: torch.zeros_like(log_q) for name in priors}

    def choose(step: GroupStep) -> Tensor:
        nonlocal log_q
        z = sample(step.posterior, (), generator)
        log_q = log_q + step.posterior.log_prob(z).reshape(rows, -1).sum(1)
        for name, prior in priors.items():
            log_p[name] = log_p[name] + model.group_log_density(prior, step, z, generator)
        return z

    log_px_z_minus_q = model.importance_walk(choose, x, features, samples) - log_q.view(samples, -1)
    return {n: log_px_z_minus_q + lp.view(samples, -1) for n, lp in log_p.items()}


@auto_threads()
def log_likelihood(
    model: LatentVariableModel,
    data: DataLike,
    prior: LogDensity | None = None,
    **kwargs,
) -> Tensor:
    """Per-example importance-weighted estimate of log p(x) (nats), shape (N,). ``prior``
    defaults to the model's base prior; pass an NCP prior (with log Z estimated) for
    log p_NCP(x). Keyword arguments as for :func:`log_likelihoods`."""
    prior = prior if prior is not None else model.base_prior()
    return log_likelihoods(model, data, {"prior": prior}, **kwargs)["prior"]


def bits_per_dim(log_likelihood_nats: float, num_dims: int) -> float:
    """Negative log-likelihood in bits per data dimension: -log p(x) / (D ln 2)."""
    return -log_likelihood_nats / (num_dims * math.log(2))
