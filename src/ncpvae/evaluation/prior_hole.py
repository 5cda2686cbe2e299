"""The prior hole, measured: MMD^2 between aggregate-posterior latents and prior samples
(docs/method.md section 2.4), over all latents and, for a prior of several groups, per group."""

from __future__ import annotations

from collections.abc import Mapping

from torch import Tensor

from ncpvae.metrics import median_distance, mmd2
from ncpvae.prior import Prior

__all__ = ["prior_hole"]


def prior_hole(
    prior: Prior, posterior: Tensor, samples: Mapping[str, Tensor]
) -> dict[str, float | list[float]]:
    """Unbiased MMD^2 between aggregate-posterior latents ``posterior`` (N, D) and each named
    set of prior samples (M, D): ``mmd2_posterior_<name>``, and with several latent groups also
    ``mmd2_posterior_<name>_groups`` (each group's marginal). All sets share one RBF bandwidth
    per comparison (the median distance among the posterior latents), so their values are on
    one scale."""
    sides = [(None, posterior, samples)]
    if prior.num_groups > 1:
        split = {name: prior.split(z) for name, z in samples.items()}
        sides += [
            (k, q_k, {name: parts[k] for name, parts in split.items()})
            for k, q_k in enumerate(prior.split(posterior))
        ]
    report: dict[str, float | list[float]] = {}
    for group, q, named in sides:
        bandwidth = median_distance(q)
        for name, z in named.items():
            value = float(mmd2(q, z, bandwidth))
            if group is None:
                report[f"mmd2_posterior_{name}"] = value
            else:
                report.setdefault(f"mmd2_posterior_{name}_groups", []).append(value)
    return report
