"""graphc.render: the DOT picture of forward, backward, training-step and fused graphs, and output."""

from __future__ import annotations

import importlib
import importlib.util
import re
from pathlib import Path

import numpy as np
import pytest

import ir
from graphc.render import output, style
from ir.graph import NODE
from ir.types import TensorType as T
from passes.autodiff import differentiate

# `graphc.render` is the function (graphc/__init__ re-exports it over the package name).
render_pkg = importlib.import_module("graphc.render")
render = render_pkg.render
to_dot_source = render_pkg.to_dot_source

FORWARD_FILL = style.KINDS["forward"][0]["fillcolor"]
BACKWARD_FILL = style.KINDS["backward"][0]["fillcolor"]
OPTIMIZER_FILL = style.KINDS["optimizer"][0]["fillcolor"]
MLP_MODULES = ["flatten", "linear_relu_stack", *(f"linear_relu_stack.{i}" for i in range(5))]


# -- graphs built by hand the way the tracer builds them -------------------------------------------
def mlp_forward(batch: int = 4) -> ir.Graph:
    """The quickstart NeuralNetwork as traced: flatten, then Linear/ReLU x2, Linear."""
    g = ir.Graph("NeuralNetwork")
    b = ir.Builder(g, phase="forward")
    x = g.add_input("x", T((batch, 1, 28, 28), "float32"))
    with b.meta(scope="flatten", loc="quickstart.py:18"):
        h = b.reshape(x, shape=(batch, 784))
    for i, (n_in, n_out) in enumerate([(784, 512), (512, 512), (512, 10)]):
        name = f"linear_relu_stack.{2 * i}"
        w = g.add_param(f"{name}.weight", T((n_out, n_in), "float32"))
        bias = g.add_param(f"{name}.bias", T((n_out,), "float32"))
        with b.meta(scope=name, loc="quickstart.py:20"):
            h = b.add(b.matmul(h, b.permute(w, perm=(1, 0))), bias)
        if i < 2:
            with b.meta(scope=f"linear_relu_stack.{2 * i + 1}", loc="quickstart.py:21"):
                h = b.maximum(h, b.scalar_like(0.0, h))
    g.set_outputs([h])
    return g


def with_loss(g: ir.Graph) -> ir.Graph:
    """Append a cross-entropy loss over one-hot labels (top-level ops, as a loss function adds)."""
    b = ir.Builder(g, phase="forward", loc="train.py:5")
    logits = g.outputs[0]
    n, k = logits.shape
    onehot = g.add_input("y", T((n, k), "float32"))
    lse = b.log(b.sum(b.exp(logits), axes=(1,), keepdims=True))
    total = b.sum(b.mul(onehot, b.sub(logits, lse)), axes=(0, 1), keepdims=False)
    g.set_outputs([b.div(b.neg(total), b.scalar_like(float(n), logits))])
    return g


def sgd_step(lr: float = 1e-3):
    """A whole training step: forward, loss, backward (autodiff) and SGD updates (phase optimizer)."""
    result = differentiate(with_loss(mlp_forward()))
    g = result.joint
    b = ir.Builder(g, phase="optimizer", loc="train.py:9")
    loss, grads = g.outputs[0], g.outputs[1:]
    for name, grad in zip(result.wrt, grads, strict=True):
        param = g.param(name)
        g.updates.append((param, b.sub(param, b.mul(b.scalar_like(lr, param), grad))))
    g.set_outputs([loss])
    return g, result


def fused_graph() -> ir.Graph:
    """x -> [mul, add, exp fused into one node] -> sum: a fused node built by hand; its
    subgraph's inputs/outputs stand for its own."""
    sub = ir.Graph("fused_body")
    sb = ir.Builder(sub, phase="forward")
    a = sub.add_input("a", T((4, 8), "float32"))
    c = sub.add_input("c", T((8,), "float32"))
    sub.set_outputs([sb.exp(sb.add(sb.mul(a, sb.scalar_like(2.0, a)), c))])

    g = ir.Graph("fused_demo")
    b = ir.Builder(g, phase="forward", scope="block")
    x = g.add_input("x", T((4, 8), "float32"))
    bias = g.add_param("block.bias", T((8,), "float32"))
    meta = {"phase": "forward", "scope": "block", "loc": "m.py:3"}
    node = g.add_node("fused", (x, bias), {"body": sub}, meta, names=["fused_out"])
    g.set_outputs([b.sum(node.out, axes=(1,), keepdims=False)])
    return g


