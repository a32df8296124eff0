"""Random numbers: one seeded global generator (`manual_seed`), random tensors, and random keys.

Compiled graphs stay deterministic: their randomness comes only from int64 key inputs, which
`next_key()` draws from the same generator, so `manual_seed` makes eager and compiled runs repeat.
"""

from __future__ import annotations

import math

import numpy as np

from graphc import dispatch, state, tracing
from graphc import tensor_core as _tensor
from graphc.creation import finish, like_device
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


def key_tensor(device=None):
    """A random key tensor: an int64[] constant eagerly (on `device`, where the random op
    runs), a fresh graph input while tracing."""
    if state.trace is not None:
        return state.trace.random_key()
    key = _tensor.Tensor._wrap(np.array(next_key(), dtype=np.int64))
    return key if device is None else key.to(device)


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


def normal_tensor(shape, mean=0.0, std=1.0, dtype=None):
    """Eager tensor of normal samples (from the global generator, as `randn`)."""
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
    return finish(normal_tensor(size_args(args, size), dtype=dtype), requires_grad, device)


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
    return rand(t.shape, dtype=dtype or t.dtype, device=like_device(t, device),
                requires_grad=requires_grad)


def randn_like(t, dtype=None, device=None, requires_grad: bool = False):
    return randn(t.shape, dtype=dtype or t.dtype, device=like_device(t, device),
                 requires_grad=requires_grad)


# -- sampling from distributions: key-driven, so the same code runs eagerly and traced ------------
def _device(t):
    """Where samples for `t` are drawn: its device (none while tracing)."""
    return None if t.is_traced else t.device


def uniform_like(shape, dtype=None, device=None):
    """Uniform [0, 1) samples from a fresh random key (a graph input while tracing)."""
    dtype = as_dtype(dtype or get_default_dtype())
    return dispatch.apply("random_uniform", key_tensor(device), shape=tuple(shape),
                          dtype=dtype.name)


def standard_normal(shape, dtype=None, device=None):
    """Standard normal samples by the Box-Muller transform of two uniform draws."""
    dtype = as_dtype(dtype or get_default_dtype())
    u = uniform_like((2, *shape), "float64" if dtype.itemsize > 4 else "float32", device)
    radius = (-2.0 * (1.0 - u[0]).log()).sqrt()  # 1 - u is in (0, 1]: log never sees 0
    z = radius * (u[1] * (2 * math.pi)).cos()
    return dispatch.cast(z, dtype)


def bernoulli(input, p=None, *, generator=None):
    """1 with probability `input` (or `p`) per element, else 0, in input's dtype."""
    probs = input if p is None else p
    u = uniform_like(input.shape, input.dtype if input.dtype.is_floating_point else None,
                     _device(input))
    return dispatch.cast(u < probs, input.dtype)


def normal(mean=0.0, std=1.0, size=None, *, generator=None, dtype=None, device=None,
           requires_grad: bool = False):
    """Normal samples: `normal(mean, std)` with tensors (their broadcast shape) or
    `normal(mean, std, size)` with numbers."""
    if isinstance(mean, _tensor.Tensor) or isinstance(std, _tensor.Tensor):
        shapes = [tuple(t.shape) for t in (mean, std) if isinstance(t, _tensor.Tensor)]
        like = next(t for t in (mean, std) if isinstance(t, _tensor.Tensor))
        if not like.dtype.is_floating_point:
            raise RuntimeError("normal expects floating point tensors for mean and std")
        z = standard_normal(np.broadcast_shapes(*shapes), like.dtype, _device(like))
    else:
        if size is None:
            raise TypeError("normal() with numbers for mean and std needs a size")
        if std < 0:
            raise RuntimeError(f"normal expects std >= 0.0, but found std {std}")
        z = standard_normal(size_args((), size), dtype)
    return finish(z * std + mean, requires_grad, device)


def multinomial(input, num_samples: int, replacement: bool = False, *, generator=None):
    """Category indices drawn with probabilities proportional to the rows of `input`: by the
    inverse CDF with replacement, by Gumbel top-k without (both exact)."""
    if input.ndim not in (1, 2):
        raise RuntimeError("prob_dist must be 1 or 2 dim")
    if not input.dtype.is_floating_point:
        raise RuntimeError("multinomial only supports floating-point dtypes for input")
    n = input.shape[-1]
    if not replacement and num_samples > n:
        raise RuntimeError("cannot sample n_sample > prob_dist.size(-1) samples without "
                           "replacement")
    if input._data is not None:
        data = input._data
        if (data < 0).any() or not np.isfinite(data).all():
            raise RuntimeError("probability tensor contains either `inf`, `nan` or element < 0")
        if (data.reshape(-1, n).sum(-1) <= 0).any():
            raise RuntimeError("invalid multinomial distribution (sum of probabilities <= 0)")
    rows = input.reshape(-1, n)
    if replacement:
        cdf = rows.cumsum(-1)
        u = uniform_like((rows.shape[0], num_samples), input.dtype, _device(input)) * \
            cdf[:, -1:]
        picked = (cdf.unsqueeze(1) <= u.unsqueeze(-1)).sum(-1).clamp(max=n - 1)
    else:
        gumbel = -(-uniform_like(rows.shape, input.dtype, _device(input)).clamp(min=1e-20)
                   .log()).log()
        picked = (rows.log() + gumbel).topk(num_samples, -1).indices
    return picked.reshape(*input.shape[:-1], num_samples)
