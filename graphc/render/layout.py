"""Where each part of a graph goes in the picture: the cluster tree and collapsed module boxes.

A location is a tuple of cluster keys from the top of the picture down: an optional phase group
(`phase:backward`, `phase:optimizer`; only when the graph mixes phases), then one key per module
path prefix (`scope:forward/linear_relu_stack`, `scope:forward/linear_relu_stack.0`), then
`fused:<id>` for the members of a fused node. With `depth`, a module `depth` levels deep and
everything below it become one box, identified by `Box(phase, path)`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from graphc.render import style

ROOT: tuple[str, ...] = ()


def phase_of(meta: dict) -> str:
    phase = meta.get("phase", "forward")
    return phase if phase in style.PHASES else "forward"


def scope_parts(scope: str | None) -> list[str]:
    """Module path prefixes: 'a.b.c' -> ['a', 'a.b', 'a.b.c']; '' -> []."""
    if not scope:
        return []
    names = scope.split(".")
    return [".".join(names[: i + 1]) for i in range(len(names))]


@dataclass(frozen=True)
class Box:
    """A collapsed module: every op of `phase` under module `path`."""

    phase: str
    path: str


@dataclass
class Cluster:
    """One DOT cluster: its attributes, its vertices (id, attrs) and its child clusters."""

    label: str
    attrs: dict[str, str]
    vertices: list[tuple[str, dict]] = field(default_factory=list)
    children: dict[str, Cluster] = field(default_factory=dict)


class Placement:
    """Maps (phase, scope) to a location in the cluster tree, or to a collapsed Box."""

    def __init__(self, mixed_phases: bool, depth: int | None):
        if depth is not None and depth < 1:
            raise ValueError(f"depth must be >= 1 (or None for no collapsing), got {depth}")
        self.mixed = mixed_phases
        self.depth = depth

    def phase_prefix(self, phase: str) -> tuple[str, ...]:
        return (f"phase:{phase}",) if self.mixed and phase != "forward" else ROOT

    def place(self, phase: str, scope: str | None) -> tuple[tuple[str, ...], Box | None]:
        """(cluster location, Box or None): where a vertex of this phase and scope is drawn."""
        parts = scope_parts(scope)
        box = None
        if self.depth is not None and len(parts) >= self.depth:
            box = Box(phase, parts[self.depth - 1])
            parts = parts[: self.depth - 1]
        return self.phase_prefix(phase) + tuple(scope_key(phase, p) for p in parts), box


def cluster_for_key(key: str) -> tuple[str, dict[str, str]]:
    """Label and attributes of the cluster a location key names (fused clusters are made apart)."""
    kind, _, rest = key.partition(":")
    if kind == "phase":
        return rest, dict(style.PHASE_CLUSTER_ATTRS)
    phase, _, path = rest.partition("/")
    label = f"∇ {path}" if phase == "backward" else path
    return label, {**style.CLUSTER_ATTRS[phase], "tooltip": f"module {path} ({phase})"}


def scope_key(phase: str, path: str) -> str:
    return f"scope:{phase}/{path}"
