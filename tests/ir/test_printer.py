"""Printed IR: golden files for hand-built graphs, and the details of the text form.

Regenerate the goldens after an intended format change with GRAPHC_REGEN_GOLDEN=1.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

import ir

GOLDEN = Path(__file__).parent / "golden"


def mlp() -> ir.Graph:
    g = ir.Graph("mlp")
    x = g.add_input("x", ir.TensorType((4, 8), "float32"))
    params = [
        g.add_param("linear_relu_stack.0.weight", ir.TensorType((8, 16), "float32")),
        g.add_param("linear_relu_stack.0.bias", ir.TensorType((16,), "float32")),
        g.add_param("linear_relu_stack.2.weight", ir.TensorType((16, 3), "float32")),
    ]
    b = ir.Builder(g, loc="quickstart.py:21")
    with b.meta(scope="linear_relu_stack.0"):
        h = b.add(b.matmul(x, params[0]), params[1])
    with b.meta(scope="linear_relu_stack.1"):
        h = b.maximum(h, b.scalar_like(0.0, h))
    with b.meta(scope="linear_relu_stack.2"):
        logits = b.matmul(h, params[2])
    g.set_outputs([logits])
    return g


def train_step() -> ir.Graph:
    """Dropout with a random key, a backward and an optimizer node, split, updates, odd names."""
    g = ir.Graph("train step")
    x = g.add_input("x", ir.TensorType((2, 6), "float32"))
    key = g.add_input("key", ir.TensorType((), "int64"))
    w = g.add_param("w", ir.TensorType((2, 6), "float32"))
    table = g.add_constant(np.linspace(-1, 1, 20, dtype=np.float64).reshape(4, 5), name="table")
    b = ir.Builder(g, loc="train.py:5", scope="net", phase="forward")
    mask = b.random_mask(key, shape=(2, 6), p=0.9, dtype="float32")
    y = b.mul(b.mul(x, mask), w)
    left, right = b.split(y, sizes=(2, 4), axis=1)
    masked = b.pad(left, pads=((0, 0), (0, 1)), value=float("-inf"))
    loss = b.sum(b.add(masked, b.scalar_like(0.5, masked)), axes=None, keepdims=False)
    with b.meta(phase="backward", grad_of=y):
        grad = b.mul(x, mask)
    with b.meta(phase="optimizer", loc="optim.py:40", scope=None):
        lr = g.add_constant(np.float32(0.1), name="lr")
        new_w = b.sub(w, b.mul(grad, lr))
    g.set_outputs([loss, right, b.cast(b.sum(table, axes=(1,), keepdims=True), dtype="float32")])
    g.updates.append((w, new_w))
    g.meta.update(random_keys=[key], saved=[mask])
    return g


CASES = {"mlp": mlp, "train_step": train_step}


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / f"{name}.ir"
    if os.environ.get("GRAPHC_REGEN_GOLDEN"):
        path.write_text(text)
    assert path.exists(), f"missing golden {path}; run with GRAPHC_REGEN_GOLDEN=1"
    assert text == path.read_text(), f"printed IR differs from {path}"


@pytest.mark.parametrize("name", sorted(CASES))
def test_golden(name):
    graph = CASES[name]()
    check_golden(name, str(graph))
    assert ir.parse(str(graph)) == graph


def test_golden_fused(fused_graph):
    check_golden("fused", str(fused_graph))
    assert ir.parse(str(fused_graph)) == fused_graph


def test_node_line_shows_results_op_operands_attrs_types_and_source():
    g = ir.Graph("g")
    x = g.add_input("x", ir.TensorType((2, 6), "float32"))
    h = g.add_input("h", ir.TensorType((2, 6), "float32"))
    meta = {"loc": "model.py:3", "scope": "net.0", "phase": "backward", "grad_of": h, "n": 2}
    g.add_node("split", [x], {"sizes": (2, 4), "axis": 1}, meta, names=["a", "b"])
    line = str(g).splitlines()[3]
    code, comment = line.split("#")
    assert code.strip() == "%a: f32[2,2], %b: f32[2,4] = split(%x, sizes=(2, 4), axis=1)"
    assert comment.split() == ["model.py:3", "scope=net.0", "phase=backward", "grad_of=%h", "n=2"]
    assert ir.parse(str(g)).nodes[0].meta["grad_of"].name == "h"


def test_header_lists_signature_and_meta():
    lines = str(train_step()).splitlines()
    assert lines[0] == 'graph "train step" {'
    assert "  meta random_keys = [%key]" in lines
    assert "  input %key: i64[]" in lines
    assert "  param %w: f32[2,6]" in lines
    assert "  const %lr: f32[] = 0.1" in lines
    assert any(line.startswith('  const %table: f64[4,5] = b64"') for line in lines)
    assert lines[-2].startswith("  update %w <- %")
    assert lines[-1] == "}"


def test_small_constants_print_as_lists_and_exact_floats():
    g = ir.Graph("c")
    g.add_constant(np.array([0.1, 1e-30, -0.0, np.inf], dtype=np.float32), name="f")
    g.add_constant(np.array([[True, False]]), name="b")
    text = str(g)
    assert "const %f: f32[4] = [0.1, 1e-30, -0.0, inf]" in text
    assert "const %b: bool[1,2] = [[True, False]]" in text
    assert ir.parse(text) == g


def test_fused_node_prints_its_subgraph_nested(fused_graph):
    lines = str(fused_graph).splitlines()
    start = next(i for i, line in enumerate(lines) if "= fused(" in line)
    assert lines[start].rstrip().endswith("graph fused_0 {  # model.py:8  scope=fc")
    assert lines[start + 1] == "    input %a: f32[4,16]"
    assert lines[lines.index("  }") - 1].startswith("    return %")
