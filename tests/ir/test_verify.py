"""verify() accepts good graphs and rejects hand-broken ones with a message naming the node."""

from __future__ import annotations

import numpy as np
import pytest

import ir


def small():
    """%h = mul(%x, %w) at model.py:5 (in fc); %y = exp(%h) at model.py:6; update %w <- %h."""
    g = ir.Graph("g")
    x = g.add_input("x", ir.TensorType((2, 3), "float32"))
    w = g.add_param("w", ir.TensorType((2, 3), "float32"))
    h = g.add_node("mul", [x, w], meta={"loc": "model.py:5", "scope": "fc"}, names=["h"]).out
    y = g.add_node("exp", [h], meta={"loc": "model.py:6"}, names=["y"]).out
    g.set_outputs([y])
    g.updates.append((w, h))
    return g


def rejects(graph, *fragments):
    with pytest.raises(ir.VerifyError) as info:
        graph.verify()
    for fragment in fragments:
        assert fragment in str(info.value)
    return str(info.value)


def test_good_graphs_verify(make_random_graph, fused_graph):
    small().verify()
    fused_graph.verify()
    for seed in range(10):
        make_random_graph(np.random.default_rng(seed)).verify()


def test_use_before_definition():
    g = small()
    g.nodes.reverse()
    message = rejects(g, "%y = exp(%h) at model.py:6", "operand %h is used before its definition")
    assert "cycle" not in message


def test_cycle_is_reported():
    g = small()
    mul, exp = g.nodes
    mul.inputs = (exp.out, mul.inputs[1])
    rejects(g, "%h = mul(%y, %w) at model.py:5 (in fc)", "used before its definition",
            "cycle: mul -> exp")


def test_wrong_stored_type():
    g = small()
    g.nodes[1].outputs[0].type = ir.TensorType((2, 3), "float64")
    rejects(g, "%y = exp(%h) at model.py:6", "stored as f64[2,3]", "exp gives f32[2,3]")


def test_operand_types_that_do_not_fit():
    g = small()
    g.inputs[0].type = ir.TensorType((5,), "float32")
    rejects(g, "%h = mul(%x, %w) at model.py:5 (in fc)", "do not broadcast")


def test_unknown_op():
    g = small()
    g.nodes[1].op = "frobnicate"
    rejects(g, "%y = frobnicate(%h) at model.py:6", "unknown op 'frobnicate'")


def test_bad_attribute():
    g = ir.Graph("g")
    x = g.add_input("x", ir.TensorType((2, 3), "float32"))
    node = g.add_node("sum", [x], {"axes": (1,)}, {"loc": "model.py:9"})
    g.set_outputs([node.out])
    node.attrs["axes"] = "1"
    rejects(g, f"%{node.out.name} = sum(%x) at model.py:9", "bad attribute", "'axes'")
    node.attrs = {"axes": (1,), "colour": "red"}
    rejects(g, "unknown attribute(s) ['colour']")


def test_duplicate_definition():
    g = small()
    g.nodes[1].outputs = (g.nodes[0].out,)
    rejects(g, "%h = exp(%h) at model.py:6", "result %h does not point back to this node")
    g = small()
    g.inputs.append(g.inputs[0])
    rejects(g, "%x is defined twice")
    g = small()
    g.params.append(g.inputs[0])
    rejects(g, "%x is listed as param")
    g = small()
    g.nodes[1].outputs[0].name = "h"
    rejects(g, "%h = exp(%h) at model.py:6", "name %h is used by two different values")


def test_value_of_another_graph():
    other = small()
    g = small()
    g.nodes[1].inputs = (other.nodes[0].out,)
    rejects(g, "%y = exp(%h) at model.py:6", "not defined in this graph")
    g = small()
    g.outputs = [other.outputs[0]]
    rejects(g, "output %y is not defined in this graph")


def test_bad_updates():
    g = small()
    g.updates = [(g.inputs[0], g.nodes[0].out)]
    rejects(g, "update target %x is not a parameter")
    g = small()
    g.updates.append(g.updates[0])
    rejects(g, "parameter %w is updated twice")
    g = small()
    cast = g.add_node("cast", [g.nodes[0].out], {"dtype": "float64"}, names=["h64"]).out
    g.updates = [(g.params[0], cast)]
    rejects(g, "update of %w: f32[2,3] with %h64: f64[2,3]")


def test_bad_constant_and_graph_meta():
    g = small()
    c = g.add_constant(np.zeros(3, np.float32), name="c")
    c.data = np.zeros(4, np.float32)
    rejects(g, "constant %c: f32[3] holds data f32[4]")
    g = small()
    g.meta["random_keys"] = [g.inputs[0]]
    rejects(g, "random key %x must be i64[]")
    g = small()
    g.meta["random_keys"] = ["x"]
    rejects(g, "meta 'random_keys' must list Values, got 'x'")
    g = small()
    g.meta["saved"] = [ir.Graph("other").add_input("nowhere", ir.TensorType((), "float32"))]
    rejects(g, "graph meta refers to %nowhere, which is not in this graph")


def test_fused_subgraph_is_checked(fused_graph):
    sub = fused_graph.nodes[1].subgraph
    sub.nodes[0].op = "nope"
    rejects(fused_graph, "= fused(%0, %fc.bias) at model.py:8 (in fc)", "in its subgraph",
            "graph 'fused_0'", "unknown op 'nope'")


def test_fused_node_types_must_match_its_subgraph(fused_graph):
    fused_graph.nodes[1].inputs = fused_graph.nodes[1].inputs[::-1]
    rejects(fused_graph, "operand types (f32[16], f32[4,16]) differ from its body's inputs")


def test_verify_is_available_as_a_function():
    ir.verify(small())
