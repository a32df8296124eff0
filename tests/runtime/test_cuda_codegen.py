"""Generated CUDA kernels (runtime.cuda.codegen), without a GPU: every elementwise op's C
expression and every reduction run on the host (the kernel source compiled by the host's C++
compiler, `hostcupy`) and agree with the reference kernels, NaN and infinities included; every
kernel of the model zoo's training steps compiles with nvcc, wrapped as CuPy wraps it."""

from __future__ import annotations

import itertools
import shutil

import cuda_wrap
import hostcupy
import numpy as np
import pytest
from cuda_models import examples, zoo_steps

from ir.errors import ShapeError
from ir.graph import Graph
from ir.ops.registry import ELEMENTWISE, OPS
from ir.types import TensorType
from runtime.cuda import codegen

pytestmark = pytest.mark.skipif(shutil.which("g++") is None and shutil.which("c++") is None,
                                reason="no host C++ compiler")

FLOATS = [-np.inf, -2.5, -1.0, -0.5, -0.0, 0.0, 0.3, 0.5, 1.0, 2.0, 3.7, np.inf, np.nan]
INTS = [-7, -3, -1, 0, 1, 2, 5]
DTYPES = ("float32", "float64", "float16", "int64", "int32", "int8", "uint8", "bool")


def samples(dtype: str, op: str) -> list:
    if dtype.startswith("float"):
        return FLOATS
    if dtype == "bool":
        return [False, True]
    if op in ("left_shift", "right_shift"):
        return [0, 1, 3]
    if dtype == "uint8":
        return [0, 1, 2, 5, 200]
    return INTS


def node_for(op: str, dtype: str):
    """A one-node graph of `op` on operands of `dtype` (None when the op refuses them)."""
    opdef = OPS[op]
    graph = Graph(op)
    arity = opdef.arity
    types = [TensorType((8,), dtype)] * arity
    attrs = {}
    if op == "where":
        types = [TensorType((8,), "bool"), *types[1:]]
    if op == "cast":
        attrs = {"dtype": "float32" if dtype != "float32" else "int32"}
    inputs = [graph.add_input(f"x{k}", t) for k, t in enumerate(types)]
    try:
        node = graph.add_node(op, inputs, attrs)
    except ShapeError:  # the op does not take this dtype
        return None
    graph.set_outputs(node.outputs)
    return node


def operand_grid(node) -> list[np.ndarray]:
    """Every combination of sample values of the operands, one element each."""
    lists = [samples(v.dtype, node.op) for v in node.inputs]
    grid = list(itertools.product(*lists))
    arrays = []
    for k, value in enumerate(node.inputs):
        column = [row[k] for row in grid]
        with np.errstate(all="ignore"):
            arrays.append(np.asarray(column, dtype=value.dtype))
    return arrays


def skip_undefined(node, arrays):
    """Elements where C leaves the result undefined (integer division by zero, float to int of
    non-finite or out-of-range values): left out."""
    keep = np.ones(arrays[0].shape, bool)
    if node.op in ("floor_divide", "fmod", "remainder") and arrays[1].dtype.kind in "iub":
        keep &= arrays[1] != 0
    if node.op == "pow" and arrays[1].dtype.kind in "iu":
        keep &= (arrays[1] >= 0) & (arrays[1] <= 5)  # NumPy refuses negative powers; overflow
    if node.op == "floor_divide" and arrays[0].dtype.kind == "f":
        # KNOWN: the op's C expression floor(x / y) is not NumPy's (and PyTorch's) fmod-based
        # floor division where x or y is infinite (NumPy: NaN for x = inf, -1 for -1 // inf).
        keep &= np.isfinite(arrays[0]) & np.isfinite(arrays[1])
    if node.op == "cast" and arrays[0].dtype.kind == "f" and node.outputs[0].dtype != "float32":
        keep &= np.isfinite(arrays[0])
    return [a[keep] for a in arrays]


def elementwise_cases():
    """(op, dtype, its one-node graph's node, operands, the generated source) for every
    elementwise op and every dtype it takes."""
    for op, opdef in sorted(OPS.items()):
        if not opdef.has(ELEMENTWISE):
            continue
        for dtype in DTYPES:
            node = node_for(op, dtype)
            if node is not None:
                (stage,) = codegen.node_stages(node)
                yield op, dtype, node, skip_undefined(node, operand_grid(node)), stage.source


def test_every_elementwise_op_computes_what_its_reference_kernel_computes():
    """The C expression of each elementwise op, on each dtype it takes, run on the host, against
    the op's reference kernel on NumPy: NaN, infinities, signed zeros and ties included."""
    cases = []
    for op, dtype, node, arrays, source in elementwise_cases():
        kernel = hostcupy.ElementwiseKernel(hostcupy.HostCupy(), source.in_params,
                                            source.out_params, source.operation, "k")
        out = np.empty(arrays[0].shape, node.outputs[0].dtype)
        cases.append((op, dtype, kernel, arrays, out, node))
    units = [cuda_wrap.elementwise_unit(k.source, [1] * (len(a) + 1), hostcupy.KERNEL)
             for _, _, k, a, _, _ in cases]
    hostcupy.functions(units)  # one compiler run for all of them
    wrong = []
    for op, dtype, kernel, arrays, out, node in cases:
        kernel(*arrays, out)
        with np.errstate(all="ignore"):
            want = np.asarray(OPS[op].impl(np, *arrays, **node.attrs))
        if not agree(out, want):
            bad = ~close(out, want)
            wrong.append(f"{op}[{dtype}]: at {[a[bad][:3] for a in arrays]} got {out[bad][:3]} "
                         f"want {want[bad][:3]}")
    assert len(cases) > 150
    assert not wrong, "\n".join(wrong)


