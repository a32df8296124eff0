"""`graphc.save` / `graphc.load`: tensors and (nested) state dicts as safetensors files, never pickle.

Format: a standard safetensors file. Each tensor is stored under its key path joined with '.'
(a model state dict keeps its own names, e.g. `linear_relu_stack.0.weight`; an optimizer state dict
gives `state.0.exp_avg`), so other safetensors readers see ordinary tensors. The structure around
them (nested dicts with str or int keys, lists, tuples, and plain values such as the hyper-parameters
of `param_groups`) is a JSON tree in the header's metadata under `graphc.tree`. A safetensors file
written by another tool (no tree) loads as a flat dict of tensors.

Saving is atomic: the bytes go to a temporary file in the destination's folder, which is flushed,
fsync'ed and then renamed over the destination, so a crash mid-save leaves the old file intact.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections import OrderedDict
from pathlib import Path

import numpy as np

from ir.types import DTYPES

TREE_KEY = "graphc.tree"
FORMAT_KEY = "graphc.format"
FORMAT = "1"
PLAIN = (bool, int, float, str, type(None))


class CheckpointError(ValueError):
    """A checkpoint file is missing, corrupt, truncated, foreign, or holds unsupported data."""


def save(obj, path) -> None:
    """Save a Tensor, array, or (nested) dict of them to `path` as a safetensors file, atomically."""
    from safetensors.numpy import save as to_bytes

    tensors: dict[str, np.ndarray] = {}
    tree = _encode(obj, (), tensors)
    metadata = {FORMAT_KEY: FORMAT, TREE_KEY: json.dumps(tree)}
    _write_atomic(Path(path), to_bytes(tensors, metadata=metadata))


def load(path):
    """Load what `save` wrote: Tensors (own memory) in the saved structure.

    Raises FileNotFoundError for a missing file and CheckpointError, naming the file, for a file
    that is truncated, corrupt or not a safetensors file.
    """
    from safetensors import SafetensorError, safe_open

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint file '{path}' does not exist")
    try:
        with safe_open(str(path), framework="numpy") as f:
            metadata = f.metadata() or {}
            arrays = {key: np.array(f.get_tensor(key)) for key in f.keys()}  # noqa: SIM118
    except (SafetensorError, OSError, ValueError) as err:
        raise CheckpointError(
            f"cannot load checkpoint '{path}': not a valid safetensors file "
            f"(truncated, corrupt or another format): {err}"
        ) from None
    for key, array in arrays.items():
        if array.dtype.name not in DTYPES:
            raise CheckpointError(
                f"checkpoint '{path}': tensor '{key}' has dtype {array.dtype.name}, "
                f"which graphc does not support ({', '.join(DTYPES)})"
            )
    if TREE_KEY not in metadata:
        return OrderedDict((key, _tensor(array)) for key, array in arrays.items())
    try:
        return _decode(json.loads(metadata[TREE_KEY]), arrays)
    except (KeyError, TypeError, ValueError) as err:
        raise CheckpointError(f"checkpoint '{path}' has a damaged structure header: {err}") from None


# -- structure --------------------------------------------------------------------------------------

def _encode(obj, keypath: tuple, tensors: dict):
    """The JSON tree of `obj`; its tensors go into `tensors` under their joined key path."""
    array = _as_array(obj)
    if array is not None:
        key = ".".join(map(str, keypath)) or "tensor"
        base, n = key, 1
        while key in tensors:  # two paths that join to the same text: keep both
            key, n = f"{base}#{n}", n + 1
        tensors[key] = np.require(array, requirements="C")  # ascontiguousarray makes 0-d 1-d
        return {"tensor": key}
    if isinstance(obj, dict):
        for k in obj:
            if not isinstance(k, (str, int)) or isinstance(k, bool):
                raise TypeError(f"cannot save dict key {k!r}: keys must be str or int")
        items = [[k, _encode(v, (*keypath, k), tensors)] for k, v in obj.items()]
        return {"ordered" if isinstance(obj, OrderedDict) else "dict": items}
    if isinstance(obj, (list, tuple)):
        items = [_encode(v, (*keypath, i), tensors) for i, v in enumerate(obj)]
        return {"tuple" if isinstance(obj, tuple) else "list": items}
    if isinstance(obj, PLAIN):
        return {"value": obj}
    where = ".".join(map(str, keypath)) or "the object"
    raise TypeError(f"cannot save {type(obj).__name__} at {where}: graphc.save stores tensors, "
                    "dicts, lists and plain numbers/strings")


def _decode(node: dict, arrays: dict):
    (kind, body), = node.items()
    if kind == "tensor":
        return _tensor(arrays[body])
    if kind in ("dict", "ordered"):
        pairs = [(k, _decode(v, arrays)) for k, v in body]
        return OrderedDict(pairs) if kind == "ordered" else dict(pairs)
    if kind in ("list", "tuple"):
        items = [_decode(v, arrays) for v in body]
        return tuple(items) if kind == "tuple" else items
    if kind == "value":
        return body
    raise ValueError(f"unknown node kind '{kind}'")


def _as_array(obj):
    from graphc import Tensor

    if isinstance(obj, Tensor):
        return obj.detach().numpy()
    if isinstance(obj, np.ndarray):
        return obj
    return None


def _tensor(array: np.ndarray):
    from graphc import from_numpy

    return from_numpy(array)


# -- atomic write -----------------------------------------------------------------------------------

def _write_atomic(path: Path, data: bytes) -> None:
    """Write `data` to `path` so that readers see either the old file or the complete new one."""
    directory = path.parent if str(path.parent) else Path(".")
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_directory(directory)


def _fsync_directory(directory: Path) -> None:
    """Make the rename itself durable (not supported everywhere, hence best effort)."""
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