# -- reading DOT back ------------------------------------------------------------------------------
ATTR = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|<.*>|[^\s\]]+)')


def attrs_of(text: str) -> dict[str, str]:
    return {k: v[1:-1] if v.startswith('"') else v for k, v in ATTR.findall(text)}


def parse_dot(source: str):
    """Vertices {id: attrs + 'clusters': labels of enclosing clusters}, edges, cluster labels."""
    vertices, edges, clusters, stack = {}, [], [], []
    for line in source.splitlines():  # the layout `graphviz` writes: one statement a line
        line = line.strip()
        if line.startswith("subgraph cluster_"):
            stack.append(None)
        elif line == "}" and stack:
            stack.pop()
        elif stack and stack[-1] is None and line.startswith(("color=", "label=", "style=")):
            label = attrs_of(line).get("label")
            stack[-1] = label
            clusters.append(label)
        elif m := re.match(r"^(\w+) -> (\w+) \[(.*)\]$", line):
            edges.append((m[1], m[2], attrs_of(m[3])))
        elif (m := re.match(r"^(\w+) \[(.*)\]$", line)) and m[1] not in ("graph", "node", "edge"):
            vertices[m[1]] = {**attrs_of(m[2]), "clusters": list(stack)}
    return vertices, edges, clusters


def ops(vertices, fill):
    """Op vertices (not the legend's samples) of one phase color."""
    return {k: v for k, v in vertices.items()
            if v.get("fillcolor") == fill and v["shape"] == "box" and not k.startswith("legend_")}


def drawn(vertices):
    return {k: v for k, v in vertices.items() if not k.startswith("legend_")}


def data_edges(edges):
    return [e for e in edges if not e[0].startswith("legend_")]


def labelled(vertices, text):
    return [k for k, v in vertices.items() if v.get("label", "").startswith(text)
            and not k.startswith("legend_")]


# -- forward --------------------------------------------------------------------------------------
def test_mlp_forward_one_cluster_per_module_and_every_op_drawn():
    g = mlp_forward()
    vertices, edges, clusters = parse_dot(to_dot_source(g))
    assert sorted(c for c in clusters if c != "legend") == sorted(MLP_MODULES)
    forward = ops(vertices, FORWARD_FILL)
    assert len(forward) == len(g.nodes) == 12
    # Each op sits in the cluster of its module, nested inside its parent's.
    matmuls = [v for v in forward.values() if v["label"].startswith("matmul")]
    assert [m["clusters"] for m in matmuls] == [
        ["linear_relu_stack", f"linear_relu_stack.{i}"] for i in (0, 2, 4)
    ]
    assert forward[labelled(vertices, "reshape")[0]]["clusters"] == ["flatten"]
    # Node label: op, output type; edge label: shape.
    assert matmuls[0]["label"] == "matmul\\nf32[4,512]"
    assert any(e[2].get("label") == "4×784" for e in edges)


def test_leaves_and_outputs_are_drawn_distinctly():
    vertices, _, _ = parse_dot(to_dot_source(mlp_forward()))
    shapes = {}
    for vid, v in vertices.items():
        if not vid.startswith("legend_"):
            shapes.setdefault(v["shape"], []).append(v["label"])
    assert shapes["invhouse"] == ["x\\nf32[4,1,28,28]"]
    params = sorted(label.split("\\n")[0] for label in shapes["cylinder"])
    assert params == sorted(f"linear_relu_stack.{i}.{p}" for i in (0, 2, 4)
                            for p in ("weight", "bias"))
    assert shapes["house"] == ["output 0: %12\\nf32[4,10]"]
    assert shapes["plaintext"] == ["0", "0"]  # the ReLUs' scalar zeros, beside their users
    assert {"graph input", "parameter", "forward op", "graph output"} <= {
        v["label"] for k, v in vertices.items() if k.startswith("legend_")
    }


