"""Eager autograd on the one symbolic autodiff.

An eager op on tensors that require grad leaves a `Record` (op, attrs, where its inputs came from,
the arrays it produced). `backward()` walks the records reachable from the root, rebuilds them as an
`ir.Graph`, differentiates it with `passes.autodiff.differentiate`, runs the backward graph with the
saved eager arrays and accumulates `.grad` on the leaves. Structurally equal recordings (every step
of a training loop) reuse the differentiated graph: the cache key is the recording's op/attr/wiring
signature and its leaf types.
"""

from __future__ import annotations

import functools
import itertools
import weakref

import numpy as np

from graphc import state
from graphc import tensor_core as _tensor
from graphc.device import array_module, device_of, move
from ir.graph import Graph
from ir.types import TensorType

_PLANS: dict = {}
_MAX_PLANS = 128


# PyTorch's names for the nodes of ops whose own name differs (others: `Op` -> `OpBackward0`).
_TORCH_NAMES = {
    "matmul": "MmBackward0", "reshape": "ViewBackward0", "cast": "ToCopyBackward0",
    "concat": "CatBackward0", "take": "IndexBackward0", "max": "MaxBackward1",
    "min": "MinBackward1", "broadcast_to": "ExpandBackward0", "conv2d": "ConvolutionBackward0",
    "max_pool2d": "MaxPool2DWithIndicesBackward0", "avg_pool2d": "AvgPool2DBackward0",
    "clamp": "ClampBackward1", "split": "SplitWithSizesBackward0", "pad": "ConstantPadNdBackward0",
}


class Record:
    """One recorded eager op: what `backward()` needs to rebuild and differentiate its node.

    `inputs`: per input (source Record or None for a leaf, output index, the leaf Tensor if it
    requires grad, its array, version counter, version seen). `outputs`: per output (array, version
    counter, version seen). It is also the tensor's `grad_fn`: `name()` and `next_functions` as
    PyTorch shows them; a composite (linear, a loss, mean) labels its last record with its own
    name and inputs (`label`).
    """

    __slots__ = ("attrs", "edges", "freed", "inputs", "label", "op", "outputs")

    def __init__(self, op, attrs, inputs, outputs):
        self.op, self.attrs, self.inputs, self.outputs = op, attrs, inputs, outputs
        self.freed, self.label, self.edges = False, None, None

    def name(self) -> str:
        if self.label is not None:
            return self.label
        if self.op == "custom":
            return f"{self.attrs['name']}Backward"
        if self.op == "sum":  # over all dims (0) or some (1)
            axes, ndim = self.attrs["axes"], self.inputs[0][3].ndim if self.inputs else None
            return "SumBackward0" if axes is None or len(axes) == ndim else "SumBackward1"
        return _TORCH_NAMES.get(self.op) or (
            "".join(part.capitalize() for part in self.op.split("_")) + "Backward0")

    @property
    def next_functions(self) -> tuple:
        """(node, output index) per input: the producing Record, an AccumulateGrad for a leaf
        that requires grad, or (None, 0)."""
        if self.edges is not None:
            return self.edges
        return tuple(
            (src, index) if src is not None
            else ((AccumulateGrad(leaf), 0) if leaf is not None else (None, 0))
            for src, index, leaf, *_ in self.inputs
        )

    def __repr__(self) -> str:
        return f"<{self.name()} object at {hex(id(self))}>"


class AccumulateGrad:
    """Where a leaf's gradient ends up: the end of a `next_functions` chain, as in PyTorch."""

    __slots__ = ("variable",)
    next_functions = ()

    def __init__(self, variable):
        self.variable = variable

    def name(self) -> str:
        return "torch::autograd::AccumulateGrad"

    def __repr__(self) -> str:
        return f"<AccumulateGrad object at {hex(id(self))}>"


def label(result, name: str, *inputs) -> None:
    """Show the record that produced `result` (if recorded) as PyTorch's node `name`, whose
    `next_functions` are those of the composite's own `inputs` (Tensors or None)."""
    rec = getattr(result, "_grad_fn", None)
    if rec is None:
        return
    rec.label = name
    rec.edges = tuple(_edge(t) for t in inputs)


