"""Tensor methods that compute: arithmetic, comparisons, math, reductions, in-place ops."""

from __future__ import annotations

from collections import namedtuple
from numbers import Number

import numpy as np

from graphc import autograd, dispatch, state
from graphc.device import array_module, device_of, move
from graphc.dtypes import TYPE_NAMES, bool_, get_default_dtype, int64
from graphc.tensor_shape import axis_index, normalize_axes

ValuesIndices = namedtuple("ValuesIndices", ["values", "indices"])
_SCALARS = (Number, np.number, np.bool_)
_BOOL_ARITHMETIC = {"add": "bitwise_or", "mul": "bitwise_and", "maximum": "bitwise_or",
                    "minimum": "bitwise_and"}


def _ok(other) -> bool:
    return isinstance(other, (MathMixin, np.ndarray, *_SCALARS))


def _operand(x):
    """NumPy arrays mixed into tensor arithmetic become tensors (as `graphc.tensor` would)."""
    if isinstance(x, np.ndarray):
        from graphc import creation

        return creation.tensor(x)
    return x


def _binary(op: str, a, b, dtype=None):
    if not (_ok(a) and _ok(b)):
        return NotImplemented
    a, b = _operand(a), _operand(b)
    dtype = dtype or dispatch.common_dtype(a, b)
    if dtype is bool_ and op in _BOOL_ARITHMETIC:
        # PyTorch adds bools as logical or and multiplies them as logical and.
        op = _BOOL_ARITHMETIC[op]
    return dispatch.binary(op, a, b, dtype=dtype)


def _bitwise(op: str, a, b):
    """`a & b`-style ops: integer or bool operands, promoted as PyTorch does."""
    if not (_ok(a) and _ok(b)):
        return NotImplemented
    a, b = _operand(a), _operand(b)
    dtype = dispatch.common_dtype(a, b)
    if dtype.is_floating_point:
        raise NotImplementedError(f'"{op}_cpu" not implemented for \'{_type_name(dtype)}\'')
    return dispatch.binary(op, a, b, dtype=dtype)


def _type_name(dtype) -> str:
    """PyTorch's scalar type name of a dtype ('Float', 'Long', ...), as its messages print it."""
    return TYPE_NAMES[dtype.name]


def _div_dtype(a, b):
    dtype = dispatch.common_dtype(_operand(a), _operand(b))
    return dtype if dtype.is_floating_point else get_default_dtype()


def _float(x):
    """`x` as a floating tensor: integer inputs of float functions become float32, as in PyTorch."""
    return x if x.dtype.is_floating_point else dispatch.cast(x, get_default_dtype())


def _unary_float(op: str):
    def method(self):
        return dispatch.apply(op, _float(self))

    method.__name__ = op
    method.__doc__ = f"Elementwise {op} (integer tensors compute in float32)."
    return method


def _binary_float(op: str):
    def method(self, other):
        a, b = dispatch.promote(self, other)
        return dispatch.apply(op, _float(a), _float(b))

    method.__name__ = op
    method.__doc__ = f"Elementwise {op} (integer tensors compute in float32)."
    return method


def operator_method(op: str, reflected: bool = False, combine=None):
    """The method `self <op> other` (or `other <op> self` when reflected) computed by
    `combine(op, a, b)` (default: promote both operands and apply the op)."""
    combine = combine or _binary
    if reflected:

        def method(self, other):
            return combine(op, other, self)
    else:

        def method(self, other):
            return combine(op, self, other)

    method.__name__ = f"__r{op}__" if reflected else op
    return method


def _binary_method(op: str, reflected: bool = False):
    return operator_method(op, reflected)


def _bitwise_method(op: str, reflected: bool = False):
    return operator_method(op, reflected, _bitwise)


