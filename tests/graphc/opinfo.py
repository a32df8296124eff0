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
    grad_tol: tuple | None = None  # (rtol, atol) for gradients against PyTorch's


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

def vector_pairs(rng, dtype):
    """(x1, x2) pairs of vectors along dim 1 and the last dim: broadcasting, a zero vector."""
    zero = make(rng, (3, 4), dtype)
    zero[1] = 0
    return [Sample((make(rng, (3, 4), dtype), make(rng, (3, 4), dtype))),
            Sample((make(rng, (2, 3, 4), dtype), make(rng, (1, 3, 4), dtype))),
            Sample((make(rng, (3, 4), dtype), make(rng, (4,), dtype))),
            Sample((zero, make(rng, (3, 4), dtype)), grad=False)]


op("cosine_similarity", lambda t, a, b: t.nn.functional.cosine_similarity(a, b), vector_pairs,
   dtypes=FLOATS)
op("cosine_similarity_last", lambda t, a, b: t.nn.functional.cosine_similarity(a, b, dim=-1,
                                                                                 eps=1e-3),
   vector_pairs, dtypes=FLOATS)
op("pairwise_distance", lambda t, a, b: t.nn.functional.pairwise_distance(a, b), vector_pairs,
   dtypes=FLOATS)
op("pairwise_distance_p1_keepdim", lambda t, a, b: t.nn.functional.pairwise_distance(
    a, b, p=1.0, keepdim=True), vector_pairs, dtypes=FLOATS)

# Shape and indexing.
def matrices(rng, dtype):
    return [Sample((make(rng, s, dtype),)) for s in ((3, 4), (2, 4, 3), (3, 3), (0, 2))]


def index_samples(rng, dtype):
    """(x, dim, index) for gather-like ops, the index smaller than x off the dim."""
    x = make(rng, (3, 4), dtype)
    return [Sample((x, 1, rng.integers(0, 4, size=(2, 3)))),
            Sample((x, 0, rng.integers(0, 3, size=(4, 4)))),
            Sample((make(rng, (), dtype), 0, np.array(0)))]


def scatter_samples(rng, dtype, unique=True):
    """(x, dim, index, src) with distinct positions along the dim (writes do not collide);
    a source larger than the index is forward-only (PyTorch's own gradient fails there)."""
    x = make(rng, (3, 4), dtype)
    rows = np.stack([rng.permutation(4)[:3] for _ in range(2)])
    cols = np.stack([rng.permutation(3)[:2] for _ in range(4)], axis=1)
    out = [Sample((x, 1, rows, make(rng, rows.shape, dtype))),
           Sample((x, 0, cols, make(rng, cols.shape, dtype))),
           Sample((x, 1, rows, make(rng, (3, 5), dtype)), grad=False)]
    if not unique:
        many = rng.integers(0, 4, size=(3, 4))
        out.append(Sample((x, 1, many, make(rng, many.shape, dtype)), grad=False))
    return out


for _k in (0, 1, -1):
    op(f"tril_{_k}", function("tril", _k), matrices)
    op(f"triu_{_k}", function("triu", _k), matrices)
op("flip", function("flip", (0, -1)), lambda rng, dtype: [Sample((make(rng, (2, 3, 4), dtype),))])
op("fliplr", function("fliplr"), matrices)
op("roll", function("roll", (1, -2), (0, 1)), matrices)
op("roll_flat", function("roll", 5), unary())
for _offset in (0, 1, -1):
    op(f"diagonal_{_offset}", function("diagonal", _offset), matrices)
    op(f"diag_embed_{_offset}", function("diag_embed", _offset),
       lambda rng, dtype: [Sample((make(rng, s, dtype),)) for s in ((3,), (2, 3))])
    op(f"diag_{_offset}", function("diag", _offset),
       lambda rng, dtype: [Sample((make(rng, s, dtype),)) for s in ((3,), (3, 4))])
op("diagonal_dims", function("diagonal", 0, 2, 0),
   lambda rng, dtype: [Sample((make(rng, (3, 2, 4), dtype),))])
