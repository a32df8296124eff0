"""The pass pipeline: levels and their spellings, pass lists, one-line errors, verification after
every pass naming the pass, timing and node counts per pass, IR dumps that parse back."""

from __future__ import annotations

import numpy as np
import pytest

import ir
from passes import pipeline
from passes.pipeline import LEVELS, PassError, normalize_level, pass_names, run_pipeline


def small_graph() -> ir.Graph:
    g = ir.Graph("small")
    x = g.add_input("x", ir.TensorType((4, 3), "float32"))
    w = g.add_param("w", ir.TensorType((2, 3), "float32"))
    b = ir.Builder(g, loc="model.py:3")
    one = b.const(1.0, "float32")
    h = b.mul(b.matmul(x, b.permute(w, perm=(1, 0))), one)
    g.set_outputs([b.relu(b.add(h, b.cast(b.mul(one, one), dtype="float32")))])
    return g


@pytest.mark.parametrize("spelling, level", [
    ("O0", "O0"), ("o1", "O1"), ("O2", "O2"), (0, "O0"), (2, "O2"), ("1", "O1"), ("-O2", "O2"),
])
def test_levels_as_users_spell_them(spelling, level):
    assert normalize_level(spelling) == level
    assert pass_names(spelling) == LEVELS[level]


def test_pass_lists_and_unknown_names_are_one_line_errors():
    assert pass_names("fold, cse,dce") == ("fold", "cse", "dce")
    for bad in ("O3", "fold,nope", ""):
        with pytest.raises(PassError) as info:
            pass_names(bad)
        message = str(info.value)
        assert "\n" not in message and "O0, O1, O2" in message and "fuse" in message
    with pytest.raises(PassError, match="must be a name"):
        pass_names(2.5)


def test_records_say_what_each_pass_did():
    result = run_pipeline(small_graph(), "O2", verify=True)
    assert [r.name for r in result.records] == list(LEVELS["O2"])
    first, last = result.records[0], result.records[-1]
    assert first.nodes_before == len(small_graph().nodes)
    assert last.nodes_after == len(result.graph.nodes) < first.nodes_before
    assert all(r.seconds >= 0 for r in result.records) and result.seconds < 1.0


def test_a_pass_that_breaks_the_graph_is_named_with_the_node_and_line(monkeypatch):
    def breaks(graph):
        g = graph.copy()
        g.nodes[0].inputs = g.nodes[0].inputs[::-1]  # permute reads its operands wrongly
        g.nodes[-1], g.nodes[0] = g.nodes[0], g.nodes[-1]
        return g

    monkeypatch.setitem(pipeline.PASSES, "breaks", breaks)
    with pytest.raises(PassError) as info:
        run_pipeline(small_graph(), "fold,breaks", verify=True)
    assert "pass 'breaks' broke the graph" in str(info.value)
    assert "model.py:3" in str(info.value)
    run_pipeline(small_graph(), "breaks", verify=False)  # unchecked when not asked to


def test_dumps_write_the_ir_after_each_pass_and_parse_back(tmp_path, monkeypatch):
    monkeypatch.setenv("GRAPHC_DUMP", str(tmp_path))
    result = run_pipeline(small_graph(), "O1")
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["00-input.ir", "01-fold.ir", "02-simplify.ir", "03-cse.ir", "04-dce.ir"]
    assert ir.parse((tmp_path / "04-dce.ir").read_text()) == result.graph


def test_o0_changes_nothing_and_o1_keeps_the_signature():
    g = small_graph()
    assert pipeline.optimize(g, "O0") is g
    o1 = pipeline.optimize(g, "O1")
    assert [v.name for v in o1.inputs] == ["x"] and [v.name for v in o1.params] == ["w"]
    x, w = np.ones((4, 3), np.float32), np.ones((2, 3), np.float32)
    from runtime import run_graph

    np.testing.assert_array_equal(run_graph(o1, [x], {"w": w})[0], run_graph(g, [x], {"w": w})[0])
