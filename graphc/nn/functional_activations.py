"""The piecewise and self-normalizing activations of `graphc.nn.functional` (hardtanh, relu6,
hardsigmoid, hardswish, selu, celu, softsign, logsigmoid, glu, the shrinks, threshold).

Each is a composite of `where` branches written so that the gradient at a breakpoint is the one
PyTorch gives (hardtanh passes nothing at its bounds, hardswish uses the middle piece at -3 and 3)
and no unselected branch can overflow.
"""

from __future__ import annotations

import graphc
from graphc.nn.losses import log1p_exp

SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


def _elu_like(x, alpha: float, divisor: float = 1.0):
    """alpha * (exp(x / divisor) - 1) where x <= 0, else x (elu, celu). NaN takes the linear
    piece and expm1 sees only x <= 0, so neither the gradient at NaN (1, as PyTorch's) nor the
    unselected branch (0 * inf) is poisoned; at 0 the gradient is the exponential piece's."""
    negative = x <= 0
    safe = graphc.where(negative, x if divisor == 1 else x / divisor, 0.0)
    return graphc.where(negative, graphc.expm1(safe) * alpha, x)


def hardtanh(input, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False):
    """x clipped to [min_val, max_val]; no gradient at or beyond the bounds."""
    return graphc.where(input <= min_val, min_val,
                        graphc.where(input >= max_val, max_val, input)).type(input.dtype)


def relu6(input, inplace: bool = False):
    return hardtanh(input, 0.0, 6.0)


def hardsigmoid(input, inplace: bool = False):
    """relu6(x + 3) / 6, with PyTorch's zero gradient at -3 and 3."""
    middle = input / 6.0 + 0.5
    return graphc.where(input <= -3.0, 0.0, graphc.where(input >= 3.0, 1.0, middle))


def hardswish(input, inplace: bool = False):
    """x * relu6(x + 3) / 6; at -3 and 3 the gradient is the outer pieces' (as PyTorch's), and
    -inf gives NaN as there."""
    middle = input * (input + 3.0) / 6.0
    return graphc.where(input <= -3.0, input * 0.0, graphc.where(input >= 3.0, input, middle))


def elu(input, alpha: float = 1.0, inplace: bool = False):
    return _elu_like(input, alpha)


def selu(input, inplace: bool = False):
    return elu(input, SELU_ALPHA) * SELU_SCALE


def celu(input, alpha: float = 1.0, inplace: bool = False):
    if alpha == 0:
        raise RuntimeError("ZeroDivisionError")
    return _elu_like(input, alpha, alpha)


def softplus(input, beta: float = 1.0, threshold: float = 20.0):
    """log(1 + exp(beta * x)) / beta, computed without overflow; linear above `threshold`."""
    z = input * beta if beta != 1 else input
    stable = log1p_exp(z)
    if beta != 1:
        stable = stable * (1.0 / beta)
    return graphc.where(z > threshold, input, stable)


def mish(input, inplace: bool = False):
    return input * graphc.tanh(softplus(input))


def softsign(input):
    return input / (input.abs() + 1.0)


def logsigmoid(input):
    """log(sigmoid(x)) = -softplus(-x), finite for any x."""
    return -softplus(-input, threshold=float("inf"))


def glu(input, dim: int = -1):
    """a * sigmoid(b) for the two halves a, b of `dim`."""
    n = input.shape[dim] if input.ndim else 0
    if n % 2:
        axis = dim % max(input.ndim, 1)
        raise RuntimeError(f"Halving dimension must be even, but dimension {axis} is size {n}")
    a, b = input.chunk(2, dim)
    return a * graphc.sigmoid(b)


def threshold(input, threshold: float, value: float, inplace: bool = False):
    return graphc.where(input <= threshold, value, input).type(input.dtype)  # NaN stays


def hardshrink(input, lambd: float = 0.5):
    return graphc.where(input.abs() <= lambd, 0.0, input).type(input.dtype)  # NaN stays


def softshrink(input, lambd: float = 0.5):
    shrunk = graphc.where(input > lambd, input - lambd, input + lambd)
    return graphc.where(input.abs() <= lambd, 0.0, shrunk).type(input.dtype)


def tanhshrink(input):
    return input - graphc.tanh(input)