class MathMixin:
    __slots__ = ()

    # -- operators ---------------------------------------------------------------------------------
    __radd__ = _binary_method("add", reflected=True)
    __sub__ = sub = _binary_method("sub")
    __rsub__ = _binary_method("sub", reflected=True)
    __mul__ = mul = multiply = _binary_method("mul")
    __rmul__ = _binary_method("mul", reflected=True)
    __pow__ = pow = _binary_method("pow")
    __rpow__ = _binary_method("pow", reflected=True)
    __eq__ = eq = _binary_method("eq")
    __ne__ = ne = _binary_method("ne")
    __lt__ = lt = _binary_method("lt")
    __le__ = le = _binary_method("le")
    __gt__ = gt = _binary_method("gt")
    __ge__ = ge = _binary_method("ge")
    maximum = _binary_method("maximum")
    minimum = _binary_method("minimum")

    def __add__(self, other):
        return _binary("add", self, other)

    def add(self, other, alpha=1):
        return self + (other if alpha == 1 else other * alpha)

    def __truediv__(self, other):
        return (
            _binary("div", self, other, _div_dtype(self, other)) if _ok(other) else NotImplemented
        )

    def __rtruediv__(self, other):
        return (
            _binary("div", other, self, _div_dtype(self, other)) if _ok(other) else NotImplemented
        )

    def __matmul__(self, other):
        return self.matmul(other)

    def __rmatmul__(self, other):
        return other.matmul(self) if isinstance(other, MathMixin) else NotImplemented

    def __neg__(self):
        if self.dtype.name == "bool":
            raise RuntimeError("Negation, the `-` operator, on a bool tensor is not supported.")
        return dispatch.apply("neg", self)

    neg = negative = __neg__

    def __pos__(self):
        return self

    def __abs__(self):
        return dispatch.apply("abs", self)

    abs = __abs__

    def __invert__(self):
        if self.dtype is bool_:
            return dispatch.apply("logical_not", self)
        if self.dtype.is_floating_point:
            raise TypeError(
                "~ (operator.invert) is only implemented on integer and Boolean-type tensors"
            )
        return dispatch.apply("bitwise_not", self)

    bitwise_not = __invert__
    __and__ = bitwise_and = _bitwise_method("bitwise_and")
    __rand__ = _bitwise_method("bitwise_and", reflected=True)
    __or__ = bitwise_or = _bitwise_method("bitwise_or")
    __ror__ = _bitwise_method("bitwise_or", reflected=True)
    __xor__ = bitwise_xor = _bitwise_method("bitwise_xor")
    __rxor__ = _bitwise_method("bitwise_xor", reflected=True)
    __lshift__ = bitwise_left_shift = _bitwise_method("left_shift")
    __rlshift__ = _bitwise_method("left_shift", reflected=True)
    __rshift__ = bitwise_right_shift = _bitwise_method("right_shift")
    __rrshift__ = _bitwise_method("right_shift", reflected=True)

    def logical_not(self):
        return dispatch.apply("logical_not", _as_bool(self))

    def logical_and(self, other):
        return _as_bool(self) & _as_bool(other)

    def logical_or(self, other):
        return _as_bool(self) | _as_bool(other)

    def logical_xor(self, other):
        return _as_bool(self) ^ _as_bool(other)

    # -- math --------------------------------------------------------------------------------------
    exp = _unary_float("exp")
    log = _unary_float("log")
    sqrt = _unary_float("sqrt")
    sin = _unary_float("sin")
    cos = _unary_float("cos")
    tanh = _unary_float("tanh")
    sigmoid = _unary_float("sigmoid")
    erf = _unary_float("erf")
    erfc = _unary_float("erfc")
    atan2 = arctan2 = _binary_float("atan2")
    hypot = _binary_float("hypot")
    copysign = _binary_float("copysign")

    def sign(self):
        return dispatch.apply("sign", self)

    def rsqrt(self):
        return 1.0 / self.sqrt()

    def square(self):
        x = dispatch.cast(self, int64) if self.dtype is bool_ else self
        return x * x

    def relu(self):
        return dispatch.apply("relu", self)

    def masked_fill(self, mask, value):
        return dispatch.apply(
            "where", _as_bool(mask), *dispatch.promote(value, self, dtype=self.dtype)
        )

    def where(self, condition, other):
        return where(condition, self, other)

    def matmul(self, other):
        if self.ndim == 0 or other.ndim == 0:
            raise RuntimeError("both arguments to matmul need to be at least 1D")
        if self.dtype is not other.dtype:
            raise RuntimeError(
                f"expected m1 and m2 to have the same dtype, but got: {self.dtype} != {other.dtype}"
            )
        a = self.unsqueeze(0) if self.ndim == 1 else self
        b = other.unsqueeze(-1) if other.ndim == 1 else other
        if a.ndim > 2 and b.ndim == 2 and a.shape[-1] == b.shape[0]:
            # (*, K) @ (K, N) as one (prod(*), K) @ (K, N) product, as PyTorch folds it: one
            # GEMM, and b's gradient one GEMM too (not a batch of products summed)
            lead = a.shape[:-1]
            out = dispatch.apply("matmul", a.reshape(-1, a.shape[-1]), b).reshape(*lead, -1)
        else:
            out = dispatch.apply("matmul", a, b)
        if other.ndim == 1:
            out = out.squeeze(-1)
        if self.ndim == 1:
            out = out.squeeze(-2 if other.ndim > 1 else -1)
        return out

    def mm(self, other):
        if self.ndim != 2 or other.ndim != 2:
            raise RuntimeError(f"mm: expected 2-D tensors, got {self.ndim}-D and {other.ndim}-D")
        if self.shape[1] != other.shape[0]:
            raise RuntimeError(
                f"mat1 and mat2 shapes cannot be multiplied ({self.shape[0]}x{self.shape[1]} and "
                f"{other.shape[0]}x{other.shape[1]})"
            )
        return self.matmul(other)

    def bmm(self, other):
        if self.ndim != 3 or other.ndim != 3:
            raise RuntimeError(f"bmm: expected 3-D tensors, got {self.ndim}-D and {other.ndim}-D")
        return self.matmul(other)

    # -- reductions --------------------------------------------------------------------------------
    def sum(self, dim=None, keepdim: bool = False, dtype=None):
        x = dispatch.cast(self, dtype) if dtype is not None else self
        if not x.dtype.is_floating_point:
            x = dispatch.cast(x, int64)  # PyTorch sums integers and bools as int64
        return _reduce("sum", x, dim, keepdim)

    def mean(self, dim=None, keepdim: bool = False, dtype=None):
        x = dispatch.cast(self, dtype) if dtype is not None else self
        if not x.dtype.is_floating_point:
            raise RuntimeError(
                "mean(): could not infer output dtype. Input dtype must be either a floating point "
                f"or complex dtype. Got: {_type_name(x.dtype)}"
            )
        axes = normalize_axes(dim, x.ndim)
        count = int(np.prod([x.shape[a] for a in axes], dtype=np.int64))
        out = x.sum(dim, keepdim) / dispatch.scalar(count, x.dtype)
        autograd.label(out, "MeanBackward0" if dim is None else "MeanBackward1", self)
        return out

    def var(self, dim=None, unbiased=None, keepdim: bool = False, *, correction=None):
        correction = (
            (1 if unbiased is None or unbiased else 0) if correction is None else correction
        )
        axes = normalize_axes(dim, self.ndim)
        count = int(np.prod([self.shape[a] for a in axes], dtype=np.int64))
        centered = self - self.mean(axes or None, keepdim=True)
        return (centered * centered).sum(axes or None, keepdim) / max(count - correction, 0)

    def std(self, dim=None, unbiased=None, keepdim: bool = False, *, correction=None):
        var = self.var(dim, unbiased, keepdim, correction=correction)
        # PyTorch's gradient of a zero std is 0: sqrt never sees the zeros.
        constant = var == 0
        return where(constant, 0.0, where(constant, 1.0, var).sqrt())

    def max(self, dim=None, keepdim: bool = False):
        """max() over all, max(dim) -> (values, indices), or max(other) elementwise."""
        return _extreme(self, "max", "argmax", "maximum", dim, keepdim)

    def min(self, dim=None, keepdim: bool = False):
        return _extreme(self, "min", "argmin", "minimum", dim, keepdim)

    def amax(self, dim=None, keepdim: bool = False):
        return _reduce("max", self, dim, keepdim)

    def amin(self, dim=None, keepdim: bool = False):
        return _reduce("min", self, dim, keepdim)

    def argmax(self, dim=None, keepdim: bool = False):
        return _arg("argmax", self, dim, keepdim)

    def argmin(self, dim=None, keepdim: bool = False):
        return _arg("argmin", self, dim, keepdim)

    def all(self, dim=None, keepdim: bool = False):
        return (self == 0).sum(dim, keepdim) == 0

    def any(self, dim=None, keepdim: bool = False):
        return (self != 0).sum(dim, keepdim) > 0

    # -- in place ----------------------------------------------------------------------------------
    def __iadd__(self, other):
        return self._assign(self + other) if _ok(other) else NotImplemented

    def __isub__(self, other):
        return self._assign(self - other) if _ok(other) else NotImplemented

    def __imul__(self, other):
        return self._assign(self * other) if _ok(other) else NotImplemented

    def __itruediv__(self, other):
        return self._assign(self / other) if _ok(other) else NotImplemented

    def __ipow__(self, other):
        return self._assign(self**other) if _ok(other) else NotImplemented

    def add_(self, other, alpha=1):
        return self._assign(self.add(other, alpha))

    def sub_(self, other, alpha=1):
        return self._assign(self - (other if alpha == 1 else other * alpha))

    def mul_(self, other):
        return self._assign(self * other)

    def masked_fill_(self, mask, value):
        return self._assign(self.masked_fill(mask, value))

    def copy_(self, src):
        src = src if isinstance(src, MathMixin) else dispatch.scalar(src, self.dtype)
        if not self.is_traced and not src.is_traced and src.device != self.device:
            src = src.detach().to(self.device)  # copy_ crosses devices, as in PyTorch
        return self._assign(dispatch.cast(src, self.dtype).expand(self.shape))

    def fill_(self, value):
        value = value.item() if isinstance(value, MathMixin) else value
        full = dispatch.apply(
            "full", shape=tuple(self.shape), dtype=self.dtype.name, value=_plain(value, self.dtype)
        )
        return self._assign(full)

    def zero_(self):
        return self.fill_(0)

    def uniform_(self, a: float = 0.0, b: float = 1.0):
        from graphc import random

        return self._assign(random.uniform(self.shape, a, b, self.dtype))

    def normal_(self, mean: float = 0.0, std: float = 1.0):
        from graphc import random

        return self._assign(random.normal_tensor(self.shape, mean, std, self.dtype))

    def bernoulli(self, p=None, *, generator=None):
        from graphc import random

        return random.bernoulli(self, p)

    def bernoulli_(self, p=0.5, *, generator=None):
        from graphc import random

        return self._assign(random.bernoulli(self, p))

    def multinomial(self, num_samples: int, replacement: bool = False, *, generator=None):
        from graphc import random

        return random.multinomial(self, num_samples, replacement)

    def _assign(self, result):
        """Make `self` hold `result`: the one place in-place semantics are decided.

        Plain eager tensors are written in place (bumping the version counter autograd checks).
        A leaf that requires grad refuses while grad mode is on, as in PyTorch. A recorded tensor,
        or one that would become recorded, is rebound to the new node: autograd stays functional.
        Traced tensors rebind their IR value; a parameter or buffer updated during a trace becomes
        a graph update.
        """
        trace = state.trace
        wants_grad = trace is None and state.grad_enabled and (
            self._requires_grad or result._requires_grad
        )
        if wants_grad and self._requires_grad and self._grad_fn is None:
            raise RuntimeError(
                "a leaf Variable that requires grad is being used in an in-place operation."
            )
        result = _fit(self, result)
        if trace is not None:
            if self._data is None:
                self._value = result._value
            else:
                trace.assign(self, result)
        elif wants_grad:
            self._data, self._vc = result._data, result._vc
            self._grad_fn, self._out_index = result._grad_fn, result._out_index
            self._requires_grad = True
        else:  # (results made on the host, such as init's random draws, move over)
            array = move(result._storage(), device_of(self._data))
            array_module(self._data).copyto(self._data, array)
            self._vc[0] += 1
        return self


