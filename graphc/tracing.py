"""`graphc.trace`: run a model or function on traced tensors and return the `ir.Graph` it built.

While a trace is active (`state.trace`), every `dispatch.apply` appends a node stamped with the
user's `file:line` and the module path it ran in. Eager tensors a traced op reads become graph
parameters (the module's parameters and buffers, named by their state_dict names) or constants.
"""

from __future__ import annotations

import inspect
import os
import sys

import numpy as np

import graphc
import ir
import passes
import runtime
from graphc import state
from graphc import tensor_core as _tensor
from ir.graph import Graph
from ir.types import TensorType

_INTERNAL_DIRS = tuple(
    os.path.abspath(next(iter(pkg.__path__))) + os.sep for pkg in (graphc, ir, passes, runtime)
)
_INTERNAL: dict[str, bool] = {}
_CONTROL_FLOW_HINT = (
    "use graphc.where(condition, a, b) (or x.masked_fill) to select values elementwise, or keep "
    "the branch or loop on Python values and static shapes (x.shape, len(x)), or move it outside "
    "the traced function"
)


class TraceError(RuntimeError):
    """Tracing met Python control flow on a traced value, or something else a graph cannot hold."""

    @classmethod
    def for_value(cls, tensor, what: str, hint: str = _CONTROL_FLOW_HINT) -> TraceError:
        value = tensor._value
        where = user_location()
        return cls(
            f"{what} needs the data of traced tensor %{value.name} ({value.type})"
            + (f" at {where}" if where else "")
            + ". A traced graph is static: Python cannot branch, loop or convert on values "
            f"computed from the inputs. Workaround: {hint}."
        )


def user_location() -> str:
    """'file:line' of the innermost frame outside the graphc, ir, passes and runtime packages."""
    frame = sys._getframe(1)
    while frame is not None:
        filename = frame.f_code.co_filename
        internal = _INTERNAL.get(filename)
        if internal is None:
            internal = _INTERNAL[filename] = _is_internal(filename)
        if not internal:
            return f"{_display_path(filename)}:{frame.f_lineno}"
        frame = frame.f_back
    return ""


def _is_internal(filename: str) -> bool:
    """graphc's own packages, and console-script launchers (bin/graphc): never the user's line."""
    path = os.path.abspath(filename)
    launcher = os.path.basename(os.path.dirname(path)) in ("bin", "Scripts") and not path.endswith(
        ".py")
    return path.startswith(_INTERNAL_DIRS) or launcher or filename.startswith("<frozen")


PROJECT_MARKERS = ("pyproject.toml", "setup.py", "setup.cfg", ".git")
_ROOTS: dict[str, str | None] = {}


def _display_path(filename: str) -> str:
    """`filename` relative to its project's root (the nearest folder above it holding a
    pyproject.toml, setup.py, setup.cfg or .git), else absolute: the same from any cwd."""
    if filename.startswith("<"):  # <stdin>, <string>: nothing to resolve
        return filename
    path = os.path.abspath(filename)
    root = _project_root(os.path.dirname(path))
    return os.path.relpath(path, root) if root else path


def _project_root(folder: str) -> str | None:
    if folder not in _ROOTS:
        parent = os.path.dirname(folder)
        if any(os.path.exists(os.path.join(folder, m)) for m in PROJECT_MARKERS):
            _ROOTS[folder] = folder
        else:
            _ROOTS[folder] = _project_root(parent) if parent != folder else None
    return _ROOTS[folder]


def spec(shape, dtype="float32") -> TensorType:
    """An example-input placeholder for `trace`: only the shape and dtype matter."""
    from graphc.dtypes import as_dtype

    return TensorType(tuple(shape), as_dtype(dtype).name)


def is_module(obj) -> bool:
    return all(hasattr(obj, a) for a in ("named_parameters", "named_buffers", "named_modules"))


