"""The differential checker: `graphc.check` and `graphc check`.

    graphc check                                             # the tutorial MLP's step, O0 vs O2
    graphc check FILE.py:NAME --input 64x20 [--train] [--levels O0,O2] [--backends numpy,cupy]

One graph runs twice, at two optimization levels or on two backends, with the same inputs,
parameters and random keys, each run planned and executed by `runtime.Executable` and watched
kernel call by kernel call. Walking the second run in its order, every value is compared with the
value of the same name in the first; the first one that differs beyond tolerance is reported with
its op, the user's source line and module, and the largest error. Values inside fused nodes keep
the names of the values they came from: each fused body is also run node by node (the reference
kernels, on the run's backend) from the operands the fused kernel got, so a difference is traced
to the op inside the body; when the body agrees and the fused kernel does not, the kernel is
named. On the CPU alone, O0 against O2 finds the pass that broke a graph.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

import numpy as np

from ir.graph import NODE, Graph, Node

# Relative and absolute tolerance per dtype kind when none is given (integers and bools: exact).
TOLERANCE = {"float16": (1e-2, 1e-3), "float32": (1e-4, 1e-5), "float64": (1e-9, 1e-12)}
# Generated names (`17`, `17.2`) are reused by passes for new values once the old ones are gone,
# so before optimizing, every computed value is renamed with this mark (which no pass generates):
# a name the two runs share then always means the same computation.
MARK = "~"
# What went wrong, by the check that found it (see Difference).
OVERWRITTEN, KERNEL, VALUE = "overwritten", "kernel", "value"


@dataclass(frozen=True)
class Difference:
    """The first value of the second run found wrong, and how it was found (`kind`):

    - 'value': it differs from the first run's value of its name, and recomputing it with the
      reference kernel from the first run's operands differs again: the graph computes something
      else here (a pass changed it), not rounding that earlier differences grew into;
    - 'kernel': the kernel that ran (a fused kernel, a faster kernel, a generated CUDA kernel)
      differs from the op's reference kernel on the very same operands;
    - 'overwritten': an operand no longer held its value when the node read it (memory plan).
    """

    kind: str
    name: str
    node: str  # the node as printed, `%14 = sub(%44, %12)`
    meta: dict
    max_abs: float
    max_rel: float
    shape: tuple
    mismatched: int  # elements beyond tolerance
    fused: str | None = None  # the fused body holding the node (or the fused kernel's body)

    @property
    def op(self) -> str:
        return self.node.partition("= ")[2].partition("(")[0]

    @property
    def where(self) -> str:
        parts = [str(self.meta["loc"])] if self.meta.get("loc") else []
        parts += [f"{k}={self.meta[k]}" for k in ("scope", "phase") if self.meta.get(k)]
        return "  ".join(parts) or "(no source line)"

    def __str__(self) -> str:
        inside = f" (in {self.fused})" if self.fused and self.op != "fused" else ""
        size = int(np.prod(self.shape)) if self.shape else 1
        head = {
            VALUE: f"first difference: %{self.name} differs, and again when recomputed from "
                   "the first run's operands: the graph computes something else here",
            KERNEL: f"first difference: the {self.op} kernel computing %{self.name} differs "
                    "from the reference kernel on the same operands",
            OVERWRITTEN: f"first difference: operand %{self.name} was overwritten before this "
                         "node read it (memory plan)",
        }[self.kind]
        return (f"{head}\n  {self.node}{inside}  # {self.where}\n"
                f"  max abs error {self.max_abs:.3g}, max rel error {self.max_rel:.3g}, "
                f"{self.mismatched} of {size} elements beyond tolerance")


@dataclass
class CheckResult:
    """What `check` found: the first difference (None if none) and how much was compared."""

    runs: tuple[str, str]  # e.g. ('O0 on numpy', 'O2 on numpy')
    compared: int  # values compared with the first run's
    difference: Difference | None
    amplified: list = field(default_factory=list)  # names off by rounding grown, not by error

    @property
    def ok(self) -> bool:
        return self.difference is None

    def __str__(self) -> str:
        head = f"{self.runs[0]} vs {self.runs[1]}: {self.compared} values compared"
        if self.amplified:
            head += (f" ({len(self.amplified)} off only by rounding grown large: "
                     f"{', '.join('%' + n for n in self.amplified[:4])}"
                     f"{', ...' if len(self.amplified) > 4 else ''})")
        if self.ok:
            return f"{head}, no difference beyond tolerance"
        return f"{head}\n{self.difference}"


@dataclass
class _Step:
    """One kernel call of a run: its node, operands before the call, results after (host)."""

    node: Node
    inputs: list
    outputs: list


@dataclass
class _Run:
    graph: Graph
    xp: object
    steps: list = field(default_factory=list)
    value_of: dict = field(default_factory=dict)  # Value -> host array when defined or fed


def check(model, *inputs, loss_fn=None, optimizer=None, levels=("O0", "O2"),
          backends=("numpy", "numpy"), rtol: float | None = None,
          atol: float | None = None) -> CheckResult:
    """Run `model` on `inputs` at two levels (or on two backends) and find the first difference.

    With `loss_fn` and `optimizer` the whole training step is checked (forward, loss, backward,
    update; the last input is the target), else the forward graph. The model, its parameters and
    the optimizer's state are left as they were. `levels` and `backends` are pairs (one name is
    used for both runs); tolerances default per dtype (`TOLERANCE`).
    """
    import graphc
    from graphc.compile import live_tensors
    from graphc.optim.program import storage

    if (loss_fn is None) != (optimizer is None):
        raise TypeError("check a training step with both loss_fn and optimizer, or neither")
    if optimizer is not None:
        step = graphc.compile_train_step(model, loss_fn, optimizer, *inputs, opt_level="O0")
        variant = step.variant
        names = variant.extra["inputs"]
        feeds = _Recorder()
        variant.extra["program"].feeder(feeds).before(variant.extra["tensors"])
        feeds = feeds.arrays
    else:
        variant = graphc.compile(model, *inputs, opt_level="O0").variant
        names, feeds = [v.name for v in variant.traced.user_inputs()], {}
    feeds.update(zip(names, _arrays(inputs)))
    feeds.update((name, storage(t)) for name, t in live_tensors(model).items())
    return check_graph(variant.source, feeds, levels=levels, backends=backends, rtol=rtol,
                       atol=atol)


def check_graph(graph: Graph, feeds: dict, *, levels=("O0", "O2"), backends=("numpy", "numpy"),
                keys: dict | None = None, rtol: float | None = None,
                atol: float | None = None) -> CheckResult:
    """Compare two runs of `graph` fed `feeds` (name -> array for every input and parameter)
    and `keys` (random key input name -> int; 0, 1, ... by default). See `check`; a backend
    may also be a `runtime.Backend` instance."""
    levels, backends = _pair(levels, "levels"), _pair(backends, "backends")
    source = _marked(graph)
    keys = keys or {v.name: i for i, v in enumerate(source.random_keys)}
    first = _observe(source, levels[0], backends[0], feeds, keys)
    second = _observe(source, levels[1], backends[1], feeds, keys)
    runs = tuple(f"{lv} on {getattr(be, 'name', be)}" for lv, be in zip(levels, backends))
    return _Comparison(first, second, runs, rtol, atol).walk()


class _Recorder:
    """Stands in for an Executable to take what an optimizer's Feeder feeds."""

    def __init__(self):
        self.arrays = {}

    def feed(self, name: str, array) -> None:
        self.arrays[name] = array


