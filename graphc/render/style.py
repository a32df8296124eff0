"""How each kind of thing in a graph picture looks: colors, shapes and compact labels."""

from __future__ import annotations

from ir.types import SHORT_NAMES, TensorType

FONT = "Helvetica"

GRAPH_ATTRS = {
    "rankdir": "TB",
    "newrank": "true",
    "fontname": FONT,
    "fontsize": "11",
    "labelloc": "t",
    "nodesep": "0.25",
    "ranksep": "0.35",
    "outputorder": "edgesfirst",
}
NODE_ATTRS = {"fontname": FONT, "fontsize": "10", "height": "0.3", "margin": "0.08,0.03"}
EDGE_ATTRS = {"fontname": FONT, "fontsize": "8", "color": "#555555", "arrowsize": "0.6"}

# One entry per kind of vertex: DOT attributes, and the words the legend uses for it.
KINDS: dict[str, tuple[dict[str, str], str]] = {
    "input": ({"shape": "invhouse", "style": "filled", "fillcolor": "#c8e6c9"}, "graph input"),
    "param": ({"shape": "cylinder", "style": "filled", "fillcolor": "#ffe9a8"}, "parameter"),
    "const": ({"shape": "note", "style": "filled", "fillcolor": "#eeeeee"}, "constant"),
    "scalar": (
        {"shape": "plaintext", "fontsize": "8", "fontcolor": "#777777", "height": "0.15"},
        "scalar constant",
    ),
    "output": (
        {"shape": "house", "style": "filled,bold", "fillcolor": "#bbdefb", "color": "#1565c0"},
        "graph output",
    ),
    "forward": (
        {"shape": "box", "style": "rounded,filled", "fillcolor": "#ffffff", "color": "#1565c0"},
        "forward op",
    ),
    "backward": (
        {"shape": "box", "style": "rounded,filled", "fillcolor": "#ffd9d6", "color": "#c62828"},
        "backward op",
    ),
    "optimizer": (
        {"shape": "box", "style": "rounded,filled", "fillcolor": "#e4d7f5", "color": "#6a1b9a"},
        "optimizer op",
    ),
    "collective": (
        {"shape": "hexagon", "style": "filled,bold", "fillcolor": "#ffcc80", "color": "#e65100",
         "penwidth": "1.6"},
        "collective (all-reduce)",
    ),
    "update": (
        {"shape": "cds", "style": "filled", "fillcolor": "#e4d7f5", "color": "#6a1b9a"},
        "state update",
    ),
    "module": (
        {"shape": "box3d", "style": "filled", "fillcolor": "#f1f3f4", "color": "#455a64"},
        "collapsed module",
    ),
}
PHASES = ("forward", "backward", "optimizer")

# Values the backward pass reads: a second, thick border in amber.
SAVED_ATTRS = {"peripheries": "2", "color": "#ef6c00", "penwidth": "1.6"}
SAVED_LEGEND = "saved for backward"

# Dashed, non-constraining link from a forward op to the backward ops its gradient rule emitted.
GRAD_LINK_ATTRS = {
    "style": "dashed", "color": "#c62828", "constraint": "false", "arrowhead": "none",
    "penwidth": "0.8",
}
UPDATE_EDGE_ATTRS = {"color": "#6a1b9a", "style": "bold"}

# Cluster background per phase (module clusters), and for fused nodes.
CLUSTER_ATTRS = {
    "forward": {"style": "rounded,filled", "fillcolor": "#f4f8fd", "color": "#90a4ae"},
    "backward": {"style": "rounded,filled", "fillcolor": "#fdf1f0", "color": "#e57373"},
    "optimizer": {"style": "rounded,filled", "fillcolor": "#f6f1fb", "color": "#9575cd"},
}
PHASE_CLUSTER_ATTRS = {"style": "dashed", "color": "#9e9e9e", "fontsize": "12"}
FUSED_ATTRS = {"style": "dashed,filled", "fillcolor": "#fffde7", "color": "#f9a825",
               "penwidth": "1.5"}


def kind_attrs(kind: str) -> dict[str, str]:
    return dict(KINDS[kind][0])


def type_label(type: TensorType) -> str:
    """`f32[64,512]`; a scalar is `f32[]`."""
    return str(type)


def shape_label(type: TensorType) -> str:
    """Edge label: `64×512`, `scalar` for 0-d, with the dtype only when not float32."""
    text = "×".join(map(str, type.shape)) if type.shape else "scalar"
    return text if type.dtype == "float32" else f"{text} {SHORT_NAMES[type.dtype]}"


def short(text: str, limit: int = 40) -> str:
    """Keep labels compact: long names keep their tail (the informative end of a module path)."""
    return text if len(text) <= limit else "…" + text[-(limit - 1):]


def format_scalar(array) -> str:
    value = array.reshape(()).item() if array.size == 1 else array
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def format_bytes(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


def format_count(n: int) -> str:
    return f"{n:,}"
