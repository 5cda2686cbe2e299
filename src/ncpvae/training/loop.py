"""One optimisation loop for both stages (the VAE's ELBO and the prior's NCE loss).

The loop knows nothing about VAEs or priors: it calls ``objective(step)``, which draws its own
batch and returns ``(loss, metrics)``. Adam (AdamW with ``weight_decay``) with cosine annealing of
the learning rate from ``lr`` to ``lr_final`` (the paper's classifier schedule: 1e-3 to 1e-7).
An optional ``validate(step)`` measures held-out data every ``validate_every`` steps. With a
:class:`Checkpointing`, the loop saves everything a run's future depends on (weights, optimiser,
schedule, step, history, the batch stream and the RNGs) every few steps, atomically, and can
resume from it to reach the same result as a run that was never interrupted.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable, Iterable

import torch
from torch import Tensor, nn

from ncpvae.config.train import TrainConfig
from ncpvae.errors import CheckpointError, NonFiniteLossError
from ncpvae.progress import progress_bar
from ncpvae.training import distributed
from ncpvae.training.checkpoints import Checkpointing, resume, save_checkpoint
from ncpvae.training.history import TrainHistory

__all__ = ["TrainConfig", "train", "Objective"]

Objective = Callable[[int], tuple[Tensor, dict[str, float]]]
MAX_SKIPPED_IN_A_ROW = 100  # with skip_nonfinite, a run this long of bad steps still stops


class _Step(nn.Module):
    """The objective as a module over the trained parameters, for DistributedDataParallel: the
    forward runs the objective, and DDP all-reduces these parameters' gradients."""

    def __init__(self, params: list[nn.Parameter], objective: Objective) -> None:
        super().__init__()
        self.params = nn.ParameterList(params)
        self.objective = objective

    def forward(self, step: int) -> tuple[Tensor, dict[str, float]]:
        return self.objective(step)


def _engine(objective: Objective, params: list[nn.Parameter]) -> Objective:
    """``objective`` itself in one process; under ``torchrun``, a DistributedDataParallel step
    whose backward averages the gradients over the ranks."""
    if distributed.world_size() == 1:
        return objective
    from torch.nn.parallel import DistributedDataParallel

    return DistributedDataParallel(_Step(params, objective), broadcast_buffers=False)


def train(
    objective: Objective,
    parameters: Iterable[nn.Parameter],
    config: TrainConfig,
    *,
    description: str = "train",
    progress: bool = True,
    log_every: int = 100,
    checkpointing: Checkpointing | None = None,
    on_log: Callable[[int, dict[str, float]], None] | None = None,
    validate: Callable[[int], dict[str, float]] | None = None,
) -> TrainHistory:
    """Minimise ``objective`` for ``config.steps`` steps of Adam with a cosine learning rate,
    saving and resuming through ``checkpointing`` if given. Under ``torchrun`` the gradients are
    averaged over the ranks by DistributedDataParallel (the objective draws this rank's shard of
    the global batch), the logged loss and metrics are averaged too, and rank 0 alone writes
    checkpoints and shows progress. Every ``log_every`` steps the loss, the metrics and the
    learning rate are appended to ``history.curves`` and passed to ``on_log(step, values)``
    (rank 0's; for example TensorBoard events). After every ``config.validate_every`` steps and
    the last, ``validate(step)`` (if given) returns held-out metrics, which go to
    ``history.validation`` and to ``on_log`` with a ``val_`` prefix; it must leave the random
    streams as it found them (every rank computes the same values), so that a resumed run
    repeats an uninterrupted one.

    Raises :class:`NonFiniteLossError` (and leaves the parameters as they were after the last good
    step; a checkpoint on disk is never one with a non-finite loss) if the loss becomes NaN or
    infinite.
    """
    params = [p for p in parameters if p.requires_grad]
    if not params:
        raise ValueError(f"{description}: no trainable parameters (all have requires_grad=False)")
    optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(
        optimizer, T_max=max(config.steps, 1), eta_min=config.lr_final
    )
    history, first = TrainHistory(), 0
    if checkpointing is not None and checkpointing.resume and checkpointing.path.is_file():
        first, history = resume(checkpointing, optimizer, schedule)
    if distributed.all_mean({"first": float(first)})["first"] != first:
        raise CheckpointError(
            f"the processes would resume from different steps (this one from {first}); give "
            "every machine the same --out on a shared file system"
        )
    elapsed = history.seconds
    start = saved = time.perf_counter()
    running = math.nan
    engine = _engine(objective, params)
    main = distributed.is_main()
    bar = progress_bar(
        range(first, config.steps),
        description,
        progress and main,
        initial=first,
        total=config.steps,
    )
    skipped_in_a_row = 0
    for step in bar:
        loss, metrics = engine(step)
        if not distributed.all_true(bool(torch.isfinite(loss))):
            if not config.skip_nonfinite or skipped_in_a_row >= MAX_SKIPPED_IN_A_ROW:
                run_of = f" ({skipped_in_a_row} steps in a row)" if skipped_in_a_row else ""
                raise NonFiniteLossError(
                    f"{description}: loss became {float(loss.detach())} at step {step}{run_of}; "
                    "lower the learning rate (--train.lr), enable gradient clipping "
                    "(--train.grad_clip) or skip such steps (--train.skip_nonfinite true)"
                )
            skipped_in_a_row += 1
            history.skipped_steps += 1
            with warnings.catch_warnings():  # torch warns when no update came first
                warnings.simplefilter("ignore", UserWarning)
                schedule.step()  # the schedule follows the step count, updates or not
        else:
            skipped_in_a_row = 0
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if config.grad_clip > 0:
                nn.utils.clip_grad_norm_(params, config.grad_clip)
            optimizer.step()
            schedule.step()
            value = float(loss.detach())
            running = value if math.isnan(running) else 0.98 * running + 0.02 * value
        if skipped_in_a_row == 0 and (step % log_every == 0 or step == config.steps - 1):
            reduced = distributed.all_mean({"loss": value, **metrics})
            history.log(step, reduced, schedule.get_last_lr()[0])
            if on_log is not None and main:
                on_log(step, {**reduced, "lr": schedule.get_last_lr()[0]})
            # shown at the bar's next refresh (each second on a terminal, each minute in a log)
            postfix = {k: f"{v:.3f}" for k, v in metrics.items()}
            bar.set_postfix(loss=f"{running:.4f}", **postfix, refresh=False)
        done = step + 1
        if validate is not None and (done % config.validate_every == 0 or done == config.steps):
            measured = validate(step)
            history.log_validation(step, measured)
            if on_log is not None and main:
                on_log(step, {f"val_{k}": v for k, v in measured.items()})
        now = time.perf_counter()
        if (
            main
            and checkpointing is not None
            and checkpointing.due(done, config.steps, now - saved)
        ):
            history.seconds = elapsed + now - start
            save_checkpoint(checkpointing, done, optimizer, schedule, history)
            saved = now
    history.seconds = elapsed + time.perf_counter() - start
    return history
