"""`graphc.compile` and `graphc.compile_train_step`: traced graphs run by `runtime.Executable`.

Both run on the model's live storage: parameters are looked up at every call, so `p.data = ...` and
`load_state_dict` are seen. A training step is one graph (forward, loss, backward, optimizer update)
whose `updates` write the new parameters and optimizer state in place into the model's and the
optimizer's own arrays. A change of `train()`/`eval()` mode, of which parameters are trainable, or of
the optimizer's structure (parameter groups, momentum on/off, ...) selects or builds another graph;
numeric hyper-parameters such as `lr` are inputs and never cause a rebuild.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from graphc.optim.program import Entry, UpdateProgram, ordered_inputs, storage
from ir.graph import Graph, Value


class CompiledInputError(ValueError):
    """A compiled callable was given inputs that differ from the example it was compiled for."""


def compile(model, *example_inputs) -> CompiledModel:
    """Trace `model` on `example_inputs` and return a callable that runs the compiled graph."""
    return CompiledModel(model, *example_inputs)


def compile_train_step(model, loss_fn, optimizer, *example_inputs, distributed=False) -> TrainStep:
    """Compile `loss_fn(model(*inputs), target)` plus backward and `optimizer`'s update.

    The last example input is the target; `step(X, y)` returns the loss as a 0-d Tensor.
    `distributed=True`, or a `DistributedDataParallel` model, averages the gradients over the
    processes of `graphc.distributed` inside the step graph (bucketed all-reduces).
    """
    return TrainStep(model, loss_fn, optimizer, *example_inputs, distributed=distributed)


@dataclass
class _Variant:
    """One compiled graph for one mode: the graph, its executable and its user input values."""

    graph: Graph
    exe: object
    user_inputs: list[Value]
    program: UpdateProgram | None = None
    tensors: list | None = None  # the parameter Tensors aligned with program.entries
    autodiff: object = None


class _Compiled:
    """Shared by CompiledModel and TrainStep: variants by mode, input checks, live parameters."""

    def __init__(self, model, example_inputs):
        self.model = model
        self.example_inputs = example_inputs
        self._variants: dict = {}
        self._variant()

    def _key(self) -> tuple:
        return _modes(self.model)

    def _build(self) -> _Variant:
        raise NotImplementedError

    def _variant(self) -> _Variant:
        key = self._key()
        if key not in self._variants:
            self._variants[key] = self._build()
        return self._variants[key]

    @property
    def graph(self) -> Graph:
        """The graph that runs for the model's current mode."""
        return self._variant().graph

    def _run(self, variant: _Variant, inputs: tuple, extra_inputs=None, extra_params=None):
        from graphc.random import next_key

        arrays = check_inputs(variant.user_inputs, inputs)
        by_name = {v.name: a for v, a in zip(variant.user_inputs, arrays)}
        by_name.update(extra_inputs or {})
        extra_params = extra_params or {}
        model_names = [v.name for v in variant.graph.params if v.name not in extra_params]
        params = {**live_arrays(self.model, model_names), **extra_params}
        keys = [next_key() for _ in variant.graph.random_keys]
        return variant.exe(ordered_inputs(variant.graph, by_name), params, keys)


class CompiledModel(_Compiled):
    """`graphc.compile(model, *example_inputs)`: call it like the model; returns Tensors."""

    def __init__(self, model, *example_inputs):
        super().__init__(model, example_inputs)

    def _build(self) -> _Variant:
        import graphc
        from runtime import Executable

        graph = graphc.trace(self.model, *self.example_inputs)
        return _Variant(graph, Executable(graph), user_inputs(graph))

    def __call__(self, *inputs):
        outputs = [_tensor(out) for out in self._run(self._variant(), inputs)]
        return outputs[0] if len(outputs) == 1 else tuple(outputs)