def _edge(t) -> tuple:
    if not isinstance(t, _tensor.Tensor):
        return (None, 0)
    if t._grad_fn is not None:
        return (t._grad_fn, t._out_index)
    return (AccumulateGrad(t), 0) if t._requires_grad else (None, 0)


def record(op: str, attrs: dict, tensors, outs) -> None:
    """Record an eager op whose inputs require grad; its float outputs then require grad."""
    inputs = tuple(
        (
            t._grad_fn,
            t._out_index,
            None if t._grad_fn is not None or not t._requires_grad else t,
            t._data,
            t._vc,
            t._vc[0],
        )
        for t in tensors
    )
    rec = Record(op, attrs, inputs, [(o._data, o._vc, o._vc[0]) for o in outs])
    for i, out in enumerate(outs):
        if out._data.dtype.kind == "f":
            out._requires_grad, out._grad_fn, out._out_index = True, rec, i


# -- grad mode ------------------------------------------------------------------------------------


class _GradMode:
    """Sets grad mode inside a `with` block or a decorated function, restoring it afterwards."""

    mode = True

    def __enter__(self):
        self._prev = state.grad_enabled
        state.grad_enabled = self.mode

    def __exit__(self, *exc):
        state.grad_enabled = self._prev

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with type(self)():
                return fn(*args, **kwargs)

        return wrapper


class no_grad(_GradMode):
    """Within the block, eager ops record nothing and in-place updates of leaves are allowed."""

    mode = False


inference_mode = no_grad


class enable_grad(_GradMode):
    """Within the block, eager ops on tensors that require grad are recorded."""

    mode = True


class set_grad_enabled(_GradMode):
    """`set_grad_enabled(False)` turns recording off now, or inside a `with` block."""

    def __init__(self, mode: bool):
        self._prev = state.grad_enabled
        self.mode = bool(mode)
        state.grad_enabled = self.mode

    def __enter__(self):
        pass


def is_grad_enabled() -> bool:
    return state.grad_enabled


# -- backward -------------------------------------------------------------------------------------


def backward(root, gradient=None, retain_graph: bool = False, create_graph: bool = False) -> None:
    """Accumulate d(root)/d(leaf) into `.grad` of each leaf that requires grad and feeds `root`."""
    if create_graph:
        raise NotImplementedError(
            "create_graph=True (higher-order eager gradients) is not supported"
        )
    if root._data is None:
        raise RuntimeError(
            "backward() on a traced tensor: differentiate the traced graph with "
            "passes.autodiff.differentiate instead"
        )
    if not root._requires_grad:
        raise RuntimeError("element 0 of tensors does not require grad and does not have a grad_fn")
    seed = _seed(root, gradient)
    if root._grad_fn is None:
        _accumulate(root, seed)
        return
    order = _collect(root._grad_fn)
    leaves, signature = _signature(order)
    key = (
        signature,
        tuple((a.shape, a.dtype, t is not None) for t, a, _, _ in leaves),
        order.index(root._grad_fn),
        root._out_index,
    )
    plan = _PLANS.get(key)
    if plan is None:
        plan = _plan(order, leaves, signature, key[2], root._out_index)
        if len(_PLANS) >= _MAX_PLANS:
            _PLANS.clear()
        _PLANS[key] = plan
    inputs, grads = plan.run(order, leaves, seed)
    # A gradient array becomes .grad without a copy only if nothing else can see its memory: a
    # writable C-contiguous array whose base is neither a backward input nor another leaf's
    # gradient (d(x + y) gives both leaves one array). Others are copied into C order, which the
    # optimizer's several elementwise passes over each gradient read fastest.
    seen = {id(_root_base(a)) for a in inputs}
    for slot, grad in zip(plan.wrt_slots, grads):
        base = _root_base(grad)
        private = grad.flags.writeable and grad.flags.c_contiguous and id(base) not in seen
        _accumulate(leaves[slot][0], grad, copy=not private)
        seen.add(id(base))
    if not retain_graph:
        for rec in order:
            rec.freed, rec.inputs, rec.outputs = True, (), None