op("trace", lambda t, x: x.trace(), matrices, dtypes=FLOATS)  # graphc.trace is the tracer
op("unfold_tensor", lambda t, x: x.unfold(1, 2, 1), matrices)
op("unfold_step", lambda t, x: x.unfold(-1, 2, 2), matrices)
op("F_unfold", lambda t, x: t.nn.functional.unfold(x, (2, 3), dilation=(1, 1), padding=1,
                                                   stride=(2, 1)),
   lambda rng, dtype: [Sample((make(rng, (2, 3, 5, 4), dtype),))], dtypes=FLOATS)
op("repeat_interleave", function("repeat_interleave", 2, 1), matrices)
op("repeat_interleave_flat", function("repeat_interleave", 3), unary())
op("repeat_interleave_tensor", lambda t, x: x.repeat_interleave(t.tensor([1, 0, 2]), dim=0),
   lambda rng, dtype: [Sample((make(rng, (3, 2), dtype),))], trace="skip")
op("movedim", function("movedim", (0, 1), (2, 0)),
   lambda rng, dtype: [Sample((make(rng, (2, 3, 4), dtype),))])
op("gather", lambda t, x, d, i: t.gather(x, d, t.tensor(i)), index_samples)
op("take_along_dim", lambda t, x, d, i: t.take_along_dim(x, t.tensor(i), d),
   lambda rng, dtype: [Sample((make(rng, (3, 4), dtype), 1, rng.integers(0, 4, size=(1, 2)))),
                       Sample((make(rng, (3, 4), dtype), None, rng.integers(0, 12, size=(5,))))])
op("scatter", lambda t, x, d, i, s: t.scatter(x, d, t.tensor(i), s), scatter_samples)
op("scatter_value", lambda t, x, d, i, s: x.scatter(d, t.tensor(i), 2.5),
   scatter_samples, dtypes=FLOATS)
op("scatter_add", lambda t, x, d, i, s: t.scatter_add(x, d, t.tensor(i), s),
   lambda rng, dtype: scatter_samples(rng, dtype, unique=False))
for _reduce in ("sum", "mean", "amax", "amin"):
    for _self in (True, False):
        op(f"scatter_reduce_{_reduce}_{_self}",
           lambda t, x, d, i, s, _reduce=_reduce, _self=_self: x.scatter_reduce(
               d, t.tensor(i), s, _reduce, include_self=_self),
           lambda rng, dtype: scatter_samples(rng, dtype, unique=False),
           dtypes=(*FLOATS, *INTS))
op("index_add", lambda t, x: x.index_add(0, t.tensor([0, 2, 0]), t.ones(3, 4, dtype=x.dtype)),
   lambda rng, dtype: [Sample((make(rng, (3, 4), dtype),))], dtypes=(*FLOATS, *INTS))
op("index_fill", lambda t, x: x.index_fill(1, t.tensor([0, 2]), -1),
   lambda rng, dtype: [Sample((make(rng, s, dtype),)) for s in ((3, 4), (2, 3, 4), (0, 3))],
   dtypes=(*FLOATS, *INTS))
op("index_put", lambda t, x, v: x.index_put((t.tensor([0, 2, 0]), t.tensor([1, 1, 3])), v),
   lambda rng, dtype: [Sample((make(rng, (3, 4), dtype), make(rng, (3,), dtype)), grad=False)])
op("index_put_accumulate",
   lambda t, x, v: x.index_put((t.tensor([0, 2, 0]),), v, accumulate=True),
   lambda rng, dtype: [Sample((make(rng, (3, 4), dtype), make(rng, (4,), dtype)))],
   dtypes=(*FLOATS, *INTS))
op("setitem_tensor_index", lambda t, x, v: _setitem(x, (slice(None), t.tensor([2, 0])), v),
   lambda rng, dtype: [Sample((make(rng, (3, 4), dtype), make(rng, (3, 2), dtype)))],
   dtypes=FLOATS)
op("getitem_lists", lambda t, x: (x[[0, 2]], x[[0, [1, 2]]], x[(0, 1),], x[[[0, 1], [2, 0]]]),
   lambda rng, dtype: [Sample((make(rng, (3, 4), dtype),))])
