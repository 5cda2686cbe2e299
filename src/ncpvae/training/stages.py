"""The two training stages on a :class:`~ncpvae.models.LatentVariableModel`.

Stage 1 trains the VAE by the ELBO with a linear KL warm-up. Stage 2 freezes it and fits an NCP
prior (any :class:`~ncpvae.prior.Prior`, flat or hierarchical) by its NCE loss, with fresh data
and fresh reparameterised noise every step (docs/method.md section 2.1). Given held-out data,
both stages measure them every ``validate_every`` steps, and stage 2 keeps the classifiers of the
step with the lowest validation NCE loss.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from ncpvae.config.train import TrainConfig
from ncpvae.data.arrays import DataLike, as_data
from ncpvae.models.base import LatentVariableModel
from ncpvae.prior import Prior
from ncpvae.threads import auto_threads
from ncpvae.training.batches import Minibatches
from ncpvae.training.checkpoints import Checkpointing, with_state
from ncpvae.training.encodings import encode_once
from ncpvae.training.history import TrainHistory
from ncpvae.training.loop import train
from ncpvae.training.sharding import shard_noise, sharded_model
from ncpvae.training.validation import BestWeights, measure, measure_nce

__all__ = ["train_vae", "train_prior", "posterior_latents", "freeze", "kl_warmup"]


def kl_warmup(step: int, warmup_steps: int) -> float:
    """KL weight rising linearly from 0 to 1 over ``warmup_steps`` (constant 1 if 0)."""
    return 1.0 if warmup_steps <= 0 else min(1.0, step / warmup_steps)


@auto_threads()
def train_vae(
    model: LatentVariableModel,
    data: DataLike,
    config: TrainConfig,
    *,
    kl_warmup_fraction: float = 0.5,
    progress: bool = True,
    generator: torch.Generator | None = None,
    checkpointing: Checkpointing | None = None,
    on_log: Callable[[int, dict[str, float]], None] | None = None,
    validation: DataLike | None = None,
) -> TrainHistory:
    """Stage 1: minimise the model's training loss (for a VAE, the negative ELBO with the KL
    weight warmed up over the first ``kl_warmup_fraction`` of the steps; this avoids posterior
    collapse on 25 Gaussians). Calls the model's :meth:`init_from_data` first and
    :meth:`fit_base_prior` last (the RAE fits its Gaussian mixture there). With
    ``checkpointing``, the model and the batch stream are saved with the optimiser's state and
    resumed from it; ``on_log(step, values)`` receives what is logged (see :func:`train`). With
    ``validation`` data, their loss at full KL weight (the negative ELBO) and its terms are
    measured every ``config.validate_every`` steps (``history.validation``)."""
    data = as_data(data)
    model.init_from_data(data)
    batches = Minibatches(data, config.batch_size, generator)
    warmup_steps = int(kl_warmup_fraction * config.steps)

    def objective(step: int) -> tuple[Tensor, dict[str, float]]:
        out = model(next(batches).to(model.device), kl_weight=kl_warmup(step, warmup_steps))
        return out.loss, out.metrics()

    def elbo(batch: Tensor) -> tuple[Tensor, dict[str, float]]:
        out = model(batch.to(model.device))
        return out.loss, out.metrics()

    validate = None
    if validation is not None:
        held_out = as_data(validation)
        validate = lambda step: measure(  # noqa: E731
            model, elbo, held_out, config.batch_size, config.seed
        )

    model.train()
    try:
        with sharded_model(model):
            history = train(
                objective,
                model.parameters(),
                config,
                description="train VAE",
                progress=progress,
                checkpointing=with_state(checkpointing, model=model, batches=batches),
                on_log=on_log,
                validate=validate,
            )
    finally:
        model.eval()
    model.fit_base_prior(data)
    return history


def freeze(model: LatentVariableModel) -> LatentVariableModel:
    """Put ``model`` in eval mode with gradients off (stage 2 never changes the VAE)."""
    model.eval()
    model.requires_grad_(False)
    return model


@torch.no_grad()
def posterior_latents(
    model: LatentVariableModel,
    data: DataLike,
    num_samples: int,
    generator: torch.Generator | None = None,
) -> Tensor:
    """z ~ q(z|x) for ``num_samples`` examples x of ``data`` drawn at random (one of each, so
    at most ``len(data)``): samples of the aggregate posterior."""
    batch = next(Minibatches(data, num_samples, generator))
    return model.posterior(batch.to(model.device)).sample()


@auto_threads()
def train_prior(
    prior: Prior,
    data: DataLike,
    config: TrainConfig | None = None,
    *,
    groups: Sequence[int] | None = None,
    progress: bool = True,
    generator: torch.Generator | None = None,
    checkpointing: Checkpointing | None = None,
    on_log: Callable[[int, dict[str, float]], None] | None = None,
    validation: DataLike | None = None,
    select_best: bool = True,
    reuse_encodings: bool = True,
) -> TrainHistory:
    """Stage 2: fit the classifiers of ``groups`` (default: all) of ``prior`` by NCE and mark
    them trained; the others are left untouched (a fitted base, see :meth:`Prior.fit_base`, is
    fitted to ``data`` first). ``data`` are the VAE's training data (drawn in
    random minibatches of ``config.batch_size``, encoded by the frozen ``prior.model``), or, for
    a flat prior without a model, aggregate-posterior latents. Invalidates the stored log Z
    (estimate it again). With ``checkpointing``, the classifiers and the batch stream are saved
    and resumed; ``on_log(step, values)`` receives what is logged (see :func:`train`).

    With ``validation`` data (held-out images, or latents without a model), the NCE loss,
    accuracy and one-pass log Z of every group on them are measured every
    ``config.validate_every`` steps and at the end, each time with the same random draws
    (``history.validation``); with ``select_best`` the classifiers of the pass with the lowest
    validation loss are kept (``history.selected_step``), else the last step's.

    With ``reuse_encodings``, data that are not binarized afresh are encoded once by the frozen
    model and the minibatches drawn from its outputs (:func:`~ncpvae.training.encode_once`; the
    same draws up to float rounding, without an encoder pass per step);
    ``history.reused_encodings`` says whether it was done."""
    config = config or TrainConfig(lr_final=1e-7)
    groups = prior.check_groups(groups)
    data = as_data(data)
    held_out = None if validation is None else as_data(validation)
    encoded = held_out_encoded = False
    if prior.model is not None:
        freeze(prior.model)
        outputs = encode_once(prior.model, data) if reuse_encodings else None
        if outputs is not None:
            encoded, data = True, outputs
            held_outputs = None if held_out is None else encode_once(prior.model, held_out)
            if held_outputs is not None:
                held_out_encoded, held_out = True, held_outputs
    prior.fit_base(data, encoded=encoded, seed=config.seed)
    batches = Minibatches(data, config.batch_size, generator)
    noise = shard_noise()
    params = [p for k in groups for p in prior.classifiers[k].parameters()]
    best = BestWeights(prior.classifiers)
    validate = None
    if held_out is not None:

        def validate(step: int) -> dict[str, float]:
            values = measure_nce(
                prior, held_out, groups, config.batch_size, config.seed, encoded=held_out_encoded
            )
            if select_best:  # the last step's weights need no copy
                best.offer(step, values["loss"])
            return values

    prior.train()
    try:
        history = train(
            lambda step: prior.nce_loss(next(batches), groups, noise, encoded=encoded),
            params,
            config,
            description=f"fit NCP prior ({len(groups)} of {prior.num_groups} groups)",
            progress=progress,
            checkpointing=with_state(checkpointing, prior=prior, batches=batches, best=best),
            on_log=on_log,
            validate=validate,
        )
        if held_out is not None and select_best:
            history.selected_step = best.restore()
        history.reused_encodings = encoded
    finally:
        prior.eval()
        prior.log_normalizer.fill_(float("nan"))
        prior.log_normalizer_stderr.fill_(float("nan"))
    prior.trained[groups] = True
    return history
