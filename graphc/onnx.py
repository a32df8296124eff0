"""`graphc.onnx.export(model, args, f)`: the traced IR written as an ONNX model (opset 18).

The model is traced in eval mode (as PyTorch exports it) on the example `args`; each IR node
becomes one or a few ONNX nodes, parameters and constants become initializers. Needs the optional
`onnx` package (`pip install 'graphc[onnx]'`). An op without an ONNX translation is an
`UnsupportedOperatorError` naming the op and the user's line that made it.
"""

from __future__ import annotations

import numpy as np

from ir.graph import describe_location

OPSET = 18
# graphc ops that are one ONNX op on the same inputs
SAME_INPUTS = {
    "neg": "Neg", "abs": "Abs", "sign": "Sign", "exp": "Exp", "log": "Log", "sqrt": "Sqrt",
    "sin": "Sin", "cos": "Cos", "tanh": "Tanh", "sigmoid": "Sigmoid", "erf": "Erf",
    "relu": "Relu", "stop_gradient": "Identity", "check_target": "Identity", "add": "Add",
    "sub": "Sub", "mul": "Mul", "div": "Div", "pow": "Pow", "maximum": "Max", "minimum": "Min",
    "eq": "Equal", "lt": "Less", "le": "LessOrEqual", "gt": "Greater", "ge": "GreaterOrEqual",
    "where": "Where",
}
REDUCTIONS = {"sum": "ReduceSum", "max": "ReduceMax", "min": "ReduceMin"}


class UnsupportedOperatorError(RuntimeError):
    """The traced graph holds an op that has no ONNX translation."""


def export(model, args=(), f=None, *, kwargs=None, export_params: bool = True, verbose=None,
           input_names=None, output_names=None, opset_version: int | None = None,
           dynamic_axes=None, **options) -> None:
    """Write `model` traced on `args` (a tensor or a tuple of them) to `f` (a path or a binary
    file object) as an ONNX model. `input_names`/`output_names` name the graph's inputs and
    outputs; `dynamic_axes` ({name: {axis: label}} or {name: [axis]}) marks sizes that may vary.
    Other PyTorch options (`dynamo`, `do_constant_folding`, `training`, ...) are accepted."""
    onnx = _require_onnx()
    import graphc

    if kwargs:
        raise TypeError("graphc.onnx.export takes positional example inputs only (no kwargs=)")
    if opset_version is not None and opset_version < OPSET:
        raise ValueError(f"graphc writes ONNX opset {OPSET} or later, got opset_version="
                         f"{opset_version}")
    args = args if isinstance(args, tuple) else (args,)
    modes = [(m, m.training) for m in model.modules()] if hasattr(model, "modules") else []
    for m, _ in modes:
        m.training = False
    try:
        graph = graphc.trace(model, *args)
    finally:
        for m, training in modes:
            m.training = training
    state = {}
    if hasattr(model, "named_parameters"):
        state = {name: t.detach().numpy()
                 for name, t in (*model.named_parameters(), *model.named_buffers())}
    proto = to_onnx(graph, state, input_names, output_names, dynamic_axes or {}, export_params,
                    opset_version or OPSET)
    onnx.checker.check_model(proto)
    if verbose:
        print(onnx.helper.printable_graph(proto.graph))
    if f is not None:
        onnx.save_model(proto, f)


def to_onnx(graph, state: dict, input_names=None, output_names=None, dynamic_axes=None,
            export_params: bool = True, opset: int = OPSET):
    """The `onnx.ModelProto` of a traced forward graph; `state` holds the arrays of its params
    by name."""
    onnx = _require_onnx()
    helper = onnx.helper
    if graph.random_keys:
        raise UnsupportedOperatorError("the graph draws random numbers (dropout in training "
                                       "mode?); export the model in eval mode")
    names = {}
    inputs = graph.user_inputs()
    for value, name in zip(inputs, input_names or []):
        names[value] = name
    for value, name in zip(graph.outputs, output_names or []):
        names[value] = name
    emitter = _Emitter(names)
    for node in graph.nodes:
        translate = TRANSLATIONS.get(node.op)
        if translate is None:
            raise UnsupportedOperatorError(
                f"graphc.onnx.export: op '{node.op}'{describe_location(node.meta)} has no ONNX "
                "translation"
            )
        emitter.node = node
        translate(emitter, node)
    dynamic = {name: _axes(spec) for name, spec in (dynamic_axes or {}).items()}
    initializers = [*emitter.initializers]
    graph_inputs = [_value_info(helper, emitter.name(v), v, dynamic) for v in inputs]
    for value in graph.params:
        if export_params:
            initializers.append(_tensor(onnx, emitter.name(value), state[value.name]))
        else:
            graph_inputs.append(_value_info(helper, emitter.name(value), value, dynamic))
    for value in graph.constants:
        initializers.append(_tensor(onnx, emitter.name(value), np.asarray(value.data)))
    outputs = [_value_info(helper, emitter.name(v), v, dynamic) for v in graph.outputs]
    body = helper.make_graph(emitter.nodes, graph.name or "graphc", graph_inputs, outputs,
                             initializers)
    return helper.make_model(body, opset_imports=[helper.make_opsetid("", opset)],
                             producer_name="graphc")