op("masked_select", lambda t, x: x.masked_select(x > 0), unary(), trace="error")
op("nonzero", function("nonzero"), unary(), grad=False, trace="error")
op("nonzero_tuple", function("nonzero", as_tuple=True), matrices, grad=False, trace="error")
op("outer", function("outer"), lambda rng, dtype: [Sample((make(rng, (3,), dtype),
                                                            make(rng, (4,), dtype)))])
op("dot", function("dot"), lambda rng, dtype: [Sample((make(rng, (3,), dtype),
                                                        make(rng, (3,), dtype)))],
   dtypes=(*FLOATS, *INTS))
op("kron", function("kron"), lambda rng, dtype: [Sample((make(rng, (2, 3), dtype),
                                                          make(rng, (3, 2), dtype))),
                                                   Sample((make(rng, (2,), dtype),
                                                           make(rng, (2, 2), dtype)))])
op("tensordot", lambda t, a, b: t.tensordot(a, b, dims=([1, 0], [0, 2])),
   lambda rng, dtype: [Sample((make(rng, (2, 3, 4), dtype), make(rng, (3, 5, 2), dtype)))],
   dtypes=FLOATS)
for _eq, _shapes in (("ij,jk->ik", ((2, 3), (3, 4))), ("bij,bjk->bik", ((2, 2, 3), (2, 3, 4))),
                     ("ii->i", ((3, 3),)), ("...j,j", ((2, 3), (3,))), ("i,j", ((2,), (3,))),
                     ("ijk->kj", ((2, 3, 4),)), ("ij,kj,j->ik", ((2, 3), (4, 3), (3,)))):
    op(f"einsum_{_eq}", lambda t, *xs, _eq=_eq: t.einsum(_eq, *xs),
       lambda rng, dtype, _shapes=_shapes: [Sample(tuple(make(rng, s, dtype) for s in _shapes))],
       dtypes=FLOATS)
op("meshgrid_ij", lambda t, a, b: t.meshgrid(a, b, indexing="ij"),
   lambda rng, dtype: [Sample((make(rng, (3,), dtype), make(rng, (2,), dtype)))])
op("meshgrid_xy", lambda t, a, b, c: t.meshgrid(a, b, c, indexing="xy"),
   lambda rng, dtype: [Sample((make(rng, (3,), dtype), make(rng, (2,), dtype),
                               make(rng, (4,), dtype)))])
op("cartesian_prod", function("cartesian_prod"),
   lambda rng, dtype: [Sample((make(rng, (3,), dtype), make(rng, (2,), dtype)))])
op("view_dtype", lambda t, x: x.view(t.int32), lambda rng, dtype: [
    Sample((make(rng, (2, 4), dtype),))], dtypes=("float32", "int64"), grad=False)
for _mode in ("constant", "reflect", "replicate", "circular"):
    op(f"pad_{_mode}", lambda t, x, _mode=_mode: t.nn.functional.pad(x, (1, 2, 2, 0), _mode),
       lambda rng, dtype: [Sample((make(rng, (2, 3, 4), dtype),))], dtypes=FLOATS)
    op(f"pad_{_mode}_negative", lambda t, x, _mode=_mode: t.nn.functional.pad(x, (-1, 2), _mode),
       lambda rng, dtype: [Sample((make(rng, (2, 3, 4), dtype),))], dtypes=FLOATS)


def _setitem(x, key, value):
    x = x.clone()
    x[key] = value
    return x

# Activations: the functions, and the modules built on them.
_BREAKPOINTS = np.array([-7.0, -6.0, -3.0, -1.0, -0.5, 0.0, 0.5, 1.0, 3.0, 6.0, 7.0, 25.0])


def activation(low=-8.0, high=8.0):
    """Random values, and the breakpoints of the piecewise activations (forward and gradient:
    the gradient there must be PyTorch's choice)."""
    return samples_of(unary(low, high), lambda rng, dtype: [Sample((_BREAKPOINTS.astype(dtype),))])


