"""CUDA source for fused bodies: CuPy `ElementwiseKernel` and `ReductionKernel` text written from
the ops' C expressions (`OpDef.c_expr`), split into stages.

A fused body is one of: elementwise ops of one shape; an elementwise prologue, a reduction and
an elementwise epilogue of the reduced shape; or an anchor (matmul, gemm, conv) and an elementwise
epilogue of its shape. `stages(body)` turns it into the kernels that compute it:

- an elementwise stage: one ElementwiseKernel writing every value of its ops that is read outside
  the stage, each op one line of C under a comment naming the op and the user's line;
- a reduction stage: one ReductionKernel whose map expression is the prologue (inlined), whose
  reduce expression is the reduction op's combining op (`add` for sum, `maximum` for max: their
  own C expressions), and whose post-map writes the result and the epilogue ops that need nothing
  but the result (`log(sum(...))`); an epilogue that reads other arrays is an elementwise stage;
- a library stage: the anchor by cuBLAS (or the op's own kernel, for conv), into its buffer. A
  gemm's product is a stage of its own and `alpha * product + beta * c` the first op of the
  epilogue, so cuBLAS never needs host scalars and IEEE semantics hold (0 * NaN is NaN).

Values are *materialized* (held in memory) when the body returns them, when they are a reduction's
or a library call's result, or when a later stage reads them; everything else is recomputed
inline where it is needed. A 0-d operand of an elementwise stage is a `raw` parameter read as
`x[0]` (a broadcast operand would keep CuPy from flattening the loop), small constants become C
literals. Only this text depends on the body: which memory each value lives in is the runtime's
business (`runtime.cuda.kernels`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ir.graph import CONST, Graph, Node, Value
from ir.ops.registry import ELEMENTWISE, REDUCTION, get_op
from runtime.cuda.ctype import c_type, compute_type, highest, literal, lowest

# The reductions a ReductionKernel computes: (the combining op whose C expression reduces two
# partial results, the identity as a function of the dtype).
REDUCERS = {
    "sum": ("add", lambda dtype: literal(0, dtype)),
    "prod": ("mul", lambda dtype: literal(1, dtype)),
    "max": ("maximum", lowest),
    "min": ("minimum", highest),
}
ARG_REDUCERS = {"argmax": ">", "argmin": "<"}
PRODUCTS = ("matmul", "gemm")  # anchors computed by cuBLAS


@dataclass(frozen=True)
class Param:
    """One kernel parameter: `in0`, `out1`; `raw` 0-d operands are read as `in0[0]`."""

    name: str
    dtype: str
    raw: bool = False

    @property
    def declaration(self) -> str:
        return f"{'raw ' if self.raw else ''}{self.dtype} {self.name}"


@dataclass(frozen=True)
class ElementwiseSource:
    """The arguments of `cupy.ElementwiseKernel(in_params, out_params, operation, name,
    preamble=...)`."""

    name: str
    inputs: tuple[Param, ...]
    outputs: tuple[Param, ...]
    operation: str
    preamble: str = ""

    @property
    def in_params(self) -> str:
        return ", ".join(p.declaration for p in self.inputs)

    @property
    def out_params(self) -> str:
        return ", ".join(p.declaration for p in self.outputs)

    @property
    def key(self) -> tuple:
        """What the compiled kernel depends on: the text without comments and names (so bodies
        of the same structure and dtypes share one kernel)."""
        return ("elementwise", self.in_params, self.out_params,
                _structure(self.operation, self.name), _structure(self.preamble, self.name))


@dataclass(frozen=True)
class ReductionSource:
    """The arguments of `cupy.ReductionKernel(in_params, out_params, map_expr, reduce_expr,
    post_map_expr, identity, name, reduce_type, preamble=...)` and of its call (`axis`,
    `keepdims`)."""

    name: str
    inputs: tuple[Param, ...]
    outputs: tuple[Param, ...]
    map_expr: str
    reduce_expr: str
    post_map_expr: str
    identity: str
    reduce_type: str
    preamble: str
    axes: tuple[int, ...]
    keepdims: bool

    in_params = ElementwiseSource.in_params
    out_params = ElementwiseSource.out_params

    @property
    def key(self) -> tuple:
        return ("reduction", self.in_params, self.out_params,
                *(_structure(text, self.name) for text in (
                    self.map_expr, self.reduce_expr, self.post_map_expr, self.preamble)),
                self.identity, self.reduce_type)


def _structure(text: str, name: str) -> str:
    lines = text.replace(name, "@").splitlines()
    return "\n".join(line for line in lines if not line.lstrip().startswith("//"))


@dataclass
class Stage:
    """One kernel launch of a body: `kind` 'elementwise', 'reduction' or 'library', the
    materialized values it reads (in parameter order) and writes, its source (None for library
    calls) and, for library and reduction stages, the node."""

    kind: str
    reads: list[Value]
    writes: list[Value]
    source: ElementwiseSource | ReductionSource | None = None
    node: Node | None = None
    shape: tuple = ()
    product: bool = False  # a library stage computing a gemm's product only


@dataclass
class _Plan:
    body: Graph
    materialized: set = field(default_factory=set)
    products: dict = field(default_factory=dict)  # gemm node -> Value standing for its product
    stages: list = field(default_factory=list)


def stages(body: Graph, name: str = "graphc", recompute: bool = True) -> list[Stage]:
    """The kernels that compute fused `body`, in order (see the module docstring); raises
    NotImplementedError for an op no stage can compute (the runtime then runs the body op by op).

    `recompute=False` materializes a reduction's operand instead of recomputing its prologue in
    the map expression (for when the prologue's operands do not survive until then).
    """
    plan = _Plan(body, set(body.outputs))
    segments, anchors = _segments(body)
    for node in anchors:
        if node.op in PRODUCTS:
            plan.products[node] = Value(node.outputs[0].type, f"{node.outputs[0].name}.product",
                                        "node", node=node)
            plan.materialized.add(plan.products[node])
            if node.op == "matmul":
                plan.materialized.add(node.outputs[0])
        else:
            plan.materialized.update(node.outputs)
    for kind, nodes in segments:
        if kind == "reduction":
            plan.materialized.add(nodes[0].outputs[0])
            if not recompute and nodes[0].inputs[0].kind == "node":
                plan.materialized.add(nodes[0].inputs[0])
    for index, (kind, nodes) in enumerate(segments):
        label = f"{name}_{index}"
        if kind == "elementwise":
            _elementwise_stage(plan, nodes, label)
        elif kind == "reduction":
            following = segments[index + 1][1] if index + 1 < len(segments) else []
            folded = _post_foldable(plan, nodes[0], following)
            _reduction_stage(plan, nodes[0], folded, label)
            if folded:
                segments[index + 1] = ("folded", [])
        elif kind == "library":
            _library_stage(plan, nodes[0])
    return plan.stages


def _kind(node: Node) -> str:
    opdef = node.opdef
    if opdef.has(ELEMENTWISE) and opdef.c_expr is not None:
        return "elementwise"
    if opdef.has(REDUCTION) and (node.op in REDUCERS or node.op in ARG_REDUCERS):
        return "reduction"
    if len(node.outputs) == 1 and opdef.write is not None and node.op != "fused":
        return "library"
    raise NotImplementedError(f"no generated kernel computes '{node.op}' in a fused body")


def _segments(body: Graph):
    """The body's nodes cut into runs of elementwise ops and single reductions or anchors; a
    gemm's affine part (`alpha * product + beta * c`) opens the elementwise run after it."""
    segments, current, anchors = [], [], []
    for node in body.nodes:
        kind = _kind(node)
        if kind == "elementwise":
            current.append(node)
            continue
        if current:
            segments.append(("elementwise", current))
        segments.append((kind, [node]))
        current = []
        if kind == "library":
            anchors.append(node)
            if node.op == "gemm":
                current = [node]  # its affine part is elementwise
    if current:
        segments.append(("elementwise", current))
    return segments, anchors


# -- C code of elementwise ops ---------------------------------------------------------------------
class _Code:
    """C statements computing values from `leaves` (value -> C expression), one op per line."""

    def __init__(self, plan: _Plan, leaves: dict):
        self.plan, self.expr, self.lines = plan, dict(leaves), []

    def compute(self, value: Value) -> str:
        if value in self.expr:
            return self.expr[value]
        if value.kind == CONST:
            if value.type.shape != ():
                raise NotImplementedError("a constant array must be a kernel parameter")
            return literal(value.data, value.dtype)
        node = value.node
        if node.op == "gemm":  # the affine part over the product cuBLAS computed
            product, (_, _, c, alpha, beta) = self.plan.products[node], node.inputs
            p, c, alpha, beta = (self.compute(v) for v in (product, c, alpha, beta))
            text = f"({alpha} * {p} + {beta} * {c})"
        elif node.opdef.c_expr is not None:
            text = node.opdef.c_expr.format(*(self.compute(v) for v in node.inputs))
        else:
            raise NotImplementedError(f"'{node.op}' has no C expression to inline")
        local = f"t{len(self.expr)}"
        self.lines += [f"// {describe(node)}",
                       f"const {compute_type(value.dtype)} {local}({text});"]
        self.expr[value] = local
        return local


def describe(node: Node) -> str:
    """`%14 = sub(%44, %12)  # model.py:25  scope=loss`: a node for a comment."""
    where = "  ".join([str(node.meta["loc"])] if node.meta.get("loc") else []
                      + [f"{k}={node.meta[k]}" for k in ("scope",) if node.meta.get(k)])
    text = repr(node).replace("*/", "* /")
    return f"{text}  # {where}" if where else text


def _leaf_values(plan: _Plan, targets: list[Value], inside: set) -> list[Value]:
    """The materialized values and inputs the code for `targets` reads (first-use order);
    `inside` are values the stage itself computes."""
    found, seen = [], set()

    def visit(value):
        if value in seen:
            return
        seen.add(value)
        if value.kind == CONST and value.type.shape == ():
            return
        if value not in inside and (value in plan.materialized or value.kind != "node"):
            found.append(value)
            return
        node = value.node
        operands = node.inputs if node.op != "gemm" else [plan.products[node], *node.inputs[2:]]
        for operand in operands:
            visit(operand)

    for target in targets:
        visit(target)
    return found


def _params(values: list[Value], raw_scalars: bool) -> tuple[dict, tuple[Param, ...]]:
    leaves, params = {}, []
    for k, value in enumerate(values):
        raw = raw_scalars and value.type.shape == ()
        params.append(Param(f"in{k}", value.dtype, raw))
        text = f"in{k}[0]" if raw else f"in{k}"
        if compute_type(value.dtype) != c_type(value.dtype):  # float16: computed in float
            text = f"(({compute_type(value.dtype)}){text})"
        leaves[value] = text
    return leaves, tuple(params)


def _elementwise_stage(plan: _Plan, nodes: list[Node], name: str) -> None:
    own = {v for node in nodes for v in node.outputs}
    targets = [v for v in own if v in plan.materialized]
    targets.sort(key=lambda v: [n for n in nodes].index(v.node))
    if not targets:
        return
    shape = targets[0].shape
    reads = _leaf_values(plan, targets, own)
    leaves, inputs = _params(reads, raw_scalars=shape != ())
    code = _Code(plan, leaves)
    results = [code.compute(v) for v in targets]
    outputs = tuple(Param(f"out{j}", v.dtype) for j, v in enumerate(targets))
    # Every result is stored after every operand is read: an output may share memory with an
    # operand (the plan's in-place updates), element for element.
    lines = [*code.lines, *(f"out{j} = {r};" for j, r in enumerate(results))]
    source = ElementwiseSource(name, inputs, outputs, _header(plan, nodes) + "\n".join(lines))
    plan.stages.append(Stage("elementwise", reads, targets, source, shape=shape))


def _header(plan: _Plan, nodes: list[Node]) -> str:
    ops = "+".join(n.op for n in nodes)
    return f"// {plan.body.name}: {ops}\n"


def _post_foldable(plan: _Plan, reduction: Node, following: list[Node]) -> list[Node]:
    """The epilogue ops after `reduction` if they read nothing but its result and constants."""
    result = reduction.outputs[0]
    own = {v for node in following for v in node.outputs}
    targets = [v for v in own if v in plan.materialized]
    if not following or _leaf_values(plan, targets, own) != [result]:
        return []
    return following


def _reduction_stage(plan: _Plan, node: Node, post: list[Node], name: str) -> None:
    (operand,), result = node.inputs, node.outputs[0]
    reads = _leaf_values(plan, [operand], set())
    leaves, inputs = _params(reads, raw_scalars=False)  # CuPy permutes axes: no raw arrays
    dtype = operand.dtype
    signature = ", ".join(f"const {compute_type(p.dtype)} {p.name}" for p in inputs)
    arguments = ", ".join(p.name for p in inputs)
    code = _Code(plan, leaves)
    mapped = code.compute(operand)
    preamble = [f"// {plan.body.name}: {describe(node)}"]
    if node.op in ARG_REDUCERS:  # the pair of the value and its index along the axis (_J)
        reduce_type, identity, reduce_expr = _arg_reducer(node, preamble)
        mapped = f"{reduce_type}({mapped}, _J)"
        kept = f"{reduce_type}"
        signature = ", ".join([*filter(None, [signature]), "const long long _J"])
        arguments = ", ".join([*filter(None, [arguments]), "_J"])
    else:
        combine, identity_of = REDUCERS[node.op]
        # float16 accumulates in float32, as the reference kernels do
        reduce_type = compute_type(dtype)
        identity = identity_of("float32" if dtype == "float16" else dtype)
        reduce_expr = get_op(combine).c_expr.format("a", "b")
        kept = reduce_type
    preamble += [f"__device__ {kept} {name}_map({signature}) {{",
                 *("  " + line for line in code.lines), f"  return {mapped};", "}"]
    own = {v for n in post for v in n.outputs}
    targets = [result] if result in plan.body.outputs or not post else []
    targets += [v for v in own if v in plan.materialized]
    outputs = tuple(Param(f"out{j}", v.dtype) for j, v in enumerate(targets))
    value = "a.index" if node.op in ARG_REDUCERS else f"({compute_type(result.dtype)})a"
    post_code = _Code(plan, {result: "r"})
    results = [post_code.compute(v) for v in targets]
    out_args = ", ".join(f"{c_type(p.dtype)} &{p.name}" for p in outputs)
    preamble += [f"__device__ void {name}_post(const {kept} a, {out_args}) {{",
                 f"  const {compute_type(result.dtype)} r = {value};",
                 *("  " + line for line in post_code.lines),
                 *(f"  out{j} = {r};" for j, r in enumerate(results)), "}"]
    ndim = max(operand.type.ndim, 1)
    if node.op in ARG_REDUCERS:
        axes = (node.attrs["axis"] % ndim,)
    elif node.attrs["axes"] is None:
        axes = tuple(range(operand.type.ndim))
    else:
        axes = tuple(sorted(a % ndim for a in node.attrs["axes"]))
    source = ReductionSource(
        name, inputs, outputs, f"{name}_map({arguments})", reduce_expr,
        f"{name}_post(a, {', '.join(p.name for p in outputs)})", identity, reduce_type,
        "\n".join(preamble), axes, node.attrs["keepdims"])
    plan.stages.append(Stage("reduction", reads, targets, source, node, operand.shape))


def _arg_reducer(node: Node, preamble: list) -> tuple[str, str, str]:
    """argmax/argmin as a reduction over (value, index) pairs: the first NaN wins (NumPy), then
    the larger (smaller) value, ties to the lower index."""
    dtype = node.inputs[0].dtype
    t, better = compute_type(dtype), ARG_REDUCERS[node.op]
    name = f"_{node.op}_{dtype}"
    start = lowest(dtype) if better == ">" else highest(dtype)
    preamble += [
        f"struct {name} {{",
        f"  {t} value; long long index;",
        f"  __device__ {name}() : value({start}), index(0x7fffffffffffffffLL) {{}}",
        f"  __device__ {name}({t} v, long long i) : value(v), index(i) {{}}",
        "};",
        f"__device__ {name} {name}_pick(const {name} &a, const {name} &b) {{",
        "  const bool a_nan = a.value != a.value, b_nan = b.value != b.value;",
        "  if (a_nan || b_nan) return (a_nan && (!b_nan || a.index < b.index)) ? a : b;",
        f"  if (a.value {better} b.value) return a;",
        f"  if (b.value {better} a.value) return b;",
        "  return a.index < b.index ? a : b;",
        "}",
    ]
    return name, "", f"{name}_pick(a, b)"


def _library_stage(plan: _Plan, node: Node) -> None:
    if node.op in PRODUCTS:
        a, b = node.inputs[:2]
        product = plan.products[node]
        target = node.outputs[0] if node.op == "matmul" else product
        plan.stages.append(Stage("library", [a, b], [target], None, node, target.shape,
                                 product=node.op == "gemm"))
    else:
        plan.stages.append(Stage("library", list(node.inputs), list(node.outputs), None, node,
                                 node.outputs[0].shape))


def generated_body(node: Node) -> tuple[Graph, list[Value]] | None:
    """The body whose stages compute `node` and the node's operands for its inputs: a fused
    node's own body; a one-node body for an elementwise op, a reduction or a matmul/gemm; None
    for ops that run their own kernels."""
    if node.op == "fused":
        return node.attrs["body"], list(node.inputs)
    opdef = node.opdef
    alone = ((opdef.has(ELEMENTWISE) and opdef.c_expr is not None)
             or node.op in REDUCERS or node.op in ARG_REDUCERS or node.op in PRODUCTS)
    return single(node) if alone and opdef.write is not None else None


def node_stages(node: Node, name: str = "graphc", recompute: bool = True) -> list[Stage] | None:
    """The generated kernels of one node of a planned graph (see `generated_body`), or None.
    NotImplementedError when a fused body has an op no stage computes."""
    found = generated_body(node)
    return None if found is None else stages(found[0], name, recompute)


def single(node: Node) -> tuple[Graph, list[Value]]:
    """A one-node body for `node` (its 0-d constants kept as constants) and, for each body
    input, the node's operand it stands for."""
    body = Graph(f"{node.op}")
    env, operands = {}, []
    for value in node.inputs:
        if value in env:
            continue
        if value.kind == CONST and value.type.shape == ():
            env[value] = body.add_constant(value.data, value.name)
        else:
            env[value] = body.add_input(value.name, value.type)
            operands.append(value)
    copy = body.add_node(node.op, [env[v] for v in node.inputs], node.attrs, dict(node.meta),
                         names=[v.name for v in node.outputs])
    body.set_outputs(copy.outputs)
    return body, operands
