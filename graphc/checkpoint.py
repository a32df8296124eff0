"""`graphc.save` / `graphc.load`: tensors and (nested) state dicts as safetensors files.

Format: a standard safetensors file. Each tensor is stored under its key path joined with '.'
(a model state dict keeps its own names, e.g. `linear_relu_stack.0.weight`; an optimizer state dict
gives `state.0.exp_avg`), so other safetensors readers see ordinary tensors. The structure around
them (nested dicts with str or int keys, lists, tuples, and plain values such as the hyper-parameters
of `param_groups`) is a JSON tree in the header's metadata under `graphc.tree`. A safetensors file
written by another tool (no tree) loads as a flat dict of tensors.

Anything else (`graphc.save(model)` of a whole Module, as PyTorch tutorials do) is pickled into the
metadata with its tensors still stored as safetensors entries; as in PyTorch, loading it needs
`weights_only=False`, because unpickling can run arbitrary code. State dicts never need pickle.

`f` is a path or a binary file object. Saving to a path is atomic: the bytes go to a temporary file
in the destination's folder, which is flushed, fsync'ed and then renamed over the destination, so a
crash mid-save leaves the old file intact (temporary files a killed save left behind are removed by
the next save to the same path).
"""

from __future__ import annotations

import base64
import contextlib
import glob
import io
import json
import os
import pickle
import tempfile
from collections import OrderedDict
from pathlib import Path

import numpy as np

from ir.types import DTYPES

TREE_KEY = "graphc.tree"
PICKLE_KEY = "graphc.pickle"
PICKLED_TYPE_KEY = "graphc.pickled_type"
FORMAT_KEY = "graphc.format"
FORMAT = "1"
PLAIN = (bool, int, float, str, type(None))


class CheckpointError(ValueError):
    """A checkpoint file is missing, corrupt, truncated, foreign, or holds unsupported data."""


class _NotATree(TypeError):
    """The object holds something the JSON tree cannot (a Module, any other object)."""


def save(obj, f, pickle_module=None, pickle_protocol: int = 2, **kwargs) -> None:
    """Save `obj` to `f` (a path, atomically, or a binary file object) as a safetensors file.

    Tensors, arrays and (nested) dicts, lists and tuples of them and of plain values are stored as
    a tree; other objects, such as a whole Module, are pickled (load them with weights_only=False).
    """
    from safetensors.numpy import save as to_bytes

    tensors: dict[str, np.ndarray] = {}
    try:
        metadata = {TREE_KEY: json.dumps(_encode(obj, (), tensors))}
    except _NotATree:
        tensors = {}
        metadata = {PICKLE_KEY: _pickle(obj, tensors, pickle_protocol),
                    PICKLED_TYPE_KEY: f"{type(obj).__module__}.{type(obj).__qualname__}"}
    data = to_bytes(tensors, metadata={FORMAT_KEY: FORMAT, **metadata})
    if hasattr(f, "write"):
        f.write(data)
    else:
        _write_atomic(Path(f), data)


def load(f, map_location=None, pickle_module=None, *, weights_only: bool = True, mmap=None,
         **kwargs):
    """Load what `save` wrote: Tensors (own memory) in the saved structure.

    `f` is a path or a binary file object. Tensors load onto the device they were saved from,
    unless `map_location` (a device, or a dict from saved device names to devices) says
    otherwise. A pickled object (a whole Module) loads only with `weights_only=False`.
    Raises FileNotFoundError for a missing file and CheckpointError, naming the file, for one that
    is truncated, corrupt or not a safetensors file.
    """
    place = _placement(map_location)
    name, data = _read(f)
    metadata, arrays = _parse(name, data)
    if PICKLE_KEY in metadata:
        if weights_only:
            raise pickle.UnpicklingError(
                f"Weights only load failed: '{name}' holds a pickled "
                f"{metadata.get(PICKLED_TYPE_KEY, 'object')}, not only tensors. Re-running "
                "graphc.load with weights_only=False will load it, but unpickling can run "
                "arbitrary code: do it only if you trust the source of the file."
            )
        return _unpickle(metadata[PICKLE_KEY], arrays)
    if TREE_KEY not in metadata:
        return OrderedDict((key, _tensor(array, place("cpu"))) for key, array in arrays.items())
    try:
        return _decode(json.loads(metadata[TREE_KEY]), arrays, place)
    except (KeyError, TypeError, ValueError) as err:
        raise CheckpointError(f"checkpoint '{name}' has a damaged structure header: {err}") from None