def _require_onnx():
    try:
        import onnx
    except ImportError:
        raise ModuleNotFoundError("graphc.onnx.export needs the onnx package: "
                                  "pip install 'graphc[onnx]'") from None
    return onnx


def _axes(spec) -> dict:
    return dict(spec) if isinstance(spec, dict) else {axis: f"dim{axis}" for axis in spec}


def _value_info(helper, name: str, value, dynamic: dict):
    axes = dynamic.get(name, {})
    shape = [axes.get(i, d) for i, d in enumerate(value.shape)]
    return helper.make_tensor_value_info(name, _elem_type(value.dtype), shape)


def _elem_type(dtype: str) -> int:
    import onnx

    return onnx.helper.np_dtype_to_tensor_dtype(np.dtype(dtype))


def _tensor(onnx, name: str, array):
    return onnx.numpy_helper.from_array(np.ascontiguousarray(array), name)


class _Emitter:
    """Collects ONNX nodes and the constant tensors they read, naming values once."""

    def __init__(self, names: dict):
        self.names, self.nodes, self.initializers, self.node = dict(names), [], [], None
        self.count = 0

    def name(self, value) -> str:
        if value not in self.names:
            self.names[value] = value.name
        return self.names[value]

    def fresh(self, hint: str) -> str:
        self.count += 1
        return f"{hint}__{self.count}"

    def const(self, array, dtype=np.int64) -> str:
        import onnx

        name = self.fresh("const")
        self.initializers.append(_tensor(onnx, name, np.asarray(array, dtype=dtype)))
        return name

    def emit(self, op: str, inputs, outputs=None, **attrs) -> list[str]:
        """One ONNX node; `outputs` default to the current IR node's outputs."""
        import onnx

        outputs = outputs or [self.name(v) for v in self.node.outputs]
        where = describe_location(self.node.meta).strip()
        self.nodes.append(onnx.helper.make_node(op, list(inputs), list(outputs),
                                                name=self.fresh(op), doc_string=where, **attrs))
        return outputs

    def inputs(self, node) -> list[str]:
        return [self.name(v) for v in node.inputs]


# -- translations: (emitter, IR node) -> ONNX nodes --------------------------------------------------
def _same(op):
    return lambda e, node: e.emit(op, e.inputs(node))


def _ne(e, node):
    equal = e.fresh("equal")
    e.emit("Equal", e.inputs(node), [equal])
    e.emit("Not", [equal])


def _cast(e, node):
    e.emit("Cast", e.inputs(node), to=_elem_type(node.attrs["dtype"]))


def _clamp(e, node):
    x, low, high = e.inputs(node)
    above = e.fresh("max")
    e.emit("Max", [x, low], [above])
    e.emit("Min", [above, high])


def _reduce(op):
    def translate(e, node):
        x = node.inputs[0]
        axes = node.attrs["axes"]
        axes = list(range(x.type.ndim)) if axes is None else list(axes)
        if not axes:
            e.emit("Identity", e.inputs(node))
            return
        e.emit(op, [*e.inputs(node), e.const(axes)], keepdims=int(node.attrs["keepdims"]))

    return translate


def _arg(op):
    return lambda e, node: e.emit(op, e.inputs(node), axis=node.attrs["axis"],
                                  keepdims=int(node.attrs["keepdims"]))


def _transposed(e, name: str, ndim: int, flag: bool) -> str:
    if not flag:
        return name
    perm = [*range(ndim - 2), ndim - 1, ndim - 2]
    out = e.fresh("transposed")
    e.emit("Transpose", [name], [out], perm=perm)
    return out


