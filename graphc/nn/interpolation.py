"""`interpolate` (Upsample's function): nearest, linear/bilinear/trilinear, bicubic and area
resampling, with PyTorch's source-index rules.

Each spatial dim is resampled on its own, last dim first, as a sum of `take`s of the input along
that dim times constant weights: one take for nearest, two for linear, four for cubic. That is
PyTorch's arithmetic in PyTorch's order, and the gradient is `take`'s (index_add), linear in the
image size. Re-exported by `graphc.nn.functional`.
"""

from __future__ import annotations

import math

import numpy as np

import graphc
from graphc.dispatch import apply
from graphc.nn.checks import size_list, user_error
from graphc.nn.spatial import adaptive_avg_pool1d, adaptive_avg_pool2d

LINEAR_MODES = {"linear": 1, "bilinear": 2, "bicubic": 2, "trilinear": 3}
CUBIC_A = -0.75  # PyTorch's (and OpenCV's) bicubic coefficient


def interpolate(input, size=None, scale_factor=None, mode: str = "nearest", align_corners=None,
                recompute_scale_factor=None, antialias: bool = False):
    """Resample the spatial dims of (N, C, *spatial) `input` to `size` or by `scale_factor`."""
    spatial = input.ndim - 2
    if mode in ("nearest", "area", "nearest-exact"):
        if align_corners is not None:
            raise user_error(ValueError, "align_corners option can only be set with the "
                             "interpolating modes: linear | bilinear | bicubic | trilinear")
    elif mode in LINEAR_MODES:
        align_corners = bool(align_corners)
    else:
        raise user_error(NotImplementedError, f"interpolate: mode {mode!r} is not one of nearest "
                         "| nearest-exact | linear | bilinear | bicubic | trilinear | area")
    if not 1 <= spatial <= 3 or (mode in LINEAR_MODES and spatial != LINEAR_MODES[mode]):
        wanted = f"{LINEAR_MODES[mode] + 2}D" if mode in LINEAR_MODES else "3D, 4D or 5D"
        raise user_error(NotImplementedError,
                         f"Got {input.ndim}D input, but {mode} mode needs {wanted} input")
    if antialias:
        raise user_error(NotImplementedError, "interpolate(antialias=True) is not supported")
    sizes = tuple(input.shape[2:])
    out_sizes, scales = _sizes(sizes, size, scale_factor, recompute_scale_factor)
    if mode == "area":
        if spatial == 3:
            raise user_error(NotImplementedError, "area mode over 3 spatial dims")
        return (adaptive_avg_pool1d if spatial == 1 else adaptive_avg_pool2d)(input, out_sizes)
    x = input
    for axis in reversed(range(spatial)):
        taps = _taps(mode, sizes[axis], out_sizes[axis], scales[axis], align_corners,
                     input.dtype.np)
        x = _resample(x, axis + 2, taps)
    return x


def _sizes(sizes, size, scale_factor, recompute_scale_factor):
    """(output sizes, the scale factors the kernels use: None where derived from the sizes)."""
    n = len(sizes)
    if size is not None and scale_factor is not None:
        raise user_error(ValueError, "only one of size or scale_factor should be defined")
    if size is not None:
        out = tuple(size) if isinstance(size, (tuple, list)) else (size,) * n
        if len(out) != n:
            raise user_error(ValueError, (
                "Input and output must have the same number of spatial dimensions, but got "
                f"input with spatial dimensions of {size_list(sizes)} and output size of "
                f"{tuple(out)}. Please provide input tensor in (N, C, d1, d2, ...,dK) format "
                "and output size in (o1, o2, ...,oK) format."))
        return tuple(int(o) for o in out), (None,) * n
    if scale_factor is None:
        raise user_error(ValueError, "either size or scale_factor should be defined")
    factors = (tuple(scale_factor) if isinstance(scale_factor, (tuple, list))
               else (scale_factor,) * n)
    if len(factors) != n:
        raise user_error(ValueError, (
            "Input and scale_factor must have the same number of spatial dimensions, but got "
            f"input with spatial dimensions of {size_list(sizes)} and scale_factor of shape "
            f"{tuple(factors)}. Please provide input tensor in (N, C, d1, d2, ...,dK) format "
            "and scale_factor in (s1, s2, ...,sK) format."))
    out = tuple(math.floor(float(s) * float(f)) for s, f in zip(sizes, factors))
    return out, (None,) * n if recompute_scale_factor else tuple(float(f) for f in factors)


