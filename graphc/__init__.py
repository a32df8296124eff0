"""graphc: PyTorch-style models in, a static graph IR out; symbolic autodiff, passes, compiled
steps."""

from graphc import dispatch
from graphc.autograd import (
    enable_grad,
    inference_mode,
    is_grad_enabled,
    no_grad,
    set_grad_enabled,
)
from graphc.creation import (
    arange,
    as_tensor,
    empty,
    empty_like,
    eye,
    from_numpy,
    full,
    full_like,
    linspace,
    ones,
    ones_like,
    tensor,
    zeros,
    zeros_like,
)
from graphc.device import cuda, device
from graphc.dtypes import DEFAULT_FLOAT, dtype, float32, float64, int32, int64
from graphc.dtypes import bool_ as bool  # PyTorch's dtype names shadow builtins here only
from graphc.dtypes import float32 as float
from graphc.dtypes import float64 as double
from graphc.dtypes import int32 as int
from graphc.dtypes import int64 as long
from graphc.functions import (
    abs,
    add,
    all,
    allclose,
    amax,
    amin,
    any,
    argmax,
    argmin,
    bmm,
    cat,
    chunk,
    clamp,
    clip,
    concat,
    concatenate,
    cos,
    div,
    eq,
    equal,
    erf,
    exp,
    flatten,
    gather,
    ge,
    gt,
    index_select,
    is_tensor,
    le,
    log,
    logical_and,
    logical_not,
    logical_or,
    lt,
    masked_fill,
    matmul,
    max,
    maximum,
    mean,
    min,
    minimum,
    mm,
    mul,
    narrow,
    ne,
    neg,
    numel,
    permute,
    pow,
    relu,
    reshape,
    rsqrt,
    sigmoid,
    sign,
    sin,
    split,
    sqrt,
    square,
    squeeze,
    stack,
    std,
    sub,
    sum,
    t,
    tanh,
    transpose,
    unbind,
    unsqueeze,
    var,
    where,
)
from graphc.random import manual_seed, rand, rand_like, randint, randn, randn_like, randperm
from graphc.tensor_core import Size, Tensor
from graphc.tracing import TraceError, spec, trace

# isort: split
# The packages built on the Tensor core (nn, optim, compile, checkpoints, rendering).
from graphc import backends, nn, optim
from graphc.checkpoint import load, save
from graphc.compile import compile, compile_train_step
from graphc.render import render


def get_default_dtype() -> dtype:
    return DEFAULT_FLOAT


__all__ = [
    "Size", "Tensor", "TraceError", "abs", "add", "all", "allclose", "amax", "amin", "any",
    "arange", "argmax", "argmin", "as_tensor", "backends", "bmm", "bool", "cat", "chunk", "clamp", "clip",
    "compile", "compile_train_step", "concat", "concatenate", "cos", "cuda", "device", "dispatch",
    "div", "double", "dtype", "empty", "empty_like", "enable_grad", "eq", "equal", "erf", "exp",
    "eye", "flatten", "float", "float32", "float64", "from_numpy", "full", "full_like", "gather",
    "ge", "get_default_dtype", "gt", "index_select", "inference_mode", "int", "int32", "int64",
    "is_grad_enabled", "is_tensor", "le", "linspace", "load", "log", "logical_and", "logical_not",
    "logical_or", "long", "lt", "manual_seed", "masked_fill", "matmul", "max", "maximum", "mean",
    "min", "minimum", "mm", "mul", "narrow", "ne", "neg", "nn", "no_grad", "numel", "ones",
    "ones_like", "optim", "permute", "pow", "rand", "rand_like", "randint", "randn", "randn_like",
    "randperm", "relu", "render", "reshape", "rsqrt", "save", "set_grad_enabled", "sigmoid",
    "sign", "sin", "spec", "split", "sqrt", "square", "squeeze", "stack", "std", "sub", "sum", "t",
    "tanh", "tensor", "trace", "transpose", "unbind", "unsqueeze", "var", "where", "zeros",
    "zeros_like",
]
