"""The memory planner: reuse by liveness, views keeping their base alive, in-place results,
parameters updated in place only when every read of the old value comes first, fused bodies'
workspaces, and the figures the plan reports."""

from __future__ import annotations

import numpy as np

import ir
from passes.memory import ARENA, HEAP, plan_memory
from passes.pipeline import optimize
from runtime import Executable

F32 = "float32"


def chain(n: int = 6) -> ir.Graph:
    """x -> exp -> tanh -> ... : each value dies at the next node."""
    g = ir.Graph("chain")
    v = g.add_input("x", ir.TensorType((256,), F32))
    b = ir.Builder(g)
    for i in range(n):
        v = b.exp(v) if i % 2 else b.tanh(v)
    g.set_outputs([v])
    return g


def test_a_chain_runs_in_one_buffer_in_place():
    plan = plan_memory(chain())
    buffers = {id(plan.buffer_of[v]) for n in plan.graph.nodes for v in n.outputs}
    assert len(buffers) == 1
    assert plan.arena_bytes == 1024 and plan.naive_bytes == 6 * 1024
    assert plan.reuse_ratio == 6.0


def test_values_live_at_once_never_share_memory_and_views_keep_their_base():
    g = ir.Graph("views")
    x = g.add_input("x", ir.TensorType((4, 4), F32))
    b = ir.Builder(g)
    e = b.exp(x)
    t = b.permute(e, perm=(1, 0))  # a view of e: e stays alive while t is read
    s = b.sin(x)
    g.set_outputs([b.add(t, s)])
    plan = plan_memory(g)
    assert plan.view_of[t] is e and plan.buffer_of[t] is plan.buffer_of[e]
    assert plan.buffer_of[s] is not plan.buffer_of[e]
    be, bs = plan.buffer_of[e], plan.buffer_of[s]
    assert be.offset + be.nbytes <= bs.offset or bs.offset + bs.nbytes <= be.offset


def sgd_step(read_after: bool) -> ir.Graph:
    g = ir.Graph("sgd")
    grad = g.add_input("g", ir.TensorType((8,), F32))
    w = g.add_param("w", ir.TensorType((8,), F32))
    b = ir.Builder(g)
    new = b.sub(w, b.mul(grad, b.const(0.1, F32)))
    g.updates.append((w, new))
    # With read_after, the old w is read after the update was computed: no in-place write.
    g.set_outputs([b.sum(w, axes=None) if read_after else b.sum(new, axes=None)])
    return g


def test_parameters_update_in_place_only_after_every_read_of_the_old_value():
    plan = plan_memory(sgd_step(read_after=False))
    assert plan.in_place_updates == {plan.graph.param("w")}
    late = sgd_step(read_after=True)
    late.verify()
    plan = plan_memory(late)
    assert not plan.in_place_updates
    w = np.arange(8, dtype=F32)
    old = w.copy()
    (total,) = Executable(late, plan)([np.ones(8, F32)], {"w": w})
    assert total == old.sum()  # the sum read the old w
    np.testing.assert_allclose(w, old - 0.1)  # and w was updated after the run


def test_ops_without_a_write_kernel_allocate_and_are_reported():
    g = ir.Graph("sort")
    x = g.add_input("x", ir.TensorType((4, 3), F32))
    b = ir.Builder(g)
    g.set_outputs([b.exp(b.sort(x, axis=1)[0])])
    plan = plan_memory(g)
    assert [n.op for n in plan.allocating_nodes()] == ["sort"]
    assert plan.buffer_of[g.nodes[0].outputs[0]].kind == HEAP
    assert plan.buffer_of[g.nodes[1].out].kind == ARENA


def test_fused_bodies_get_workspaces_and_the_peak_is_attributed():
    g = chain(4)
    g.set_outputs([g.nodes[1].out, g.nodes[-1].out])
    fused = optimize(g, "fuse")
    plan = plan_memory(fused)
    (node,) = [n for n in fused.nodes if n.op == "fused"]
    assert node in plan.workspaces
    assert plan.peak_bytes == max(plan.timeline()) and plan.live_at_peak()
    x = np.linspace(-1, 1, 256, dtype=F32)
    got = Executable(fused, plan)([x], {})
    want = Executable(g, plan_memory(g))([x], {})
    for a, b in zip(got, want):
        np.testing.assert_array_equal(a, b)


def test_saved_for_backward_bytes_come_from_the_graph_meta():
    g = chain(2)
    g.meta["saved"] = [g.nodes[0].out]
    assert plan_memory(g).saved_bytes == 1024
