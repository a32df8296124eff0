"""`DistributedSampler`: each process of a data-parallel job reads its own part of a data set."""

from __future__ import annotations

import math

import numpy as np


class DistributedSampler:
    """Indices of `dataset` for process `rank` of `num_replicas` (PyTorch's sampler).

    Each epoch the indices (shuffled with `seed + epoch` when `shuffle`: call `set_epoch` before
    each epoch) are padded by repeating the first ones, or with `drop_last` cut, to a multiple of
    `num_replicas`; process `rank` takes every `num_replicas`-th from `rank` on. All processes
    together read each sample exactly once per epoch (the padding aside).
    `num_replicas` and `rank` default to those of the `graphc.distributed` process group.
    """

    def __init__(self, dataset, num_replicas: int | None = None, rank: int | None = None,
                 shuffle: bool = True, seed: int = 0, drop_last: bool = False):
        if num_replicas is None or rank is None:
            from graphc import distributed

            num_replicas = distributed.get_world_size() if num_replicas is None else num_replicas
            rank = distributed.get_rank() if rank is None else rank
        if rank >= num_replicas or rank < 0:
            raise ValueError(
                f"Invalid rank {rank}, rank should be in the interval [0, {num_replicas - 1}]"
            )
        self.dataset, self.num_replicas, self.rank = dataset, num_replicas, rank
        self.shuffle, self.seed, self.drop_last = shuffle, seed, drop_last
        self.epoch = 0
        n = len(dataset)
        if drop_last and n % num_replicas:
            self.num_samples = math.ceil((n - num_replicas) / num_replicas)
        else:
            self.num_samples = math.ceil(n / num_replicas)
        self.total_size = self.num_samples * num_replicas

    def __iter__(self):
        n = len(self.dataset)
        if self.shuffle:
            indices = np.random.default_rng(self.seed + self.epoch).permutation(n)
        else:
            indices = np.arange(n)
        if self.drop_last:
            indices = indices[: self.total_size]
        elif self.total_size > n:
            indices = np.resize(indices, self.total_size)  # repeats from the start
        return iter(indices[self.rank : self.total_size : self.num_replicas].tolist())

    def __len__(self) -> int:
        return self.num_samples

    def set_epoch(self, epoch: int) -> None:
        """Shuffle differently in epoch `epoch` (the same way on every process)."""
        self.epoch = epoch
