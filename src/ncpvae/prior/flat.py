"""The Noise Contrastive Prior of a flat latent (Aneja et al., NeurIPS 2021, Sec. 3;
docs/method.md section 2.1):

    p_NCP(z) = p(z) r(z) / Z,    r(z) = D(z) / (1 - D(z)) = exp f(z),    Z = E_{p(z)}[r(z)]

where f is the logit of a binary classifier D trained by noise-contrastive estimation to tell
latents of the aggregate posterior q(z) (label 1) from base-prior latents (label 0). At the
optimum r = q / p and Z = 1. It is the :class:`~ncpvae.prior.Prior` of one group with no
context; it needs no VAE: any base ``Distribution`` and any source of "real" latents will do.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torch.distributions import Distribution, Independent, Normal

from ncpvae.data.arrays import TensorData
from ncpvae.distributions import sample, tempered
from ncpvae.models.base import LatentVariableModel
from ncpvae.models.hierarchy import ChooseLatent, GroupStep
from ncpvae.prior.base import NO_SHARDING, Noise, Prior, Proposals
from ncpvae.prior.fitted_base import FittedBase
from ncpvae.prior.nce import bridge_nce_loss, check_waymarks, waymark_batches

__all__ = ["NCPPrior"]


class NCPPrior(Prior):
    """A base prior reweighted by a classifier: log p_NCP(z) = log p(z) + f(z) - log Z.

    Args:
        base: the base prior p(z), any ``torch.distributions.Distribution`` with ``sample`` and
            ``log_prob`` (``log_prob`` must sum over the latent's event dimensions; it is not a
            module: build it on the device the prior will run on), or a
            :class:`~ncpvae.prior.FittedBase` g(z), fitted to the aggregate posterior by
            :meth:`fit_base` (which :func:`~ncpvae.training.train_prior` calls first) and saved
            with the prior (docs/method.md section 2.6).
        classifier: a module mapping a batch of latents (N, *event_shape) to logits f(z) (N,).
        model: the frozen VAE whose aggregate posterior the prior fits; stage 2 then takes data
            batches and draws z ~ q(z|x). Without one it takes batches of latents.
        latent_noise: s > 0 adds N(0, s^2 I) noise to the real latents of stage 2, so that the
            prior fits the aggregate posterior smoothed by that Gaussian (docs/method.md section
            2.1): a deterministic encoder's codes are points, which a classifier memorises.
        waymarks: telescoping NCP (docs/method.md section 2.5): the mixing weights
            0 < a_1 < ... < a_{K-1} < 1 of the waymark distributions z_k = m + sqrt(1 - a_k^2)
            (z_p - m) + a_k (z_q - m) around the base's mean m (0 for N(0, I)), between the
            base prior (a_0 = 0) and the aggregate posterior (a_K = 1). The classifier then
            returns K logits per row, one ratio r_k = p_k / p_{k-1} per neighbouring pair, and
            log r = sum_k log r_k.
            Empty (the default): the paper's one classifier, which returns one logit per row.

    Its sampler state is z itself (:meth:`to_latent` is the identity).
    """

    fitted_base: FittedBase | None

    def __init__(
        self,
        base: Distribution | FittedBase,
        classifier: nn.Module,
        model: LatentVariableModel | None = None,
        latent_noise: float = 0.0,
        waymarks: Sequence[float] = (),
    ) -> None:
        super().__init__([classifier], model)
        if not latent_noise >= 0:
            raise ValueError(f"latent_noise must be >= 0, got {latent_noise}")
        self.fitted_base = base if isinstance(base, FittedBase) else None
        self._given_base = None if isinstance(base, FittedBase) else base
        self.latent_noise = latent_noise
        self.waymarks = check_waymarks(waymarks)
        self.trained.fill_(True)  # the one classifier is the prior's, fitted or given

    @property
    def num_bridges(self) -> int:
        """K: the ratios whose product is r (1 for the paper's NCP)."""
        return len(self.waymarks) + 1

    @property
    def base(self) -> Distribution:
        """The base prior p(z): the one given, or the fitted base g(z) as a distribution."""
        if self.fitted_base is not None:
            return self.fitted_base.distribution()
        assert self._given_base is not None
        return self._given_base

    @base.setter
    def base(self, base: Distribution) -> None:
        if self.fitted_base is not None:
            raise AttributeError("a fitted base is part of the prior's weights: refit it instead")
        self._given_base = base

    @property
    def base_description(self) -> str:  # type: ignore[override]
        """What the base prior is, in words."""
        if self.fitted_base is not None:
            return self.fitted_base.describe()
        return Prior.base_description

    @property
    def classifier(self) -> nn.Module:
        """f, the one classifier."""
        return self.classifiers[0]

    # ----------------------------------------------------------------------------- primitives

    def _classify(self, step: GroupStep, z: Tensor) -> Tensor:
        """log r(z): the classifier's logit, or the sum of its K bridges' logits."""
        return self.classifier(z).view(len(z), -1).sum(-1)

    def walk(
        self,
        choose: ChooseLatent,
        num: int,
        *,
        temperature: float = 1.0,
        data: Tensor | None = None,
    ) -> Tensor:
        """One step: the tempered base prior, no context, no posterior."""
        return choose(GroupStep(0, None, tempered(self.base, temperature)))

    def proposals(
        self,
        step: GroupStep,
        rows: int,
        num: int,
        generator: torch.Generator | None,
        budget: int,
    ) -> Proposals:
        """Draws of the base prior, (rows, m, ...), ``budget`` // ``rows`` per row and chunk."""
        per_chunk = max(1, budget // rows)
        for start in range(0, num, per_chunk):
            m = min(per_chunk, num - start)
            z = sample(step.prior, (rows, m), generator)
            yield z, self.group_log_ratio(step, z.flatten(0, 1)).view(rows, m)

    def group_generator(
        self, generator: torch.Generator | None, device: torch.device
    ) -> torch.Generator | None:
        """The caller's own: without a context there is no later stream to protect."""
        return generator

    def group_log_prob(
        self, step: GroupStep, z: Tensor, generator: torch.Generator | None = None
    ) -> Tensor:
        """log p(z) + f(z) - log Z with the stored estimate of log Z."""
        if not torch.isfinite(self.log_normalizer):
            raise RuntimeError("log Z is not estimated yet: call estimate_log_normalizer() first")
        return step.prior.log_prob(z) + self.group_log_ratio(step, z) - self.log_normalizer

    def num_contexts(self, contexts: Tensor | None) -> int:
        """1: Z does not depend on a context."""
        return 1

    def split(self, z: Tensor) -> list[Tensor]:
        """[z]: one group."""
        return [z]

    # ----------------------------------------------------------------------------- state space

    def state_prior(self, temperature: float = 1.0) -> Distribution:
        """The base prior at ``temperature``: the state is z."""
        return tempered(self.base, temperature)

    def to_latent(self, state: Tensor) -> Tensor:
        """The identity."""
        return state

    def log_prob_unnormalized(self, state: Tensor, temperature: float = 1.0) -> Tensor:
        """log p_t(z) + f(z): the log density up to log Z (the negative energy)."""
        return tempered(self.base, temperature).log_prob(state) + self.log_ratio(state)

    # ----------------------------------------------------------------------------- fitting

    def nce_loss(
        self,
        batch: Tensor,
        groups: Sequence[int] | None = None,
        noise: Noise = NO_SHARDING,
        *,
        encoded: bool = False,
    ) -> tuple[Tensor, dict[str, float]]:
        """BCE(f(z_q), 1) + BCE(f(z_p), 0) on a balanced batch: z_q ~ q(z|x) for a data batch
        (for the model's ``encoder_output`` of one when ``encoded``; latents as given without a
        model), plus N(0, s^2 I) noise with ``latent_noise`` s > 0; z_p ~ p(z) drawn fresh, as
        many. With waymarks, the telescoping loss over the waymark batches between them
        (:func:`~ncpvae.prior.nce.bridge_nce_loss`)."""
        self.check_groups(groups)
        real = self._real_latents(batch, noise, encoded)
        fake = noise(self.base).sample((real.shape[0],))
        real = real.to(fake.device)
        centre = self._mixing_centre() if self.waymarks else 0.0
        ways = waymark_batches(real, fake, centre, self.waymarks)
        logits = self.classifier(torch.cat(ways)).view(len(ways), len(real), -1)
        return bridge_nce_loss(logits)

    def _mixing_centre(self) -> Tensor | float:
        """m, the base's mean that the waymarks mix around (0 for a base without one)."""
        try:
            return self.base.mean
        except NotImplementedError:
            return 0.0

    def _real_latents(self, batch: Tensor, noise: Noise, encoded: bool) -> Tensor:
        """Latents of the (smoothed) aggregate posterior for one batch: z ~ q(z|x) for data (for
        the model's ``encoder_output`` of it when ``encoded``), the batch itself without a
        model, plus N(0, s^2 I) noise with ``latent_noise`` s > 0."""
        if self.model is None:
            real = batch
        else:
            with torch.no_grad():
                x = batch.to(self.model.device)
                output = x if encoded else self.model.encoder_output(x)
                real = noise(self.model.posterior_from(output)).sample()
        if self.latent_noise > 0:
            jitter = Independent(Normal(torch.zeros_like(real), self.latent_noise), real.ndim - 1)
            real = real + noise(jitter).sample()
        return real

    @torch.no_grad()
    def fit_base(
        self, data: TensorData, *, encoded: bool = False, seed: int = 0, batch_size: int = 1024
    ) -> None:
        """Fit the fitted base g (if the prior has one not fitted yet) to one latent of the
        aggregate posterior per example of ``data``, drawn as stage 2 draws them (see
        :meth:`nce_loss`) from ``seed``, leaving the caller's random streams as they were;
        else nothing."""
        if self.fitted_base is None or bool(self.fitted_base.fitted):
            return
        device = self.fitted_base.means.device
        with torch.random.fork_rng(devices=[device.index or 0] if device.type == "cuda" else []):
            torch.manual_seed(seed)
            binarization = torch.Generator().manual_seed(seed)
            latents = [
                self._real_latents(
                    data.batch(slice(i, i + batch_size), binarization), NO_SHARDING, encoded
                )
                for i in range(0, len(data), batch_size)
            ]
        self.fitted_base.fit(torch.cat(latents).flatten(1), seed)