def _read(f) -> tuple[str, bytes]:
    """(a name for messages, the bytes) of a path or a binary file object."""
    if hasattr(f, "read"):
        return getattr(f, "name", "<file object>"), f.read()
    path = Path(f)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint file '{path}' does not exist")
    return str(path), path.read_bytes()


def _parse(name: str, data: bytes) -> tuple[dict, dict]:
    """(metadata, arrays by key) of safetensors bytes; CheckpointError if they are not that."""
    from safetensors import SafetensorError
    from safetensors.numpy import load as from_bytes

    try:
        size = int.from_bytes(data[:8], "little")
        if len(data) < 8 or size > len(data) - 8:
            raise ValueError("the header is cut short")
        metadata = json.loads(data[8 : 8 + size]).get("__metadata__") or {}
        arrays = {key: np.array(array) for key, array in from_bytes(data).items()}
    except (SafetensorError, OSError, ValueError, AttributeError) as err:
        raise CheckpointError(
            f"cannot load checkpoint '{name}': not a valid safetensors file "
            f"(truncated, corrupt or another format): {err}"
        ) from None
    for key, array in arrays.items():
        if array.dtype.name not in DTYPES:
            raise CheckpointError(
                f"checkpoint '{name}': tensor '{key}' has dtype {array.dtype.name}, "
                f"which graphc does not support ({', '.join(DTYPES)})"
            )
    return metadata, arrays


def _placement(map_location):
    """The device a tensor saved from device `saved` (a name) loads onto, as a function;
    checked at once for the devices `map_location` names (callables are not run)."""
    from graphc.device import check_eager_device

    if isinstance(map_location, dict):
        for target in map_location.values():
            check_eager_device(target)
        return lambda saved: _restore_device(map_location.get(saved, saved))
    if map_location is None or callable(map_location):
        return _restore_device
    target = check_eager_device(map_location)
    return lambda saved: target


def _restore_device(name: str):
    """The saved device itself, with PyTorch's error where it does not exist here."""
    from graphc import cuda
    from graphc.device import check_eager_device

    if name.startswith("cuda") and not cuda.is_available():
        raise RuntimeError(
            "Attempting to deserialize object on a CUDA device but graphc.cuda.is_available() "
            "is False. If you are running on a CPU-only machine, please use graphc.load with "
            "map_location=graphc.device('cpu') to map your storages to the CPU."
        )
    return check_eager_device(name)


# -- pickled objects ---------------------------------------------------------------------------------

class _Pickler(pickle.Pickler):
    """Pickles an object with its arrays left out, as safetensors entries `pickled.<n>`."""

    def __init__(self, file, tensors: dict, protocol: int):
        super().__init__(file, protocol=max(protocol, 2))
        self.tensors, self.keys = tensors, {}

    def persistent_id(self, obj):
        if type(obj) is not np.ndarray:
            return None
        key = self.keys.get(id(obj))
        if key is None:
            key = self.keys[id(obj)] = f"pickled.{len(self.keys)}"
            self.tensors[key] = np.require(obj, requirements="C")  # keeps 0-d arrays 0-d
        return key


class _Unpickler(pickle.Unpickler):
    def __init__(self, file, arrays: dict):
        super().__init__(file)
        self.arrays = arrays

    def persistent_load(self, pid):
        return self.arrays[pid]


