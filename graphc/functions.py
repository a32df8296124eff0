"""Module-level tensor functions with PyTorch's names (`graphc.mm`, `graphc.cat`, ...)."""

from __future__ import annotations

import numpy as np

from graphc import dispatch
from graphc import tensor_core as _tensor
from graphc.tensor_math import where, write_out
from graphc.tensor_matrix import cartesian_prod, einsum, meshgrid, tensordot
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


def is_tensor(obj) -> bool:
    return isinstance(obj, _tensor.Tensor)


def equal(a, b) -> bool:
    """True when both tensors have the same shape and values."""
    return tuple(a.shape) == tuple(b.shape) and bool(np.array_equal(np.asarray(a), np.asarray(b)))


__all__ = ["cartesian_prod", "cat", "concat", "concatenate", "einsum", "equal", "is_tensor",
           "meshgrid", "stack", "tensordot", "where"]
__all__.extend(METHODS)
