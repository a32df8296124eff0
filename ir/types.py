"""Tensor types: a static shape of concrete integers and a dtype name."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DTYPES = ("float32", "float64", "float16", "int64", "int32", "int16", "int8", "uint8", "bool")
FLOAT_DTYPES = ("float32", "float64", "float16")
SHORT_NAMES = {"float32": "f32", "float64": "f64", "float16": "f16", "int64": "i64", "int32": "i32",
               "int16": "i16", "int8": "i8", "uint8": "u8", "bool": "bool"}
LONG_NAMES = {short: long for long, short in SHORT_NAMES.items()}


def normalize_dtype(dtype) -> str:
    """Return the canonical dtype name for a name, short name or NumPy dtype."""
    if isinstance(dtype, str) and dtype in LONG_NAMES:
        return LONG_NAMES[dtype]
    name = np.dtype(dtype).name
    if name not in DTYPES:
        raise TypeError(f"unsupported dtype {dtype!r}; graphc supports {', '.join(DTYPES)}")
    return name


def is_float(dtype: str) -> bool:
    return dtype in FLOAT_DTYPES


@dataclass(frozen=True)
class TensorType:
    """The static type of a value: `shape` (tuple of ints >= 0) and `dtype` (a name in DTYPES)."""

    shape: tuple[int, ...]
    dtype: str

    def __post_init__(self):
        shape = tuple(int(d) for d in self.shape)
        if any(d < 0 for d in shape):
            raise ValueError(f"negative dimension in shape {shape}")
        object.__setattr__(self, "shape", shape)
        object.__setattr__(self, "dtype", normalize_dtype(self.dtype))

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def nbytes(self) -> int:
        return self.size * np.dtype(self.dtype).itemsize

    @property
    def np_dtype(self) -> np.dtype:
        return np.dtype(self.dtype)

    @classmethod
    def of(cls, array) -> TensorType:
        """The type of an array (NumPy or CuPy)."""
        return cls(tuple(array.shape), array.dtype)

    def __str__(self) -> str:
        return f"{SHORT_NAMES[self.dtype]}[{','.join(map(str, self.shape))}]"
