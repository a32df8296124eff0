"""Where shuffling draws its randomness from."""

from __future__ import annotations

import numpy as np


def as_generator(generator) -> np.random.Generator:
    """A NumPy generator from `generator`: None (graphc's global seeded one), a seed or a Generator.

    None follows `graphc.manual_seed`, so seeding graphc also makes shuffling repeat.
    """
    if generator is None:
        from graphc.random import generator as global_generator

        return global_generator()
    if isinstance(generator, np.random.Generator):
        return generator
    if isinstance(generator, (int, np.integer)) and not isinstance(generator, bool):
        return np.random.default_rng(int(generator))
    raise TypeError(
        f"generator must be None, an int seed or a numpy.random.Generator, not {type(generator)}"
    )
