"""`Executable`: a verified graph compiled once into a flat list of kernel calls over integer slots.

Building resolves everything a step needs: each value gets a slot in a list, each node becomes
(kernel, input slots, output slots) with its attributes bound, constants are placed on the device,
and the slots each call leaves dead are known. A step then only checks its inputs, runs the list,
and writes `graph.updates` into the caller's parameter arrays in place.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence

import numpy as np

from ir.graph import Graph, describe_location
from ir.ops.registry import get_op
from runtime.backend import Backend, get_backend
from runtime.interpreter import ExecutionError, check_array


class _Program:
    """One graph's calls over slots; also the kernel of a fused node holding a subgraph."""

    def __init__(self, graph: Graph, backend: Backend, keep=()):
        slot = {}
        for value in graph.values():
            slot[id(value)] = len(slot)
        self.size = len(slot)
        self.template = [None] * self.size
        for value in graph.constants:
            self.template[slot[id(value)]] = backend.to_device(value.data)
        self.input_slots = tuple(slot[id(v)] for v in graph.inputs)
        self.output_slots = tuple(slot[id(v)] for v in graph.outputs)
        self.calls = [
            (_kernel(node, backend), tuple(slot[id(v)] for v in node.inputs),
             tuple(slot[id(v)] for v in node.outputs), node)
            for node in graph.nodes
        ]
        self.frees = _dead_after(self.calls, set(self.output_slots) | {slot[id(v)] for v in keep})
        self.slot = slot

    def execute(self, env: list) -> None:
        """Run every call on `env` (a list indexed by slot), dropping values once dead."""
        node = None
        try:
            for (kernel, ins, outs, node), frees in zip(self.calls, self.frees):
                result = kernel(*[env[i] for i in ins])
                if type(result) is tuple:
                    for out, array in zip(outs, result):
                        env[out] = array
                else:
                    env[outs[0]] = result
                for i in frees:
                    env[i] = None
        except Exception as err:
            raise ExecutionError(
                f"while executing {node!r}{describe_location(node.meta)}: "
                f"{type(err).__name__}: {err}"
            ) from err

    def __call__(self, *arrays):
        env = list(self.template)
        for i, array in zip(self.input_slots, arrays):
            env[i] = array
        self.execute(env)
        return tuple(env[i] for i in self.output_slots)


def _kernel(node, backend: Backend):
    """The callable for `node`: its op's reference kernel with attributes bound."""
    opdef = get_op(node.op)
    return functools.partial(opdef.impl, backend.xp, **opdef.check_attrs(dict(node.attrs)))


def _dead_after(calls, keep: set) -> list[tuple[int, ...]]:
    """For each call, the slots read there for the last time (never those in `keep`)."""
    last = {}
    for index, (_, ins, _, _) in enumerate(calls):
        for i in ins:
            last[i] = index
    frees = [[] for _ in calls]
    for i, index in last.items():
        if i not in keep:
            frees[index].append(i)
    return [tuple(f) for f in frees]


class Executable:
    """Run `graph` repeatedly: `exe(inputs, params, keys=()) -> list of outputs`.

    `inputs` are the graph's inputs in order, except the random keys (`graph.random_keys`),
    which take the ints of `keys` in that order. `params` maps parameter names to arrays; after
    the run, each `(param, new)` of `graph.updates` is copied into `params[param.name]` in place,
    so the caller's arrays (a model's own storage) hold the new values. Shapes and dtypes are
    checked exactly; a failing kernel raises ExecutionError naming the node and its source line.
    """

    def __init__(self, graph: Graph, backend: str | Backend = "numpy"):
        graph.verify()
        self.graph = graph
        self.backend = get_backend(backend)
        keep = [v for _, v in graph.updates]
        self._program = program = _Program(graph, self.backend, keep)
        slot = program.slot
        self._key_inputs = [(slot[id(v)], v) for v in graph.random_keys]
        self._data_inputs = [(slot[id(v)], v) for v in graph.user_inputs()]
        self._params = [(slot[id(v)], v) for v in graph.params]
        self._updates = [(p.name, slot[id(v)]) for p, v in graph.updates]
        # Results that may be (views of) parameter arrays: copied before updates overwrite them.
        from_params = _param_derived(graph)
        self._guarded_outputs = [i for i, v in enumerate(graph.outputs) if id(v) in from_params]
        self._guarded_updates = [i for i, (_, v) in enumerate(graph.updates)
                                 if id(v) in from_params]

    def __call__(self, inputs: Sequence = (), params: Mapping | None = None, keys=()) -> list:
        env = list(self._program.template)
        self._bind(env, inputs, params or {}, keys)
        self._program.execute(env)
        outputs = [env[i] for i in self._program.output_slots]
        if self._updates:
            self._write_updates(env, outputs, params)
        return outputs

    def _bind(self, env: list, inputs, params, keys) -> None:
        to_device = self.backend.to_device
        if len(inputs) != len(self._data_inputs):
            expected = ", ".join(f"{v.name}: {v.type}" for _, v in self._data_inputs)
            raise ExecutionError(f"graph '{self.graph.name}' takes {len(self._data_inputs)} "
                                 f"input(s) ({expected}), got {len(inputs)}")
        for (i, value), array in zip(self._data_inputs, inputs):
            env[i] = to_device(check_array(value, array, "input"))
        if len(keys) != len(self._key_inputs):
            raise ExecutionError(f"graph '{self.graph.name}' takes {len(self._key_inputs)} "
                                 f"random key(s) in keys=, got {len(keys)}")
        for (i, value), key in zip(self._key_inputs, keys):
            if not isinstance(key, (int, np.integer)) or isinstance(key, (bool, np.bool_)):
                raise ExecutionError(f"random key '{value.name}' must be an int, got {key!r}")
            env[i] = to_device(np.asarray(key, dtype=np.int64))
        for i, value in self._params:
            if value.name not in params:
                raise ExecutionError(
                    f"graph '{self.graph.name}' needs parameter '{value.name}' ({value.type})"
                )
            env[i] = to_device(check_array(value, params[value.name], "parameter"))

    def _write_updates(self, env: list, outputs: list, params: Mapping) -> None:
        targets = [params[name] for name, _ in self._updates]
        news = [env[i] for _, i in self._updates]
        shares = self.backend.may_share_memory
        for arrays, guarded in ((outputs, self._guarded_outputs), (news, self._guarded_updates)):
            for k in guarded:
                if any(shares(arrays[k], t) for t in targets):
                    arrays[k] = arrays[k].copy()
        for target, new in zip(targets, news):
            self.backend.copy_into(target, new)

    def __repr__(self) -> str:
        return (f"<Executable '{self.graph.name}' on {self.backend.name}: "
                f"{len(self._program.calls)} calls, {len(self._updates)} updates>")


def _param_derived(graph: Graph) -> set[int]:
    """Ids of values that could share memory with a parameter (any op may return a view)."""
    derived = {id(v) for v in graph.params}
    for node in graph.nodes:
        if any(id(v) in derived for v in node.inputs):
            derived.update(id(v) for v in node.outputs)
    return derived
