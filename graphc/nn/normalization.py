"""LayerNorm, BatchNorm1d/2d/3d, GroupNorm and RMSNorm."""

from __future__ import annotations

import graphc
from graphc.creation import layer_dtype
from graphc.nn import functional as F
from graphc.nn import init
from graphc.nn.checks import user_error
from graphc.nn.module import Module
from graphc.nn.parameter import Parameter


class LayerNorm(Module):
    """Normalizes over the trailing `normalized_shape` dims; weight 1 and bias 0 initially."""

    def __init__(self, normalized_shape, eps: float = 1e-5, elementwise_affine: bool = True,
                 bias: bool = True, device=None, dtype=None):
        super().__init__()
        if isinstance(normalized_shape, int):
            normalized_shape = (normalized_shape,)
        self.normalized_shape = tuple(normalized_shape)
        self.eps, self.elementwise_affine = eps, elementwise_affine
        dtype = layer_dtype(dtype, device)
        if elementwise_affine:
            shape = self.normalized_shape
            self.weight = Parameter(graphc.ones(shape, dtype=dtype, device=device))
            if bias:
                self.bias = Parameter(graphc.zeros(shape, dtype=dtype, device=device))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    def forward(self, input):
        return F.layer_norm(input, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.normalized_shape}, eps={self.eps}, "
                f"elementwise_affine={self.elementwise_affine}, bias={self.bias is not None}")


class _BatchNorm(Module):
    """Per-channel normalization; running_mean/running_var/num_batches_tracked are buffers."""

    _expected_ndims: tuple[int, ...] = ()

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = True, track_running_stats: bool = True, device=None, dtype=None):
        super().__init__()
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        dtype = layer_dtype(dtype, device)
        if affine:
            self.weight = Parameter(graphc.ones((num_features,), dtype=dtype, device=device))
            self.bias = Parameter(graphc.zeros((num_features,), dtype=dtype, device=device))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            size = (num_features,)
            self.register_buffer("running_mean", graphc.zeros(size, dtype=dtype, device=device))
            self.register_buffer("running_var", graphc.ones(size, dtype=dtype, device=device))
            self.register_buffer("num_batches_tracked",
                                 graphc.tensor(0, dtype=graphc.int64, device=device))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)

    def reset_running_stats(self) -> None:
        if self.track_running_stats:
            init.zeros_(self.running_mean)
            init.ones_(self.running_var)
            init.zeros_(self.num_batches_tracked)

    def forward(self, input):
        self._check_input(input)
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats:
            with graphc.no_grad():
                self.num_batches_tracked.add_(graphc.tensor(1, dtype=graphc.int64))
                if self.momentum is None:  # cumulative moving average: weight 1/n for batch n
                    factor = 1.0 / self.num_batches_tracked.to(self.running_mean.dtype)
        use_batch_stats = self.training or self.running_mean is None
        return F.batch_norm(
            input,
            self.running_mean if not self.training or self.track_running_stats else None,
            self.running_var if not self.training or self.track_running_stats else None,
            self.weight, self.bias, use_batch_stats, factor, self.eps,
        )

    def _check_input(self, input) -> None:
        if input.ndim not in self._expected_ndims:
            raise user_error(ValueError, (
                f"expected {' or '.join(f'{n}D' for n in self._expected_ndims)} input "
                f"(got {input.ndim}D input)"))
        if input.shape[1] != self.num_features:
            stat = "running_mean" if self.running_mean is not None else "weight"
            raise user_error(RuntimeError, f"{stat} should contain {input.shape[1]} elements not "
                             f"{self.num_features}")
        if self.training and input.numel() // input.shape[1] == 1:
            raise user_error(ValueError, "Expected more than 1 value per channel when training, "
                             f"got input size {graphc.Size(input.shape)}")

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, bias={self.affine}, "
                f"track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """BatchNorm over (N, C) or (N, C, L) inputs."""

    _expected_ndims = (2, 3)


class BatchNorm2d(_BatchNorm):
    """BatchNorm over (N, C, H, W) inputs."""

    _expected_ndims = (4,)


class BatchNorm3d(_BatchNorm):
    """BatchNorm over (N, C, D, H, W) inputs."""

    _expected_ndims = (5,)


class GroupNorm(Module):
    """Normalizes each sample over groups of channels; per-channel weight 1 and bias 0 initially."""

    def __init__(self, num_groups: int, num_channels: int, eps: float = 1e-5, affine: bool = True,
                 device=None, dtype=None, *, bias: bool = True):
        super().__init__()
        if num_channels % num_groups:
            raise ValueError(f"num_channels ({num_channels}) must be divisible by num_groups "
                             f"({num_groups})")
        self.num_groups, self.num_channels, self.eps, self.affine = (
            num_groups, num_channels, eps, affine)
        dtype = layer_dtype(dtype, device)
        self.register_parameter(
            "weight", Parameter(graphc.ones((num_channels,), dtype=dtype, device=device))
            if affine else None)
        self.register_parameter(
            "bias", Parameter(graphc.zeros((num_channels,), dtype=dtype, device=device))
            if affine and bias
            else None)

    def forward(self, input):
        if input.ndim >= 2 and input.shape[1] != self.num_channels:
            raise user_error(RuntimeError, (
                "Expected weight to be a vector of size equal to the number of channels in "
                f"input, but got weight of shape [{self.num_channels}] and input of shape "
                f"{list(input.shape)}"))
        return F.group_norm(input, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}, "
                f"bias={self.bias is not None}")


class RMSNorm(Module):
    """Root-mean-square normalization over the trailing `normalized_shape` dims (no centering);
    eps=None uses the input dtype's machine epsilon."""

    def __init__(self, normalized_shape, eps: float | None = None,
                 elementwise_affine: bool = True, device=None, dtype=None):
        super().__init__()
        if isinstance(normalized_shape, int):
            normalized_shape = (normalized_shape,)
        self.normalized_shape = tuple(normalized_shape)
        self.eps, self.elementwise_affine = eps, elementwise_affine
        dtype = layer_dtype(dtype, device)
        if elementwise_affine:
            self.weight = Parameter(graphc.ones(self.normalized_shape, dtype=dtype,
                                                device=device))
        else:
            self.register_parameter("weight", None)

    def forward(self, input):
        return F.rms_norm(input, self.normalized_shape, self.weight, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.normalized_shape}, eps={self.eps}, "
                f"elementwise_affine={self.elementwise_affine}")
