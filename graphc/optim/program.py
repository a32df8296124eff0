"""`UpdateProgram`: an optimizer's update emitted as IR into a graph, and how to feed it each run.

The eager `Optimizer.step()` and `graphc.compile_train_step` both go through this class, so both run
the very same IR. Per-parameter optimizer state becomes graph parameters updated in place
(`graph.updates`); hyper-parameters become 0-d float64 graph inputs, read from `param_groups` at
every run, so changing `lr` between steps needs no rebuild.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ir.builder import Builder
from ir.graph import Graph, Value
from ir.types import TensorType

HYPER_TYPE = TensorType((), "float64")


@dataclass
class Slot:
    """One parameter's view of the update: its value, gradient, state values and fresh flag.

    `fresh` is a 0-d float64 input that is 1.0 on the parameter's first step (its state was just
    created); only optimizers whose first step differs (SGD's momentum buffer) read it.
    """

    param: Value
    grad: Value
    state: dict[str, Value]
    fresh: Value | None = None


@dataclass(frozen=True)
class Entry:
    """A parameter to update: its group index, its name in the graph, its value and gradient."""

    group: int
    name: str
    param: Value
    grad: Value


class UpdateProgram:
    """Emits `optimizer`'s update for `entries` into `graph` (phase='optimizer') and feeds it.

    State values are graph params named `<prefix><name>.<state>`, hyper-parameters inputs named
    `<prefix>group<i>.<hyper>`, fresh flags inputs `<prefix><name>.fresh`. `self.updates` lists the
    (old, new) pairs for `graph.updates`: each parameter first, then its state.
    """

    def __init__(self, optimizer, graph: Graph, entries: list[Entry], prefix: str = ""):
        self.optimizer, self.graph, self.entries = optimizer, graph, list(entries)
        groups = optimizer.param_groups
        self.hyper_inputs: list[tuple[Value, int, str]] = []
        self.state_params: list[list[tuple[Value, str]]] = []
        self.fresh_inputs: list[Value | None] = []
        self.updates: list[tuple[Value, Value]] = []
        hypers = {}
        for gi in sorted({e.group for e in self.entries}):
            hypers[gi] = {}
            for name in optimizer.hyper_values(groups[gi]):
                value = graph.add_input(f"{prefix}group{gi}.{name}", HYPER_TYPE)
                self.hyper_inputs.append((value, gi, name))
                hypers[gi][name] = value
        b = Builder(graph, phase="optimizer")
        for entry in self.entries:
            group = groups[entry.group]
            state = {}
            for sname in optimizer.state_names(group):
                stype = optimizer.state_type(sname, entry.param.type)
                state[sname] = graph.add_param(f"{prefix}{entry.name}.{sname}", stype)
            fresh = None
            if optimizer.needs_fresh(group):
                fresh = graph.add_input(f"{prefix}{entry.name}.fresh", HYPER_TYPE)
            self.state_params.append([(v, s) for s, v in state.items()])
            self.fresh_inputs.append(fresh)
            slot = Slot(entry.param, entry.grad, state, fresh)
            with b.meta(scope=f"optimizer.{entry.name}"):
                new_param, new_state = optimizer.emit_param(b, slot, hypers[entry.group], group)
            self.updates.append((entry.param, new_param))
            self.updates += [(state[s], new_state[s]) for s in state]

    def feeder(self, exe) -> Feeder:
        """What feeds `exe` (an Executable of this program's graph) before and after each run."""
        return Feeder(self, exe)


class Feeder:
    """Keeps an Executable of an update program fed: hyper-parameters are written into 0-d
    arrays the executable reads (fed once), optimizer state is re-fed only when its storage
    changed (a `load_state_dict`, a first step), state a parameter does not have yet is created
    before the run and installed after it succeeded."""

    def __init__(self, program: UpdateProgram, exe):
        self.program, self.exe = program, exe
        self.hyper = []
        for value, gi, name in program.hyper_inputs:
            array = np.zeros((), np.float64)
            exe.feed(value.name, array)
            self.hyper.append((array, gi, name))
        self.fresh = []
        for value in program.fresh_inputs:
            array = np.zeros((), np.float64)
            if value is not None:
                exe.feed(value.name, array)
            self.fresh.append(array)
        self.bound: dict[str, np.ndarray] = {}
        self.pending: list = []

    def before(self, tensors) -> None:
        """Fill hyper-parameters and feed the state of `tensors` (aligned with the entries)."""
        opt, groups, program = self.program.optimizer, self.program.optimizer.param_groups, \
            self.program
        values = {}
        for array, gi, name in self.hyper:
            if gi not in values:
                values[gi] = opt.hyper_values(groups[gi])
            array.fill(values[gi][name])
        self.pending = []
        for entry, tensor, state_params, fresh in zip(
            program.entries, tensors, program.state_params, self.fresh
        ):
            state = opt.state[tensor]
            created = {}
            for value, sname in state_params:
                if sname in state:
                    array = storage(state[sname])
                else:
                    array = created[sname] = opt.initial_state(sname, storage(tensor),
                                                                groups[entry.group])
                if self.bound.get(value.name) is not array:
                    self.exe.feed(value.name, array)
                    self.bound[value.name] = array
            fresh.fill(1.0 if created else 0.0)
            if created:
                self.pending.append((tensor, created))

    def after(self) -> None:
        """Install the state created by `before` (now updated in place by the run)."""
        from graphc import Tensor

        for tensor, created in self.pending:
            state = self.program.optimizer.state[tensor]
            for sname, array in created.items():
                state[sname] = Tensor._wrap(array)  # on the parameter's device
        self.pending = []


def storage(tensor) -> np.ndarray:
    """The Tensor's own storage array (shared memory, on its device), also for tensors that
    require grad."""
    return tensor.detach()._storage()