def _seed(root, gradient) -> np.ndarray:
    dtype, xp = root._data.dtype, array_module(root._data)
    if gradient is None:
        if root._data.size != 1:
            raise RuntimeError("grad can be implicitly created only for scalar outputs")
        return xp.ones(root._data.shape, dtype=dtype)
    seed = xp.asarray(gradient._storage() if isinstance(gradient, _tensor.Tensor) else gradient)
    if seed.shape != root._data.shape:
        raise RuntimeError(
            f"Mismatch in shape: grad_output[0] has a shape of {_tensor.Size(seed.shape)} and "
            f"output[0] has a shape of {_tensor.Size(root._data.shape)}."
        )
    return seed.astype(dtype, copy=False)


def _root_base(array):
    while isinstance(array, np.ndarray) and array.base is not None:
        array = array.base
    return array


def _accumulate(leaf, grad, copy: bool = True) -> None:
    if grad.dtype != leaf._data.dtype:
        grad, copy = grad.astype(leaf._data.dtype), False
    xp = array_module(grad)
    if leaf.grad is None or leaf.grad._data is None or leaf.grad._data.shape != grad.shape:
        leaf.grad = _tensor.Tensor._wrap(xp.array(grad, order="C", copy=True) if copy else grad)
    else:
        xp.add(leaf.grad._data, grad, out=leaf.grad._data)
    for hook in list(_POST_ACCUMULATE_HOOKS.get(id(leaf), {}).values()):
        hook(leaf)


# -- hooks ----------------------------------------------------------------------------------------

# id(leaf tensor) -> {handle id: hook}; an entry goes when its tensor is collected.
_POST_ACCUMULATE_HOOKS: dict[int, dict[int, object]] = {}


class RemovableHandle:
    """What registering a hook returns: `remove()` unregisters it."""

    _ids = itertools.count(1)

    def __init__(self, hooks: dict):
        self.id = next(self._ids)
        self._hooks = hooks

    def remove(self) -> None:
        self._hooks.pop(self.id, None)


def register_post_accumulate_grad_hook(tensor, hook) -> RemovableHandle:
    """Call `hook(tensor)` each time `backward()` has accumulated a gradient into `tensor.grad`."""
    if not tensor.is_leaf:
        raise RuntimeError("post accumulate grad hooks cannot be registered on non-leaf tensors")
    if not tensor.requires_grad:
        raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
    key = id(tensor)
    if key not in _POST_ACCUMULATE_HOOKS:
        _POST_ACCUMULATE_HOOKS[key] = {}
        weakref.finalize(tensor, _POST_ACCUMULATE_HOOKS.pop, key, None)
    handle = RemovableHandle(_POST_ACCUMULATE_HOOKS[key])
    handle._hooks[handle.id] = hook
    return handle


def _collect(root) -> list:
    """Records reachable from `root`, inputs before users (iterative: chains can be long)."""
    order, seen, stack = [], set(), [(root, False)]
    while stack:
        rec, done = stack.pop()
        if done:
            order.append(rec)
            continue
        if id(rec) in seen:
            continue
        if rec.freed:
            raise RuntimeError(
                "Trying to backward through the graph a second time (or directly access saved "
                "tensors after they have already been freed). Saved intermediate values of the "
                "graph are freed when you call .backward(). Specify retain_graph=True if you need "
                "to backward through the graph a second time."
            )
        seen.add(id(rec))
        stack.append((rec, True))
        stack.extend((src, False) for src, *_ in reversed(rec.inputs) if src is not None)
    return order


