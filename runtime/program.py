"""`Program`: a graph and its memory plan turned into a flat list of kernel calls over slots.

Everything is resolved when the program is built: each value gets a slot in a list (`env`); values
in the arena get their arrays there once (views of one preallocated byte arena), constants their
device arrays, views of those their view; each node becomes one step that calls its kernel
writing into its planned output. Only the caller's inputs, parameters and what kernels allocate
change from run to run. A step does no allocation, no graph walking and no dispatch by op name.
A fused node's step is a `FusedKernel`: a Program over its body, its temporaries in the node's
workspace, its results written straight into the node's buffers.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from ir.errors import ExecutionError, kernel_error
from ir.graph import Graph, Node, Value, describe_location
from runtime import numpy_kernels
from runtime.backend import Backend

# The storage kinds of a memory plan's buffers (`passes.memory.MemoryPlan`, produced by the
# planner and read here: the runtime depends on the plan's interface, not on `passes`).
ARENA, HEAP, OUTPUT, CONST = "arena", "heap", "output", "const"

# Faster write kernels the NumPy backend uses instead of the reference ones (tested against them):
# a factory per op, called once per step (a kernel may keep what it prepared for its arrays).
NUMPY_KERNELS = numpy_kernels.KERNELS


class Program:
    """Steps over `env` for `graph` laid out by `plan` in `arena` (a uint8 device array)."""

    def __init__(self, graph: Graph, plan, backend: Backend, arena):
        self.graph, self.plan, self.backend, self.xp = graph, plan, backend, backend.xp
        self.arena = arena
        self.env: list = []
        self.slot: dict[Value, int] = {}
        self.static: set[int] = set()  # slots whose array never changes
        self._buffer_slot: dict[int, int] = {}
        for value in graph.values():
            self._assign_slot(value)
        self.steps: list = []
        self.nodes: list[Node] = []
        for node in graph.nodes:
            step = self._step(node)
            if step is not None:
                self.steps.append(step)
                self.nodes.append(node)
        # What a run executes: the steps with fused bodies inlined (no per-kernel binding where
        # the fused node's arrays never change), and the node each step runs, for errors.
        self.flat: list = []
        self.flat_nodes: list[Node] = []
        for step, node in zip(self.steps, self.nodes):
            for flat_step, flat_node in (step.inline(self.static) if isinstance(step, FusedStep)
                                         else [(step, node)]):
                self.flat.append(flat_step)
                self.flat_nodes.append(flat_node)

    # -- slots ------------------------------------------------------------------------------------
    def _assign_slot(self, value: Value) -> None:
        buffer = self.plan.buffer_of[value]
        if value in self.plan.view_of or buffer.kind == HEAP:
            self.slot[value] = self._new_slot(None)
            return
        key = id(buffer)
        if key not in self._buffer_slot:
            self._buffer_slot[key] = self._new_slot(self._initial(buffer, value))
            if buffer.kind in (ARENA, CONST):
                self.static.add(self._buffer_slot[key])
        self.slot[value] = self._buffer_slot[key]

    def _new_slot(self, array) -> int:
        self.env.append(array)
        return len(self.env) - 1

    def _initial(self, buffer, value: Value):
        if buffer.kind == ARENA:
            raw = self.arena[buffer.offset: buffer.offset + value.type.nbytes]
            return raw.view(value.type.np_dtype).reshape(value.shape)
        if buffer.kind == CONST:
            return self.backend.to_device(value.data)
        return None  # inputs, parameters, outputs: bound at every run

    def slot_of_buffer(self, buffer) -> int:
        return self._buffer_slot[id(buffer)]

    # -- steps ------------------------------------------------------------------------------------
    def _step(self, node: Node):
        opdef, env, xp = node.opdef, self.env, self.xp
        ins = tuple(self.slot[v] for v in node.inputs)
        outs = tuple(self.slot[v] for v in node.outputs)
        if opdef.view is not None:
            return self._view_step(node, ins, outs)
        workspace = self.plan.workspaces.get(node)
        if node.op == "fused":
            memory = self.arena[workspace.offset: workspace.offset + workspace.nbytes]
            kernel = FusedKernel(node.attrs["body"], workspace.body, self.backend, memory)
            return FusedStep(kernel, env, outs, ins, node)
        if self.plan.buffer_of[node.outputs[0]].kind == HEAP:
            impl = functools.partial(opdef.impl, xp, **node.attrs)

            def allocate():
                operands = [env[i] for i in ins]
                results = impl(*operands)
                for o, array in zip(outs, results if isinstance(results, tuple) else (results,)):
                    # The plan takes this result for a fresh array (its op declares no view):
                    # a kernel handing back (a view of) an operand must not let later writes
                    # into either reach the other.
                    if any(xp.may_share_memory(array, a) for a in operands):
                        array = xp.array(array, copy=True)
                    env[o] = array

            return allocate
        write = self._write_kernel(node)
        attrs = node.attrs
        if workspace is not None:  # the op's scratch arrays, laid out in the arena
            attrs = {**attrs, "scratch": tuple(
                self.arena[at: at + t.nbytes].view(t.np_dtype).reshape(t.shape)
                for at, t in zip(workspace.scratch_offsets(), workspace.scratch))}
        if len(outs) == 1:
            (o,) = outs
            return lambda: write(xp, env[o], *[env[i] for i in ins], **attrs)
        return lambda: write(xp, tuple(env[o] for o in outs), *[env[i] for i in ins], **attrs)

    def _write_kernel(self, node: Node):
        if self.backend.name == "numpy" and node.op in NUMPY_KERNELS:
            return NUMPY_KERNELS[node.op]()
        return node.opdef.write

    def _view_step(self, node: Node, ins, outs):
        """Views of arrays that never change are taken once, here; others at every run."""
        env, impl = self.env, functools.partial(node.opdef.impl, self.xp, **node.attrs)
        if all(i in self.static for i in ins):
            results = impl(*[env[i] for i in ins])
            results = results if isinstance(results, tuple) else (results,)
            base = env[ins[node.opdef.view]]
            if all(r.size == 0 or self.xp.may_share_memory(r, base) for r in results):
                for o, array in zip(outs, results):
                    env[o] = array
                    self.static.add(o)
                return None
        if len(outs) == 1:
            (o,) = outs
            return lambda: env.__setitem__(o, impl(*[env[i] for i in ins]))

        def views():
            for o, array in zip(outs, impl(*[env[i] for i in ins])):
                env[o] = array

        return views

    def run(self, observe: Callable | None = None) -> None:
        """Run every step; `observe(node, inputs, outputs)` (debugging) sees each node's operands
        as they were before it ran (copies: it may overwrite them) and its results after."""
        index = 0
        try:
            if observe is None:
                for index, step in enumerate(self.flat):
                    step()
            else:
                for index, step in enumerate(self.steps):
                    self._observed(step, self.nodes[index], observe)
        except ExecutionError:
            raise
        except Exception as err:
            node = (self.flat_nodes if observe is None else self.nodes)[index]
            raise kernel_error(
                f"while executing {node!r}{describe_location(node.meta)}: "
                f"{type(err).__name__}: {err}", err) from err


    def _observed(self, step, node: Node, observe: Callable) -> None:
        env, slot, copy = self.env, self.slot, self.backend.copy
        inputs = [copy(env[slot[v]]) for v in node.inputs]
        step()
        observe(node, inputs, [env[slot[v]] for v in node.outputs])


class FusedKernel:
    """One fused node: its body's steps, writing into the node's result arrays."""

    def __init__(self, body: Graph, plan, backend: Backend, workspace):
        self.program = Program(body, plan, backend, workspace)
        slot = self.program.slot
        self.input_slots = [slot[v] for v in body.inputs]
        self.output_slots = []
        for value in body.outputs:
            buffer = plan.buffer_of[value]
            pinned = buffer.kind == OUTPUT
            self.output_slots.append(slot[value] if pinned else None)
        self.copies = [(j, slot[body.outputs[j]]) for j in plan.copied_outputs]
        self.backend = backend

    def __call__(self, outs: list, ins: list) -> None:
        self.bind(outs, ins)
        self.program.run()
        self.copy_results(outs)

    def bind(self, outs: list, ins: list) -> None:
        """The node's operands and result arrays into the body's slots."""
        env = self.program.env
        for s, array in zip(self.input_slots, ins):
            env[s] = array
        for s, array in zip(self.output_slots, outs):
            if s is not None:
                env[s] = array

    def copy_results(self, outs: list) -> None:
        env = self.program.env
        for j, s in self.copies:
            self.backend.xp.copyto(outs[j], env[s])


class FusedStep:
    """A program step running a fused node's kernel over the program's `env` slots."""

    __slots__ = ("env", "ins", "kernel", "node", "outs")

    def __init__(self, kernel: FusedKernel, env: list, outs: tuple, ins: tuple, node: Node):
        self.kernel, self.env, self.outs, self.ins, self.node = kernel, env, outs, ins, node

    def __call__(self) -> None:
        env = self.env
        self.kernel([env[o] for o in self.outs], [env[i] for i in self.ins])

    def inline(self, static: set) -> list:
        """(step, node) pairs that do this step's work inline in the program's run: the body's
        steps, after a step binding those of the node's arrays that can change between runs
        (the ones in `static` slots are bound here, once)."""
        kernel, env, outs, ins = self.kernel, self.env, self.outs, self.ins
        kernel.bind([env[o] for o in outs], [env[i] for i in ins])
        body = kernel.program
        steps = list(zip(body.flat, body.flat_nodes))
        pairs = [(s, i) for s, i in zip(kernel.input_slots, ins) if i not in static]
        pairs += [(s, o) for s, o in zip(kernel.output_slots, outs)
                  if s is not None and o not in static]
        if pairs:
            inner = body.env

            def bind():
                for s, i in pairs:
                    inner[s] = env[i]

            steps.insert(0, (bind, self.node))
        if kernel.copies:
            steps.append((lambda: kernel.copy_results([env[o] for o in outs]), self.node))
        return steps
