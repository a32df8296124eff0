"""`graphc.Tensor`: an eager tensor (a NumPy array) or a traced one (an `ir.Value` of the active
trace).

Every operation goes through `graphc.dispatch.apply`, so one piece of user code runs eagerly,
records for autograd, or traces into a graph. Methods follow PyTorch's names and semantics.
"""

from __future__ import annotations

import copy

import numpy as np

from graphc import autograd, creation, dispatch, tracing
from graphc.device import CPU, check_eager_device, device, device_of, move
from graphc.dtypes import BY_NAME, BY_NUMPY, TYPE_NAMES, get_default_dtype
from graphc.tensor_composite import CompositeMixin
from graphc.tensor_math import MathMixin
from graphc.tensor_matrix import MatrixMixin
from graphc.tensor_pointwise import PointwiseMixin
from graphc.tensor_reduce import ReduceMixin
from graphc.tensor_scatter import ScatterMixin
from graphc.tensor_shape import ShapeMixin, axis_index, numpy_keywords, shape_args
from ir.types import TensorType


class Size(tuple):
    """A tensor shape: a tuple of ints that prints as `graphc.Size([2, 3])`."""

    def numel(self) -> int:
        return int(np.prod(self, dtype=np.int64))

    def __repr__(self) -> str:
        return f"graphc.Size({list(self)})"


def array_type(array) -> TensorType:
    return TensorType(array.shape, array.dtype)