def test_params_sit_in_their_module_cluster():
    vertices, _, _ = parse_dot(to_dot_source(mlp_forward()))
    (weight,) = [v for v in vertices.values() if v["label"].startswith("linear_relu_stack.2.weight")]
    assert weight["clusters"] == ["linear_relu_stack", "linear_relu_stack.2"]


def test_tooltip_shows_source_scope_and_attributes():
    vertices, _, _ = parse_dot(to_dot_source(mlp_forward()))
    (permute,) = [v for v in vertices.values() if v["label"].startswith("permute\\nf32[784,512]")]
    tip = permute["tooltip"]
    assert "at quickstart.py:20" in tip and "module: linear_relu_stack.0" in tip
    assert "perm = (1, 0)" in tip


# -- depth ---------------------------------------------------------------------------------------
def test_depth_one_collapses_top_level_modules():
    vertices, edges, clusters = parse_dot(to_dot_source(mlp_forward(), depth=1))
    assert [c for c in clusters if c != "legend"] == []
    boxes = {v["label"].split("\\n")[0]: v["label"] for k, v in vertices.items()
             if v.get("shape") == "box3d" and not k.startswith("legend_")}
    assert boxes == {
        "flatten": "flatten\\n1 op",
        "linear_relu_stack": "linear_relu_stack\\n11 ops\\n6 params (669,706)",
    }
    assert ops(vertices, FORWARD_FILL) == {}
    assert len(data_edges(edges)) == 3  # x -> flatten -> linear_relu_stack -> output


def test_depth_two_keeps_the_sequential_and_collapses_its_layers():
    vertices, _, clusters = parse_dot(to_dot_source(mlp_forward(), depth=2))
    assert [c for c in clusters if c != "legend"] == ["flatten", "linear_relu_stack"]
    boxes = [v for k, v in vertices.items() if v.get("shape") == "box3d" and "legend" not in k]
    assert sorted(b["label"].split("\\n")[0] for b in boxes) == [
        f"linear_relu_stack.{i}" for i in range(5)
    ]
    assert all(b["clusters"] == ["linear_relu_stack"] for b in boxes)
    assert labelled(vertices, "reshape")  # flatten is one level deep: drawn op by op


def test_depth_must_be_positive():
    with pytest.raises(ValueError, match="depth"):
        to_dot_source(mlp_forward(), depth=0)


# -- training step: phases, saved values, links, updates -----------------------------------------------
def test_training_step_colors_each_phase():
    g, _ = sgd_step()
    vertices, _, clusters = parse_dot(to_dot_source(g))
    phase_count = {p: sum(n.meta["phase"] == p for n in g.nodes) for p in style.PHASES}
    assert len(ops(vertices, FORWARD_FILL)) == phase_count["forward"]
    assert len(ops(vertices, BACKWARD_FILL)) == phase_count["backward"] > 0
    assert len(ops(vertices, OPTIMIZER_FILL)) == phase_count["optimizer"] == 12
    assert {"backward", "optimizer", "∇ linear_relu_stack.0"} <= set(clusters)
    backward = ops(vertices, BACKWARD_FILL)
    assert all(v["clusters"][0] == "backward" for v in backward.values())
    updates = [v["label"] for v in drawn(vertices).values() if v["shape"] == "cds"]
    assert sorted(updates) == sorted(f"→ {p.name}" for p in g.params)


def test_saved_values_are_marked():
    g, result = sgd_step()
    vertices, _, _ = parse_dot(to_dot_source(g))
    marked = {k for k, v in vertices.items()
              if v.get("peripheries") == "2" and not k.startswith("legend_")}
    by_name = {v.name: v for v in g.values()}
    saved = [by_name[name] for name in result.saved]
    # One mark per vertex holding a saved value: leaves, or the node defining it.
    expected = {v.node if v.kind == NODE else v for v in saved}
    assert len(marked) == len(expected) > 0
    labels = {vertices[k]["label"].split("\\n")[0] for k in marked}
    assert "saved %y" in labels and "maximum" in labels


def test_backward_ops_link_to_the_forward_op_they_differentiate():
    g, _ = sgd_step()
    vertices, edges, _ = parse_dot(to_dot_source(g))
    links = [e for e in edges if e[2].get("style") == "dashed"]
    forward, backward = ops(vertices, FORWARD_FILL), ops(vertices, BACKWARD_FILL)
    assert links and all(src in forward and dst in backward for src, dst, _ in links)
    assert all(e[2]["constraint"] == "false" for e in links)
    differentiated = {n.meta["grad_of"] for n in g.nodes if n.meta.get("grad_of")}
    assert len(links) == len(differentiated)