def _pair(value, what: str) -> tuple:
    items = value.split(",") if isinstance(value, str) else list(value)
    items = [item.strip() if isinstance(item, str) else item for item in items]
    if len(items) == 1:
        items *= 2
    if len(items) != 2:
        raise ValueError(f"{what} must name two runs (or one for both), got {value!r}")
    return items[0], items[1]


def _arrays(inputs) -> list:
    from graphc import Tensor
    from graphc.optim.program import storage

    return [storage(x) if isinstance(x, Tensor) else np.asarray(x) for x in inputs]


def _marked(graph: Graph) -> Graph:
    marked = graph.copy()
    for node in marked.nodes:
        for value in node.outputs:
            marked.claim_name(value, value.name + MARK)
    return marked


def _plain(text: str) -> str:
    return text.replace(MARK, "")


def _observe(source: Graph, level: str, backend: str, feeds: dict, keys: dict) -> _Run:
    """One planned run of `source` at `level` on `backend`, every kernel call recorded."""
    from passes.memory import plan_memory
    from passes.pipeline import optimize
    from runtime import Executable

    graph = optimize(source, level)
    exe = Executable(graph, plan_memory(graph), backend)
    to_host = exe.backend.to_host
    run = _Run(graph, exe.backend.xp)
    for value in [*graph.user_inputs(), *graph.params]:
        if value.name not in feeds:
            raise ValueError(f"no value given for {value.kind} '{value.name}' ({value.type})")
        run.value_of[value] = np.array(feeds[value.name], copy=True)
        exe.feed(value.name, run.value_of[value].copy())  # updates write into what is fed
    for value in graph.random_keys:
        run.value_of[value] = np.array(keys[value.name], np.int64)
    for value in graph.constants:
        run.value_of[value] = np.asarray(value.data)

    def record(node: Node, inputs: list, outputs: list) -> None:
        outputs = [np.array(to_host(a)) for a in outputs]
        run.steps.append(_Step(node, [np.array(to_host(a)) for a in inputs], outputs))
        run.value_of.update(zip(node.outputs, outputs))

    exe.run([keys[v.name] for v in graph.random_keys], observe=record)
    return run


