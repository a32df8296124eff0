"""The OpInfo table: one row per user-facing op, after PyTorch's own OpInfo.

A row names the op, calls it the same way on `graphc` and on `torch` (`fn(t, *args, **kwargs)`,
where `t` is either module: graphc mirrors PyTorch's API, so one call serves both), and gives a
sample-input generator, the dtypes to try, and whether the op has a gradient. `test_opinfo.py`
runs every row through every check (PyTorch parity of values, dtypes and error classes; gradients
against PyTorch and finite differences in float64; traced and compiled equal eager), so a new op
gets all of them by adding one row here.

Samples are NumPy arrays (they become tensors) and plain Python values (passed as they are).
Generators take (rng, dtype) and cover broadcasting, zero-size dims, 0-d tensors and, for floats,
NaN and inf (marked `grad=False`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

FLOATS = ("float32", "float64")
INTS = ("int64", "int32")
ALL = (*FLOATS, *INTS, "bool")
NAN, INF = float("nan"), float("inf")


@dataclass
class Sample:
    args: tuple
    kwargs: dict = field(default_factory=dict)
    grad: bool = True  # False where the gradient is undefined (NaN, inf, kinks, ties)


@dataclass
class OpInfo:
    name: str
    fn: Callable  # fn(t, *args, **kwargs) with t = graphc or torch
    samples: Callable  # samples(rng, dtype) -> list[Sample]
    dtypes: tuple = ALL
    grad: bool = True
    trace: str = "same"  # "same": traced equals eager; "error": tracing raises TraceError; "skip"
    tol: dict = field(default_factory=dict)  # dtype -> (rtol, atol) beyond the defaults
    indices: bool = False  # outputs after the first are indices of ties: compare via values
    finite_differences: bool = True  # False where the op is not smooth at its samples


# -- sample makers -----------------------------------------------------------------------------
def make(rng, shape, dtype, low=-3.0, high=3.0):
    """Random values of `dtype`: floats in [low, high), small integers, or random bools."""
    if dtype == "bool":
        return np.asarray(rng.random(shape) < 0.5)
    if dtype.startswith(("int", "uint")):
        lo = 0 if dtype.startswith("uint") else max(int(low), -4)
        return np.asarray(rng.integers(lo, max(int(high), lo + 1) + 1, size=shape), dtype)
    return np.asarray(rng.uniform(low, high, shape), dtype)


def specials(dtype):
    """NaN, infinities, signed zeros: forward-only samples for float dtypes."""
    return np.array([NAN, INF, -INF, 0.0, -0.0, 1.5, -2.5], dtype=dtype)


UNARY_SHAPES = ((), (3,), (2, 3), (0, 3), (2, 1, 4))
BINARY_SHAPES = (((2, 3), (3,)), ((2, 1), (1, 4)), ((), (3,)), ((0, 3), (3,)), ((3,), ()))


def unary(low=-3.0, high=3.0, nonfinite=True, **kwargs):
    def samples(rng, dtype):
        out = [Sample((make(rng, s, dtype, low, high),), dict(kwargs)) for s in UNARY_SHAPES]
        if nonfinite and dtype.startswith("float"):
            out.append(Sample((specials(dtype),), dict(kwargs), grad=False))
        return out

    return samples


def binary(low=-3.0, high=3.0, rlow=None, rhigh=None, scalars=(2, 1.5), nonfinite=True):
    """Pairs that broadcast, plus a tensor with each Python scalar in `scalars`."""
    rlow = low if rlow is None else rlow
    rhigh = high if rhigh is None else rhigh

    def samples(rng, dtype):
        out = [
            Sample((make(rng, a, dtype, low, high), make(rng, b, dtype, rlow, rhigh)))
            for a, b in BINARY_SHAPES
        ]
        out += [Sample((make(rng, (2, 3), dtype, low, high), s)) for s in scalars]
        if nonfinite and dtype.startswith("float"):
            x = specials(dtype)
            out.append(Sample((x, x[:, None]), grad=False))
        return out

    return samples


def reduction(dims=(None, 0, -1, (0, 1)), low=-3.0, high=3.0, **kwargs):
    """A (2, 3, 4) tensor over `dims` with and without keepdim, plus 0-d and zero-size inputs."""

    def samples(rng, dtype):
        x = make(rng, (2, 3, 4), dtype, low, high)
        out = [Sample((x,), {"dim": d, **kwargs}) for d in dims if d is not None]
        out += [Sample((x,), {"dim": d, "keepdim": True, **kwargs}) for d in dims if d is not None]
        if None in dims:
            out.append(Sample((x,), dict(kwargs)))
        out.append(Sample((make(rng, (), dtype, low, high),), {"dim": 0, **kwargs}))
        if dtype.startswith("float"):
            out.append(Sample((specials(dtype)[None].repeat(2, 0),), {"dim": 1, **kwargs},
                              grad=False))
        return out

    return samples


def scan(dims=(0, -1), low=-3.0, high=3.0, **kwargs):
    """A (2, 3, 4) tensor along each of `dims`, plus 0-d and zero-size inputs."""

    def samples(rng, dtype):
        out = [Sample((make(rng, (2, 3, 4), dtype, low, high), d), dict(kwargs)) for d in dims]
        out.append(Sample((make(rng, (), dtype, low, high), 0), dict(kwargs)))
        out.append(Sample((make(rng, (0, 3), dtype, low, high), 1), dict(kwargs)))
        if dtype.startswith("float"):
            out.append(Sample((specials(dtype), 0), dict(kwargs), grad=False))
        return out

    return samples


def samples_of(*groups):
    """Concatenate sample generators."""
    return lambda rng, dtype: [s for g in groups for s in g(rng, dtype)]


def fixed(*samples):
    return lambda rng, dtype: [
        Sample(tuple(a.astype(dtype) if isinstance(a, np.ndarray) else a for a in s.args),
               s.kwargs, s.grad)
        for s in samples
    ]


# -- the table ---------------------------------------------------------------------------------
OPS: list[OpInfo] = []


def op(name, fn, samples, **kwargs):
    OPS.append(OpInfo(name, fn, samples, **kwargs))


def method(name, *extra, **kw):
    """fn calling `x.name(*extra, **kw)`."""
    return lambda t, x, *args, **kwargs: getattr(x, name)(*extra, *args, **kw, **kwargs)


def function(name, *extra, **kw):
    """fn calling `t.name(*args, *extra, **kw)` (torch.name / graphc.name)."""
    return lambda t, *args, **kwargs: getattr(t, name)(*args, *extra, **kw, **kwargs)


# Arithmetic operators and their functions.
op("add", lambda t, x, y: x + y, binary())
op("radd", lambda t, x, y: y + x, binary())
op("add_alpha", lambda t, x, y: t.add(x, y, alpha=2), binary(scalars=()),
   dtypes=(*FLOATS, *INTS))
op("sub", lambda t, x, y: x - y, binary(), dtypes=(*FLOATS, *INTS))
op("rsub", lambda t, x, y: y - x, binary(), dtypes=(*FLOATS, *INTS))
op("mul", lambda t, x, y: x * y, binary())
op("truediv", lambda t, x, y: x / y, binary(rlow=0.5, rhigh=3.0))
op("rtruediv", lambda t, x, y: y / x, binary(low=0.5, high=3.0))
# PyTorch has no derivative of floor division (nor of a remainder by a tensor divisor).
op("floordiv", lambda t, x, y: x // y, binary(rlow=1, rhigh=4), dtypes=(*FLOATS, *INTS),
   grad=False)
op("rfloordiv", lambda t, x, y: y // x, binary(low=1, high=4), dtypes=(*FLOATS, *INTS),
   grad=False)
op("mod", lambda t, x, y: x % y, binary(rlow=1, rhigh=4), dtypes=(*FLOATS, *INTS))
op("rmod", lambda t, x, y: y % x, binary(low=1, high=4), dtypes=(*FLOATS, *INTS), grad=False)
op("fmod", function("fmod"), binary(rlow=1, rhigh=4), dtypes=(*FLOATS, *INTS))
op("remainder", function("remainder"), binary(rlow=-4, rhigh=-1), dtypes=(*FLOATS, *INTS))
op("div_trunc", function("div", rounding_mode="trunc"), binary(rlow=1, rhigh=4),
   dtypes=(*FLOATS, *INTS))
op("div_floor", function("div", rounding_mode="floor"), binary(rlow=-4, rhigh=-1),
   dtypes=(*FLOATS, *INTS))
op("pow", lambda t, x, y: x**y, binary(low=0.5, high=2.0, rlow=-2, rhigh=2, scalars=(2, 0.5)),
   dtypes=FLOATS)
op("pow_int", lambda t, x, y: x**y, binary(low=-3, high=3, rlow=0, rhigh=3, scalars=(2,)),
   dtypes=INTS, grad=False)
op("rpow", lambda t, x: 2.0**x, unary())
op("pow_at_zero", lambda t, x: x**2 + x**0.0 + x**1, fixed(Sample((np.array([0.0, -1.0, 2.0]),))))
op("neg", lambda t, x: -x, unary(), dtypes=(*FLOATS, *INTS))
op("abs", function("abs"), unary(), dtypes=(*FLOATS, *INTS))
op("maximum", function("maximum"), binary(low=-2, high=2, scalars=()))
op("minimum", function("minimum"), binary(low=-2, high=2, scalars=()))
for _cmp, _fn in (("eq", lambda t, x, y: x == y), ("ne", lambda t, x, y: x != y),
                  ("lt", lambda t, x, y: x < y), ("le", lambda t, x, y: x <= y),
                  ("gt", lambda t, x, y: x > y), ("ge", lambda t, x, y: x >= y)):
    op(_cmp, _fn, binary(low=-2, high=2), grad=False)

# Bitwise and logical.
_INTEGRAL = (*INTS, "bool")
for _bits, _fn in (("and", lambda t, x, y: x & y), ("or", lambda t, x, y: x | y),
                   ("xor", lambda t, x, y: x ^ y)):
    op(f"bitwise_{_bits}", _fn, binary(scalars=(3,)), dtypes=_INTEGRAL, grad=False)
    op(f"logical_{_bits}", function(f"logical_{_bits}"), binary(low=-1, high=1, scalars=()),
       grad=False)
op("bitwise_not", lambda t, x: ~x, unary(), dtypes=_INTEGRAL, grad=False)
op("logical_not", function("logical_not"), unary(low=-1, high=1), grad=False)
op("lshift", lambda t, x, y: x << y, binary(rlow=0, rhigh=5, scalars=(2,)), dtypes=INTS,
   grad=False)
op("rshift", lambda t, x, y: x >> y, binary(rlow=0, rhigh=5, scalars=(2,)), dtypes=INTS,
   grad=False)

# Unary math.
for _name, _low, _high in (
    ("exp", -3, 3), ("log", 0.1, 5), ("sqrt", 0.1, 5), ("rsqrt", 0.1, 5), ("sin", -3, 3),
    ("cos", -3, 3), ("tanh", -3, 3), ("sigmoid", -5, 5), ("erf", -2, 2), ("log2", 0.1, 5),
    ("log10", 0.1, 5), ("log1p", -0.9, 5), ("exp2", -3, 3), ("expm1", -3, 3), ("tan", -1.4, 1.4),
    ("asin", -0.95, 0.95), ("acos", -0.95, 0.95), ("atan", -3, 3), ("sinh", -3, 3),
    ("cosh", -3, 3), ("asinh", -3, 3), ("acosh", 1.1, 4), ("atanh", -0.95, 0.95),
    ("erfinv", -0.95, 0.95), ("reciprocal", 0.5, 3), ("square", -3, 3),
):
    op(_name, function(_name), unary(_low, _high))
op("relu", function("relu"), unary(), dtypes=(*FLOATS, *INTS))
op("sign", function("sign"), unary(), dtypes=(*FLOATS, *INTS))
for _name in ("floor", "ceil", "trunc", "round", "frac"):
    op(_name, function(_name), unary(-4, 4))
op("round_decimals", function("round", decimals=2), unary(-4, 4), dtypes=FLOATS)
op("round_negative_decimals", function("round", decimals=-1), unary(-40, 40), dtypes=FLOATS)
op("clamp", function("clamp", -0.5, 0.5), unary(), dtypes=(*FLOATS, *INTS))
op("clamp_min", lambda t, x: x.clamp(min=0.2), unary())
op("clamp_tensors", lambda t, x, lo, hi: t.clamp(x, lo, hi),
   lambda rng, dtype: [Sample((make(rng, (2, 3), dtype), make(rng, (3,), dtype, -3, -1),
                               make(rng, (2, 1), dtype, 1, 3)))], dtypes=(*FLOATS, *INTS))
op("lerp", lambda t, a, b: t.lerp(a, b, 0.3), binary(scalars=()), dtypes=FLOATS)
op("lerp_high", lambda t, a, b: a.lerp(b, 0.8), binary(scalars=()), dtypes=FLOATS)
op("lerp_tensor", lambda t, a, b, w: t.lerp(a, b, w),
   lambda rng, dtype: [Sample((make(rng, (2, 3), dtype), make(rng, (3,), dtype),
                               make(rng, (2, 1), dtype, -0.5, 1.5)))], dtypes=FLOATS)
for _name in ("isnan", "isinf", "isfinite", "isposinf", "isneginf"):
    op(_name, function(_name), unary(), grad=False)
op("nan_to_num", function("nan_to_num"), unary(), dtypes=(*FLOATS, *INTS))
op("nan_to_num_values", function("nan_to_num", nan=1.0, posinf=9.0, neginf=-9.0), unary(),
   dtypes=FLOATS)
op("isclose", function("isclose"), binary(scalars=()), grad=False)
op("isclose_nan", function("isclose", rtol=0.1, atol=0.5, equal_nan=True), binary(scalars=()),
   dtypes=FLOATS, grad=False)
op("allclose", function("allclose", atol=2.0), binary(scalars=()), dtypes=FLOATS, grad=False,
   trace="skip")

# Reductions.
_NUMERIC = (*FLOATS, *INTS)
op("sum", function("sum"), reduction())
op("sum_axis_keepdims", lambda t, x: x.sum(axis=1, keepdims=True),
   lambda rng, dtype: [Sample((make(rng, (2, 3, 4), dtype),))])
op("mean", function("mean"), reduction(), dtypes=FLOATS)
op("var", function("var"), reduction(dims=(None, 1, (0, 2))), dtypes=FLOATS)
op("std_correction", function("std", correction=0), reduction(dims=(None, 1)), dtypes=FLOATS)
op("std_mean", function("std_mean"), reduction(dims=(None, 1)), dtypes=FLOATS)
op("var_mean", function("var_mean", correction=0), reduction(dims=(None, 1)), dtypes=FLOATS)
op("prod", function("prod"), reduction(dims=(None, 0, -1), low=-2, high=2))
op("prod_zeros", function("prod", dim=1),
   fixed(Sample((np.array([[0.0, 2.0, 3.0], [0.0, 0.0, 1.5], [1.0, -2.0, 0.5]]),))))
op("amax", function("amax"), reduction())
op("amin", function("amin"), reduction())
op("max_dim", function("max"), reduction(dims=(0, -1)), indices=True)
op("argmax", function("argmax"), reduction(dims=(None, 1)), dtypes=_NUMERIC, grad=False)
op("logsumexp", function("logsumexp"), reduction(dims=(0, -1, (0, 1))))
op("logsumexp_infinities", function("logsumexp", 1),
   fixed(Sample((np.array([[-INF, -INF], [INF, 1.0], [NAN, 0.0]]),), grad=False)),
   dtypes=FLOATS)
op("count_nonzero", function("count_nonzero"), reduction(dims=(None, 0, (0, 1)), low=-1, high=1),
   grad=False)
op("aminmax", lambda t, x, dim=None, keepdim=False: t.aminmax(x, dim=dim, keepdim=keepdim),
   reduction(dims=(None, 1)))
op("all", function("all"), reduction(dims=(None, 1), low=-1, high=1), grad=False)
op("any", function("any"), reduction(dims=(None, 1), low=-1, high=1), grad=False)

# Scans.
op("cumsum", function("cumsum"), scan())
op("cumprod", function("cumprod"), scan(low=-2, high=2))
op("cumprod_zeros", function("cumprod", 1),
   fixed(Sample((np.array([[1.5, 0.0, 2.0, 0.0, 3.0], [0.0, 2.0, -1.0, 0.5, 1.0]]),))))
op("cummax", function("cummax"), scan(), indices=True)
op("cummin", function("cummin"), scan(low=-1, high=1), indices=True, grad=False)

# Sorting and selection.
op("sort", function("sort"), scan(), indices=True)
# With `stable`, PyTorch takes dim only by keyword.
op("sort_stable", lambda t, x, d: t.sort(x, dim=d, stable=True), scan(low=-1, high=1),
   grad=False)
op("sort_descending_stable", lambda t, x, d: t.sort(x, dim=d, descending=True, stable=True),
   scan(low=-1, high=1), grad=False)
op("argsort_stable", lambda t, x, d: t.argsort(x, dim=d, stable=True), scan(low=-1, high=1),
   grad=False)
op("topk", lambda t, x, dim: t.topk(x, 1, dim), scan(), dtypes=_NUMERIC, indices=True)
op("topk_smallest", lambda t, x, dim: t.topk(x, 2, dim, largest=False), scan(dims=(-1,)),
   dtypes=_NUMERIC, indices=True)
op("kthvalue", function("kthvalue", 2), reduction(dims=(-1, 1)), dtypes=_NUMERIC, indices=True)
op("median", function("median"), reduction(dims=(None, -1, 1)), dtypes=_NUMERIC)
op("median_nan", function("median", dim=1),
   fixed(Sample((np.array([[3.0, 1.0, NAN, 2.0, NAN], [1.0, 1.0, 2.0, 2.0, 0.0]]),),
                grad=False)), dtypes=FLOATS)
op("nanmedian", function("nanmedian", dim=1),
   fixed(Sample((np.array([[3.0, 1.0, NAN, 2.0, NAN], [NAN, NAN, NAN, NAN, NAN]]),),
                grad=False)), dtypes=FLOATS)
op("mode", function("mode"), reduction(dims=(-1, 1), low=-1, high=2), dtypes=_NUMERIC)

# Norms.
for _ord in (2, 1, 3, INF, -INF, 0):
    op(f"vector_norm_{_ord}", lambda t, x, dim=None, keepdim=False, _ord=_ord:
       t.linalg.vector_norm(x, _ord, dim, keepdim), reduction(dims=(None, 1, (0, 2))),
       dtypes=FLOATS)
op("vector_norm_zero_vector", lambda t, x: t.linalg.vector_norm(x, dim=1),
   fixed(Sample((np.array([[0.0, 0.0], [3.0, 4.0]]),))), dtypes=FLOATS)
op("norm", function("norm"), reduction(dims=(None, 1)), dtypes=FLOATS)
op("norm_p1", function("norm", p=1), reduction(dims=(None, 1)), dtypes=FLOATS)
op("linalg_norm", lambda t, x: t.linalg.norm(x), unary(nonfinite=False), dtypes=FLOATS)
for _ord in ("fro", 1, -1, INF, -INF):
    op(f"matrix_norm_{_ord}", lambda t, x, _ord=_ord: t.linalg.matrix_norm(x, _ord),
       fixed(Sample((np.array([[1.0, -2.0, 3.0], [4.0, 0.5, -6.0]]),))), dtypes=FLOATS)
op("normalize", lambda t, x: t.nn.functional.normalize(x), fixed(
    Sample((np.array([[1.0, -2.0, 3.0], [0.0, 0.0, 0.0]]),))), dtypes=FLOATS,
   finite_differences=False)  # x / max(|x|, eps) has no derivative at the zero row
op("normalize_p1", lambda t, x: t.nn.functional.normalize(x, p=1.0, dim=0), unary(
    nonfinite=False), dtypes=FLOATS)