def test_joint_graph_draws_gradients_flowing_upward():
    g, _ = sgd_step()
    vertices, edges, _ = parse_dot(to_dot_source(g))
    backward = ops(vertices, BACKWARD_FILL)
    inner = [e for e in edges if e[0] in backward and e[1] in backward]
    assert inner and all(e[2].get("dir") == "back" for e in inner)


def test_backward_graph_alone():
    _, result = sgd_step()
    vertices, _, clusters = parse_dot(to_dot_source(result.backward))
    assert len(ops(vertices, BACKWARD_FILL)) == len(result.backward.nodes)
    assert "∇ linear_relu_stack.2" in clusters and "backward" not in clusters
    saved_inputs = [v for v in vertices.values()
                    if v.get("shape") == "invhouse" and v.get("peripheries") == "2"]
    assert len(saved_inputs) == len(result.saved)


def test_training_step_collapsed_keeps_phases_apart():
    g, _ = sgd_step()
    vertices, edges, _ = parse_dot(to_dot_source(g, depth=1))
    boxes = {v["label"].split("\\n")[0]: k for k, v in vertices.items()
             if v.get("shape") == "box3d" and "legend" not in k}
    assert set(boxes) == {"flatten", "linear_relu_stack", "∇ linear_relu_stack"}
    assert "saves" in vertices[boxes["linear_relu_stack"]]["label"]
    # Parallel values between two boxes share one edge.
    pairs = [(s, d) for s, d, a in edges if a.get("style") != "dashed"]
    assert len(pairs) == len(set(pairs))
    assert (boxes["linear_relu_stack"], boxes["∇ linear_relu_stack"]) in {
        (s, d) for s, d, a in edges if a.get("style") == "dashed"
    }


# -- fused nodes and memory plans ------------------------------------------------------------------
def test_fused_node_is_a_cluster_of_its_members():
    vertices, edges, clusters = parse_dot(to_dot_source(fused_graph()))
    assert "fused · 3 ops" in clusters
    members = {k: v for k, v in vertices.items() if "fused · 3 ops" in v["clusters"]}
    assert sorted(v["label"].split("\\n")[0] for v in members.values()) == [
        "2", "add", "exp", "mul",
    ]
    assert all(v["clusters"] == ["block", "fused · 3 ops"] for v in members.values())
    by_label = {v["label"].split("\\n")[0]: k for k, v in vertices.items()}
    # The outer x feeds the member mul; the member exp feeds the outer sum.
    assert (by_label["x"], by_label["mul"]) in {(s, d) for s, d, _ in edges}
    assert (by_label["exp"], by_label["sum"]) in {(s, d) for s, d, _ in edges}
    assert (by_label["block.bias"], by_label["add"]) in {(s, d) for s, d, _ in edges}


def test_fused_node_counts_its_members_when_collapsed():
    vertices, _, _ = parse_dot(to_dot_source(fused_graph(), depth=1))
    (box,) = [v for k, v in vertices.items() if v.get("shape") == "box3d" and "legend" not in k]
    assert box["label"] == "block\\n4 ops\\n1 params (8)"


class Plan:
    """A memory plan as the future planning pass will give it: buffer per value, a peak."""

    def __init__(self, graph):
        self.buffers = {v.name: i % 3 for i, v in enumerate(n.out for n in graph.nodes)}
        self.peak_bytes = 3 * 1024 * 1024

    def buffer_of(self, name):
        return self.buffers.get(name)


def test_memory_plan_shows_buffers_and_peak():
    g = mlp_forward()
    assert isinstance(Plan(g), render_pkg.MemoryPlanLike)
    source = to_dot_source(g, plan=Plan(g), title="quickstart")
    vertices, _, _ = parse_dot(source)
    forward = ops(vertices, FORWARD_FILL)
    assert all(re.search(r"\\nbuf [0-2]$", v["label"]) for v in forward.values())
    assert "quickstart\\n12 ops" in source and "planned peak 3.0 MiB" in source
    params = [v for v in drawn(vertices).values() if v["shape"] == "cylinder"]
    assert len(params) == 6 and all(v["label"].endswith("buf -") for v in params)


