"""Build the DOT picture of an `ir.Graph` with the `graphviz` package.

Each op is a vertex labelled with its op and output type; edges carry the shape of the value they
move. Inputs, parameters (by state_dict name), constants, scalar constants and outputs have their
own shapes; ops are clustered by module path and colored by phase (forward, backward, optimizer).
Backward ops sit in `∇ module` clusters with a dashed link from the forward op they differentiate;
values saved for backward get a double amber border; a fused node (one whose `subgraph` is a Graph)
is a cluster of its members, its subgraph inputs/outputs standing for the node's own, by position.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import graphviz

from graphc.render import layout, style
from graphc.render.layout import Box, Cluster, Placement
from ir.graph import CONST, INPUT, NODE, PARAM, Graph, Node, Value
from ir.ops.registry import COLLECTIVE


@runtime_checkable
class MemoryPlanLike(Protocol):
    """What the renderer reads from a memory plan: each value's buffer and the planned peak."""

    peak_bytes: int

    def buffer_of(self, value_name: str) -> int | None: ...


def text(*lines: str) -> str:
    """A DOT escString of `lines` (each may hold newlines); backslashes and `<...>` are literal."""
    lines = [part for line in lines if line for part in line.split("\n")]
    return graphviz.nohtml("\\n".join(line.replace("\\", "\\\\") for line in lines))


def is_scalar(value: Value) -> bool:
    return value.kind == CONST and value.type.size == 1


class Drawing:
    """Collects vertices (placed in clusters), edges and the kinds used; `emit.to_dot` emits them."""

    def __init__(self, graph: Graph, depth: int | None, plan: MemoryPlanLike | None):
        self.graph, self.plan = graph, plan
        phases = {layout.phase_of(n.meta) for n in graph.nodes}
        self.placement = Placement(len(phases) > 1, depth)
        self.saved = set(graph.meta.get("saved", ()))
        self.root = Cluster("", {})
        self.endpoint: dict[Value, str] = {}  # which vertex stands for a value in the picture
        self.edges: dict[tuple[str, str], dict] = {}  # (src, dst) -> values it carries, attrs
        self.kinds_used: set[str] = set()
        self.unused: list[Value] = []  # leaves nothing reads: counted in the title, not drawn
        self.boxes: dict[Box, dict] = {}
        self.grad_links: set[tuple[str, str]] = set()
        self.flows_up: set[str] = set()  # vertices of a joint graph's backward part (see `edge`)
        self._ids = 0

    # -- vertices --------------------------------------------------------------------------------
    def new_id(self, prefix: str) -> str:
        self._ids += 1
        return f"{prefix}{self._ids}"

    def cluster(self, location: tuple[str, ...]) -> Cluster:
        cluster = self.root
        for key in location:
            if key not in cluster.children:
                label, attrs = layout.cluster_for_key(key)
                cluster.children[key] = Cluster(label, attrs)
            cluster = cluster.children[key]
        return cluster

    def vertex(self, location, kind: str, label: str, tooltip: str, phase: str = "", **extra) -> str:
        vid = self.new_id(kind[0])
        attrs = {**style.kind_attrs(kind), "label": label, "tooltip": text(tooltip), **extra}
        self.cluster(location).vertices.append((vid, attrs))
        self.kinds_used.add(kind)
        if phase == "backward" and self.placement.mixed:
            self.flows_up.add(vid)
        return vid

    def box(self, location, box: Box) -> str:
        """The vertex of a collapsed module, made on first use (`finish_boxes` writes its label)."""
        if box not in self.boxes:
            vid = self.new_id("m")
            attrs = style.kind_attrs("module")
            self.cluster(location).vertices.append((vid, attrs))
            self.kinds_used.add("module")
            self.boxes[box] = {"id": vid, "attrs": attrs, "ops": 0, "params": [], "saved": 0}
            if box.phase == "backward" and self.placement.mixed:
                self.flows_up.add(vid)
        return self.boxes[box]["id"]

    def buffers(self, values) -> str:
        if self.plan is None:
            return ""
        ids = [self.plan.buffer_of(v.name) for v in values]
        return "buf " + ",".join("-" if i is None else str(i) for i in ids)

    def mark_saved(self, attrs: dict, values) -> None:
        if any(v in self.saved for v in values):
            attrs.update(style.SAVED_ATTRS)
            self.kinds_used.add("saved")

    # -- edges -----------------------------------------------------------------------------------
    def edge(self, src: str, dst: str, value: Value, **attrs) -> None:
        """Connect two vertices; the values one pair of vertices exchanges share one edge."""
        if src == dst:
            return  # both ends inside one collapsed module
        if src in self.flows_up and dst in self.flows_up:
            # In a joint graph, gradients flow upward beside the forward ops they mirror: the edge
            # is declared reversed (so dot ranks it upward) and drawn with its arrow at `dst`.
            src, dst, attrs = dst, src, {**attrs, "dir": "back"}
        entry = self.edges.setdefault((src, dst), {"values": [], "attrs": attrs})
        if value not in entry["values"]:
            entry["values"].append(value)


