"""Sample transforms as plain callables, in torchvision's spelling.

They work on host arrays (a transform runs once per sample, so it avoids graph machinery) and
return graphc Tensors that share the result's memory.
"""

from __future__ import annotations

import numpy as np


def _array(x) -> np.ndarray:
    import graphc

    return x.numpy() if isinstance(x, graphc.Tensor) else np.asarray(x)


class ToTensor:
    """An H x W (or H x W x C) image to a float32 C x H x W Tensor; uint8 is scaled to [0, 1].

    A graphc Tensor passes through unchanged, so data sets whose samples already are tensors
    (`Digits`) accept the tutorial's `transform=ToTensor()`.
    """

    def __call__(self, image):
        import graphc

        if isinstance(image, graphc.Tensor):
            return image
        array = np.asarray(image)
        if array.ndim == 2:
            array = array[None]
        elif array.ndim == 3:
            array = array.transpose(2, 0, 1)
        else:
            raise ValueError(
                f"ToTensor expects an H x W or H x W x C image, got shape {array.shape}"
            )
        scale = np.float32(1 / 255) if array.dtype == np.uint8 else np.float32(1)
        return graphc.from_numpy(np.ascontiguousarray(array, dtype=np.float32) * scale)

    def __repr__(self) -> str:
        return "ToTensor()"


class Normalize:
    """`(x - mean) / std` per channel of a C x H x W Tensor."""

    def __init__(self, mean, std):
        self.mean = np.asarray(mean, dtype=np.float32).reshape(-1, 1, 1)
        self.std = np.asarray(std, dtype=np.float32).reshape(-1, 1, 1)
        if np.any(self.std == 0):
            raise ValueError("Normalize: std must be non-zero")

    def __call__(self, tensor):
        import graphc

        array = _array(tensor)
        return graphc.from_numpy(((array - self.mean) / self.std).astype(array.dtype, copy=False))

    def __repr__(self) -> str:
        return f"Normalize(mean={self.mean.ravel().tolist()}, std={self.std.ravel().tolist()})"


class Lambda:
    """Wrap a function as a transform."""

    def __init__(self, fn):
        if not callable(fn):
            raise TypeError(f"Lambda needs a callable, got {type(fn).__name__}")
        self.fn = fn

    def __call__(self, x):
        return self.fn(x)


class Compose:
    """Apply transforms one after the other."""

    def __init__(self, transforms):
        self.transforms = list(transforms)

    def __call__(self, x):
        for transform in self.transforms:
            x = transform(x)
        return x

    def __repr__(self) -> str:
        inner = "".join(f"\n    {t!r}," for t in self.transforms)
        return f"Compose({inner}\n)"
