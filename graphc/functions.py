"""Module-level tensor functions with PyTorch's names (`graphc.mm`, `graphc.cat`, ...)."""

from __future__ import annotations

import builtins  # (this module's any, sum, max, ... are graphc's)

import numpy as np

from graphc import dispatch
from graphc import tensor_core as _tensor
from graphc.tensor_math import where, write_out
from graphc.tensor_matrix import cartesian_prod, einsum, meshgrid, tensordot
from graphc.tensor_scatter import searchsorted
from graphc.tensor_shape import axis_index


def _method(name: str):
    def fn(input, *args, out=None, **kwargs):
        result = getattr(input, name)(*args, **kwargs)
        return result if out is None else write_out(name, result, out)

    fn.__name__ = name
    fn.__doc__ = f"`graphc.{name}(t, ...)` is `t.{name}(...)`; `out=` receives the result."
    return fn


# `graphc.<name>(t, ...)` is `t.<name>(...)` for these Tensor methods.
METHODS = (
    "flip",
    "fliplr",
    "flipud",
    "roll",
    "movedim",
    "moveaxis",
    "repeat_interleave",
    "scatter",
    "scatter_add",
    "scatter_reduce",
    "take_along_dim",
    "index_add",
    "index_fill",
    "index_put",
    "masked_select",
    "nonzero",
    "argwhere",
    "tril",
    "triu",
    "diag",
    "diagonal",
    "diag_embed",
    "trace",
    "outer",
    "ger",
    "dot",
    "vdot",
    "inner",
    "kron",
    "cumsum",
    "cumprod",
    "cummax",
    "cummin",
    "prod",
    "logsumexp",
    "std_mean",
    "var_mean",
    "aminmax",
    "count_nonzero",
    "sort",
    "argsort",
    "msort",
    "topk",
    "kthvalue",
    "median",
    "nanmedian",
    "mode",
    "norm",
    "allclose",
    "exp",
    "log",
    "sqrt",
    "rsqrt",
    "sin",
    "cos",
    "tanh",
    "sigmoid",
    "erf",
    "relu",
    "abs",
    "neg",
    "sign",
    "square",
    "sum",
    "mean",
    "var",
    "std",
    "max",
    "min",
    "amax",
    "amin",
    "argmax",
    "argmin",
    "all",
    "any",
    "clamp",
    "clip",
    "pow",
    "maximum",
    "minimum",
    "matmul",
    "mm",
    "bmm",
    "reshape",
    "flatten",
    "permute",
    "transpose",
    "unsqueeze",
    "squeeze",
    "split",
    "chunk",
    "unbind",
    "gather",
    "index_select",
    "masked_fill",
    "numel",
    "t",
    "narrow",
    "mv",
    "div",
    "mul",
    "add",
    "sub",
    "eq",
    "ne",
    "lt",
    "le",
    "gt",
    "ge",
    "logical_not",
    "logical_and",
    "logical_or",
    "softmax",
    "log_softmax",
    "log2",
    "log10",
    "log1p",
    "exp2",
    "expm1",
    "tan",
    "asin",
    "acos",
    "atan",
    "sinh",
    "cosh",
    "asinh",
    "acosh",
    "atanh",
    "arcsin",
    "arccos",
    "arctan",
    "arcsinh",
    "arccosh",
    "arctanh",
    "erfinv",
    "floor",
    "ceil",
    "trunc",
    "fix",
    "round",
    "frac",
    "reciprocal",
    "floor_divide",
    "remainder",
    "fmod",
    "divide",
    "true_divide",
    "multiply",
    "subtract",
    "negative",
    "lerp",
    "clamp_min",
    "clamp_max",
    "isnan",
    "isinf",
    "isfinite",
    "isposinf",
    "isneginf",
    "nan_to_num",
    "isclose",
    "bitwise_and",
    "bitwise_or",
    "bitwise_xor",
    "bitwise_not",
    "bitwise_left_shift",
    "bitwise_right_shift",
    "logical_xor",
    "clone",
    "detach",
    "broadcast_to",
    "swapaxes",
    "swapdims",
    "addmm",
    "addmv",
    "baddbmm",
    "addbmm",
    "matrix_power",
    "diff",
    "nansum",
    "nanmean",
    "logcumsumexp",
    "select",
    "split_with_sizes",
    "tensor_split",
    "hsplit",
    "vsplit",
    "rot90",
    "tile",
    "take",
    "cross",
    "dist",
    "xlogy",
    "logaddexp",
    "fmax",
    "fmin",
    "sinc",
    "heaviside",
    "deg2rad",
    "rad2deg",
    "erfc",
    "atan2",
    "arctan2",
    "hypot",
    "copysign",
    "unique",
    "bincount",
    "bucketize",
)
for _name in METHODS:
    globals()[_name] = _method(_name)


def cat(tensors, dim: int = 0):
    """Concatenate tensors along an existing dimension (dtypes promoted as in PyTorch)."""
    tensors = list(tensors)
    if not tensors:
        raise RuntimeError("cat(): expected a non-empty list of Tensors")
    if len(tensors) == 1:
        return tensors[0].clone()
    tensors = dispatch.promote(*tensors)
    return dispatch.apply("concat", *tensors, axis=axis_index(dim, tensors[0].ndim))


concat = concatenate = cat