def node_tooltip(node: Node) -> str:
    meta = node.meta
    lines = [
        f"{node.op}  ->  " + ", ".join(f"%{v.name}: {v.type}" for v in node.outputs),
        f"at {meta['loc']}" if meta.get("loc") else "source: unknown",
        f"module: {meta['scope']}" if meta.get("scope") else "",
        f"phase: {layout.phase_of(meta)}",
        f"gradient of %{meta['grad_of'].name}" if meta.get("grad_of") else "",
    ]
    lines += [f"{key} = {value!r}" for key, value in sorted(node.attrs.items())]
    return "\n".join(line for line in lines if line)


class GraphDrawing(Drawing):
    """Walks a graph: leaves, nodes (boxes and fused clusters included), outputs, updates, links."""

    def __init__(self, graph: Graph, depth: int | None, plan: MemoryPlanLike | None):
        super().__init__(graph, depth, plan)
        self.alias: dict[Value, Value] = {}  # a fused subgraph's input -> the outer value
        self.backward_of: list[tuple[Value, str]] = []  # (grad_of, backward vertex), in order
        self.known_scopes: dict[str, set[str]] = {}  # phase -> module paths its ops run in

    def draw(self) -> None:
        graph = self.graph
        users = graph.users()
        for node in graph.nodes:
            scopes = self.known_scopes.setdefault(layout.phase_of(node.meta), set())
            scopes.update(layout.scope_parts(node.meta.get("scope")))
            # Declare clusters in the order their ops come, whatever the leaves inside them.
            if not isinstance(node.subgraph, Graph):
                phase, scope = layout.phase_of(node.meta), node.meta.get("scope")
                self.cluster(self.placement.place(phase, scope)[0])
        outputs = set(graph.outputs)
        for value in graph.leaves():
            if users.get(value) or value in outputs:
                self.draw_leaf(value, users[value])
            else:  # e.g. an optimizer's first-step flag its update rule ignores: noise in a picture
                self.unused.append(value)
        for node in graph.nodes:
            self.draw_node(node, None)
        self.draw_outputs()
        self.draw_grad_links()
        self.finish_boxes()

    def resolve(self, value: Value) -> Value:
        while value in self.alias:
            value = self.alias[value]
        return value

    # -- leaves ----------------------------------------------------------------------------------
    def leaf_home(self, value: Value, users: list[Node]) -> tuple[str, str | None]:
        """(phase, module path) a leaf belongs to: a parameter or input by its name's longest module
        prefix (state_dict names; an optimizer's `optimizer.<param>.<slot>` state and hyper-parameter
        inputs), a constant by its first user."""
        if users:
            phases = [layout.phase_of(users[0].meta)]
        else:  # an unused leaf (an optimizer flag its update ignores): any phase that fits
            phases = [p for p in style.PHASES if p in self.known_scopes] or ["forward"]
        if value.kind not in (PARAM, INPUT):
            return phases[0], (users[0].meta.get("scope") if users else None)
        prefixes = layout.scope_parts(value.name)[:-1]
        homes = [(len(p), phase, p) for phase in phases for p in prefixes
                 if p in self.known_scopes.get(phase, ())]
        if not homes:
            return phases[0], None
        _, phase, path = max(homes)
        return phase, path

    def draw_leaf(self, value: Value, users: list[Node], location=None) -> None:
        if is_scalar(value):
            return  # drawn beside each user
        if location is None:
            phase, scope = self.leaf_home(value, users)
            location, box = self.placement.place(phase, scope)
            if box is not None:
                vid = self.box(location, box)
                if value.kind == PARAM:
                    self.boxes[box]["params"].append(value)
                self.endpoint[value] = vid
                return
        kind = {INPUT: "input", PARAM: "param", CONST: "const"}[value.kind]
        name = f"const %{value.name}" if value.kind == CONST else value.name
        if value.kind == INPUT and value in self.saved:
            name = f"saved %{value.name}"  # a backward graph's inputs: what the forward kept
        label = text(style.short(name, 48), style.type_label(value.type), self.buffers([value]))
        attrs = {}
        self.mark_saved(attrs, [value])
        tip = f"{kind} %{value.name}: {value.type}"
        self.endpoint[value] = self.vertex(location or layout.ROOT, kind, label, tip, **attrs)

    def scalar_source(self, value: Value, location, phase: str) -> str:
        """A scalar constant is drawn small beside its user rather than as a shared vertex."""
        label = text(style.format_scalar(value.data))
        tip = f"constant %{value.name}: {value.type}"
        return self.vertex(location, "scalar", label, tip, phase=phase)

    # -- nodes -----------------------------------------------------------------------------------
    def draw_node(self, node: Node, fused_location, fused_phase: str = "forward") -> None:
        # Members of a fused node without a phase of their own take the fused node's.
        phase = layout.phase_of(node.meta) if "phase" in node.meta else fused_phase
        if fused_location is None:
            location, box = self.placement.place(phase, node.meta.get("scope"))
        else:
            location, box = fused_location, None
        if box is not None:
            vid = self.box(location, box)
            info = self.boxes[box]
            info["ops"] += count_ops(node)
            info["saved"] += sum(v in self.saved for v in node.outputs)
            self.connect(node, vid, location, phase, inside_box=True)
        elif isinstance(node.subgraph, Graph):
            self.draw_fused(node, location)
            return
        else:
            label = text(
                node.op,
                ", ".join(style.type_label(v.type) for v in node.outputs),
                self.buffers(node.outputs),
            )
            attrs = {}
            self.mark_saved(attrs, node.outputs)
            kind = "collective" if node.opdef.has(COLLECTIVE) else phase
            vid = self.vertex(location, kind, label, node_tooltip(node), phase, **attrs)
            self.connect(node, vid, location, phase, inside_box=False)
        for value in node.outputs:
            self.endpoint[value] = vid
        if phase == "backward" and node.meta.get("grad_of"):
            self.backward_of.append((node.meta["grad_of"], vid))

    def connect(self, node: Node, vid: str, location, phase: str, inside_box: bool) -> None:
        for value in node.inputs:
            value = self.resolve(value)
            if is_scalar(value):
                if not inside_box:
                    self.edge(self.scalar_source(value, location, phase), vid, value)
            elif value in self.endpoint:
                self.edge(self.endpoint[value], vid, value)

    def draw_fused(self, node: Node, location) -> None:
        sub = node.subgraph
        key = self.new_id("fused:")
        members = count_ops(node)
        tip = node_tooltip(node)
        self.cluster(location).children[key] = Cluster(
            f"{node.op} · {members} ops", {**style.FUSED_ATTRS, "tooltip": text(tip)}
        )
        self.kinds_used.add("fused")
        inner = location + (key,)
        for sub_input, outer in zip(sub.inputs, node.inputs, strict=True):
            self.alias[sub_input] = outer
        users = sub.users()
        for value in [*sub.params, *sub.constants]:
            self.draw_leaf(value, users.get(value, []), inner)
        for member in sub.nodes:
            self.draw_node(member, inner, layout.phase_of(node.meta))
        for outer, inner_value in zip(node.outputs, sub.outputs, strict=True):
            inner_value = self.resolve(inner_value)
            if inner_value in self.endpoint:
                self.endpoint[outer] = self.endpoint[inner_value]

    # -- outputs, updates, links -------------------------------------------------------------------
    def draw_outputs(self) -> None:
        for i, value in enumerate(self.graph.outputs):
            name = style.short(value.name, 32)
            label = text(f"output {i}: %{name}", style.type_label(value.type))
            vid = self.vertex(layout.ROOT, "output", label, f"graph output {i}: %{value.name}")
            self.link_value(value, vid, layout.ROOT)
        for param, new in self.graph.updates:
            phase = layout.phase_of(new.node.meta) if new.kind == NODE else "forward"
            location = self.placement.phase_prefix(phase)
            label = text(f"→ {style.short(param.name, 44)}")
            tip = f"update: %{param.name} := %{new.name} ({param.type})"
            vid = self.vertex(location, "update", label, tip)
            self.link_value(new, vid, location, **style.UPDATE_EDGE_ATTRS)

    def link_value(self, value: Value, vid: str, location, **attrs) -> None:
        value = self.resolve(value)
        if is_scalar(value):
            source = self.scalar_source(value, location, "")
        else:
            source = self.endpoint[value]
        self.edge(source, vid, value, **attrs)

    def draw_grad_links(self) -> None:
        done: set[Value] = set()
        for value, vid in self.backward_of:
            if value in done or value.kind != NODE:
                continue
            if layout.phase_of(value.node.meta) != "forward" or value not in self.endpoint:
                continue
            done.add(value)
            if self.endpoint[value] != vid:
                self.grad_links.add((self.endpoint[value], vid))
        if self.grad_links:
            self.kinds_used.add("grad_link")

    def finish_boxes(self) -> None:
        for box, info in self.boxes.items():
            name = box.path if box.phase != "backward" else f"∇ {box.path}"
            params = info["params"]
            count = sum(p.type.size for p in params)
            ops = info["ops"]
            lines = [name, f"{ops} op" if ops == 1 else f"{ops} ops"]
            if params:
                lines.append(f"{len(params)} params ({style.format_count(count)})")
            if info["saved"]:
                lines.append(f"saves {info['saved']} for backward")
                info["attrs"].update(style.SAVED_ATTRS)
                self.kinds_used.add("saved")
            tip = [f"module {box.path} ({box.phase}), collapsed"]
            tip += [f"{p.name}: {p.type}" for p in params]
            info["attrs"].update(label=text(*lines), tooltip=text("\n".join(tip)))


def count_ops(node: Node) -> int:
    """A node counts as one op; a fused node as the ops it holds."""
    if isinstance(node.subgraph, Graph):
        return sum(count_ops(member) for member in node.subgraph.nodes)
    return 1