class Trace:
    """One active trace: its graph, the tensor -> value maps, the module scope stack."""

    def __init__(self, graph: Graph, module=None):
        self.graph = graph
        self.state_names: dict[int, str] = {}  # id(param or buffer) -> state_dict name
        self.order: dict[str, int] = {}
        self.module_paths: dict[int, str] = {}
        self.const_names: dict[int, str] = {}
        self.values: dict[int, object] = {}  # id(eager tensor) -> the Value it reads as now
        self.params: dict[int, object] = {}  # id(param or buffer) -> its graph param
        self.updates: dict = {}  # graph param -> new value (in-place state updates)
        self.scopes: list[str] = []
        self.scalars: dict = {}  # (dtype, bytes) -> shared scalar constant
        self._keep: list = []  # tensors whose ids key the maps stay alive
        if module is not None:
            self._index_module(module)

    def _index_module(self, module) -> None:
        named = [*module.named_parameters(), *module.named_buffers()]
        order = list(module.state_dict()) if hasattr(module, "state_dict") else []
        for name, _ in named:
            if name not in order:  # non-persistent buffers go last
                order.append(name)
        self.order = {name: i for i, name in enumerate(order)}
        for name, t in named:
            self.state_names.setdefault(id(t), name)
            self._keep.append(t)
        for path, sub in module.named_modules():
            self.module_paths.setdefault(id(sub), path)
            for attr, value in vars(sub).items():
                if isinstance(value, _tensor.Tensor) and id(value) not in self.state_names:
                    self.const_names.setdefault(id(value), f"{path}.{attr}" if path else attr)
                    self._keep.append(value)

    def lift(self, t):
        """The Value a tensor reads as in this trace."""
        if t._data is None:
            if t._trace is not self:
                raise RuntimeError(f"traced tensor {t._value!r} belongs to another trace")
            return t._value
        value = self.values.get(id(t))
        if value is None:
            name = self.state_names.get(id(t))
            if name is not None:
                value = self.params[id(t)] = self.graph.add_param(name, TensorType.of(t._data))
            elif t._data.ndim == 0 and id(t) not in self.const_names:
                value = self._scalar(t._data)
            else:
                value = self.graph.add_constant(t._data.copy(), name=self.const_names.get(id(t)))
            self.values[id(t)] = value
            self._keep.append(t)
        return value

    def _scalar(self, array):
        """One graph constant per distinct scalar (Python numbers in user code make many)."""
        key = (array.dtype.name, array.tobytes())
        value = self.scalars.get(key)
        if value is None:
            value = self.scalars[key] = self.graph.add_constant(array.copy())
        return value

    def apply(self, op: str, tensors, attrs: dict):
        values = [self.lift(t) for t in tensors]
        meta = {"loc": user_location()}
        if self.scopes and self.scopes[-1]:
            meta["scope"] = self.scopes[-1]
        node = self.graph.add_node(op, values, attrs, meta)
        outs = [_tensor.Tensor._traced(v, self) for v in node.outputs]
        return outs[0] if len(outs) == 1 else tuple(outs)

    def assign(self, tensor, result) -> None:
        """An in-place update of eager `tensor` while tracing: a graph update of a param/buffer."""
        if id(tensor) not in self.state_names:
            where = user_location()
            raise TraceError(
                "in-place update of a tensor that is neither a parameter nor a buffer of the "
                f"traced module (shape {list(tensor.shape)})"
                + (f" at {where}" if where else "")
                + "; compute a new tensor instead of updating it in place"
            )
        param = self.params.get(id(tensor)) or self.lift(tensor)
        new = self.lift(result)
        self.values[id(tensor)] = new
        self.updates[param] = new

    def random_key(self):
        """A fresh int64[] graph input that each run feeds a new random key."""
        value = self.graph.add_input("key", TensorType((), "int64"))
        self.graph.meta.setdefault("random_keys", []).append(value)
        return _tensor.Tensor._traced(value, self)


class _NoScope:
    __slots__ = ()

    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return None


_NO_SCOPE = _NoScope()


class _Scope:
    __slots__ = ("path", "trace")

    def __init__(self, trace: Trace, path: str):
        self.trace = trace
        self.path = path

    def __enter__(self):
        self.trace.scopes.append(self.path)

    def __exit__(self, *exc):
        self.trace.scopes.pop()


def module_scope(module):
    """Context manager Module.__call__ wraps around forward: while tracing, nodes record the
    module's path (its name in the traced root's `named_modules`) as `meta['scope']`."""
    trace = state.trace
    if trace is None:
        return _NO_SCOPE
    return _Scope(trace, trace.module_paths.get(id(module), type(module).__name__))


def sub_scope(name: str):
    """Context manager: while tracing, nodes record the scope `<current scope>.<name>`, a part
    of a module such as an RNN's layer or time step (`lstm.l0.t3`), which the renderer groups
    and collapses like a submodule."""
    trace = state.trace
    if trace is None:
        return _NO_SCOPE
    outer = trace.scopes[-1] if trace.scopes else ""
    return _Scope(trace, f"{outer}.{name}" if outer else name)


def trace(model_or_fn, *example_inputs, module=None) -> Graph:
    """Trace `model_or_fn(*example_inputs)` into an `ir.Graph`.

    Example inputs are Tensors, NumPy arrays or `graphc.spec(shape, dtype)`; graph inputs take the
    names of the forward's parameters. Parameters and buffers of `module` (by default the model
    itself when it is a Module) become graph params named by their state_dict names; other eager
    tensors become constants. Python control flow on traced values raises TraceError.
    """
    if state.trace is not None:
        raise RuntimeError("graphc.trace cannot run inside another trace")
    if module is None and is_module(model_or_fn):
        module = model_or_fn
    target = model_or_fn.forward if is_module(model_or_fn) else model_or_fn
    graph = Graph(getattr(model_or_fn, "__name__", type(model_or_fn).__name__))
    tr = Trace(graph, module)
    names = _input_names(target, len(example_inputs))
    inputs = [
        _tensor.Tensor._traced(graph.add_input(name, _input_type(x, name)), tr)
        for name, x in zip(names, example_inputs)
    ]
    state.trace = tr
    try:
        result = model_or_fn(*inputs)
        outputs = [tr.lift(t) for t in _flatten_outputs(result)]
    finally:
        state.trace = None
    graph.set_outputs(outputs)
    graph.updates = list(tr.updates.items())
    graph.params.sort(key=lambda v: tr.order.get(v.name, len(tr.order)))
    return graph.verify()


def _input_names(fn, count: int) -> list[str]:
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        params = []
    names = []
    for p in params:
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            names.append(p.name)
        elif p.kind == p.VAR_POSITIONAL:
            names.extend(f"{p.name}{i}" for i in range(count - len(names)))
    names = names[:count]
    return names + [f"input{i}" for i in range(len(names), count)]


def _input_type(x, name: str) -> TensorType:
    if isinstance(x, TensorType):
        return x
    if isinstance(x, _tensor.Tensor):
        return TensorType.of(x._storage())
    if isinstance(x, np.ndarray):
        return TensorType.of(x)
    raise TypeError(
        f"example input '{name}' must be a Tensor, a NumPy array or graphc.spec(shape, dtype), "
        f"got {type(x).__name__}"
    )


def _flatten_outputs(result) -> list:
    if isinstance(result, _tensor.Tensor):
        return [result]
    if isinstance(result, dict):
        result = list(result.values())
    if isinstance(result, (tuple, list)):
        return [t for item in result for t in _flatten_outputs(item)]
    raise TypeError(
        f"a traced function must return tensors (or tuples/lists/dicts of them), "
        f"got {type(result).__name__}"
    )
