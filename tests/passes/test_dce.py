"""Dead-code elimination and extract()."""

from __future__ import annotations

import numpy as np
import pytest

from ir import Builder, Graph, GraphError, TensorType
from passes.dce import eliminate_dead_code, extract
from runtime import run_graph

F32 = TensorType((2, 3), "float32")


def sample():
    g = Graph("sample")
    x = g.add_input("x", F32)
    spare = g.add_input("spare", F32)
    w = g.add_param("w", F32)
    g.add_param("frozen", F32)
    b = Builder(g, loc="m.py:3", scope="block")
    used = b.mul(x, w)
    b.exp(used)  # dead
    b.add(spare, g.add_constant(np.ones((2, 3), "float32"), "dead_c"))  # dead, with its constant
    out = b.add(used, g.add_constant(np.float32(2.0), "two"))
    new_w = b.sub(w, b.mul(used, g.add_constant(np.float32(0.1), "lr")))
    g.set_outputs([out])
    g.updates = [(w, new_w)]
    g.meta["random_keys"] = []
    return g


def test_dead_nodes_and_constants_go_signature_stays():
    g = sample()
    d = eliminate_dead_code(g)
    d.verify()
    assert [n.op for n in d.nodes] == ["mul", "add", "mul", "sub"]
    assert [v.name for v in d.inputs] == ["x", "spare"] and [v.name for v in d.params] == [
        "w",
        "frozen",
    ]
    assert sorted(c.name for c in d.constants) == ["lr", "two"]
    assert [(p.name, v.name) for p, v in d.updates] == [(p.name, v.name) for p, v in g.updates]
    assert d.nodes[0].meta == {"loc": "m.py:3", "scope": "block"}
    assert d.meta == g.meta and d.meta is not g.meta
    assert len(g.nodes) == 6, "the input graph is left as it was"


def test_results_and_names_are_unchanged():
    g = sample()
    d = eliminate_dead_code(g)
    rng = np.random.default_rng(0)
    args = [rng.standard_normal((2, 3)).astype("float32") for _ in range(2)]
    params = {
        "w": rng.standard_normal((2, 3)).astype("float32"),
        "frozen": np.zeros((2, 3), "float32"),
    }
    np.testing.assert_array_equal(run_graph(d, args, params)[0], run_graph(g, args, params)[0])
    assert [v.name for v in d.outputs] == [v.name for v in g.outputs]


def test_dce_is_idempotent_and_keeps_everything_live():
    d = eliminate_dead_code(sample())
    again = eliminate_dead_code(d)
    assert [n.op for n in again.nodes] == [n.op for n in d.nodes]
    assert [v.name for v in again.values()] == [v.name for v in d.values()]


def test_multi_output_node_kept_whole_when_one_output_is_used():
    g = Graph()
    x = g.add_input("x", TensorType((4,), "float64"))
    b = Builder(g)
    first, _ = b.split(x, sizes=(1, 3), axis=0)
    g.set_outputs([first])
    d = eliminate_dead_code(g)
    assert [n.op for n in d.nodes] == ["split"] and len(d.nodes[0].outputs) == 2


def test_extract_cuts_at_given_inputs():
    g = sample()
    used = g.nodes[0].out
    part = extract(g, [g.outputs[0]], inputs=[used], name="tail")
    assert part.name == "tail" and [n.op for n in part.nodes] == ["add"]
    assert [v.name for v in part.inputs] == [used.name] and not part.params
    (out,) = run_graph(part, [np.full((2, 3), 3.0, "float32")])
    np.testing.assert_array_equal(out, np.full((2, 3), 5.0, "float32"))


def test_extract_refuses_values_it_cannot_compute():
    g = sample()
    with pytest.raises(GraphError, match="neither computed nor given"):
        extract(g, [g.outputs[0]], inputs=[g.inputs[0]])
    with pytest.raises(GraphError, match="not computed or given"):
        extract(g, [g.params[1]], inputs=[])