# -- output formats ------------------------------------------------------------------------------
@pytest.fixture
def no_dot(monkeypatch):
    monkeypatch.setattr(output.shutil, "which", lambda name: None)


def test_svg_renders_without_the_dot_binary(tmp_path, no_dot):
    assert output.find_dot() is None
    path = render(mlp_forward(), tmp_path / "forward.svg")
    svg = path.read_text()
    assert path == tmp_path / "forward.svg"
    assert svg.lstrip().startswith("<?xml") and "</svg>" in svg
    assert svg.count('class="cluster"') >= len(MLP_MODULES)
    assert "at quickstart.py:20" in svg  # tooltips survive into the SVG


def test_dot_binary_is_used_when_present(tmp_path, monkeypatch):
    fake = tmp_path / "dot"
    fake.write_text("#!/bin/sh\nread -r first\necho \"<svg>$1 $first</svg>\"\n")
    fake.chmod(0o755)
    monkeypatch.setattr(output.shutil, "which", lambda name: str(fake))
    path = render(mlp_forward(), tmp_path / "out.png")
    assert path.read_text().strip() == "<svg>-Tpng digraph NeuralNetwork {</svg>"


def test_dot_file_and_unknown_suffix(tmp_path):
    path = render(mlp_forward(), tmp_path / "sub" / "g.dot")
    assert path.read_text().startswith("digraph NeuralNetwork {")
    with pytest.raises(ValueError, match="suffix"):
        render(mlp_forward(), tmp_path / "g.jpeg")


def test_png_without_dot_is_a_clear_error(tmp_path, no_dot):
    with pytest.raises(render_pkg.RenderError, match="needs the Graphviz `dot` binary"):
        render(mlp_forward(), tmp_path / "g.png")
    assert not (tmp_path / "g.png").exists()


def test_labels_are_escaped(tmp_path):
    g = ir.Graph("odd")
    x = g.add_input("x", T((2,), "float32"))
    node = g.add_node("neg", [x], meta={"loc": "C:\\models\\<stdin>:3", "scope": "a"})
    g.set_outputs([node.out])
    source = to_dot_source(g, title="<odd> & \\ title")
    assert "C:\\\\models\\\\<stdin>:3" in source
    render(g, tmp_path / "odd.svg")  # a parse error would raise RenderError


# -- large graphs ----------------------------------------------------------------------------------
def deep_graph(blocks: int, width: int = 16) -> ir.Graph:
    """Residual MLP blocks nested two modules deep: 10 ops per block."""
    g = ir.Graph("deep")
    b = ir.Builder(g, phase="forward", loc="deep.py:1")
    h = g.add_input("x", T((8, width), "float32"))
    for i in range(blocks):
        prefix = f"layers.{i}"
        w1 = g.add_param(f"{prefix}.fc1.weight", T((width, width), "float32"))
        w2 = g.add_param(f"{prefix}.fc2.weight", T((width, width), "float32"))
        with b.meta(scope=f"{prefix}.fc1"):
            a = b.matmul(h, b.permute(w1, perm=(1, 0)))
        with b.meta(scope=f"{prefix}.act"):
            a = b.maximum(a, b.scalar_like(0.0, a))
        with b.meta(scope=f"{prefix}.fc2"):
            a = b.matmul(a, b.permute(w2, perm=(1, 0)))
        with b.meta(scope=f"{prefix}.norm"):
            a = b.sub(a, b.sum(a, axes=(1,), keepdims=True))
            a = b.mul(a, b.tanh(a))
        with b.meta(scope=prefix):
            h = b.add(h, a)
    g.set_outputs([h])
    return g


def test_a_500_node_graph_renders_in_full_and_collapsed(tmp_path, no_dot):
    g = deep_graph(50)
    assert len(g.nodes) == 500
    full = render(g, tmp_path / "full.svg").read_text()
    assert full.count('class="node"') > 500
    vertices, _, _ = parse_dot(to_dot_source(g, depth=1))
    (box,) = [v for k, v in vertices.items() if v.get("shape") == "box3d" and "legend" not in k]
    assert box["label"] == "layers\\n500 ops\\n100 params (25,600)"
    two = parse_dot(to_dot_source(g, depth=2))[0]
    assert len([k for k, v in two.items() if v.get("shape") == "box3d"]) == 50 + 1  # + legend
    render(g, tmp_path / "depth2.svg", depth=2)


