"""`graphc.compile` and `graphc.compile_train_step`: traced graphs, optimized by the pass pipeline,
planned and run by `runtime.Executable` on the model's own storage.

A training step is one graph (forward, loss, backward, optimizer update) whose `updates` write the
new parameters and optimizer state in place into the model's and the optimizer's own arrays, so
`model.state_dict()` shows them after each step. Like `jax.jit` and `torch.compile`, a call with a
new input shape or dtype, or a change of `train()`/`eval()` mode, of which parameters are
trainable, or of the optimizer's structure (parameter groups, momentum on/off, ...) compiles
another variant (cached, a few at most; the `graphc.compile` logger says why at DEBUG level);
numeric hyper-parameters such as `lr` are graph inputs and never cause a recompile. `strict=True`
refuses inputs of another shape or dtype instead.

Per call, nothing is rebuilt: parameter arrays are re-bound only when a parameter's storage was
replaced (`p.data = ...`), hyper-parameters are written into 0-d arrays the step reads.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np

from graphc.device import CPU, array_module, backend_name, device_of, same_device_error
from graphc.optim.program import Entry, UpdateProgram, storage
from ir.graph import Graph
from ir.types import TensorType

log = logging.getLogger("graphc.compile")
CACHE_SIZE = 8  # compiled variants kept per compiled callable (least recently used dropped)
DEFAULT_LEVEL = "O2"


class CompiledInputError(ValueError):
    """A compiled callable was given inputs it cannot take."""


def compile(model, *example_inputs, opt_level=DEFAULT_LEVEL, freeze: bool = False,
            strict: bool = False, cuda_graph: bool = True) -> CompiledModel:
    """Trace `model` on `example_inputs` and return a callable that runs the compiled graph.

    `opt_level`: 'O0', 'O1', 'O2' (default) or a pass list such as 'fold,cse,dce'. `freeze=True`
    (inference) folds the parameters into the graph as constants, as torch.compile's freezing:
    later changes to them are not seen. On a CUDA device a call replays one captured CUDA graph
    where that is safe (torch.compile's mode="reduce-overhead"); `cuda_graph=False` launches
    kernel by kernel.
    """
    return CompiledModel(model, example_inputs, opt_level, freeze, strict, cuda_graph)


def compile_train_step(model, loss_fn, optimizer, *example_inputs, opt_level=DEFAULT_LEVEL,
                       strict: bool = False, distributed: bool = False,
                       cuda_graph: bool = True) -> TrainStep:
    """Compile `loss_fn(model(*inputs), target)` plus backward and `optimizer`'s update.

    The last example input is the target; `step(X, y)` returns the loss as a 0-d Tensor.
    `distributed=True`, or a `DistributedDataParallel` model, averages the gradients over the
    processes of `graphc.distributed` inside the step graph (bucketed all-reduces). On a CUDA
    device the step replays one captured CUDA graph where that is safe (`cuda_graph=False`:
    kernel by kernel).
    """
    if len(example_inputs) < 2:
        raise TypeError("compile_train_step needs example inputs and a target: (*inputs, target)")
    return TrainStep(model, loss_fn, optimizer, example_inputs, opt_level, strict, distributed,
                     cuda_graph)


@dataclass
class Variant:
    """One compiled graph: the traced graph, what was optimized (`source`: the traced graph, or
    the whole training step), the optimized graph, its plan and executable, the values fed per
    call and how long compiling took."""

    traced: Graph
    source: Graph
    graph: Graph
    pipeline: object  # passes.pipeline.PipelineResult
    plan: object  # passes.memory.MemoryPlan
    exe: object  # runtime.Executable
    params: list = field(default_factory=list)  # (graph name, Tensor) of model parameters
    bound: list = field(default_factory=list)  # the arrays last fed for them
    timings: dict = field(default_factory=dict)
    extra: dict = field(default_factory=dict)  # training steps: program, tensors, autodiff, ...

    def bind_params(self) -> None:
        """Feed the parameters' current storage, where it changed since the last call."""
        arrays = [t._data for _, t in self.params]
        if len(arrays) == len(self.bound) and all(a is b for a, b in zip(arrays, self.bound)):
            return
        for (name, _), array in zip(self.params, arrays):
            self.exe.feed(name, array)
        self.bound = arrays


def build(graph: Graph, level=DEFAULT_LEVEL, backend: str = "numpy", capture: bool = True):
    """(optimized graph, PipelineResult, MemoryPlan, Executable) of `graph` at `level`."""
    from passes.memory import plan_memory
    from passes.pipeline import run_pipeline
    from runtime import Executable

    result = run_pipeline(graph, level)
    plan = plan_memory(result.graph)
    return result.graph, result, plan, Executable(result.graph, plan, backend,
                                                  capture=None if capture else False)


class _Compiled:
    """Shared by CompiledModel and TrainStep: variants by mode and input signature."""

    def __init__(self, model, example_inputs, opt_level, strict: bool, cuda_graph: bool = True):
        from passes.pipeline import pass_names

        pass_names(opt_level)  # an unknown level fails here, in one line
        self.model = model
        self.opt_level = opt_level
        self.strict = strict
        self.cuda_graph = cuda_graph
        self.example_inputs = example_inputs
        self._modules = list(model.modules()) if hasattr(model, "modules") else []
        self._live = list(live_tensors(model).values())  # read at every call for their device
        self._variants: OrderedDict = OrderedDict()
        self._signature = _signature(_arrays(example_inputs, specs_ok=True))
        self._variant(self._signature, example_inputs)

    # -- variants ------------------------------------------------------------------------------
    def _key(self, signature) -> tuple:
        return (tuple(m.training for m in self._modules), signature, self._device())

    def _device(self):
        """The device the compiled graph runs on: its parameters' (else the example inputs')."""
        live = self._live
        if live:
            return live[0].device
        arrays = [x for x in _arrays(self.example_inputs, specs_ok=True) if hasattr(x, "ndim")
                  and not isinstance(x, TensorType)]
        return device_of(arrays[0]) if arrays else CPU

    def _variant(self, signature, examples) -> Variant:
        key = self._key(signature)
        variant = self._variants.get(key)
        if variant is None:
            if self._variants:
                log.debug("%s: recompiling for %s", type(self).__name__, _why(key, self._variants))
            start = time.perf_counter()
            variant = self._build(examples)
            variant.timings["total"] = time.perf_counter() - start
            self._variants[key] = variant
            if len(self._variants) > CACHE_SIZE:
                self._variants.popitem(last=False)
        self._variants.move_to_end(key)
        return variant

    def _current(self, inputs) -> tuple[Variant, list]:
        arrays = _arrays(inputs)
        if len(arrays) != len(self._signature):
            raise CompiledInputError(f"compiled for {len(self._signature)} input(s), "
                                     f"got {len(arrays)}")
        where = self._device()
        for i, array in enumerate(arrays):
            if device_of(array) != where:
                raise same_device_error(f"input {i}", device_of(array), where,
                                        f"compiled {type(self.model).__name__}")
        signature = _signature(arrays)
        if self.strict and signature != self._signature:
            _refuse(signature, self._signature)
        examples = inputs if signature != self._signature else self.example_inputs
        return self._variant(signature, examples), arrays

    def _build(self, examples) -> Variant:
        raise NotImplementedError

    def _finish(self, traced: Graph, source: Graph, trace_seconds: float, **extra) -> Variant:
        """Optimize, plan and load `source`; bind the model's parameters by graph name."""
        start = time.perf_counter()
        graph, pipeline, plan, exe = build(source, self.opt_level, backend_name(self._device()),
                                           self.cuda_graph)
        variant = Variant(traced, source, graph, pipeline, plan, exe, extra=extra)
        variant.timings.update(trace=trace_seconds, compile=time.perf_counter() - start)
        live = live_tensors(self.model)
        variant.params = [(v.name, live[v.name]) for v in graph.params if v.name in live]
        return variant

    @property
    def graph(self) -> Graph:
        """The optimized graph that runs for the model's current mode and the example inputs."""
        return self._variant(self._signature, self.example_inputs).graph

    @property
    def variant(self) -> Variant:
        """The compiled variant for the model's current mode and the example inputs."""
        return self._variant(self._signature, self.example_inputs)

    @property
    def source_graph(self) -> Graph:
        """The graph before optimization (what O0 runs)."""
        return self.variant.source

    def report(self) -> str:
        """What compiling did and where the memory goes (see graphc.report)."""
        from graphc.report import variant_report

        kind = "training step" if isinstance(self, TrainStep) else "inference"
        return variant_report(self.variant, kind, type(self.model).__name__)


class CompiledModel(_Compiled):
    """`graphc.compile(model, *example_inputs)`: call it like the model; returns Tensors."""

    def __init__(self, model, example_inputs, opt_level, freeze: bool, strict: bool,
                 cuda_graph: bool = True):
        self.freeze = freeze
        super().__init__(model, example_inputs, opt_level, strict, cuda_graph)

    def _build(self, examples) -> Variant:
        import graphc
        from passes.fold import freeze_params

        start = time.perf_counter()
        traced = graphc.trace(self.model, *_examples(examples))
        seconds = time.perf_counter() - start
        source = traced
        if self.freeze:
            live = live_tensors(self.model)
            source = freeze_params(traced, {n: storage(t) for n, t in live.items()})
        return self._finish(traced, source, seconds)

    def __call__(self, *inputs):
        from graphc.random import next_key

        variant, arrays = self._current(inputs)
        variant.bind_params()
        variant.exe.feed_inputs(arrays)
        outputs = variant.exe.run([next_key() for _ in variant.graph.random_keys])
        outputs = [_tensor(out) for out in outputs]
        return outputs[0] if len(outputs) == 1 else tuple(outputs)


class TrainStep(_Compiled):
    """`step(X, y) -> loss`: forward, loss, backward and optimizer update as one compiled graph."""

    def __init__(self, model, loss_fn, optimizer, example_inputs, opt_level, strict: bool,
                 distributed: bool = False, cuda_graph: bool = True):
        from graphc.distributed.ddp import data_parallel

        self.loss_fn, self.optimizer = loss_fn, optimizer
        model, self.sync = data_parallel(model, distributed)
        self._parameters = [p for _, p in model.named_parameters()]  # read at every call
        super().__init__(model, example_inputs, opt_level, strict, cuda_graph)

    def _key(self, signature) -> tuple:
        groups = self.optimizer.param_groups
        return (
            *super()._key(signature),
            tuple(p.requires_grad for p in self._parameters),
            tuple(self.optimizer.structure(g) for g in groups),
            tuple(tuple(id(p) for p in g["params"]) for g in groups),
        )

    def _build(self, examples) -> Variant:
        import graphc
        from passes.autodiff import differentiate
        from passes.dce import eliminate_dead_code

        model, loss_fn = self.model, self.loss_fn

        def loss_of(*inputs):
            return loss_fn(model(*inputs[:-1]), inputs[-1])

        start = time.perf_counter()
        traced = graphc.trace(loss_of, *_examples(examples), module=model)
        in_graph = {v.name for v in traced.params}
        names = {id(p): name for name, p in model.named_parameters() if name in in_graph}
        wanted = {id(p) for g in self.optimizer.param_groups for p in g["params"]}
        wrt = [name for name, p in model.named_parameters()
               if p.requires_grad and id(p) in wanted and name in in_graph]
        autodiff = differentiate(traced, wrt=wrt)
        joint = autodiff.joint.copy("train_step")
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
        source = eliminate_dead_code(joint)
        seconds = time.perf_counter() - start
        variant = self._finish(traced, source, seconds, program=program, tensors=tensors,
                               autodiff=autodiff, inputs=[v.name for v in traced.user_inputs()])
        variant.extra["feeder"] = program.feeder(variant.exe)
        return variant

    def __call__(self, *inputs):
        from graphc.random import next_key

        if self.sync is not None:
            self.sync.before_step()
        variant, arrays = self._current(inputs)
        variant.bind_params()
        feeder = variant.extra["feeder"]
        feeder.before(variant.extra["tensors"])
        for name, array in zip(variant.extra["inputs"], arrays):
            variant.exe.feed(name, array)
        (loss,) = variant.exe.run([next_key() for _ in variant.graph.random_keys])
        feeder.after()
        return _tensor(loss)

    @property
    def autodiff(self):
        """The `passes.autodiff.AutodiffResult` of the loss graph (current mode)."""
        return self.variant.extra["autodiff"]

    @property
    def forward_graph(self) -> Graph:
        return self.autodiff.forward

    @property
    def backward_graph(self) -> Graph:
        return self.autodiff.backward



# -- helpers ------------------------------------------------------------------------------------
def _arrays(inputs, specs_ok: bool = False) -> list:
    """The arrays (or, for example inputs, specs) of Tensors and ndarrays given to a compiled
    callable."""
    from graphc import Tensor

    arrays = []
    for i, x in enumerate(inputs):
        if isinstance(x, Tensor):
            arrays.append(storage(x))
        elif (isinstance(x, np.ndarray) or array_module(x) is not np
              or (specs_ok and isinstance(x, TensorType))):
            arrays.append(x)
        else:
            raise CompiledInputError(f"input {i} must be a Tensor or ndarray, got {type(x).__name__}")
    return arrays


def _signature(arrays) -> tuple:
    """((shape, dtype name), ...) of the inputs: the part of a variant's key they decide."""
    return tuple((tuple(a.shape), _dtype_name(a.dtype)) for a in arrays)


_DTYPE_NAMES: dict = {}


def _dtype_name(dtype) -> str:
    """np.dtype(dtype).name, memoized (the property is slow and this runs at every call)."""
    name = _DTYPE_NAMES.get(dtype)
    if name is None:
        name = _DTYPE_NAMES[dtype] = np.dtype(dtype).name
    return name


def _examples(inputs) -> list:
    """Example inputs for tracing: Tensors and specs as they are, arrays as Tensors."""
    from graphc import Tensor

    return [x if isinstance(x, (Tensor, TensorType)) else Tensor._wrap(x) for x in inputs]


def _why(key: tuple, variants: OrderedDict) -> str:
    last = next(reversed(variants))
    if key[2] != last[2]:
        return f"the model on {key[2]}"
    if key[1:] != last[1:] and key[0] == last[0]:
        return f"new input or optimizer signature {key[1]}"
    return f"a new train()/eval() mode {key[0]}"


def _refuse(signature, expected) -> None:
    for i, (got, want) in enumerate(zip(signature, expected)):
        if got != want:
            raise CompiledInputError(
                f"input {i} was compiled for shape {want[0]} and dtype {want[1]} but got shape "
                f"{got[0]} and dtype {got[1]}; strict=True refuses to recompile"
            )
    raise CompiledInputError(f"compiled for {len(expected)} input(s), got {len(signature)}")


def live_tensors(model) -> dict:
    """The model's parameters and buffers (persistent or not) by their state-dict names."""
    if not hasattr(model, "named_parameters"):
        return {}
    named = {**dict(model.named_parameters()), **dict(model.named_buffers())}
    return named


def _tensor(array):
    from graphc import Tensor

    return Tensor._wrap(array)  # the executable returns its own copies, on its device