for _name, _args in (
    ("relu", ()), ("relu6", ()), ("hardtanh", ()), ("hardtanh", (-2.0, 0.5)), ("hardsigmoid", ()),
    ("hardswish", ()), ("elu", ()), ("elu", (0.5,)), ("selu", ()), ("celu", ()), ("celu", (0.5,)),
    ("softsign", ()), ("logsigmoid", ()), ("softplus", ()), ("softplus", (2.0, 5.0)), ("mish", ()),
    ("silu", ()), ("gelu", ()), ("sigmoid", ()), ("tanh", ()), ("tanhshrink", ()),
    ("hardshrink", ()), ("softshrink", (1.0,)), ("threshold", (0.5, -2.0)),
    ("leaky_relu", (0.2,)),
):
    op(f"F_{_name}{_args or ''}", lambda t, x, _name=_name, _args=_args: getattr(
        t.nn.functional, _name)(x, *_args), activation(), dtypes=FLOATS,
       grad_tol=(1e-7, 1e-9) if _name in ("hardsigmoid", "celu") else None)  # float32 1/6 ...
op("F_gelu_tanh", lambda t, x: t.nn.functional.gelu(x, approximate="tanh"), activation(),
   dtypes=FLOATS)
op("F_glu", lambda t, x: t.nn.functional.glu(x, 1),
   lambda rng, dtype: [Sample((make(rng, s, dtype),)) for s in ((2, 4), (3, 2, 5), (2, 3))],
   dtypes=FLOATS)
for _name in ("softmax", "log_softmax", "softmin"):
    op(f"F_{_name}", lambda t, x, _name=_name: getattr(t.nn.functional, _name)(x, -1), unary(),
       dtypes=FLOATS)
    op(f"torch_{_name}", lambda t, x, _name=_name: getattr(t, _name)(x, 0), unary(),
       dtypes=FLOATS) if _name != "softmin" else None
for _module, _args in (
    ("Hardtanh", (-0.5, 2.0)), ("ReLU6", ()), ("Hardswish", ()), ("Hardsigmoid", ()),
    ("SELU", ()), ("CELU", (0.7,)), ("Softsign", ()), ("LogSigmoid", ()), ("GLU", ()),
    ("Softmin", (1,)), ("Tanhshrink", ()), ("Softshrink", (0.3,)), ("Hardshrink", (0.3,)),
    ("Threshold", (0.1, 20.0)), ("Mish", ()), ("ELU", ()),
):
    # PyTorch computes some of these gradients with float32 constants (1/6, 1/alpha).
    op(f"nn_{_module}", lambda t, x, _module=_module, _args=_args: getattr(t.nn, _module)(*_args)(x),
       lambda rng, dtype: [Sample((make(rng, (3, 4), dtype, -5, 5),))], dtypes=FLOATS,
       grad_tol=(1e-7, 1e-9))
op("nn_Unfold", lambda t, x: t.nn.Unfold(2, padding=1)(x),
   lambda rng, dtype: [Sample((make(rng, (1, 2, 3, 3), dtype),))], dtypes=FLOATS)

# Composites of PyTorch's torch.* surface (graphc/tensor_composite.py, graphc/functions.py).
def _mats(*shapes):
    return lambda rng, dtype: [Sample(tuple(make(rng, s, dtype) for s in shapes))]


op("addmm", lambda t, c, a, b: t.addmm(c, a, b, beta=0.5, alpha=2.0),
   _mats((3, 5), (3, 4), (4, 5)), dtypes=FLOATS)
op("addmm_broadcast", lambda t, c, a, b: t.addmm(c, a, b), _mats((5,), (3, 4), (4, 5)),
   dtypes=FLOATS)
op("addmv", lambda t, c, a, b: t.addmv(c, a, b, alpha=3.0), _mats((3,), (3, 4), (4,)),
   dtypes=FLOATS)
op("baddbmm", lambda t, c, a, b: t.baddbmm(c, a, b, beta=2.0),
   _mats((2, 3, 5), (2, 3, 4), (2, 4, 5)), dtypes=FLOATS)
op("addbmm", lambda t, c, a, b: t.addbmm(c, a, b), _mats((3, 5), (2, 3, 4), (2, 4, 5)),
   dtypes=FLOATS)
op("matrix_power", lambda t, a: t.matrix_power(a, 3), _mats((2, 3, 3)), dtypes=FLOATS)
op("diff", lambda t, x: t.diff(x, dim=1), _mats((3, 5)), dtypes=(*FLOATS, *INTS, "bool"))
op("diff_n2_prepend", lambda t, x, p: t.diff(x, n=2, dim=0, prepend=p), _mats((3, 4), (1, 4)),
   dtypes=FLOATS)
