"""`Executable`: a graph, its memory plan (`passes.plan_memory(graph)`) and a backend, built once
into a `Program` and run repeatedly: `exe(inputs, params, keys) -> outputs`.

Building allocates the arena the plan asks for (one block), places constants on the device and
resolves every kernel call. A run binds the inputs (checked exactly: shapes and dtypes, never a
silent broadcast or cast), the random keys and the parameters, runs the steps, returns copies of
the outputs (a caller keeps them; the next run reuses the arena) and brings the parameters up to
date: updates the plan writes in place are already there, the others are copied in.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import numpy as np

from ir.graph import Graph
from runtime.backend import Backend, get_backend
from runtime.capture import StepCapture
from runtime.interpreter import ExecutionError, check_array
from runtime.staging import Staging
from runtime.threads import configure_threads


class Executable:
    """Run `graph` repeatedly on `backend` with the memory `plan` of `passes.plan_memory`.

    `inputs` are the graph's user inputs in order (not the random keys, which take the ints of
    `keys`), `params` maps parameter names to the caller's arrays: the parameters' own storage,
    which updates write into. Not reentrant: one run at a time.

    On a device backend, inputs and parameters are bound as `runtime.staging` says (host arrays
    copied in before each run, in one transfer) and from the second run on, the whole run is
    one captured CUDA graph where that is safe (`runtime.capture`; `capture=False` turns it
    off).
    """

    def __init__(self, graph: Graph, plan, backend: str | Backend = "numpy",
                 capture: bool | None = None):
        graph.verify()
        if plan.graph is not graph:
            raise ValueError(f"the memory plan is for graph '{plan.graph.name}', not this one")
        configure_threads()
        self.graph = graph
        self.backend = get_backend(backend)
        self.plan = plan
        self.arena = self.backend.empty((self.plan.arena_bytes,), "uint8")
        # Debug mode poisons the arena before every run (all bits set: NaN in floats), so a
        # kernel reading memory nothing wrote this run shows up as NaN instead of going unseen.
        self.poison = os.environ.get("GRAPHC_DEBUG", "") not in ("", "0")
        self.program = program = self.backend.program(graph, self.plan, self.arena)
        slot = program.slot
        self._inputs = [(slot[v], v) for v in graph.user_inputs()]
        self._keys = [(slot[v], v) for v in graph.random_keys]
        self._key_arrays = [self.backend.empty((), "int64") for _ in self._keys]
        self._by_name = {v.name: (slot[v], v) for v in [*graph.user_inputs(), *graph.params]}
        self._unbound = set(self._by_name)
        self._outputs = [slot[v] for v in graph.outputs]
        self._copies = [(slot[p], slot[v]) for p, v in graph.updates
                        if p not in self.plan.in_place_updates]
        # A copied update that reads another parameter's buffer must be read before any copy.
        params = {id(self.plan.buffer_of[p]) for p in graph.params}
        self._guarded = any(id(self.plan.buffer_of[v]) in params for p, v in graph.updates
                            if p not in self.plan.in_place_updates)
        self._staging = None
        self._capture = StepCapture(self.backend, graph, program, capture)
        if self.backend.device:
            self._staging = Staging(self.backend, program.env)
            # Results are copied inside the (captured) run into buffers of their own.
            self._results = [self.backend.empty(v.shape, v.dtype) for v in graph.outputs]
            self._updated = {slot[p] for p, _ in graph.updates}

    def __call__(self, inputs: Sequence = (), params: Mapping | None = None, keys=()) -> list:
        """Feed the user inputs (in order) and every parameter (by name), then run."""
        self.feed_inputs(inputs)
        params = params or {}
        for value in self.graph.params:
            if value.name not in params:
                raise ExecutionError(
                    f"graph '{self.graph.name}' needs parameter '{value.name}' ({value.type})"
                )
            self.feed(value.name, params[value.name])
        return self.run(keys)

    def feed_inputs(self, inputs: Sequence) -> None:
        """Bind the user inputs in graph order (checked)."""
        if len(inputs) != len(self._inputs):
            expected = ", ".join(f"{v.name}: {v.type}" for _, v in self._inputs)
            raise ExecutionError(f"graph '{self.graph.name}' takes {len(self._inputs)} "
                                 f"input(s) ({expected}), got {len(inputs)}")
        for (s, value), array in zip(self._inputs, inputs):
            self._bind(s, value, check_array(value, array, "input"))
            self._unbound.discard(value.name)

    def feed(self, name: str, array) -> None:
        """Bind the input or parameter `name` to `array` (checked) until it is fed again: a
        parameter's storage, or a 0-d hyper-parameter array the caller refills between runs."""
        entry = self._by_name.get(name)
        if entry is None:
            raise ExecutionError(f"graph '{self.graph.name}' has no input or parameter '{name}'")
        s, value = entry
        role = "parameter" if value.kind == "param" else "input"
        self._bind(s, value, check_array(value, array, role))
        self._unbound.discard(name)

    def _bind(self, s: int, value, array) -> None:
        if self._staging is not None:
            self._staging.bind(s, value, array)
        else:
            self.program.env[s] = self.backend.to_device(array)

    def run(self, keys=(), observe=None) -> list:
        """Run once with what is bound and fresh random `keys`; return copies of the outputs.

        `observe(node, inputs, outputs)` sees every kernel call (see `Program.run`)."""
        if self._unbound:
            raise ExecutionError(f"graph '{self.graph.name}' needs a value for "
                                 f"{', '.join(sorted(self._unbound))} before it can run")
        env = self.program.env
        if self.poison:
            self.arena.fill(255)
        if len(keys) != len(self._keys):
            raise ExecutionError(f"graph '{self.graph.name}' takes {len(self._keys)} "
                                 f"random key(s) in keys=, got {len(keys)}")
        for (s, value), key, holder in zip(self._keys, keys, self._key_arrays):
            if not isinstance(key, (int, np.integer)) or isinstance(key, (bool, np.bool_)):
                raise ExecutionError(f"random key '{value.name}' must be an int, got {key!r}")
            holder.fill(int(key))
            env[s] = holder
        if self._staging is None:
            self.program.run(observe)
            outputs = [self.backend.copy(env[s]) for s in self._outputs]
            self._write_updates(env)
            return outputs
        self._staging.before_run()
        if observe is None:
            self._capture.run(self._device_run)
        else:
            self._device_run(observe)
        self._staging.after_run(self._updated)
        return [self.backend.copy(result) for result in self._results]

    def _device_run(self, observe=None) -> None:
        """One run on a device backend: kernels, results into their buffers, updates."""
        env = self.program.env
        self.program.run(observe)
        for result, s in zip(self._results, self._outputs):
            self.backend.copy_into(result, env[s])
        self._write_updates(env)

    def _write_updates(self, env: list) -> None:
        copies = [(env[p], env[v]) for p, v in self._copies]
        if self._guarded:
            copies = [(target, self.backend.copy(source)) for target, source in copies]
        for target, source in copies:
            if target is not source:
                self.backend.copy_into(target, source)

    @property
    def kernels(self) -> int:
        """Kernel calls per run (views of arrays that never change cost none)."""
        return len(self.program.steps)

    @property
    def captured(self) -> bool:
        """Whether runs replay a captured CUDA graph (see `runtime.capture`)."""
        return self._capture.captured

    def __repr__(self) -> str:
        return (f"<Executable '{self.graph.name}' on {self.backend.name}: {self.kernels} kernel "
                f"calls, arena {self.plan.arena_bytes} bytes, {len(self.graph.updates)} updates "
                f"({len(self.plan.in_place_updates)} in place)>")
