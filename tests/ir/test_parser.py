"""parse(print(g)) == g for random graphs and special cases; malformed text gives line numbers."""

from __future__ import annotations

import numpy as np
import pytest

import ir
from ir.compare import graph_difference


def roundtrip(graph: ir.Graph) -> ir.Graph:
    text = str(graph)
    parsed = ir.parse(text)
    assert graph_difference(parsed, graph) is None, graph_difference(parsed, graph)
    assert parsed == graph
    assert str(parsed) == text
    return parsed


@pytest.mark.parametrize("seed", range(25))
def test_random_graphs_roundtrip(seed, make_random_graph):
    graph = make_random_graph(np.random.default_rng(seed), n_nodes=15)
    graph.verify()
    parsed = roundtrip(graph)
    parsed.verify()


def test_random_graphs_cover_many_ops(make_random_graph):
    ops = set()
    for seed in range(25):
        ops |= {n.op for n in make_random_graph(np.random.default_rng(seed), n_nodes=15).nodes}
    assert {"neg", "exp", "add", "mul", "cast", "full"} <= ops
    assert len(ops) >= 20, sorted(ops)


def test_fused_graph_roundtrips(fused_graph):
    parsed = roundtrip(fused_graph)
    assert parsed.nodes[1].subgraph is not None
    assert parsed.nodes[1].subgraph == fused_graph.nodes[1].subgraph


def test_special_values_roundtrip():
    g = ir.Graph("special values")
    x = g.add_input("odd name: with # and \"quotes\"", ir.TensorType((3,), "float64"))
    g.add_constant(np.array([np.nan, -np.inf, -0.0, 5e-324], dtype=np.float64), name="floats")
    g.add_constant(np.float32(np.float32(1) / np.float32(3)), name="third")
    g.add_constant(np.zeros((0, 2), dtype=np.int32), name="empty")
    g.add_constant(np.arange(30, dtype=np.int64), name="long")
    meta = {"loc": "<stdin>:1", "scope": "", "tags": {"k": (1, [2.5, None])}, "flag": True,
            "text": "inf"}
    node = g.add_node("full", [], {"shape": (3,), "dtype": "float64", "value": float("nan")}, meta)
    g.set_outputs([g.add_node("add", [x, node.out]).out])
    g.meta["note"] = "multi\nline"
    parsed = roundtrip(g)
    assert parsed.inputs[0].name == 'odd name: with # and "quotes"'
    assert parsed.nodes[0].meta["tags"] == {"k": (1, [2.5, None])}
    assert np.isnan(parsed.nodes[0].attrs["value"])


def test_parsed_graph_gets_fresh_names_that_do_not_clash(make_random_graph, rng):
    parsed = ir.parse(str(make_random_graph(rng)))
    before = {v.name for v in parsed.values()}
    b = ir.Builder(parsed)
    new = b.neg(parsed.inputs[0])
    assert new.name not in before
    parsed.verify()


def test_parse_keeps_a_graph_that_does_not_verify():
    text = """
    graph g {
      input %x: f32[2]
      # types are taken as written
      %y: f64[7] = neg(%x)
      return %y
    }
    """
    graph = ir.parse(text)
    assert graph.nodes[0].outputs[0].type == ir.TensorType((7,), "float64")
    with pytest.raises(ir.VerifyError, match="neg"):
        graph.verify()


def test_equality_sees_differences(make_random_graph, rng):
    graph = make_random_graph(rng)
    other = ir.parse(str(graph))
    other.nodes[-1].meta["loc"] = "elsewhere.py:1"
    assert other != graph
    other = ir.parse(str(graph))
    other.constants[1].data = other.constants[1].data + 1
    assert other != graph
    other = ir.parse(str(graph))
    other.outputs.reverse()
    assert other != graph


def test_equality_tells_attribute_types_apart():
    def graph(value):
        g = ir.Graph("g")
        g.set_outputs([g.add_node("full", [], {"shape": (2,), "dtype": "int64", "value": value}).out])
        return g

    assert graph(1) == graph(1)
    assert graph(1) != graph(1.0)
    assert graph(1) != graph(True)
    assert ir.parse(str(graph(1.0))) == graph(1.0)


MALFORMED = [
    ("", 0, "expected 'graph NAME {'"),
    ("graph g {\n  input %x f32[2]\n}", 2, "expected ':'"),
    ("graph g {\n  input %x: u16[2]\n}", 2, "unknown dtype 'u16'"),
    ("graph g {\n  input %x: f32[2,a]\n}", 2, "bad dimension"),
    ("graph g {\n  input %x: f32[2]\n  %y: f32[2] = neg(%z)\n}", 3, "%z is not defined"),
    ("graph g {\n  input %x: f32[2]\n  input %x: f32[2]\n}", 3, "%x is defined twice"),
    ("graph g {\n  input %x: f32[2]\n  %y: f32[2] = neg(%x, \n}", 3, "found end of line"),
    ("graph g {\n  input %x: f32[2]\n  %y: f32[2] = neg(%x) extra\n}", 3, "unexpected 'extra'"),
    ("graph g {\n  const %c: f32[2] = [1.0]\n}", 2, "shape [1]"),
    ("graph g {\n  const %c: f32[3] = b64\"AAAA\"\n}", 2, "3 bytes"),
    ("graph g {\n  input %x: f32[2]\n  return %x\n", 3, "expected '}' closing the graph"),
    ("graph g {\n}\ngraph h {\n}", 3, "text continues"),
    ("graph g {\n  input %x: f32[2] ?\n}", 2, "unexpected character '?'"),
    ("graph g {\n  %y: f32[2] = full()  # loc key=\n}", 2, "in the meta comment: expected a value"),
]


@pytest.mark.parametrize("text, line, message", MALFORMED)
def test_malformed_text_names_the_line(text, line, message):
    with pytest.raises(ir.ParseError) as info:
        ir.parse(text)
    assert f"line {line}:" in str(info.value)
    assert message in str(info.value)