def _pickle(obj, tensors: dict, protocol: int) -> str:
    buffer = io.BytesIO()
    _Pickler(buffer, tensors, protocol).dump(obj)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _unpickle(text: str, arrays: dict):
    return _Unpickler(io.BytesIO(base64.b64decode(text)), arrays).load()


# -- structure --------------------------------------------------------------------------------------

def _encode(obj, keypath: tuple, tensors: dict):
    """The JSON tree of `obj`; its tensors go into `tensors` under their joined key path."""
    array, where = _as_array(obj)
    if array is not None:
        key = ".".join(map(str, keypath)) or "tensor"
        base, n = key, 1
        while key in tensors:  # two paths that join to the same text: keep both
            key, n = f"{base}#{n}", n + 1
        tensors[key] = np.require(array, requirements="C")  # ascontiguousarray makes 0-d 1-d
        return {"tensor": key} if where == "cpu" else {"tensor": key, "device": where}
    if isinstance(obj, dict):
        for k in obj:
            if not isinstance(k, (str, int)) or isinstance(k, bool):
                raise _NotATree(f"cannot save dict key {k!r}: keys must be str or int")
        items = [[k, _encode(v, (*keypath, k), tensors)] for k, v in obj.items()]
        return {"ordered" if isinstance(obj, OrderedDict) else "dict": items}
    if isinstance(obj, (list, tuple)):
        items = [_encode(v, (*keypath, i), tensors) for i, v in enumerate(obj)]
        return {"tuple" if isinstance(obj, tuple) else "list": items}
    if isinstance(obj, PLAIN):
        return {"value": obj}
    where = ".".join(map(str, keypath)) or "the object"
    raise _NotATree(f"{type(obj).__name__} at {where} is not a tensor, dict, list or plain value")


def _decode(node: dict, arrays: dict, place):
    if "tensor" in node:
        return _tensor(arrays[node["tensor"]], place(node.get("device", "cpu")))
    (kind, body), = node.items()
    if kind in ("dict", "ordered"):
        pairs = [(k, _decode(v, arrays, place)) for k, v in body]
        return OrderedDict(pairs) if kind == "ordered" else dict(pairs)
    if kind in ("list", "tuple"):
        items = [_decode(v, arrays, place) for v in body]
        return tuple(items) if kind == "tuple" else items
    if kind == "value":
        return body
    raise ValueError(f"unknown node kind '{kind}'")


def _as_array(obj) -> tuple:
    """(a host array, the name of the device it came from), or (None, None)."""
    from graphc import Tensor
    from graphc.device import CPU, move

    if isinstance(obj, Tensor):
        storage = obj.detach()._storage()
        return move(storage, CPU), str(obj.device)
    if isinstance(obj, np.ndarray):
        return obj, "cpu"
    return None, None


def _tensor(array: np.ndarray, device):
    from graphc import Tensor
    from graphc.device import move

    return Tensor._wrap(move(array, device))


# -- atomic write -----------------------------------------------------------------------------------

def _write_atomic(path: Path, data: bytes) -> None:
    """Write `data` to `path` so that readers see either the old file or the complete new one."""
    directory = path.parent if str(path.parent) else Path(".")
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
    _remove_stale_temporaries(path)
    prefix = f".{path.name}.{os.getpid()}."  # the writer's pid tells a stale file from a live one
    fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=".tmp", dir=directory)
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


def _remove_stale_temporaries(path: Path) -> None:
    """Delete the temporary files of saves to `path` whose process died mid-save (killed, or
    the machine went down), never those of a save still running."""
    for tmp in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
        pid = tmp.name[len(path.name) + 2 :].split(".", 1)[0]
        if pid.isdigit() and not _process_alive(int(pid)):
            with contextlib.suppress(OSError):
                tmp.unlink()


def _process_alive(pid: int) -> bool:
    if pid == os.getpid():
        return False  # this process is not saving there now: the file is an earlier leftover
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # exists, owned by someone else (or unknown): leave its file alone
    return True


def _fsync_directory(directory: Path) -> None:
    """Make the rename itself durable (not supported everywhere, hence best effort)."""
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
