"""Endless random minibatches, sharded over the processes of a torchrun run, whose position is
part of a checkpoint."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from ncpvae.data.arrays import DataLike, as_data
from ncpvae.errors import ConfigError
from ncpvae.training import distributed

__all__ = ["Minibatches"]


class Minibatches:
    """Endless random minibatches of ``data`` (a tensor, array, Dataset or
    :class:`~ncpvae.data.TensorData`) as float model input, reshuffled every epoch from
    ``generator``. Dynamically binarized data are binarized afresh in every batch, from
    ``generator``. Its state (generator, epoch order, position) can be saved and restored, so a
    resumed run sees the batches an uninterrupted one would have seen.

    ``batch_size`` is the global batch. Under ``torchrun`` (or with an explicit ``shard`` =
    (rank, world size)) every rank draws the same global batch and keeps its ``batch_size /
    world size`` rows: the ranks together see exactly what one process would."""

    def __init__(
        self,
        data: DataLike,
        batch_size: int,
        generator: torch.Generator | None = None,
        shard: tuple[int, int] | None = None,
    ) -> None:
        self.data = as_data(data)
        if len(self.data) == 0:
            raise ValueError("cannot draw minibatches from an empty data set")
        self.rank, self.world = shard or (distributed.rank(), distributed.world_size())
        if batch_size % self.world:
            raise ConfigError(
                f"the batch size {batch_size} does not split evenly over {self.world} processes; "
                "choose a multiple of the process count (--train.batch_size)"
            )
        self.batch_size = batch_size
        if generator is None:  # a stream of its own, seeded from the global RNG
            generator = torch.Generator().manual_seed(int(torch.randint(2**62, ())))
        self.generator = generator
        self.order: Tensor | None = None
        self.position = 0

    def __iter__(self) -> Minibatches:
        return self

    def __next__(self) -> Tensor:
        n = len(self.data)
        last_start = n - self.batch_size if n >= self.batch_size else 0
        if self.order is None or self.position > last_start:
            self.order = torch.randperm(n, generator=self.generator, device=self.generator.device)
            self.position = 0
        index = self.order[self.position : self.position + self.batch_size]
        self.position += self.batch_size
        batch = self.data.batch(index.to(self.data.values.device), self.generator)
        if self.world == 1:
            return batch
        rows = len(batch) // self.world
        return batch[self.rank * rows : (self.rank + 1) * rows]

    def state_dict(self) -> dict[str, Any]:
        """Where the stream is: its generator's state, the epoch's order and the position."""
        return {
            "generator": self.generator.get_state(),
            "order": self.order,
            "position": self.position,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from a :meth:`state_dict`: the next batch is the one that would have come."""
        self.generator.set_state(state["generator"])
        self.order, self.position = state["order"], state["position"]