class TrainStep(_Compiled):
    """`step(X, y) -> loss`: forward, loss, backward and optimizer update as one compiled graph."""

    def __init__(self, model, loss_fn, optimizer, *example_inputs, distributed=False):
        from graphc.distributed.ddp import data_parallel

        if len(example_inputs) < 2:
            raise TypeError("compile_train_step needs example inputs and a target: (*inputs, target)")
        self.loss_fn, self.optimizer = loss_fn, optimizer
        model, self.sync = data_parallel(model, distributed)
        super().__init__(model, example_inputs)

    def _key(self) -> tuple:
        groups = self.optimizer.param_groups
        return (
            _modes(self.model),
            tuple(p.requires_grad for _, p in self.model.named_parameters()),
            tuple(self.optimizer.structure(g) for g in groups),
            tuple(tuple(id(p) for p in g["params"]) for g in groups),
        )

    def _build(self) -> _Variant:
        import graphc
        from passes.autodiff import differentiate
        from passes.dce import eliminate_dead_code
        from runtime import Executable

        model, loss_fn = self.model, self.loss_fn

        def loss_of(*inputs):
            return loss_fn(model(*inputs[:-1]), inputs[-1])

        traced = graphc.trace(loss_of, *self.example_inputs, module=model)
        in_graph = {v.name for v in traced.params}
        names = {id(p): name for name, p in model.named_parameters() if name in in_graph}
        wanted = {id(p) for g in self.optimizer.param_groups for p in g["params"]}
        wrt = [name for name, p in model.named_parameters()
               if p.requires_grad and id(p) in wanted and name in in_graph]
        autodiff = differentiate(traced, wrt=wrt)
        joint = differentiate(traced, wrt=wrt).joint  # a second copy, extended below
        grads = dict(zip(autodiff.wrt, joint.outputs[len(traced.outputs):]))
        skip = set(autodiff.unreachable)  # no path to the loss: no gradient, as in eager mode
        if self.sync is not None:
            grads = self.sync.reduce_gradients(joint, grads, skip)
        entries, tensors = [], []
        for gi, group in enumerate(self.optimizer.param_groups):
            for p in group["params"]:
                name = names.get(id(p))
                if name in grads and name not in skip:
                    entries.append(Entry(gi, name, joint.param(name), grads[name]))
                    tensors.append(p)
        program = UpdateProgram(self.optimizer, joint, entries, prefix="optimizer.")
        joint.set_outputs(joint.outputs[:1])
        joint.updates = [*joint.updates, *program.updates]
        graph = eliminate_dead_code(joint)
        graph.name = "train_step"
        return _Variant(graph, Executable(graph), user_inputs(traced), program, tensors, autodiff)

    def __call__(self, *inputs):
        if self.sync is not None:
            self.sync.before_step()
        variant = self._variant()
        hyper, state, pending = variant.program.feed(variant.tensors)
        (loss,) = self._run(variant, inputs, hyper, state)
        variant.program.commit(pending)
        return _tensor(loss)

    @property
    def autodiff(self):
        """The `passes.autodiff.AutodiffResult` of the loss graph (current mode)."""
        return self._variant().autodiff

    @property
    def forward_graph(self) -> Graph:
        return self.autodiff.forward

    @property
    def backward_graph(self) -> Graph:
        return self.autodiff.backward


# -- helpers ------------------------------------------------------------------------------------

def user_inputs(graph: Graph) -> list[Value]:
    """The graph inputs a caller gives (random-key inputs are fed by the runtime)."""
    return graph.user_inputs()


def check_inputs(expected: list[Value], given: tuple) -> list[np.ndarray]:
    """The arrays of `given`, which must match `expected` exactly (no casts, no broadcasting)."""
    from graphc import Tensor

    if len(given) != len(expected):
        wanted = ", ".join(str(v.type) for v in expected)
        raise CompiledInputError(f"compiled for {len(expected)} input(s) ({wanted}), "
                                 f"got {len(given)}")
    arrays = []
    for i, (value, x) in enumerate(zip(expected, given)):
        if isinstance(x, Tensor):
            array = storage(x)
        elif isinstance(x, np.ndarray):
            array = x
        else:
            raise CompiledInputError(f"input {i} must be a Tensor or ndarray, got {type(x).__name__}")
        if array.shape != value.shape or array.dtype != value.type.np_dtype:
            got = f"{array.dtype.name}{list(array.shape)}"
            raise CompiledInputError(
                f"input {i} ('{value.name}') was compiled for {value.type} "
                f"(dtype {value.dtype}, shape {tuple(value.shape)}) but got {got}; "
                "compile again with an example of the new shape/dtype"
            )
        arrays.append(array)
    return arrays


def live_arrays(model, names) -> dict[str, np.ndarray]:
    """The current storage of the model's parameters and buffers named `names` (state-dict names)."""
    if not hasattr(model, "state_dict"):
        return {}
    tensors = model.state_dict(keep_vars=True)  # the Parameters themselves, read at every call
    return {name: storage(tensors[name]) for name in names if name in tensors}


def _modes(model) -> tuple:
    return tuple(m.training for m in model.modules()) if hasattr(model, "modules") else ()


def _tensor(array):
    from graphc import from_numpy

    return from_numpy(np.array(array))  # own copy: the executable may reuse its output buffers
