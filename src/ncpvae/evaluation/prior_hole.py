"""The prior hole, measured: MMD^2 between aggregate-posterior latents and prior samples
(docs/method.md section 2.4), over all latents and, for a prior of several groups, per group."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from torch import Tensor

from ncpvae.metrics import median_distance, mmd2
from ncpvae.prior import Prior

__all__ = ["prior_hole", "BANDWIDTH_SCALES"]

BANDWIDTH_SCALES = (1.0, 0.25, 0.0625)  # times the median distance: the cloud, then finer


def prior_hole(
    prior: Prior,
    posterior: Tensor,
    samples: Mapping[str, Tensor],
    scales: Sequence[float] = BANDWIDTH_SCALES,
) -> dict[str, float | list[float]]:
    """Unbiased MMD^2 between aggregate-posterior latents ``posterior`` (N, D) and each named
    set of prior samples (M, D): ``mmd2_posterior_<name>``, and with several latent groups also
    ``mmd2_posterior_<name>_groups`` (each group's marginal). All sets share one RBF bandwidth
    per comparison (the median distance h among the posterior latents), so their values are on
    one scale. The median heuristic sees differences at the scale of the whole latent cloud;
    a hole between islands of q(z) is smaller: ``mmd2_posterior_<name>_scales`` repeats the
    comparison over all latents with the bandwidths h * ``scales`` (``mmd_bandwidth_scales``)."""
    sides = [(None, posterior, samples)]
    if prior.num_groups > 1:
        split = {name: prior.split(z) for name, z in samples.items()}
        sides += [
            (k, q_k, {name: parts[k] for name, parts in split.items()})
            for k, q_k in enumerate(prior.split(posterior))
        ]
    report: dict[str, float | list[float]] = {"mmd_bandwidth_scales": list(scales)}
    for group, q, named in sides:
        bandwidth = median_distance(q)
        for name, z in named.items():
            value = float(mmd2(q, z, bandwidth))
            if group is None:
                report[f"mmd2_posterior_{name}"] = value
                report[f"mmd2_posterior_{name}_scales"] = [
                    float(mmd2(q, z, bandwidth * scale)) for scale in scales
                ]
            else:
                report.setdefault(f"mmd2_posterior_{name}_groups", []).append(value)
    return report
