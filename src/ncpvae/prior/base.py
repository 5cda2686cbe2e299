"""The one NCP prior interface (docs/method.md sections 2.1 and 2.2).

A prior has K latent groups, each with a classifier f_k: a flat prior is one group with no
context, a hierarchical one has a context c_k = c(z_<k) per group. Everything that works group by
group is written once here, on four primitives that each kind implements:

* :meth:`Prior.walk` runs a rule ``choose(step)`` over the groups in order, each
  :class:`~ncpvae.models.hierarchy.GroupStep` holding p_t(z_k | z_<k) (and q(z_k | x, z_<k) when
  walking with data); it returns the chosen latents joined, (N, D);
* :meth:`Prior.proposals` streams draws z_k ~ p_t(z_k | z_<k) with their log-weights f_k in
  chunks that bound memory;
* :meth:`Prior.group_generator`, the random stream a group's proposals come from;
* :meth:`Prior.group_log_prob`, the group's term of log p_NCP(z).

On these: log p_NCP(z), the log-normaliser estimate with its standard error (one
:class:`LogNormalizer`, per-group values inside), and (in :mod:`ncpvae.samplers`) group-wise SIR.
The MCMC samplers work in the prior's *state space*: :meth:`Prior.state_prior` is the
distribution of states under the base prior, :meth:`Prior.to_latent` maps a state to z and
:meth:`Prior.log_prob_unnormalized` is the negative energy of a state.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from typing import Any, Protocol

import torch
from torch import Tensor, nn
from torch.distributions import Distribution

from ncpvae.models.hierarchy import ChooseLatent, GroupStep
from ncpvae.prior.normalizer import LogNormalizer, log_normalizer_estimate
from ncpvae.threads import auto_threads

__all__ = ["Prior", "Noise", "NO_SHARDING"]

Proposals = Iterator[tuple[Tensor, Tensor]]


class Noise(Protocol):
    """Where a draw's random numbers come from: a function from a distribution to one whose
    ``sample``/``rsample`` give this process's rows (training under torchrun shards them)."""

    def __call__(self, dist: Distribution) -> Distribution: ...


def NO_SHARDING(dist: Distribution) -> Distribution:  # noqa: N802 (a constant function)
    """One process: draws as they are."""
    return dist


class SamplesPriors(Protocol):
    """A sampler (:class:`ncpvae.samplers.Sampler`), as :meth:`Prior.sample` uses it."""

    def sample(
        self, prior: Prior, num_samples: int, *, temperature: float, generator: Any
    ) -> Any: ...


