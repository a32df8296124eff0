"""Random numbers: one seeded global generator (`manual_seed`), random tensors, and random keys.

Compiled graphs stay deterministic: their randomness comes only from int64 key inputs, which
`next_key()` draws from the same generator, so `manual_seed` makes eager and compiled runs repeat.
"""

from __future__ import annotations

import numpy as np

from graphc import state, tracing
from graphc import tensor_core as _tensor
from graphc.creation import finish
from graphc.dtypes import as_dtype, get_default_dtype
from graphc.tensor_shape import size_args

DEFAULT_SEED = 67280421310721  # PyTorch's default seed: runs repeat without manual_seed too
_generator = np.random.default_rng(DEFAULT_SEED)


def manual_seed(seed: int) -> None:
    """Reseed the global generator used by rand/randn/randint, init functions and random keys."""
    global _generator
    _generator = np.random.default_rng(int(seed))


def generator() -> np.random.Generator:
    """The global NumPy generator (for data shuffling and other host-side randomness)."""
    return _generator


def next_key() -> int:
    """A fresh int64 random key from the global generator."""
    return int(_generator.integers(0, 2**63 - 1))


def key_tensor():
    """A random key tensor: an int64[] constant eagerly, a fresh graph input while tracing."""
    if state.trace is not None:
        return state.trace.random_key()
    return _tensor.Tensor._wrap(np.array(next_key(), dtype=np.int64))


def _eager_only(name: str) -> None:
    if state.trace is not None:
        where = tracing.user_location()
        raise tracing.TraceError(
            f"{name} inside a traced function"
            + (f" at {where}" if where else "")
            + " would freeze one random draw into the graph; create the tensor outside and pass it "
            "in, or use dropout-style randomness (graphc.random.key_tensor)"
        )


def _make(array, dtype, requires_grad: bool):
    # np.asarray: NumPy gives a scalar, not a 0-d array, for shape (); in-place ops need an array.
    t = _tensor.Tensor._wrap(np.asarray(array, dtype=as_dtype(dtype or get_default_dtype()).np))
    return t.requires_grad_() if requires_grad else t


def uniform(shape, low=0.0, high=1.0, dtype=None):
    """Eager tensor of uniform samples in [low, high)."""
    _eager_only("a random tensor")
    dtype = as_dtype(dtype or get_default_dtype())
    np_dtype = dtype.np if dtype.is_floating_point else np.float64
    return _make(low + (high - low) * _generator.random(tuple(shape), dtype=np_dtype), dtype, False)


def normal_samples(shape, mean=0.0, std=1.0, dtype=None):
    """Eager tensor of normal samples with scalar `mean` and `std`."""
    _eager_only("a random tensor")
    dtype = as_dtype(dtype or get_default_dtype())
    np_dtype = dtype.np if dtype.is_floating_point else np.float64
    return _make(
        mean + std * _generator.standard_normal(tuple(shape), dtype=np_dtype), dtype, False
    )


def rand(*args, size=None, dtype=None, device=None, requires_grad: bool = False):
    """Uniform samples in [0, 1): `rand(2, 3)`, `rand((2, 3))` or `rand(size=(2, 3))`."""
    return finish(uniform(size_args(args, size), dtype=dtype), requires_grad, device)


def randn(*args, size=None, dtype=None, device=None, requires_grad: bool = False):
    """Standard normal samples: `randn(2, 3)`, `randn((2, 3))` or `randn(size=(2, 3))`."""
    return finish(normal_samples(size_args(args, size), dtype=dtype), requires_grad, device)


def normal(mean=0.0, std=1.0, size=None, *, dtype=None, device=None, requires_grad: bool = False):
    """`torch.normal`: samples of N(mean, std) for float `mean`/`std` and a `size`, or elementwise
    for tensor means/stds (the result takes their broadcast shape)."""
    tensors = [v for v in (mean, std) if isinstance(v, _tensor.Tensor)]
    if not tensors:
        if size is None:
            raise TypeError("normal() with float mean and std needs a size")
        sample = normal_samples(size_args((), size), mean, std, dtype)
        return finish(sample, requires_grad, device)
    shape = np.broadcast_shapes(*(tuple(t.shape) for t in tensors))
    sample = normal_samples(shape, dtype=dtype or tensors[0].dtype)
    return finish((sample * std + mean).detach(), requires_grad, device)


def randint(low, high=None, size=(), dtype=None, device=None, requires_grad: bool = False):
    """Integers in [low, high) (`randint(high, size)` means low = 0), int64 by default."""
    _eager_only("graphc.randint")
    if isinstance(high, (tuple, list)):  # randint(high, size)
        low, high, size = 0, low, high
    elif high is None:
        low, high = 0, low
    sample = _make(_generator.integers(low, high, size=size_args((), size)), dtype or "int64",
                   False)
    return finish(sample, requires_grad, device)


def randperm(n: int, dtype=None, device=None, requires_grad: bool = False):
    _eager_only("graphc.randperm")
    return finish(_make(_generator.permutation(int(n)), dtype or "int64", False), requires_grad,
                  device)


def rand_like(t, dtype=None, device=None, requires_grad: bool = False):
    return rand(t.shape, dtype=dtype or t.dtype, device=device, requires_grad=requires_grad)


def randn_like(t, dtype=None, device=None, requires_grad: bool = False):
    return randn(t.shape, dtype=dtype or t.dtype, device=device, requires_grad=requires_grad)