def test_unused_leaves_are_counted_not_drawn():
    g = mlp_forward()
    g.add_input("optimizer.0.weight.fresh", T((), "float64"))
    vertices, _, _ = parse_dot(source := to_dot_source(g))
    assert not labelled(vertices, "optimizer.0.weight.fresh")
    assert "· 1 unused inputs not drawn" in source


def test_render_accepts_str_paths(tmp_path):
    path = render(mlp_forward(), str(tmp_path / "g.dot"))
    assert path.exists()


def test_labels_are_compact():
    assert style.format_scalar(np.asarray(0.001, dtype="float32")) == "0.001"
    assert style.shape_label(T((), "float32")) == "scalar"
    assert style.shape_label(T((4, 2), "int64")) == "4×2 i64"
    assert style.format_bytes(1536) == "1.5 KiB"


# -- the tutorial MLP through the real front end -------------------------------------------------------
@pytest.fixture(scope="module")
def quickstart():
    import graphc
    from graphc import nn, optim

    spec = importlib.util.spec_from_file_location(
        "render_examples_models", Path(__file__).resolve().parents[2] / "examples" / "models.py"
    )
    models = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(models)
    model = models.NeuralNetwork()
    x, y = graphc.spec((64, 1, 28, 28), "float32"), graphc.spec((64,), "int64")
    step = graphc.compile_train_step(
        model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=1e-3), x, y
    )
    return graphc.trace(model, x), step


def test_traced_quickstart_forward(quickstart):
    forward, _ = quickstart
    vertices, _, clusters = parse_dot(to_dot_source(forward))
    assert sorted(c for c in clusters if c != "legend") == sorted(MLP_MODULES)
    assert len(ops(vertices, FORWARD_FILL)) == len(forward.nodes)
    params = [v["label"].split("\\n")[0] for v in drawn(vertices).values()
              if v["shape"] == "cylinder"]
    assert sorted(params) == sorted(p.name for p in forward.params)
    (reshape,) = [v for v in ops(vertices, FORWARD_FILL).values() if v["clusters"] == ["flatten"]]
    assert "models.py:" in reshape["tooltip"]


def test_traced_quickstart_training_step(quickstart):
    _, step = quickstart
    graph = step.source_graph  # as traced and differentiated (O0)
    vertices, edges, clusters = parse_dot(to_dot_source(graph))
    phases = {p: sum(n.meta.get("phase") == p for n in graph.nodes) for p in style.PHASES}
    assert phases["backward"] and phases["optimizer"]
    assert len(ops(vertices, FORWARD_FILL)) == phases["forward"]
    assert len(ops(vertices, BACKWARD_FILL)) == phases["backward"]
    assert len(ops(vertices, OPTIMIZER_FILL)) == phases["optimizer"]
    assert {f"∇ linear_relu_stack.{i}" for i in range(5)} <= set(clusters)
    marked = [k for k, v in drawn(vertices).items() if v.get("peripheries") == "2"]
    assert len(marked) == len(graph.meta["saved"])
    assert any(a.get("style") == "dashed" for _, _, a in edges)
    updates = sorted(v["label"] for v in drawn(vertices).values() if v["shape"] == "cds")
    assert updates == sorted(f"→ {p.name}" for p, _ in graph.updates)
    backward = parse_dot(to_dot_source(step.backward_graph))[0]
    assert len(ops(backward, BACKWARD_FILL)) == len(step.backward_graph.nodes)


def test_optimized_training_step_draws_fused_kernels_as_clusters(quickstart):
    _, step = quickstart
    graph = step.graph  # O2
    fused = [n for n in graph.nodes if n.op == "fused"]
    assert fused
    _, _, clusters = parse_dot(to_dot_source(graph))
    fused_clusters = [c for c in clusters if c.startswith("fused ·")]
    assert len(fused_clusters) == len(fused)
