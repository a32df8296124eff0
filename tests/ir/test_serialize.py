"""JSON save/load round-trips graphs exactly; bad documents give clear errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

import ir


@pytest.mark.parametrize("seed", range(10))
def test_random_graphs_roundtrip_through_json(seed, make_random_graph, tmp_path):
    graph = make_random_graph(np.random.default_rng(seed), n_nodes=15)
    assert ir.from_json(json.loads(json.dumps(ir.to_json(graph)))) == graph
    path = tmp_path / "g.json"
    ir.save_json(graph, path)
    loaded = ir.load_json(path)
    assert loaded == graph
    assert str(loaded) == str(graph)
    loaded.verify()


def test_fused_and_special_values_roundtrip(fused_graph, tmp_path):
    fused_graph.meta["extra"] = {"k": (1.5, float("-inf"), [None, True]), 2: "two"}
    fused_graph.nodes[0].meta["tags"] = (float("nan"),)
    fused_graph.add_constant(np.array([np.nan, -0.0, 1e-45], dtype=np.float32), name="odd")
    ir.save_json(fused_graph, tmp_path / "f.json")
    loaded = ir.load_json(tmp_path / "f.json")
    assert loaded == fused_graph
    assert loaded.meta["extra"][2] == "two"
    assert loaded.nodes[1].subgraph == fused_graph.nodes[1].subgraph


def test_save_is_atomic_and_leaves_no_temp_files(fused_graph, tmp_path):
    path = tmp_path / "g.json"
    path.write_text("old")
    fused_graph.meta["bad"] = object()
    with pytest.raises(TypeError):
        ir.save_json(fused_graph, path)
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["g.json"]


def test_bad_documents(tmp_path, fused_graph):
    path = tmp_path / "bad.json"
    path.write_text("{not json")
    with pytest.raises(ir.ParseError, match="not valid JSON"):
        ir.load_json(path)
    with pytest.raises(ir.ParseError, match="not a graphc IR document"):
        ir.from_json({"format": "other"})
    data = ir.to_json(fused_graph)
    data["version"] = 99
    with pytest.raises(ir.ParseError, match="version 99"):
        ir.from_json(data)
    data = ir.to_json(fused_graph)
    data["nodes"][0]["inputs"] = ["ghost"]
    with pytest.raises(ir.ParseError, match="%ghost is used before its definition"):
        ir.from_json(data)