def stack(tensors, dim: int = 0):
    """Join same-shaped tensors along a new dimension."""
    tensors = list(tensors)
    if not tensors:
        raise RuntimeError("stack expects a non-empty TensorList")
    shapes = {tuple(t.shape) for t in tensors}
    if len(shapes) > 1:
        raise RuntimeError(f"stack expects each tensor to be equal size, got {sorted(shapes)}")
    dim = axis_index(dim, tensors[0].ndim + 1)
    return cat([t.unsqueeze(dim) for t in tensors], dim)


def _joined(tensors, dim: int, least):
    tensors = [least(t) for t in tensors]
    return cat(tensors, dim)


def atleast_1d(*tensors):
    """Each tensor with at least one dimension (a tuple for several)."""
    return _each(tensors, lambda t: t.reshape(1) if t.ndim == 0 else t)


def atleast_2d(*tensors):
    """Each tensor with at least two dimensions (vectors as rows)."""
    return _each(tensors, lambda t: t.reshape(1, -1) if t.ndim < 2 else t)


def atleast_3d(*tensors):
    """Each tensor with at least three dimensions (as numpy.atleast_3d)."""
    def lift(t):
        if t.ndim == 0:
            return t.reshape(1, 1, 1)
        if t.ndim == 1:
            return t.reshape(1, -1, 1)
        return t.unsqueeze(-1) if t.ndim == 2 else t

    return _each(tensors, lift)


def _each(tensors, lift):
    """`lift` of each tensor (given as arguments or one sequence); one result alone as itself."""
    out = tuple(lift(t) for t in _unpacked(tensors))
    return out[0] if len(out) == 1 else out


def _unpacked(tensors):
    return tuple(tensors[0]) if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)) \
        else tensors


def hstack(tensors):
    """Concatenate along the second dimension (the first for vectors)."""
    tensors = [atleast_1d(t) for t in tensors]
    return cat(tensors, 0 if tensors[0].ndim == 1 else 1)


def vstack(tensors):
    """Concatenate along the first dimension, vectors as rows."""
    return _joined(tensors, 0, atleast_2d)


row_stack = vstack


def dstack(tensors):
    """Concatenate along the third dimension (numpy.atleast_3d first)."""
    return _joined(tensors, 2, atleast_3d)


def column_stack(tensors):
    """Vectors as columns, matrices as they are, concatenated along the second dimension."""
    return cat([t.reshape(-1, 1) if t.ndim <= 1 else t for t in tensors], 1)


def broadcast_tensors(*tensors):
    """The tensors expanded to their common broadcast shape."""
    shape = np.broadcast_shapes(*(tuple(t.shape) for t in tensors))
    return tuple(t.expand(*shape) for t in tensors)


def block_diag(*tensors):
    """A block-diagonal matrix of the given matrices (vectors as rows, scalars as 1x1)."""
    blocks = [t.reshape(1, 1) if t.ndim == 0 else t.reshape(1, -1) if t.ndim == 1 else t
              for t in tensors]
    if builtins.any(b.ndim != 2 for b in blocks):
        raise RuntimeError("torch.block_diag: Input tensors must have 2 or fewer dimensions")
    blocks = dispatch.promote(*blocks)
    width = builtins.sum(b.shape[1] for b in blocks)
    rows, left = [], 0
    for b in blocks:
        right = width - left - b.shape[1]
        rows.append(_pad_columns(b, left, right))
        left += b.shape[1]
    return cat(rows, 0)


def _pad_columns(matrix, left: int, right: int):
    from graphc.nn import functional as F

    return F.pad(matrix, (left, right))


def chain_matmul(*matrices):
    """The product of the matrices, left to right."""
    matrices = _unpacked(matrices)
    result = matrices[0]
    for m in matrices[1:]:
        result = result.mm(m)
    return result


def logspace(start, end, steps: int, base: float = 10.0, *, dtype=None, device=None,
             requires_grad: bool = False):
    """`steps` values from base**start to base**end, evenly spaced in the exponent."""
    from graphc import creation
    from graphc.dtypes import get_default_dtype

    exponents = np.linspace(float(start), float(end), int(steps))
    out = creation.tensor(np.power(float(base), exponents), dtype=dtype or get_default_dtype(),
                          device=device)
    return out.requires_grad_(requires_grad) if requires_grad else out


def cdist(x1, x2, p: float = 2.0, compute_mode=None):
    """The p-norm distances between each row of x1 and each row of x2 (batched), computed
    directly (PyTorch's exact path)."""
    if x1.ndim < 2 or x2.ndim < 2:
        raise RuntimeError(f"cdist only supports at least 2D tensors, X1 got: {x1.ndim}D")
    if x1.shape[-1] != x2.shape[-1]:
        raise RuntimeError(f"X1 and X2 must have the same number of columns. X1: "
                           f"{x1.shape[-1]} X2: {x2.shape[-1]}")
    return (x1.unsqueeze(-2) - x2.unsqueeze(-3)).norm(p, -1)


def is_tensor(obj) -> bool:
    return isinstance(obj, _tensor.Tensor)


def equal(a, b) -> bool:
    """True when both tensors have the same shape and values."""
    return tuple(a.shape) == tuple(b.shape) and bool(np.array_equal(np.asarray(a), np.asarray(b)))


__all__ = ["atleast_1d", "atleast_2d", "atleast_3d", "block_diag", "broadcast_tensors",
           "cartesian_prod", "cat", "cdist", "chain_matmul", "column_stack", "concat",
           "concatenate", "dstack", "einsum", "equal", "hstack", "is_tensor", "logspace",
           "meshgrid", "row_stack", "searchsorted", "stack", "tensordot", "vstack",
           "where"]
__all__.extend(METHODS)