op("nansum", lambda t, x: t.nansum(x, -1), unary(), dtypes=FLOATS)
op("nansum_all", lambda t, x: t.nansum(x),
   fixed(Sample((np.array([[1.0, NAN], [2.5, -1.0]]),))), dtypes=FLOATS)
op("nanmean", lambda t, x: t.nanmean(x, 1),
   fixed(Sample((np.array([[1.0, NAN, 3.0], [NAN, NAN, 2.0]]),))), dtypes=FLOATS)
op("logcumsumexp", lambda t, x: t.logcumsumexp(x, 1), _mats((3, 5)), dtypes=FLOATS)
op("logcumsumexp_inf", lambda t, x: t.logcumsumexp(x, 0),
   fixed(Sample((np.array([-INF, -INF, 1.0, INF, 2.0]),), grad=False)), dtypes=FLOATS)
op("select", lambda t, x: t.select(x, 1, -2), _mats((3, 4, 2)), dtypes=ALL)
op("tensor_split_sections", lambda t, x: t.tensor_split(x, 3, dim=1), _mats((2, 7)), dtypes=ALL)
op("tensor_split_indices", lambda t, x: t.tensor_split(x, [1, -2, 9]), _mats((5, 2)), dtypes=ALL)
op("split_with_sizes", lambda t, x: t.split_with_sizes(x, [2, 1, 2], 0), _mats((5, 3)),
   dtypes=FLOATS)
op("hsplit", lambda t, x: t.hsplit(x, 2), _mats((3, 4)), dtypes=FLOATS)
op("vsplit", lambda t, x: t.vsplit(x, [1, 2]), _mats((3, 4)), dtypes=FLOATS)
for _k in (1, 2, 3, -1):
    op(f"rot90_{_k}", lambda t, x, _k=_k: t.rot90(x, _k, (1, 2)), _mats((2, 3, 4)), dtypes=ALL)
op("tile", lambda t, x: t.tile(x, (2, 1, 3)), _mats((2, 3)), dtypes=ALL)
op("tile_method", lambda t, x: x.tile(2), _mats((2, 3)), dtypes=FLOATS)
op("take", lambda t, x, i: t.take(x, i),
   lambda rng, dtype: [Sample((make(rng, (3, 4), dtype), np.array([[0, -1], [5, 11]])))],
   dtypes=ALL)
op("cross", lambda t, a, b: t.cross(a, b, dim=1), _mats((4, 3), (4, 3)), dtypes=FLOATS)
op("dist", lambda t, a, b: t.dist(a, b, 3), _mats((4, 3), (3,)), dtypes=FLOATS)
op("xlogy", lambda t, x, y: t.xlogy(x, y),
   lambda rng, dtype: [Sample((make(rng, (2, 3), dtype), make(rng, (3,), dtype, 0.1, 3))),
                       Sample((np.array([0.0, 0.0, 2.0, 0.0], dtype),
                               np.array([0.0, NAN, 0.0, 3.0], dtype)), grad=False)],
   dtypes=FLOATS)
op("logaddexp", lambda t, x, y: t.logaddexp(x, y), binary(scalars=()), dtypes=FLOATS)
op("logaddexp_ties", lambda t, x, y: t.logaddexp(x, y),
   fixed(Sample((np.array([1.0, -2.0, 0.5]), np.array([1.0, -2.0, 3.0])))), dtypes=FLOATS)
op("fmax", lambda t, x, y: t.fmax(x, y), binary(scalars=()), dtypes=(*FLOATS, *INTS),
   finite_differences=False)
op("fmin", lambda t, x, y: t.fmin(x, y), binary(scalars=()), dtypes=(*FLOATS, *INTS),
   finite_differences=False)
op("sinc", lambda t, x: t.sinc(x), unary(), dtypes=FLOATS)
op("sinc_zero", lambda t, x: t.sinc(x), fixed(Sample((np.array([0.0, 1.0, -0.5]),))),
   dtypes=FLOATS)
op("heaviside", lambda t, x, v: t.heaviside(x, v),
   fixed(Sample((np.array([-1.5, 0.0, 2.0, 0.0]), np.array([0.5, 0.25, 0.5, 0.75])),
                grad=False)), dtypes=FLOATS, grad=False)
