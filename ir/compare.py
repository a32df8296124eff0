"""Structural equality of graphs: what `graph == other` means.

Two graphs are equal when they have the same name and meta, the same leaves (names, types, kinds,
constant data), the same nodes in the same order (op, attrs, meta, output names and types, nested
subgraphs) wired the same way, and the same outputs and updates. `graph_difference` says where
they first differ, for test failures.
"""

from __future__ import annotations

import numpy as np

from ir.graph import Value


def graphs_equal(a, b) -> bool:
    return graph_difference(a, b) is None


def graph_difference(a, b) -> str | None:
    """A one-line description of the first difference between graphs `a` and `b`, or None."""
    if a.name != b.name:
        return f"graph names differ: {a.name!r} vs {b.name!r}"
    mapping: dict[int, object] = {}  # id(value in a) -> value in b
    for kind in ("inputs", "params", "constants"):
        va, vb = getattr(a, kind), getattr(b, kind)
        if len(va) != len(vb):
            return f"graph '{a.name}': {len(va)} vs {len(vb)} {kind}"
        for x, y in zip(va, vb):
            problem = _value_difference(x, y)
            if problem:
                return f"graph '{a.name}': {kind[:-1]} {problem}"
            mapping[id(x)] = y
    if len(a.nodes) != len(b.nodes):
        return f"graph '{a.name}': {len(a.nodes)} vs {len(b.nodes)} nodes"
    for i, (x, y) in enumerate(zip(a.nodes, b.nodes)):
        problem = _node_difference(x, y, mapping)
        if problem:
            return f"graph '{a.name}': node {i} ({x!r}): {problem}"
    if not same_data(_named(a.meta), _named(b.meta)):
        return f"graph '{a.name}': meta differs: {a.meta!r} vs {b.meta!r}"
    if not _same_values(a.outputs, b.outputs, mapping):
        return f"graph '{a.name}': outputs differ"
    if len(a.updates) != len(b.updates) or not all(
        _same_values(pa, pb, mapping) for pa, pb in zip(a.updates, b.updates)
    ):
        return f"graph '{a.name}': updates differ"
    return None


def _value_difference(x, y) -> str | None:
    if (x.name, x.kind, x.type) != (y.name, y.kind, y.type):
        return f"%{x.name}: {x.type} ({x.kind}) vs %{y.name}: {y.type} ({y.kind})"
    has_data = (x.data is not None, y.data is not None)
    if any(has_data) and (not all(has_data) or not same_array(x.data, y.data)):
        return f"%{x.name}: constant data differs"
    return None


def _node_difference(x, y, mapping: dict) -> str | None:
    if x.op != y.op:
        return f"op {x.op!r} vs {y.op!r}"
    if not same_data(_plain(x.attrs), _plain(y.attrs)):
        return f"attrs {x.attrs!r} vs {y.attrs!r}"
    if not same_data(_named(x.meta), _named(y.meta)):
        return f"meta {x.meta!r} vs {y.meta!r}"
    if not _same_values(x.inputs, y.inputs, mapping):
        return "operands differ"
    if len(x.outputs) != len(y.outputs):
        return f"{len(x.outputs)} vs {len(y.outputs)} results"
    for vx, vy in zip(x.outputs, y.outputs):
        problem = _value_difference(vx, vy)
        if problem:
            return f"result {problem}"
        mapping[id(vx)] = vy
    if (x.subgraph is None) != (y.subgraph is None):
        return "only one of them holds a subgraph"
    if x.subgraph is not None:
        return graph_difference(x.subgraph, y.subgraph)
    return None


def _plain(attrs: dict) -> dict:
    """Attributes without the fused body (compared as a graph on its own)."""
    return {k: v for k, v in attrs.items() if k != "body"}


def _named(meta: dict) -> dict:
    """Meta with each Value as ('%', name): references compare by the name they point to."""
    def plain(item):
        if isinstance(item, Value):
            return ("%", item.name)
        if isinstance(item, (list, tuple)):
            return type(item)(plain(v) for v in item)
        return item

    return {k: plain(v) for k, v in meta.items()}


def _same_values(xs, ys, mapping: dict) -> bool:
    return len(xs) == len(ys) and all(mapping.get(id(x)) is y for x, y in zip(xs, ys))


def same_array(x, y) -> bool:
    """Exact equality of dtype, shape and data; NaNs equal NaNs, -0.0 differs from 0.0."""
    x, y = np.asarray(x), np.asarray(y)
    if x.dtype != y.dtype or x.shape != y.shape:
        return False
    if x.dtype.kind != "f":
        return bool(np.array_equal(x, y))
    nan = np.isnan(x)
    return bool(
        np.array_equal(nan, np.isnan(y))
        and np.array_equal(x[~nan], y[~nan])
        and np.array_equal(np.signbit(x[~nan]), np.signbit(y[~nan]))
    )


def same_data(x, y) -> bool:
    """Equality of plain data that also tells bool from int from float and tuple from list."""
    if _kind(x) != _kind(y):
        return False
    if isinstance(x, dict):
        return x.keys() == y.keys() and all(same_data(x[k], y[k]) for k in x)
    if isinstance(x, (tuple, list)):
        return len(x) == len(y) and all(same_data(i, j) for i, j in zip(x, y))
    if _kind(x) == "float" and np.isnan(x):
        return bool(np.isnan(y))
    if isinstance(x, np.ndarray):
        return same_array(x, y)
    return bool(x == y)


def _kind(value) -> str:
    if isinstance(value, (bool, np.bool_)):
        return "bool"
    if isinstance(value, (int, np.integer)):
        return "int"
    if isinstance(value, (float, np.floating)):
        return "float"
    return type(value).__name__