def write_out(name: str, result, out):
    """Store `result` in `out` as PyTorch's `out=` does: resized to the result's shape, cast to
    its dtype (same kind), and refused while autograd would have to record it."""
    if state.grad_enabled and (result._requires_grad or out._requires_grad):
        raise RuntimeError(
            f"{name}(): functions with out=... arguments don't support automatic "
            "differentiation, but one of the arguments requires grad."
        )
    if tuple(out.shape) != tuple(result.shape) and out._data is not None:
        out._data = array_module(out._data).empty(tuple(result.shape), dtype=out.dtype.np)
    return out._assign(result)


def _fit(target, result):
    """`result` checked to have `target`'s shape and cast to its dtype, as in-place ops require."""
    if tuple(result.shape) != tuple(target.shape):
        raise RuntimeError(
            f"output with shape {list(target.shape)} doesn't match the broadcast shape "
            f"{list(result.shape)}"
        )
    if result.dtype is target.dtype:
        return result
    if not np.can_cast(result.dtype.np, target.dtype.np, "same_kind"):
        raise RuntimeError(
            f"result type {_type_name(result.dtype)} can't be cast to the desired output type "
            f"{_type_name(target.dtype)}"
        )
    return dispatch.cast(result, target.dtype)


def _plain(value, dtype):
    """A Python scalar of the kind an op attribute holds for `dtype`."""
    if dtype.is_floating_point:
        return float(value)
    return bool(value) if dtype.name == "bool" else int(value)


