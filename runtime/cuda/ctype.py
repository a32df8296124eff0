"""C spellings of graphc's dtypes and constants, as CuPy's generated kernels name them."""

from __future__ import annotations

import math

import numpy as np

# CuPy's typedef names for each dtype (cupy/_core/_scalar.pyx `get_typename`).
C_TYPES = {
    "float64": "double",
    "float32": "float",
    "float16": "float16",
    "int64": "long long",
    "int32": "int",
    "int16": "short",
    "int8": "signed char",
    "uint8": "unsigned char",
    "bool": "bool",
}
# The bit patterns of non-finite floats: `__longlong_as_double` / `__int_as_float` keep them exact.
_BITS = {"float64": ("__longlong_as_double", "0x{:016x}LL", "<u8", "<f8"),
         "float32": ("__int_as_float", "0x{:08x}", "<u4", "<f4")}


def c_type(dtype: str) -> str:
    """The C type of a graphc dtype name, as kernel parameters hold it."""
    return C_TYPES[np.dtype(dtype).name]


def compute_type(dtype: str) -> str:
    """The C type values of `dtype` are computed in: float16 in float (CuPy's float16 class has
    no arithmetic of its own), rounded to half where stored, as PyTorch's GPU kernels do."""
    return "float" if np.dtype(dtype).name == "float16" else c_type(dtype)


def literal(value, dtype: str) -> str:
    """A C expression for the scalar `value` of `dtype` in its compute type, exact and
    parenthesized: `((float)0.5)`. Non-finite floats are written as their bit patterns (no
    INFINITY or NAN macro in NVRTC)."""
    dtype = np.dtype(dtype).name
    value = np.asarray(value, dtype=dtype)[()]
    if dtype == "bool":
        return "true" if value else "false"
    if dtype.startswith("float") and not math.isfinite(float(value)):
        wide = "float64" if dtype == "float64" else "float32"  # float16 converts from float
        function, pattern, uint, flt = _BITS[wide]
        bits = int(np.asarray(value, dtype=flt).view(uint))
        return f"{function}({pattern.format(bits)})"
    if dtype.startswith("float"):
        return f"(({compute_type(dtype)}){float(value)!r})"  # a float's repr parses back exactly
    if dtype == "int64" and int(value) == -(2**63):
        return "(-9223372036854775807LL - 1)"  # the literal 9223372036854775808 does not fit
    suffix = "LL" if dtype == "int64" else ""
    return f"(({c_type(dtype)}){int(value)}{suffix})"


def lowest(dtype: str) -> str:
    """The identity of max: -inf for floats, the smallest value for integers."""
    if dtype.startswith("float"):
        return literal(-np.inf, dtype)
    return literal(np.iinfo(dtype).min, dtype) if dtype != "bool" else "false"


def highest(dtype: str) -> str:
    """The identity of min: +inf for floats, the largest value for integers."""
    if dtype.startswith("float"):
        return literal(np.inf, dtype)
    return literal(np.iinfo(dtype).max, dtype) if dtype != "bool" else "true"