class Tensor(MathMixin, PointwiseMixin, ReduceMixin, ScatterMixin, MatrixMixin, ShapeMixin,
             CompositeMixin):
    """A multi-dimensional array with PyTorch's API; see the module docstring.

    `Tensor(data)` builds a float32 tensor from nested sequences, `Tensor(*sizes)` a zero tensor of
    that shape, and `Tensor(tensor)` a tensor sharing `tensor`'s storage (what `nn.Parameter` uses).
    """

    __slots__ = (
        "__weakref__",
        "_data",
        "_grad_fn",
        "_out_index",
        "_requires_grad",
        "_trace",
        "_value",
        "_vc",
        "grad",
    )
    __array_ufunc__ = None  # numpy defers `array * tensor` to Tensor.__rmul__

    def __init__(self, *args, requires_grad: bool = False):
        if len(args) == 1 and isinstance(args[0], Tensor):
            src = args[0]
            self._init(
                src._data, src._vc if src._data is not None else None, src._value, src._trace
            )
        elif args and all(isinstance(a, (int, np.integer)) for a in args):
            self._init(np.zeros(shape_args(args), dtype=get_default_dtype().np))
        else:
            data = args[0] if args else []
            if not isinstance(data, np.ndarray) or data.dtype.name not in BY_NAME:
                data = np.asarray(data, dtype=get_default_dtype().np)
            self._init(data)
        if requires_grad:
            self.requires_grad = True

    def _init(self, data, vc=None, value=None, trace=None):
        self._data, self._value, self._trace = data, value, trace
        self._requires_grad, self.grad, self._grad_fn, self._out_index = False, None, None, 0
        self._vc = vc if vc is not None else [0]

    @classmethod
    def _wrap(cls, array: np.ndarray, vc=None) -> Tensor:
        """An eager tensor around `array` (no copy); `vc`: the version counter of a view's base."""
        t = object.__new__(Tensor)
        t._init(array, vc)
        return t

    @classmethod
    def _traced(cls, value, trace) -> Tensor:
        t = object.__new__(Tensor)
        t._init(None, None, value, trace)
        return t

    def _storage(self) -> np.ndarray:
        if self._data is None:
            raise RuntimeError(
                f"a traced tensor ({self._value!r}) was used outside of its trace; traced tensors "
                "only exist while graphc.trace runs the function"
            )
        return self._data

    # -- properties --------------------------------------------------------------------------------
    @property
    def shape(self) -> Size:
        return Size(self._data.shape if self._data is not None else self._value.shape)

    @property
    def dtype(self):
        if self._data is not None:
            return BY_NUMPY[self._data.dtype]
        return BY_NAME[self._value.dtype]

    @property
    def device(self) -> device:
        return device_of(self._data) if self._data is not None else CPU

    @property
    def ndim(self) -> int:
        return len(self._data.shape if self._data is not None else self._value.shape)

    @property
    def is_cuda(self) -> bool:
        return self.device.type == "cuda"

    def dim(self) -> int:
        return self.ndim

    def size(self, dim: int | None = None):
        shape = self.shape
        return shape if dim is None else shape[axis_index(dim, len(shape))]

    def numel(self) -> int:
        return self.shape.numel()

    nelement = numel

    def element_size(self) -> int:
        return self.dtype.itemsize

    def is_floating_point(self) -> bool:
        return self.dtype.is_floating_point

    @property
    def is_traced(self) -> bool:
        """True for a tensor of an active trace (it holds an IR value, no data)."""
        return self._data is None

    def __len__(self) -> int:
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    # -- conversion to Python and NumPy -----------------------------------------------------------
    def numpy(self) -> np.ndarray:
        """The eager storage array itself (shared memory)."""
        self._check_concrete("numpy()")
        self._check_host()
        if self._requires_grad:
            raise RuntimeError(
                "Can't call numpy() on Tensor that requires grad. "
                "Use tensor.detach().numpy() instead."
            )
        return self._data

    def item(self):
        self._check_concrete("item()")
        if self._data.size != 1:
            raise RuntimeError(
                f"a Tensor with {self._data.size} elements cannot be converted to Scalar"
            )
        return self._data.reshape(()).item()

    def tolist(self):
        self._check_concrete("tolist()")
        return self._data.tolist()

    def __array__(self, dtype=None, copy=None):
        self._check_concrete("conversion to a NumPy array")
        self._check_host()
        return self._data if dtype is None else self._data.astype(dtype)

    def __bool__(self) -> bool:
        self._check_concrete("bool() (an `if`, `while`, `and`, `or` or `not` on a tensor)")
        if self._data.size != 1:
            raise RuntimeError("Boolean value of Tensor with more than one value is ambiguous")
        return bool(self._data.reshape(()))

    def __float__(self) -> float:
        self._check_concrete("float()")
        return float(self.item())

    def __int__(self) -> int:
        self._check_concrete("int()")
        return int(self.item())

    def __index__(self) -> int:
        self._check_concrete("use as a Python index (__index__)")
        if self.dtype.is_floating_point or self._data.size != 1:
            raise TypeError("only integer tensors of a single element can be converted to an index")
        return int(self.item())

    def __iter__(self):
        self._check_concrete("iteration (for ... in tensor)")
        if self.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self.shape[0]))

    def __format__(self, spec: str) -> str:
        if self._data is not None and self.ndim == 0 and spec:
            return format(self.item(), spec)
        return format(repr(self), spec)

    def __repr__(self) -> str:
        from graphc.printing import tensor_repr

        return tensor_repr(self)

    __hash__ = object.__hash__

    def _check_concrete(self, what: str) -> None:
        if self._data is None:
            raise tracing.TraceError.for_value(self, what)

    def _check_host(self) -> None:
        if type(self._data) is not np.ndarray and self.device.type != "cpu":
            raise TypeError(f"can't convert {self.device} device type tensor to numpy. Use "
                            "Tensor.cpu() to copy the tensor to host memory first.")

    # -- autograd ----------------------------------------------------------------------------------
    @property
    def requires_grad(self) -> bool:
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, flag: bool) -> None:
        flag = bool(flag)
        if self._grad_fn is not None and not flag:
            raise RuntimeError(
                "you can only change requires_grad flags of leaf variables. If you want to use a "
                "computed variable in a subgraph that doesn't require differentiation use "
                "var_no_grad = var.detach()."
            )
        if flag and not self.dtype.is_floating_point:
            raise RuntimeError("only Tensors of floating point dtype can require gradients")
        self._requires_grad = flag

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        self.requires_grad = requires_grad
        return self

    @property
    def is_leaf(self) -> bool:
        return self._grad_fn is None

    @property
    def grad_fn(self):
        return self._grad_fn

    @property
    def _version(self) -> int:
        return self._vc[0]

    def backward(
        self, gradient=None, retain_graph: bool | None = None, create_graph: bool = False
    ) -> None:
        """Accumulate d(self)/d(leaf) into each leaf's `.grad` (see `graphc.autograd.backward`)."""
        autograd.backward(
            self, gradient, retain_graph=bool(retain_graph), create_graph=create_graph
        )

    def register_post_accumulate_grad_hook(self, hook):
        """Call `hook(self)` after each `backward()` that accumulates into this leaf's `.grad`."""
        return autograd.register_post_accumulate_grad_hook(self, hook)

    def detach(self) -> Tensor:
        """A tensor sharing storage and version counter, outside autograd (stop_gradient traced)."""
        if self._data is None:
            return dispatch.apply("stop_gradient", self)
        return Tensor._wrap(self._data, self._vc)

    @property
    def data(self) -> Tensor:
        """A detached tensor sharing storage; assigning `t.data = other` swaps the storage."""
        if self._data is None:
            return self.detach()
        return Tensor._wrap(self._data)

    @data.setter
    def data(self, other: Tensor) -> None:
        self._data = other._storage() if isinstance(other, Tensor) else np.asarray(other)

    def _move_storage(self, target) -> None:
        """Put this tensor's storage (and gradient) on `target` in place: what Module.to does to
        parameters, which stay the same objects (as optimizers and compiled steps hold them)."""
        self._data = move(self._storage(), target)
        if self.grad is not None and self.grad._data is not None:
            self.grad._data = move(self.grad._data, target)

    def __deepcopy__(self, memo):
        if self._grad_fn is not None:
            raise RuntimeError(
                "Only Tensors created explicitly by the user (graph leaves) support the deepcopy "
                "protocol"
            )
        new = object.__new__(type(self))
        new._init(self._storage().copy())
        new._requires_grad = self._requires_grad
        new.grad = copy.deepcopy(self.grad, memo)
        for key, value in getattr(self, "__dict__", {}).items():
            setattr(new, key, copy.deepcopy(value, memo))
        memo[id(self)] = new
        return new

    # -- dtype and device --------------------------------------------------------------------------
    def to(self, *args, **kwargs) -> Tensor:
        """`to(dtype)`, `to(device)`, `to(device, dtype)` or `to(other_tensor)`; a copy on another
        device (this tensor when nothing changes)."""
        dtype, target = kwargs.pop("dtype", None), None
        kwargs.pop("non_blocking", None)  # copies are synchronous here
        kwargs.pop("copy", None)
        for arg in (*args, kwargs.pop("device", None)):
            if arg is None:
                continue
            if isinstance(arg, Tensor):
                dtype, target = arg.dtype, arg.device
            elif isinstance(arg, (str, device, int)) and not isinstance(arg, bool):
                target = check_eager_device(arg)
            else:
                dtype = arg
        out = self if dtype is None else dispatch.cast(self, dtype)
        return out if target is None else out._moved(target)

    def _moved(self, target) -> Tensor:
        if self._data is None or self.device == target:
            return self
        if self._requires_grad:
            raise RuntimeError(
                "graphc cannot move a tensor that requires grad to another device (its gradient "
                "would not flow back); create it there (device=...) or move a module's "
                "parameters with module.to(device)"
            )
        return Tensor._wrap(move(self._data, target))

    def cpu(self) -> Tensor:
        return self.to("cpu")

    def cuda(self, device=None, non_blocking: bool = False) -> Tensor:
        return self.to("cuda" if device is None else device)

    def type(self, dtype=None):
        """`type()` names the tensor type; `type(dtype)` converts."""
        if dtype is None:
            return f"graphc.{TYPE_NAMES[self.dtype.name]}Tensor"
        return dispatch.cast(self, dtype)

    def float(self) -> Tensor:
        return dispatch.cast(self, "float32")

    def double(self) -> Tensor:
        return dispatch.cast(self, "float64")

    def long(self) -> Tensor:
        return dispatch.cast(self, "int64")

    def int(self) -> Tensor:
        return dispatch.cast(self, "int32")

    def bool(self) -> Tensor:
        return dispatch.cast(self, "bool")

    def half(self) -> Tensor:
        return dispatch.cast(self, "float16")

    def short(self) -> Tensor:
        return dispatch.cast(self, "int16")

    def char(self) -> Tensor:
        return dispatch.cast(self, "int8")

    def byte(self) -> Tensor:
        return dispatch.cast(self, "uint8")

    def type_as(self, other: Tensor) -> Tensor:
        return dispatch.cast(self, other.dtype)

    # -- copies ------------------------------------------------------------------------------------
    def clone(self) -> Tensor:
        """A copy that autograd sees as an identity."""
        out = dispatch.apply("cast", self, dtype=self.dtype.name)
        if out._data is not None and out._data is self._data:
            out._data = self._data.copy()
            out._vc = [0]
            if out._grad_fn is not None:
                out._grad_fn.outputs[0] = (out._data, out._vc, 0)
        return out

    # -- new tensors like this one ----------------------------------------------------------------
    def new_full(self, size, fill_value, dtype=None, device=None,
                 requires_grad: bool = False) -> Tensor:
        return creation.full(size, fill_value, dtype or self.dtype,
                             device if device is not None or self.is_traced else self.device,
                             requires_grad=requires_grad)

    def new_zeros(self, *size, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
        return self.new_full(shape_args(size), 0, dtype, device, requires_grad)

    new_empty = new_zeros

    def new_ones(self, *size, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
        return self.new_full(shape_args(size), 1, dtype, device, requires_grad)

    def new_tensor(self, data, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
        return creation.tensor(data, dtype or self.dtype,
                               device if device is not None or self.is_traced else self.device,
                               requires_grad=requires_grad)

    # -- composites graphc.nn defines --------------------------------------------------------------
    def softmax(self, dim: int, dtype=None) -> Tensor:
        from graphc.nn import functional

        return functional.softmax(self, dim, dtype)

    def log_softmax(self, dim: int, dtype=None) -> Tensor:
        from graphc.nn import functional

        return functional.log_softmax(self, dim, dtype)

    def contiguous(self) -> Tensor:
        if self._data is None or self._data.flags.c_contiguous:
            return self
        return self.clone()


# Methods with a `dim` argument that PyTorch also lets callers spell `axis` (and `keepdims`).
for _name in (
    "sum", "mean", "var", "std", "max", "min", "amax", "amin", "argmax", "argmin", "all", "any",
    "prod", "cumsum", "cumprod", "cummax", "cummin", "logsumexp", "std_mean", "var_mean",
    "median", "nanmedian", "mode", "sort", "argsort", "topk", "kthvalue", "count_nonzero",
    "norm", "softmax", "log_softmax", "squeeze", "unsqueeze", "aminmax",
):
    setattr(Tensor, _name, numpy_keywords(getattr(Tensor, _name)))