def _scale(n: int, out: int, scale_factor, align_corners: bool, dtype):
    """The source step per output index (PyTorch's area_pixel_compute_scale), in `dtype`."""
    if align_corners:
        return dtype.type((n - 1) / (out - 1)) if out > 1 else dtype.type(0)
    if scale_factor is not None and scale_factor > 0:
        return dtype.type(1.0 / scale_factor)
    return dtype.type(n) / dtype.type(out)


def _taps(mode, n, out, scale_factor, align_corners, dtype):
    """[(input index per output index, its weight or None)] along one dim."""
    dtype = np.dtype(dtype)
    dst = np.arange(out)
    if mode in ("nearest", "nearest-exact"):  # float32 arithmetic, as PyTorch's kernels
        scale = _scale(n, out, scale_factor, False, np.dtype(np.float32))
        offset = np.float32(0.5 if mode == "nearest-exact" else 0.0)
        src = np.floor((dst.astype(np.float32) + offset) * scale).astype(np.int64)
        return [(np.minimum(src, n - 1), None)]
    scale = _scale(n, out, scale_factor, align_corners, dtype)
    real = scale * dst.astype(dtype)
    if not align_corners:
        real = scale * (dst.astype(dtype) + dtype.type(0.5)) - dtype.type(0.5)
    if mode == "bicubic":
        base = np.floor(real)
        t = real - base
        coeffs = _cubic_coefficients(t, dtype)
        return [(np.clip(base.astype(np.int64) - 1 + k, 0, n - 1), c) for k, c in enumerate(coeffs)]
    real = np.maximum(real, dtype.type(0))
    low = np.minimum(np.floor(real).astype(np.int64), n - 1)
    high = low + (low < n - 1)
    weight_high = np.clip(real - low.astype(dtype), 0, 1).astype(dtype)
    return [(low, (dtype.type(1) - weight_high).astype(dtype)), (high, weight_high)]


def _cubic_coefficients(t, dtype):
    a = dtype.type(CUBIC_A)

    def near(x):  # |x| <= 1
        return ((a + 2) * x - (a + 3)) * x * x + 1

    def far(x):  # 1 < |x| < 2
        return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a

    one = dtype.type(1)
    return [far(t + one), near(t), near(one - t), far(one - t + one)]


def _resample(x, axis: int, taps):
    """sum_k take(x, index_k, axis) * weight_k, the weights broadcast along `axis`."""
    out = None
    trailing = (1,) * (x.ndim - 1 - axis)
    for index, weight in taps:
        if weight is None and np.array_equal(index, np.arange(x.shape[axis])):
            term = x
        else:
            term = apply("take", x, graphc.from_numpy(index), axis=axis)
        if weight is not None:
            term = term * graphc.from_numpy(weight.reshape((-1, *trailing)))
        out = term if out is None else out + term
    return out


def upsample(input, size=None, scale_factor=None, mode: str = "nearest", align_corners=None):
    """Deprecated spelling of `interpolate`."""
    return interpolate(input, size, scale_factor, mode, align_corners)


def upsample_nearest(input, size=None, scale_factor=None):
    return interpolate(input, size, scale_factor, mode="nearest")


def upsample_bilinear(input, size=None, scale_factor=None):
    return interpolate(input, size, scale_factor, mode="bilinear", align_corners=True)