def _as_bool(mask):
    """`mask != 0` as a bool tensor (Python scalars and arrays too)."""
    if not isinstance(mask, MathMixin):
        mask = _operand(mask)
        if not isinstance(mask, MathMixin):
            return dispatch.scalar(bool(mask), "bool")
    return mask if mask.dtype is bool_ else dispatch.cast(mask, "bool")


def _reduce(op: str, x, dim, keepdim: bool):
    axes = normalize_axes(dim, x.ndim)
    if x.ndim == 0:
        return x
    if x.dtype is bool_:  # max/min of bools: any/all
        return dispatch.cast(_reduce(op, dispatch.cast(x, int64), dim, keepdim), bool_)
    return dispatch.apply(op, x, axes=axes, keepdims=bool(keepdim))


def _arg(op: str, x, dim, keepdim: bool):
    if dim is None:
        return dispatch.apply(op, x.reshape(-1), axis=0, keepdims=False)
    axis = axis_index(dim, x.ndim)
    if x.ndim == 0:
        return dispatch.cast(x * 0, int64)
    return dispatch.apply(op, x, axis=axis, keepdims=bool(keepdim))


def _extreme(x, reduce_op, arg_op, pairwise_op, dim, keepdim):
    if isinstance(dim, MathMixin):
        return _binary(pairwise_op, x, dim)
    if dim is None:
        return _reduce(reduce_op, x, None, False)
    if x.ndim == 0:
        return ValuesIndices(x, _arg(arg_op, x, dim, keepdim))
    # The values are picked at the indices, so the gradient goes to that one element (ties and
    # NaNs included), as PyTorch's max(dim)/min(dim) backward does.
    axis = axis_index(dim, x.ndim)
    indices = _arg(arg_op, x, axis, True)
    values = dispatch.apply("gather", x, indices, axis=axis)
    if not keepdim:
        values, indices = values.squeeze(axis), indices.squeeze(axis)
    return ValuesIndices(values, indices)


def where(condition, input, other):
    """Elementwise `input if condition else other`, scalars and dtypes promoted as in PyTorch."""
    a, b = dispatch.promote(input, other)
    return dispatch.apply("where", _as_bool(condition), a, b)