class Prior(nn.Module, ABC):
    """p_NCP(z) = prod_k p(z_k | z_<k) r_k(z_k, c_k) / Z_k(z_<k), r_k = exp f_k.

    Attributes:
        classifiers: one module per group, f_k.
        trained: (K,) bool buffer; a group whose classifier is not trained keeps its base
            conditional (r_k = 1).
        model: the frozen VAE the prior belongs to (None for a flat prior fitted on latents). It
            is not a submodule: its weights stay in its own run folder.
        log_normalizer, log_normalizer_stderr: the last :meth:`estimate_log_normalizer` (the
            sum over groups of their mean log Z_k). A flat prior's :meth:`log_prob` uses it; for
            a hierarchical prior it is a diagnostic (near 0 at the optimum), and its likelihood
            estimates every Z_k(z_<k) per sample instead.
        normalizer_samples: the draws behind each per-sample estimate of Z_k(z_<k) in the
            likelihood (where :attr:`per_sample_normalizers`; unused otherwise).
    """

    classifiers: nn.ModuleList
    classifier_config: Any = None  # the ClassifierConfig of build_prior, which save_prior records
    base_description: str = "the VAE's base prior"  # in words, for reports
    trained: Tensor
    log_normalizer: Tensor
    log_normalizer_stderr: Tensor

    def __init__(self, classifiers: Sequence[nn.Module], model: nn.Module | None) -> None:
        super().__init__()
        self.__dict__["model"] = model  # not registered: the prior's weights are its own
        self.classifiers = nn.ModuleList(classifiers)
        self.register_buffer("trained", torch.zeros(len(classifiers), dtype=torch.bool))
        self.register_buffer("log_normalizer", torch.tensor(math.nan))
        self.register_buffer("log_normalizer_stderr", torch.tensor(math.nan))
        self.normalizer_samples = 100
        self.eval()  # a prior is used in eval mode; training switches it to train mode

    # ---------------------------------------------------------------------------- groups

    @property
    def num_groups(self) -> int:
        """K, the number of latent groups (1 for a flat prior)."""
        return len(self.classifiers)

    @property
    def trained_groups(self) -> list[int]:
        """The groups whose classifier is trained."""
        return [k for k in range(self.num_groups) if bool(self.trained[k])]

    def check_groups(self, groups: Sequence[int] | None) -> list[int]:
        """``groups`` sorted and deduplicated (all groups if empty); ValueError if one does not
        exist."""
        groups = sorted(set(groups or range(self.num_groups)))
        bad = [k for k in groups if not 0 <= k < self.num_groups]
        if bad:
            raise ValueError(
                f"groups {bad} do not exist: this prior has groups 0..{self.num_groups - 1}"
            )
        return groups

    def group_log_ratio(self, step: GroupStep, z: Tensor) -> Tensor:
        """f_k(z_k, c_k) for z_k (N, ...) at ``step``: (N,); 0 where the group is not trained."""
        if not bool(self.trained[step.index]):
            return torch.zeros(len(z), device=z.device)
        return self._classify(step, z)

    def fit_base(self, data: Any, *, encoded: bool = False, seed: int = 0) -> None:
        """Fit the base to the aggregate posterior of stage 2's ``data``; nothing by default."""

    # ---------------------------------------------------------------------------- primitives

    @abstractmethod
    def _classify(self, step: GroupStep, z: Tensor) -> Tensor:
        """The classifier's logits f_k for z_k (N, ...) at ``step``."""

    @abstractmethod
    def walk(
        self,
        choose: ChooseLatent,
        num: int,
        *,
        temperature: float = 1.0,
        data: Tensor | None = None,
    ) -> Tensor:
        """Run ``choose`` over the groups in order for ``num`` rows; returns the latents (N, D).
        A prior whose groups have contexts (hierarchical) walks the posterior contexts of
        ``data`` when given (``num`` is then ignored, and each step carries q(z_k | x, z_<k));
        a flat prior has no context and ignores ``data``: its one step has no posterior."""

    @abstractmethod
    def proposals(
        self,
        step: GroupStep,
        rows: int,
        num: int,
        generator: torch.Generator | None,
        budget: int,
    ) -> Proposals:
        """``num`` draws z_k ~ p_t(z_k | z_<k) for each of the ``rows`` rows of ``step``, with
        their log-weights f_k: chunks of shape (rows, m, ...) and (rows, m). A flat prior draws
        at most ``budget`` proposals per chunk; a hierarchical prior, whose groups can be large
        feature maps, bounds each chunk by its latent elements (2^24) instead and ignores
        ``budget``."""

    @abstractmethod
    def group_generator(
        self, generator: torch.Generator | None, device: torch.device
    ) -> torch.Generator | None:
        """The generator a group's proposals are drawn from, given the caller's."""

    @abstractmethod
    def group_log_prob(
        self, step: GroupStep, z: Tensor, generator: torch.Generator | None = None
    ) -> Tensor:
        """The group's term of log p_NCP: log p(z_k | z_<k) + f_k(z_k, c_k) - log Z_k, (N,)."""

    @abstractmethod
    def num_contexts(self, contexts: Tensor | None) -> int:
        """How many contexts a log-normaliser estimate averages over (1 without a context)."""

    # ---------------------------------------------------------------------------- state space

    @abstractmethod
    def state_prior(self, temperature: float = 1.0) -> Distribution:
        """The distribution of sampler states under the base prior at ``temperature``."""

    @abstractmethod
    def to_latent(self, state: Tensor) -> Tensor:
        """The latents z (N, D) of sampler states (N, ...)."""

    @abstractmethod
    def log_prob_unnormalized(self, state: Tensor, temperature: float = 1.0) -> Tensor:
        """The negative energy of sampler states: log p_t + sum_k f_k, up to log Z."""

    # ---------------------------------------------------------------------------- fitting

    @abstractmethod
    def nce_loss(
        self,
        batch: Tensor,
        groups: Sequence[int] | None = None,
        noise: Noise = NO_SHARDING,
        *,
        encoded: bool = False,
    ) -> tuple[Tensor, dict[str, float]]:
        """The NCE loss summed over ``groups`` (default: all) for one batch (data for a prior
        with a model, latents for one without) and each group's metrics (``nce<k>``, ``acc<k>``,
        ``logz<k>``; see :func:`ncpvae.prior.nce_loss_from_logits`):
        BCE(f_k(real), 1) + BCE(f_k(fake), 0) (docs/method.md section 2.1). ``noise`` shards the
        draws under torchrun. With ``encoded`` the batch holds the frozen model's
        ``encoder_output`` of the data instead (see :func:`ncpvae.training.encode_once`)."""

    # ---------------------------------------------------------------------------- densities

    def log_prob(self, z: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """log p_NCP(z) for latents (N, D), the sum of the groups' terms (a flat prior uses its
        stored log Z; a hierarchical one estimates each Z_k(z_<k), see :meth:`group_log_prob`)."""
        groups = self.split(z)
        total = torch.zeros(len(z), device=z.device)

        def choose(step: GroupStep) -> Tensor:
            nonlocal total
            total = total + self.group_log_prob(step, groups[step.index], generator)
            return groups[step.index]

        self.walk(choose, len(z))
        return total

    def log_ratio(self, z: Tensor) -> Tensor:
        """sum_k f_k(z_k, c_k) = log prod_k r_k for latents z (N, D)."""
        groups = self.split(z)
        total = torch.zeros(len(z), device=z.device)

        def choose(step: GroupStep) -> Tensor:
            nonlocal total
            total = total + self.group_log_ratio(step, groups[step.index])
            return groups[step.index]

        self.walk(choose, len(z))
        return total

    @abstractmethod
    def split(self, z: Tensor) -> list[Tensor]:
        """Latents (N, D) as a list of the groups' latents."""

    # ---------------------------------------------------------------------------- log Z

    @auto_threads()
    @torch.no_grad()
    def estimate_log_normalizer(
        self,
        num_samples: int = 1_000_000,
        *,
        contexts: Tensor | None = None,
        generator: torch.Generator | None = None,
        progress: bool = False,
    ) -> LogNormalizer:
        """Estimate log Z of every trained group from ``num_samples`` base-prior draws, store the
        total (used by :meth:`log_prob` of a flat prior) and return it with its standard error
        (delta method: std(w) / (sqrt(N) mean(w)), w = exp f) and per-group values.

        A hierarchical prior's Z_k depends on z_<k: ``contexts`` is a batch of data whose
        posterior samples give the contexts, ``num_samples / len(contexts)`` draws each (at the
        optimum Z_k = 1 there). Jensen: E[log Z_hat] <= log Z, so use enough samples that the
        standard error is far below the digits you report."""
        estimate = log_normalizer_estimate(self, num_samples, contexts, generator, progress)
        self.log_normalizer.fill_(estimate.value)
        self.log_normalizer_stderr.fill_(estimate.stderr)
        return estimate

    per_sample_normalizers: bool = False
    """True where each Z_k depends on a context, so the likelihood estimates it per importance
    sample (``normalizer_samples`` draws); False where one stored log Z serves all."""

    def shared_log_normalizer_stderr(self) -> float:
        """The standard error of the log Z all examples' log-likelihoods share: the stored
        estimate's, or 0 where each sample estimates its own Z_k (its error is in each value)."""
        return 0.0 if self.per_sample_normalizers else float(self.log_normalizer_stderr)

    def likelihood_normalizer_draws(self, estimate: LogNormalizer) -> int:
        """The draws behind each log Z the likelihood uses (per sample, or the ``estimate``'s)."""
        return self.normalizer_samples if self.per_sample_normalizers else estimate.num_samples

    def normalizer_bias(self, estimate: LogNormalizer) -> float:
        """The upward bias of log p_NCP(x) from Jensen's inequality in the log Z estimates it
        uses: about sum_k Var(w_k) / (2 M E[w_k]^2) (docs/method.md section 2.1)."""
        draws = self.likelihood_normalizer_draws(estimate)
        return sum(g.relative_variance for g in estimate.groups) / (2 * draws)

    # ---------------------------------------------------------------------------- sampling

    @auto_threads()
    def sample(
        self,
        num_samples: int,
        sampler: SamplesPriors,
        *,
        temperature: float = 1.0,
        generator: torch.Generator | None = None,
    ) -> Any:
        """``sampler.sample(self, num_samples, ...)``: a :class:`~ncpvae.samplers.SampleOutput`."""
        return sampler.sample(self, num_samples, temperature=temperature, generator=generator)
