"""Whether a fitted density ratio can be trusted, and what to do where it cannot
(docs/method.md section 2.7). Three signs, each with the remedies that address it:

* log Z far from 0 beyond its standard error: at the NCE optimum Z = E_p[r] = 1, so a ratio
  whose Z is far from 1 is wrong somewhere, typically deep inside q(z), where the base prior
  rarely reaches (the density chasm);
* a classifier that tells q(z) from the base almost always: its ratio is then poorly determined
  (Rhodes et al. 2020), however low its loss;
* SIR's effective sample size collapsed: each SIR draw is nearly the best of its proposals, not
  a draw of the NCP prior.

The first two call for a smaller gap to bridge (waymarks, a fitted base); the third for a
sampler that moves into q(z) (``--sampler auto`` or ``hmc``).
"""

from __future__ import annotations

from collections.abc import Mapping

from ncpvae.config.classifier import ClassifierConfig
from ncpvae.evaluation.classifier import ClassifierFit
from ncpvae.evaluation.figures import SIRFigures
from ncpvae.prior import LogNormalizer, Prior

__all__ = ["LOG_Z_TOLERANCE", "CHASM_ACCURACY", "ratio_warnings", "fit_accuracy"]

LOG_Z_TOLERANCE = 0.1
"""|log Z| up to this is taken as 0, whatever its standard error."""

CHASM_ACCURACY = 0.98
"""A classifier accuracy from which the two distributions are told apart almost always."""


def fit_accuracy(fit: ClassifierFit | None, metrics: Mapping[str, float]) -> dict[int, float]:
    """Each trained group's classifier accuracy: on validation data where ``fit`` has them,
    else the last logged training batch's (``metrics``' ``acc<k>``)."""
    source = (fit or {}).get("validation") or metrics
    return {int(k[3:]): v for k, v in source.items() if k.startswith("acc")}


def _ratio_remedies(prior: Prior) -> str:
    """What narrows the gap the classifier bridges, for this prior, not counting what it has."""
    config = prior.classifier_config or ClassifierConfig()
    hierarchical = prior.per_sample_normalizers  # its groups have contexts
    remedies = []
    fitted_by_model = getattr(prior.model, "base_prior_fitted", False)  # an RAE's GMM
    if not config.fitted_base and not hierarchical and not fitted_by_model:
        remedies.append("a fitted base (--classifier.fitted_base 1, or 10 for a mixture)")
    elif config.fitted_base == 1:  # one Gaussian; a mixture bridged more on CelebA-64 latents
        remedies.append("a mixture base (--classifier.fitted_base 10)")
    if not config.waymarks:
        remedies.append("telescoping (--classifier.waymarks 3)")
    if not remedies:
        remedies.append("more stage-2 steps (--train.steps) or more waymarks")
    if hierarchical:
        remedies.append("a VAE trained for longer (a hierarchical prior's base is the VAE's)")
    return "try " + ", or ".join(remedies) + " (docs/method.md sections 2.5 to 2.7)"


_SAMPLER_REMEDY = "sample with --sampler auto (HMC where SIR collapses) or --sampler hmc"
_UNTRUSTED_SAMPLER = (
    "its ratio is in doubt as well (above), and HMC (--sampler auto, hmc) would follow it where "
    "the base prior never goes, so mend the ratio before the sampler (docs/method.md section 2.7)"
)


def ratio_warnings(
    prior: Prior,
    *,
    log_normalizer: LogNormalizer | None = None,
    accuracy: Mapping[int, float] | None = None,
    sir: SIRFigures | None = None,
    sir_threshold: float | None = None,
) -> list[str]:
    """One line per sign that ``prior``'s ratio (or SIR on it) is not to be trusted, each naming
    its remedy: a group's log Z beyond :data:`LOG_Z_TOLERANCE` and three standard errors, a
    classifier ``accuracy`` (group -> value) of at least :data:`CHASM_ACCURACY`, a group's mean
    SIR ESS below ``sir_threshold`` (naming HMC only where that group's ratio is not in doubt
    too). Empty where nothing is wrong (or nothing was measured)."""
    warnings = []
    doubted = set()  # groups whose ratio itself is flagged
    name = (lambda k: "") if prior.num_groups == 1 else (lambda k: f" of group {k}")
    for group in log_normalizer.groups if log_normalizer is not None else []:
        if abs(group.mean) > max(LOG_Z_TOLERANCE, 3 * group.stderr):
            doubted.add(group.group)
            warnings.append(
                f"log Z{name(group.group)} is {group.mean:+.2f} +- {group.stderr:.2f}, far from "
                "0 (the NCE optimum): the ratio is wrong where the base prior rarely reaches "
                f"q(z); {_ratio_remedies(prior)}"
            )
    for k, value in sorted((accuracy or {}).items()):
        if value >= CHASM_ACCURACY:
            doubted.add(k)
            warnings.append(
                f"the classifier{name(k)} tells q(z) from the base prior with accuracy "
                f"{value:.3f}: a gap this wide leaves the ratio poorly determined (the density "
                f"chasm); {_ratio_remedies(prior)}"
            )
    if sir is not None and sir_threshold is not None:
        for k, ess in enumerate(sir.group_ess):
            if ess < sir_threshold:
                warnings.append(
                    f"SIR's mean ESS{name(k)} is {ess:.1f} of {sir.proposals} proposals: each "
                    "draw is nearly the best proposal, not a draw of the NCP prior; "
                    + (_UNTRUSTED_SAMPLER if k in doubted else _SAMPLER_REMEDY)
                )
    return warnings