def _signature(order):
    """Leaves (tensor, array, vc, version) in first-use order, and the recording's structure."""
    position = {id(rec): pos for pos, rec in enumerate(order)}
    slots, leaves, signature = {}, [], []
    for rec in order:
        refs = []
        for src, index, tensor, array, vc, version in rec.inputs:
            if src is not None:
                refs.append((position[id(src)], index))
                continue
            key = id(tensor) if tensor is not None else id(array)
            slot = slots.get(key)
            if slot is None:
                slot = slots[key] = len(leaves)
                leaves.append((tensor, array, vc, version))
            refs.append((-1, slot))
        signature.append((rec.op, tuple(rec.attrs.items()), tuple(refs)))
    return leaves, tuple(signature)


class _Plan:
    """A differentiated recording: the backward graph and where each of its inputs comes from."""

    def __init__(self, backward, feeds, param_feeds, wrt_slots):
        self.backward, self.feeds, self.param_feeds = backward, feeds, param_feeds
        self.wrt_slots = wrt_slots

    def run(self, order, leaves, seed) -> tuple[list, list]:
        """(the arrays fed to the backward graph, the gradients in wrt order)."""
        from runtime import run_graph

        inputs = [_fetch(feed, order, leaves, seed) for feed in self.feeds]
        params = {name: _fetch(feed, order, leaves, seed) for name, feed in self.param_feeds}
        xp = array_module(seed)  # the backward graph runs where the forward ran
        if xp is not np:  # 0-d CPU operands (Python scalars) joined CUDA tensors there
            where = device_of(seed)
            inputs = [move(a, where) for a in inputs]
            params = {name: move(a, where) for name, a in params.items()}
        return [*inputs, *params.values()], run_graph(self.backward, inputs, params, xp)


def _fetch(feed, order, leaves, seed):
    """The array a backward input reads, after checking nothing changed it in place since."""
    if feed[0] == "seed":
        return seed
    if feed[0] == "leaf":
        _, array, vc, version = leaves[feed[1]]
    else:
        array, vc, version = order[feed[1]].outputs[feed[2]]
    if vc[0] != version:
        raise RuntimeError(
            "one of the variables needed for gradient computation has been modified by an inplace "
            f"operation: [{array.dtype.name} {list(array.shape)}] is at version {vc[0]}; expected "
            f"version {version} instead."
        )
    return array


def _plan(order, leaves, signature, root_pos: int, root_index: int) -> _Plan:
    from passes.autodiff import differentiate

    graph = Graph("eager_backward")
    sources, leaf_values = {}, []
    for slot, (tensor, array, _, _) in enumerate(leaves):
        type_ = TensorType(array.shape, array.dtype)
        value = (
            graph.add_param(f"p{slot}", type_)
            if tensor is not None
            else graph.add_input(f"x{slot}", type_)
        )
        leaf_values.append(value)
        sources[value.name] = ("leaf", slot)
    outputs = []
    for pos, rec in enumerate(order):
        ins = [
            leaf_values[i] if source == -1 else outputs[source][i]
            for source, i in signature[pos][2]
        ]
        node = graph.add_node(rec.op, ins, rec.attrs)
        outputs.append(node.outputs)
        for i, value in enumerate(node.outputs):
            sources[value.name] = ("node", pos, i)
    root = outputs[root_pos][root_index]
    graph.set_outputs([root])
    wrt = [f"p{slot}" for slot, (tensor, *_) in enumerate(leaves) if tensor is not None]
    result = differentiate(graph, wrt=wrt, seed_outputs=True)
    sources[f"grad_{root.name}"] = ("seed",)
    missing = [
        v.name for v in result.backward.inputs + result.backward.params if v.name not in sources
    ]
    if missing:
        raise RuntimeError(f"backward graph reads unknown values {missing}")
    feeds = [sources[v.name] for v in result.backward.inputs]
    param_feeds = [(v.name, sources[v.name]) for v in result.backward.params]
    return _Plan(result.backward, feeds, param_feeds, [int(name[1:]) for name in result.wrt])


def __getattr__(name: str):
    # graphc.autograd.Function lives in graphc.function, which builds on dispatch (imported here).
    if name in ("Function", "FunctionCtx"):
        from graphc import function

        return getattr(function, name)
    raise AttributeError(f"module 'graphc.autograd' has no attribute '{name}'")