class _Comparison:
    """Walks the second run's kernel calls in order (see Difference for the three checks)."""

    def __init__(self, first: _Run, second: _Run, runs, rtol, atol):
        self.first, self.second = first, second
        self.expected = {v.name: a for v, a in first.value_of.items() if v.kind == NODE}
        self.result = CheckResult(runs, 0, None)
        self.rtol, self.atol = rtol, atol

    def walk(self) -> CheckResult:
        for step in self.second.steps:
            difference = self._step(step)
            if difference is not None:
                self.result.difference = difference
                break
        return self.result

    def _step(self, step: _Step) -> Difference | None:
        node, xp = step.node, self.second.xp
        for value, array in zip(node.inputs, step.inputs):
            held = self.second.value_of.get(value)
            if held is not None and not np.array_equal(array, held, equal_nan=held.dtype.kind
                                                       in "fc"):
                return self._difference(OVERWRITTEN, value, node, array, held)
        fused = node.attrs["body"] if node.op == "fused" else None
        if fused is not None:  # the body node by node, from the operands the kernel got
            inner = []
            reference = _reference(xp, node, step.inputs, observe=lambda n, results: inner.append(
                (n, [_host(xp, a) for a in results])))
            for body_node, results in inner:
                for value, array in zip(body_node.outputs, results):
                    difference = self._value(body_node, value, array, fused)
                    if difference is not None:
                        return difference
        else:
            reference = _reference(xp, node, step.inputs)
        for value, got, want in zip(node.outputs, step.outputs, reference):
            if self._differs(got, want):
                return self._difference(KERNEL, value, node, got, want, fused)
        if fused is None:
            for value, array in zip(node.outputs, step.outputs):
                difference = self._value(node, value, array, None)
                if difference is not None:
                    return difference
        return None

    def _value(self, node: Node, value, array, body) -> Difference | None:
        """Compare one value with the first run's; a difference counts only if recomputing it
        from the first run's operands does not remove it (else: rounding grown large)."""
        want = self.expected.get(value.name)
        if want is None or want.shape != array.shape or want.dtype != array.dtype:
            return None
        self.result.compared += 1
        if not self._differs(array, want):
            return None
        operands = [self._first_value(v) for v in node.inputs]
        again = _reference(np, node, operands)[node.outputs.index(value)]
        if not self._differs(again, want):
            self.result.amplified.append(_plain(value.name))
            return None
        return self._difference(VALUE, value, node, array, want, body)

    def _first_value(self, value):
        """An operand as the first run had it: computed values by name, the rest as fed."""
        if value.kind == NODE and value.name in self.expected:
            return self.expected[value.name]
        if value.kind == NODE:
            return self.second.value_of[value]
        return np.asarray(value.data) if value.data is not None else self._fed(value)

    def _fed(self, value):
        return next(a for v, a in self.second.value_of.items() if v.name == value.name)

    def _tolerance(self, dtype) -> tuple[float, float]:
        rtol, atol = TOLERANCE.get(np.dtype(dtype).name, TOLERANCE["float32"])
        return (rtol if self.rtol is None else self.rtol), (atol if self.atol is None else self.atol)

    def _bad(self, got, want) -> np.ndarray:
        if got.dtype.kind in "fc":
            rtol, atol = self._tolerance(got.dtype)
            return ~np.isclose(got, want, rtol=rtol, atol=atol, equal_nan=True)
        return np.asarray(got != want)

    def _differs(self, got, want) -> bool:
        return got.shape != want.shape or bool(self._bad(got, want).any())

    def _difference(self, kind, value, node, got, want, body=None) -> Difference:
        bad = self._bad(got, want) if got.shape == want.shape else np.ones(got.shape, bool)
        g, w = got.astype(np.float64), np.broadcast_to(want, got.shape).astype(np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            error = np.where(bad, np.abs(g - w), 0.0)
            rel = np.where(bad, error / np.maximum(np.abs(w), np.finfo(np.float64).tiny), 0.0)
        meta = {k: v for k, v in node.meta.items() if k in ("loc", "scope", "phase")}
        return Difference(kind, _plain(value.name), _plain(repr(node)), meta,
                          float(np.nanmax(error, initial=0.0)),
                          float(np.nanmax(rel, initial=0.0)), got.shape, int(bad.sum()),
                          body.name if body is not None else None)


def _host(xp, array) -> np.ndarray:
    return np.array(array.get() if hasattr(array, "get") and xp is not np else array)


def _reference(xp, node: Node, operands: list, observe=None) -> list:
    """The node's results by its reference kernel (a fused node: its body, node by node) on
    `xp`, from host `operands`; back on the host."""
    from ir.evaluate import evaluate, run_node

    arrays = [xp.asarray(a) for a in operands]
    if node.op == "fused":
        results = evaluate(node.attrs["body"], arrays, xp=xp, observe=observe)
    else:
        results = run_node(xp, node, arrays)
    return [_host(xp, r) for r in results]


# -- the command ------------------------------------------------------------------------------------
def add_arguments(parser) -> None:
    from graphc.report import add_model_arguments

    parser.description = __doc__.splitlines()[0]
    add_model_arguments(parser, "check")
    parser.add_argument("--levels", default="O0,O2", metavar="A,B",
                        help="the two optimization levels (or pass lists: use ';' between them)")
    parser.add_argument("--backends", default="numpy", metavar="A[,B]",
                        help="the backends of the two runs (numpy, cupy)")
    parser.add_argument("--rtol", type=float, default=None, help="relative tolerance")
    parser.add_argument("--atol", type=float, default=None, help="absolute tolerance")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random inputs")


def run(args) -> int:
    from graphc.show import ShowError

    try:
        result = check_command(args)
    except ShowError as err:
        sys.stderr.write(f"graphc check: error: {err}\n")
        return 2
    print(result)
    return 0 if result.ok else 1


def check_command(args) -> CheckResult:
    import graphc
    from graphc import nn, optim, show
    from graphc.report import model_of
    from passes.pipeline import PassError, pass_names
    from runtime.backend import BACKENDS

    separator = ";" if ";" in args.levels else ","
    levels = [text.strip() for text in args.levels.split(separator)]
    try:
        levels = _pair(levels, "--levels")
        backends = _pair(args.backends, "--backends")
        for level in levels:
            pass_names(level)
    except (PassError, ValueError) as err:
        raise show.ShowError(str(err)) from None
    for backend in backends:
        show.check_choice("backend", backend, BACKENDS)
    model, name, train, specs = model_of(args)
    graphc.manual_seed(args.seed)
    inputs = [_example(spec, None) for spec in specs]
    options = {"levels": levels, "backends": backends, "rtol": args.rtol, "atol": args.atol}
    if not train:
        return show.call_user(f"failed to check {name}", check, model, *inputs, **options)
    show.check_choice("--loss", args.loss, show.LOSSES)
    show.check_choice("--optim", args.optim, show.OPTIMIZERS)
    forward = show.call_user(f"failed to trace {name}", graphc.trace, model, *specs)
    logits = forward.outputs[0]
    if args.loss == "cross_entropy":
        target = _example(graphc.spec(logits.shape[:-1], "int64"), logits.shape[-1])
    else:
        target = _example(graphc.spec(logits.shape, logits.dtype), None)
    loss_fn = getattr(nn, show.LOSSES[args.loss])()
    optimizer = getattr(optim, show.OPTIMIZERS[args.optim])(model.parameters(), lr=1e-2)
    return show.call_user(f"failed to check the training step of {name}", check, model,
                          *inputs, target, loss_fn=loss_fn, optimizer=optimizer, **options)


def _example(spec, classes: int | None):
    """Random data for an input spec: normal floats, integers below `classes` (or 2), bools."""
    import graphc

    if spec.dtype in ("float16", "float32", "float64"):
        return graphc.randn(*spec.shape).to(getattr(graphc, spec.dtype))
    if spec.dtype == "bool":
        return graphc.randint(0, 2, spec.shape).bool()
    return graphc.randint(0, classes or 2, spec.shape).to(getattr(graphc, spec.dtype))