def close(got, want):
    if got.dtype.kind == "f":
        tol = {"float16": 1e-3, "float32": 1e-6, "float64": 1e-13}[got.dtype.name]
        return np.isclose(got.astype(np.float64), want.astype(np.float64), rtol=tol,
                          atol=1e-30, equal_nan=True)
    return got == want


def agree(got, want) -> bool:
    return got.shape == want.shape and bool(close(got, want).all())


REDUCTION_CASES = [
    ("sum", {"axes": (1,), "keepdims": True}),
    ("sum", {"axes": None, "keepdims": False}),
    ("prod", {"axes": (0, 2), "keepdims": False}),
    ("max", {"axes": (2,), "keepdims": False}),
    ("min", {"axes": (0,), "keepdims": True}),
    ("argmax", {"axis": 1, "keepdims": False}),
    ("argmin", {"axis": 2, "keepdims": True}),
]


@pytest.mark.parametrize("dtype", ["float32", "float64", "int64"])
def test_reductions_agree_with_their_reference_kernels(dtype):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 4, 5)).astype(dtype) if dtype != "int64" else \
        rng.integers(-4, 5, size=(3, 4, 5)).astype(dtype)
    if dtype != "int64":
        x[1, 2, 3] = np.nan  # NaN propagates through max/min, argmax/argmin pick it first
        x[2, 0, 1] = -np.inf
    xp = hostcupy.HostCupy()
    for op, attrs in REDUCTION_CASES:
        graph = Graph(op)
        node = graph.add_node(op, [graph.add_input("x", TensorType(x.shape, dtype))], attrs)
        (stage,) = codegen.node_stages(node)
        source = stage.source
        kernel = xp.ReductionKernel(source.in_params, source.out_params, source.map_expr,
                                    source.reduce_expr, source.post_map_expr, source.identity,
                                    source.name, source.reduce_type, preamble=source.preamble)
        out = np.empty(node.outputs[0].shape, node.outputs[0].dtype)
        kernel(x, out, axis=source.axes, keepdims=source.keepdims)
        with np.errstate(all="ignore"):
            want = OPS[op].impl(np, x, **attrs)
        assert agree(out, np.asarray(want)), (op, attrs, out, want)


def test_a_fused_body_becomes_prologue_reduction_and_epilogue_stages_with_readable_source():
    import graphc
    from graphc import nn, optim

    model = examples().NeuralNetwork()
    X, y = graphc.randn(8, 1, 28, 28), graphc.randint(0, 10, (8,))
    step = graphc.compile_train_step(model, nn.CrossEntropyLoss(), optim.SGD(
        model.parameters(), lr=0.1, momentum=0.9), X, y)
    bodies = {n.attrs["body"].name.split(":")[1]: n for n in step.graph.nodes if n.op == "fused"}
    softmax = codegen.node_stages(bodies["sub+exp+sum+log"])
    assert [s.kind for s in softmax] == ["elementwise", "reduction"]
    reduction = softmax[1].source
    assert reduction.reduce_expr == "(a + b)" and "log(r)" in reduction.preamble  # log folded in
    assert len(reduction.outputs) == 2  # the sum and its log
    update = codegen.node_stages(bodies["gemm+mul+sub"])
    assert [s.kind for s in update] == ["library", "elementwise"] and update[0].product
    text = update[1].source.operation
    # every op a commented line naming the IR and where it came from
    assert "// %" in text and "= gemm(" in text and "scope=optimizer.linear_relu_stack" in text
    assert "raw float32" in update[1].source.in_params  # the 0-d hyper-parameters
    mask = codegen.node_stages(bodies["gemm+relu+le"])[1].source
    assert "examples/models.py" in mask.operation and mask.out_params == \
        "float32 out0, bool out1"


@pytest.mark.skipif(cuda_wrap.nvcc() is None, reason="nvcc is not installed")
def test_every_kernel_of_the_zoo_steps_compiles_with_nvcc(tmp_path):
    units, seen = [], set()
    for graph, _ in zoo_steps():
        for node in graph.nodes:
            found = codegen.node_stages(node)
            for stage in found or ():
                source = stage.source
                if source is None or source.key in seen:
                    continue
                seen.add(source.key)
                name = f"k{len(units)}"
                if stage.kind == "elementwise":
                    ndims = [0 if p.raw else len(stage.shape)
                             for p in (*source.inputs, *source.outputs)]
                    units.append(cuda_wrap.elementwise_unit(source, ndims, name))
                else:
                    out_ndim = len(stage.writes[0].shape)
                    units.append(cuda_wrap.reduction_unit(source, len(stage.shape), out_ndim,
                                                          name))
    assert len(units) > 20
    done = cuda_wrap.compile_device(cuda_wrap.translation_unit(units), tmp_path)
    assert done.returncode == 0, done.stderr[-4000:]
