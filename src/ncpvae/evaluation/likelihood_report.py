"""The test log-likelihood figures of an evaluation, from per-example values (docs/method.md
section 2.4): means with standard errors, the paired NCP gain, bits per dimension; and the
per-example values themselves, which the shards of a sharded evaluation join."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch

from ncpvae.evaluation.likelihood import bits_per_dim

__all__ = ["LikelihoodReport", "PerExample", "join_shards"]


def _stderr_of_mean(values: torch.Tensor) -> float:
    return float(values.std() / math.sqrt(len(values))) if len(values) > 1 else 0.0


@dataclass
class LikelihoodReport:
    """Test log-likelihood (nats per example, importance-weighted) under the base prior and the
    NCP prior from one set of ``importance_samples`` samples per example, with the standard
    errors of the means, the paired gain, and bits per dimension for discrete pixels. The NCP
    values include a flat prior's log Z error; ``ncp_normalizer_bias_estimate`` is their
    expected upward bias from the log Z estimates (Jensen)."""

    vae_log_likelihood: float
    vae_log_likelihood_stderr: float
    ncp_log_likelihood: float
    ncp_log_likelihood_stderr: float
    ncp_gain: float
    ncp_gain_stderr: float
    importance_samples: int
    ncp_normalizer_bias_estimate: float
    group_normalizer_samples: int | None = None  # draws behind each per-sample Z_k
    vae_bits_per_dim: float | None = None
    ncp_bits_per_dim: float | None = None

    @classmethod
    def of(cls, values: PerExample) -> LikelihoodReport:
        """The means, standard errors and paired gain of per-example values."""
        vae, ncp = torch.tensor(values.vae), torch.tensor(values.ncp)
        gain = ncp - vae  # paired: the same importance samples for both priors
        shared = values.shared_log_normalizer_stderr  # shifts every example alike
        bits = values.discrete_dims is not None
        return cls(
            vae_log_likelihood=float(vae.mean()),
            vae_log_likelihood_stderr=_stderr_of_mean(vae),
            ncp_log_likelihood=float(ncp.mean()),
            ncp_log_likelihood_stderr=math.hypot(_stderr_of_mean(ncp), shared),
            ncp_gain=float(gain.mean()),
            ncp_gain_stderr=math.hypot(_stderr_of_mean(gain), shared),
            importance_samples=values.importance_samples,
            group_normalizer_samples=values.group_normalizer_samples,
            ncp_normalizer_bias_estimate=values.normalizer_bias_estimate,
            vae_bits_per_dim=bits_per_dim(float(vae.mean()), values.discrete_dims)
            if bits
            else None,
            ncp_bits_per_dim=bits_per_dim(float(ncp.mean()), values.discrete_dims)
            if bits
            else None,
        )

    def to_dict(self) -> dict[str, Any]:
        """The report's entries (bits per dimension only where defined)."""
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None}

    @classmethod
    def from_dict(cls, entries: Mapping[str, Any]) -> LikelihoodReport:
        """The figures among ``entries`` (a ``report.json``'s, which holds more)."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in entries.items() if k in names})


@dataclass
class PerExample:
    """The per-example log-likelihoods of test examples ``first`` .. ``first + len - 1`` under
    both priors and what their summary needs: the shards of a sharded evaluation are joined by
    concatenating these (:func:`join_shards`)."""

    first: int
    vae: list[float]
    ncp: list[float]
    importance_samples: int
    shared_log_normalizer_stderr: float
    normalizer_bias_estimate: float
    group_normalizer_samples: int | None = None
    discrete_dims: int | None = None  # data dimensions, where bits per dimension are defined
    examples_per_chunk: int = 0  # the likelihood's batching: shards must share it (CPU vs GPU)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (``log_likelihoods.json``)."""
        return dataclasses.asdict(self)


def join_shards(parts: list[PerExample]) -> PerExample:
    """The per-example values of contiguous shards (in any order) as one set; refuses gaps,
    overlaps and parts evaluated with different settings."""
    parts = sorted(parts, key=lambda part: part.first)
    expected = 0
    for part in parts:
        if part.first != expected:
            raise ValueError(
                f"the shards do not join: one starts at example {part.first}, expected {expected}"
            )
        expected += len(part.vae)
    values = ("first", "vae", "ncp")
    settings = [{k: v for k, v in part.to_dict().items() if k not in values} for part in parts]
    if any(other != settings[0] for other in settings):
        raise ValueError("the shards were evaluated with different settings or priors")
    return dataclasses.replace(
        parts[0],
        vae=[v for part in parts for v in part.vae],
        ncp=[v for part in parts for v in part.ncp],
    )