op("deg2rad", lambda t, x: t.deg2rad(x), unary(), dtypes=FLOATS)
op("rad2deg", lambda t, x: t.rad2deg(x), unary(), dtypes=FLOATS)
op("atan2", lambda t, y, x: t.atan2(y, x), binary(scalars=()), dtypes=(*FLOATS, *INTS),
   finite_differences=False)  # (binary's samples may sit at the origin)
op("atan2_method", lambda t, y, x: y.arctan2(x), _mats((2, 3), (3,)), dtypes=FLOATS)
op("hypot", lambda t, x, y: t.hypot(x, y), binary(scalars=()), dtypes=FLOATS,
   finite_differences=False)
op("hypot_large", lambda t, x, y: t.hypot(x, y),
   fixed(Sample((np.array([3e200, 1e-200, 5.0]), np.array([4e200, 1e-200, -12.0])))),
   dtypes=("float64",), finite_differences=False)  # (no finite step at 1e200)
op("copysign", lambda t, x, y: t.copysign(x, y), binary(scalars=()), dtypes=(*FLOATS, *INTS),
   finite_differences=False)
op("erfc", lambda t, x: t.erfc(x), unary(), dtypes=(*FLOATS, *INTS))
op("erfc_tail", lambda t, x: t.erfc(x), fixed(Sample((np.array([5.0, 10.0, 26.0, -6.0]),))),
   dtypes=("float64",))
op("hstack", lambda t, a, b: t.hstack([a, b]), _mats((2, 3), (2, 1)), dtypes=ALL)
op("hstack_vectors", lambda t, a, b: t.hstack([a, b]), _mats((3,), (2,)), dtypes=FLOATS)
op("vstack", lambda t, a, b: t.vstack([a, b]), _mats((3,), (2, 3)), dtypes=ALL)
op("dstack", lambda t, a, b: t.dstack([a, b]), _mats((2, 3), (2, 3)), dtypes=FLOATS)
op("column_stack", lambda t, a, b: t.column_stack([a, b]), _mats((3,), (3, 2)), dtypes=FLOATS)
op("atleast_2d", lambda t, a: t.atleast_2d(a), _mats((3,)), dtypes=FLOATS)
op("atleast_3d", lambda t, a, b: t.atleast_3d(a, b), _mats((), (2, 3)), dtypes=FLOATS)
op("broadcast_tensors", lambda t, a, b: t.broadcast_tensors(a, b), _mats((2, 1), (3,)),
   dtypes=FLOATS)
op("block_diag", lambda t, a, b, c: t.block_diag(a, b, c), _mats((2, 3), (1, 1), (2,)),
   dtypes=FLOATS)
op("cdist", lambda t, a, b: t.cdist(a, b), _mats((2, 3, 4), (2, 5, 4)), dtypes=FLOATS)
op("cdist_p1", lambda t, a, b: t.cdist(a, b, p=1.0), _mats((3, 4), (5, 4)), dtypes=FLOATS,
   finite_differences=False)

# The narrow dtypes (float16 storage, 8- and 16-bit integers) on the ops models use them with.
NARROW = ("float16", "uint8", "int8", "int16")
for _info in OPS:
    if _info.name in {
        "add", "radd", "sub", "mul", "truediv", "floordiv", "mod", "neg", "abs", "maximum",
        "minimum", "eq", "ne", "lt", "le", "gt", "ge", "bitwise_and", "bitwise_or", "bitwise_xor",
        "bitwise_not", "lshift", "rshift", "sum", "amax", "amin", "prod", "cumsum", "clamp",
        "relu", "sign", "exp", "log", "sqrt", "sigmoid", "tanh", "floor", "round", "isnan",
        "sort", "argmax", "flip", "roll", "tril_0", "gather", "scatter", "where_", "logical_and",
        "pow_int", "index_fill", "repeat_interleave", "masked_select", "nonzero", "einsum_ij,jk->ik",
        "mean", "softmax", "F_softmax", "F_relu6", "F_pad_constant",
    }:
        _info.dtypes = (*_info.dtypes, *(d for d in NARROW if d not in _info.dtypes))