def _product(e, node, outputs=None):
    a, b = node.inputs[:2]
    left = _transposed(e, e.name(a), a.type.ndim, node.attrs["trans_a"])
    right = _transposed(e, e.name(b), b.type.ndim, node.attrs["trans_b"])
    return e.emit("MatMul", [left, right], outputs)


def _gemm(e, node):
    (product,) = _product(e, node, [e.fresh("product")])
    _, _, c, alpha, beta = e.inputs(node)
    scaled, shift = e.fresh("scaled"), e.fresh("shift")
    e.emit("Mul", [product, alpha], [scaled])
    e.emit("Mul", [c, beta], [shift])
    e.emit("Add", [scaled, shift])


def _reshape(e, node):
    (x,), shape = node.inputs, list(node.attrs["shape"])
    if 0 in shape:
        e.emit("Reshape", [e.name(x), e.const(shape)], allowzero=1)
        return
    if x.type.ndim and shape and shape[0] == x.shape[0]:
        shape[0] = 0  # copy the leading (batch) size from the input: dynamic batches still fit
    e.emit("Reshape", [e.name(x), e.const(shape)])


def _slice(e, node):
    starts, stops, steps = (node.attrs[k] for k in ("starts", "stops", "steps"))
    axes = list(range(len(starts)))
    e.emit("Slice", [*e.inputs(node), e.const(starts), e.const(stops), e.const(axes),
                     e.const(steps)])


def _pad(e, node):
    pads = node.attrs["pads"]
    flat = [before for before, _ in pads] + [after for _, after in pads]
    value = e.const(node.attrs["value"], node.inputs[0].type.np_dtype)
    e.emit("Pad", [*e.inputs(node), e.const(flat), value], mode="constant")


def _full(e, node):
    import onnx

    value = node.outputs[0]
    array = np.full(value.shape, node.attrs["value"], dtype=value.type.np_dtype)
    e.initializers.append(_tensor(onnx, e.name(value), array))


def _pool_attrs(node) -> dict:
    kernel, stride, padding = (node.attrs[k] for k in ("kernel", "stride", "padding"))
    return {"kernel_shape": list(kernel), "strides": list(stride or kernel),
            "pads": [*padding, *padding], "ceil_mode": int(node.attrs["ceil_mode"])}


def _max_pool(e, node):
    e.emit("MaxPool", e.inputs(node), dilations=list(node.attrs["dilation"]), **_pool_attrs(node))


def _avg_pool(e, node):
    if node.attrs["divisor_override"] is not None:
        raise UnsupportedOperatorError(
            f"graphc.onnx.export: avg_pool2d with divisor_override{describe_location(node.meta)} "
            f"has no ONNX opset {OPSET} translation")
    e.emit("AveragePool", e.inputs(node), count_include_pad=int(node.attrs["count_include_pad"]),
           **_pool_attrs(node))


def _conv(e, node):
    padding = list(node.attrs["padding"])
    e.emit("Conv", e.inputs(node), strides=list(node.attrs["stride"]), pads=padding + padding,
           dilations=list(node.attrs["dilation"]), group=node.attrs["groups"])


TRANSLATIONS = {
    **{op: _same(onnx_op) for op, onnx_op in SAME_INPUTS.items()},
    **{op: _reduce(onnx_op) for op, onnx_op in REDUCTIONS.items()},
    "ne": _ne,
    "cast": _cast,
    "clamp": _clamp,
    "argmax": _arg("ArgMax"),
    "argmin": _arg("ArgMin"),
    "matmul": _product,
    "gemm": _gemm,
    "reshape": _reshape,
    "permute": lambda e, node: e.emit("Transpose", e.inputs(node), perm=list(node.attrs["perm"])),
    "broadcast_to": lambda e, node: e.emit("Expand", [*e.inputs(node),
                                                      e.const(node.attrs["shape"])]),
    "slice": _slice,
    "concat": lambda e, node: e.emit("Concat", e.inputs(node), axis=node.attrs["axis"]),
    "split": lambda e, node: e.emit("Split", [*e.inputs(node), e.const(node.attrs["sizes"])],
                                    axis=node.attrs["axis"]),
    "pad": _pad,
    "full": _full,
    "gather": lambda e, node: e.emit("GatherElements", e.inputs(node), axis=node.attrs["axis"]),
    "take": lambda e, node: e.emit("Gather", e.inputs(node), axis=node.attrs["axis"]),
    "conv2d": _conv,
    "max_pool2d": _max_pool,
    "avg_pool2d": _avg_pool,
}
