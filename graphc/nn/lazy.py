"""Lazy modules (LazyLinear, LazyConv2d, LazyBatchNorm1d/2d): input sizes inferred on the first call.

As in PyTorch, their parameters start as `UninitializedParameter`s; the first call (eager or
traced) gives them their shapes in place, so an optimizer built before it holds the same objects,
initializes them as the regular layer would and turns the module into that layer (`LazyLinear`
becomes `Linear`). `load_state_dict` gives them the loaded shapes.
"""

from __future__ import annotations

import numpy as np

import graphc
from graphc import state
from graphc.creation import layer_dtype
from graphc.nn import init
from graphc.nn.conv import Conv2d
from graphc.nn.linear import Linear
from graphc.nn.normalization import BatchNorm1d, BatchNorm2d
from graphc.nn.parameter import Parameter


class _Uninitialized:
    """What an uninitialized parameter or buffer does: hold no data until `materialize`."""

    __slots__ = ()
    cls_to_become: type

    def materialize(self, shape, device=None, dtype=None) -> None:
        """Give the tensor `shape` (uninitialized values) and make it a regular one."""
        dtype = self._data.dtype if dtype is None else layer_dtype(dtype, device).np
        self._data = np.empty(tuple(int(d) for d in shape), dtype=dtype)
        self._vc[0] += 1
        self.__class__ = self.cls_to_become

    def __repr__(self) -> str:
        return f"<{type(self).__name__}>"


class UninitializedParameter(_Uninitialized, Parameter):
    """A parameter whose shape is not known yet (a lazy module's, until its first call)."""

    __slots__ = ()
    cls_to_become = Parameter

    def __init__(self, requires_grad: bool = True, device=None, dtype=None):
        super().__init__(graphc.empty((0,), dtype=layer_dtype(dtype, device)), requires_grad)


class UninitializedBuffer(_Uninitialized, graphc.Tensor):
    """A buffer whose shape is not known yet (a lazy BatchNorm's running statistics)."""

    __slots__ = ()
    cls_to_become = graphc.Tensor

    def __init__(self, requires_grad: bool = False, device=None, dtype=None):
        super().__init__(graphc.empty((0,), dtype=layer_dtype(dtype, device)),
                         requires_grad=requires_grad)


def is_lazy(tensor) -> bool:
    return isinstance(tensor, _Uninitialized)


class LazyModuleMixin:
    """Infers the missing sizes from the first call's input, then becomes `cls_to_become`."""

    cls_to_become: type

    def has_uninitialized_params(self) -> bool:
        tensors = (*self._parameters.values(), *self._buffers.values())
        return any(is_lazy(t) for t in tensors)

    def initialize_parameters(self, input) -> None:
        raise NotImplementedError

    def reset_parameters(self) -> None:
        # The regular layer's initialization, once there are sizes to initialize.
        if not self.has_uninitialized_params() and all(p.numel() for p in self.parameters()):
            super().reset_parameters()

    def __call__(self, *args, **kwargs):
        # Only the first call lands here: then the module becomes the regular layer.
        # Initialization draws random numbers eagerly, also when the first call is traced: the
        # trace then reads the new values as the module's parameters.
        trace, state.trace = state.trace, None
        try:
            with graphc.no_grad():
                self.initialize_parameters(*args, **kwargs)
        finally:
            state.trace = trace
        self.__class__ = self.cls_to_become
        return self(*args, **kwargs)


class LazyLinear(LazyModuleMixin, Linear):
    """`Linear` whose `in_features` is the last dimension of the first input."""

    cls_to_become = Linear

    def __init__(self, out_features: int, bias: bool = True, device=None, dtype=None):
        super().__init__(0, 0, False, device, dtype)
        self.out_features = out_features
        self.weight = UninitializedParameter(device=device, dtype=dtype)
        if bias:
            self.bias = UninitializedParameter(device=device, dtype=dtype)

    def initialize_parameters(self, input) -> None:
        self.in_features = int(input.shape[-1])
        if self.has_uninitialized_params():
            self.weight.materialize((self.out_features, self.in_features))
            if self.bias is not None:
                self.bias.materialize((self.out_features,))
            self.reset_parameters()


class LazyConv2d(LazyModuleMixin, Conv2d):
    """`Conv2d` whose `in_channels` is the channel dimension of the first input."""

    cls_to_become = Conv2d

    def __init__(self, out_channels: int, kernel_size, stride=1, padding=0, dilation=1,
                 groups: int = 1, bias: bool = True, padding_mode: str = "zeros", device=None,
                 dtype=None):
        super().__init__(0, 0, kernel_size, stride, padding, dilation, groups, False,
                         padding_mode, device, dtype)
        self.out_channels = out_channels
        self.weight = UninitializedParameter(device=device, dtype=dtype)
        if bias:
            self.bias = UninitializedParameter(device=device, dtype=dtype)

    def initialize_parameters(self, input) -> None:
        self.in_channels = int(input.shape[1] if input.ndim == 4 else input.shape[0])
        if self.has_uninitialized_params():
            if self.in_channels % self.groups:
                raise ValueError("in_channels must be divisible by groups")
            self.weight.materialize(
                (self.out_channels, self.in_channels // self.groups, *self.kernel_size))
            if self.bias is not None:
                self.bias.materialize((self.out_channels,))
            self.reset_parameters()


class _LazyBatchNorm(LazyModuleMixin):
    """BatchNorm whose `num_features` is the channel dimension (1) of the first input."""

    def __init__(self, eps: float = 1e-5, momentum: float = 0.1, affine: bool = True,
                 track_running_stats: bool = True, device=None, dtype=None):
        super().__init__(0, eps, momentum, affine, track_running_stats, device, dtype)
        if affine:
            self.weight = UninitializedParameter(device=device, dtype=dtype)
            self.bias = UninitializedParameter(device=device, dtype=dtype)
        if track_running_stats:
            self.running_mean = UninitializedBuffer(device=device, dtype=dtype)
            self.running_var = UninitializedBuffer(device=device, dtype=dtype)

    def reset_parameters(self) -> None:
        if self.has_uninitialized_params():
            return
        for tensor, value in ((self.weight, 1.0), (self.bias, 0.0), (self.running_mean, 0.0),
                              (self.running_var, 1.0)):
            if tensor is not None:
                init.constant_(tensor, value)

    def initialize_parameters(self, input) -> None:
        self.num_features = int(input.shape[1])
        if self.has_uninitialized_params():
            for tensor in (self.weight, self.bias, self.running_mean, self.running_var):
                if tensor is not None and is_lazy(tensor):
                    tensor.materialize((self.num_features,))
            self.reset_parameters()


class LazyBatchNorm1d(_LazyBatchNorm, BatchNorm1d):
    cls_to_become = BatchNorm1d


class LazyBatchNorm2d(_LazyBatchNorm, BatchNorm2d):
    cls_to_become = BatchNorm2d
