"""`plan_memory`: an analysis assigning every value of a graph its storage for one run.

Values live in *buffers*. A node's result gets a buffer in one arena, placed at an offset shared
with buffers whose lifetimes never overlap (greedy by size, as TFLite's planner); a view (reshape,
permute, slice) lives in the buffer of the value it views, keeping it alive; a result may take over
the buffer of an operand that dies at that node when the op can run in place; a training step's
new parameter or optimizer state is written straight into that state's own buffer (updated in
place) when every read of the old value comes first, otherwise copied there after the run. Results
of ops that cannot write into a given buffer are allocated by their kernel (`heap`). A fused node's
body is planned the same way: its results go into the fused node's buffers and its temporaries
into a workspace the arena holds only while the node runs.

The plan reports what the runtime and `graphc report` show: naive bytes (every value its own
buffer), the arena's size, the peak of live bytes and what is live there, saved-for-backward
bytes, the nodes that still allocate, and which updates run in place.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ir.graph import CONST, INPUT, PARAM, Graph, Node, Value

ALIGN = 64  # bytes: every arena offset is a multiple (cache lines, SIMD loads)
ARENA, HEAP, OUTPUT = "arena", "heap", "output"


@dataclass(eq=False)
class Buffer:
    """A piece of memory holding a sequence of values over [start, end] (schedule steps).

    kind: 'arena' (offset into the arena), 'heap' (allocated by its kernel), 'input', 'param',
    'const' (given from outside), 'output' (a fused body's result buffer, given by its node).
    """

    kind: str
    nbytes: int
    start: int
    end: int
    values: list = field(default_factory=list)
    offset: int | None = None
    index: int | None = None  # a body's output position, for kind 'output'

    @property
    def external(self) -> bool:
        return self.kind not in (ARENA, HEAP)


@dataclass
class Workspace:
    """Arena memory a node uses only while it runs: a fused body's temporaries (`body`, its own
    plan) or an op's scratch arrays (`scratch`, their types, laid out one after the other)."""

    nbytes: int
    offset: int = 0
    body: MemoryPlan | None = None
    scratch: tuple = ()

    def scratch_offsets(self) -> list[int]:
        offsets, at = [], self.offset
        for t in self.scratch:
            offsets.append(at)
            at += _aligned(t.nbytes)
        return offsets


@dataclass
class MemoryPlan:
    """Where every value lives in one run of `graph` (see the module docstring)."""

    graph: Graph
    buffer_of: dict[Value, Buffer]
    view_of: dict[Value, Value]  # a value that may view another -> that value
    arena_bytes: int
    workspaces: dict[Node, Workspace]  # nodes using arena memory only while they run
    in_place_updates: set[Value]  # parameters whose update is written straight into them
    copied_outputs: list[int]  # (bodies) outputs computed elsewhere, copied in at the end
    peak_step: int
    peak_bytes: int

    # -- figures -------------------------------------------------------------------------------
    @property
    def naive_bytes(self) -> int:
        """Bytes if every computed value (views aside) had its own buffer, fused bodies included."""
        total = 0
        for node in self.graph.nodes:
            if node.opdef.view is None:
                total += sum(v.type.nbytes for v in node.outputs)
            body = self.workspaces[node].body if node in self.workspaces else None
            if body is not None:
                total += body.naive_bytes - sum(v.type.nbytes for v in body.graph.outputs)
        return total

    @property
    def reuse_ratio(self) -> float:
        """Naive bytes over arena bytes: how many times over the arena's memory is reused."""
        return self.naive_bytes / self.arena_bytes if self.arena_bytes else 1.0

    def live_at(self, step: int) -> list[Buffer]:
        return [b for b in self._arena_buffers() if b.start <= step <= b.end]

    def live_at_peak(self) -> list[Value]:
        """The values whose buffers are live at the peak step (first value of each buffer)."""
        return [b.values[0] for b in self.live_at(self.peak_step) if b.values]

    def timeline(self) -> list[int]:
        """Live arena bytes at each step of the schedule."""
        steps = len(self.graph.nodes)
        change = [0] * (steps + 1)
        for buffer in self._arena_buffers():
            first, last = max(buffer.start, 0), min(buffer.end, steps - 1)
            if first <= last:
                change[first] += buffer.nbytes
                change[last + 1] -= buffer.nbytes
        live, total = [], 0
        for delta in change[:steps]:
            total += delta
            live.append(total)
        return live

    def saved(self) -> list[Value]:
        """The values the graph keeps for its backward part (`meta['saved']`), if any."""
        return list(self.graph.meta.get("saved", ()))

    @property
    def saved_bytes(self) -> int:
        return sum(v.type.nbytes for v in self.saved())

    def allocating_nodes(self) -> list[Node]:
        """Nodes whose results their kernels allocate every run (no write kernel)."""
        return [n for n in self.graph.nodes
                if any(self.buffer_of[v].kind == HEAP and v not in self.view_of
                       for v in n.outputs)]

    def _arena_buffers(self) -> list[Buffer]:
        seen, out = set(), []
        for buffer in self.buffer_of.values():
            if buffer.kind == ARENA and id(buffer) not in seen:
                seen.add(id(buffer))
                out.append(buffer)
        index = {node: t for t, node in enumerate(self.graph.nodes)}
        out += [Buffer(ARENA, w.nbytes, index[n], index[n], offset=w.offset)
                for n, w in self.workspaces.items() if w.nbytes]
        return out


def plan_memory(graph: Graph) -> MemoryPlan:
    """The memory plan of one run of `graph`, its nodes in their order."""
    return _Planner(graph).plan()


def plan_body(body: Graph, aliases: dict[int, int]) -> MemoryPlan:
    """The plan of a fused node's body whose output j is written over its input k for each
    j -> k in `aliases` (the node runs in place on that operand)."""
    return _Planner(body, aliases).plan()


class _Planner:
    def __init__(self, graph: Graph, aliases: dict[int, int] | None = None):
        self.graph = graph
        self.body = aliases is not None
        self.aliases = aliases or {}
        self.end = len(graph.nodes)  # the step after the last node: outputs are read there
        self.buffer_of: dict[Value, Buffer] = {}
        self.view_of: dict[Value, Value] = {}
        self.last_use = self._last_uses()
        self.pinned: dict[Value, Buffer] = {}  # results that should land in a given buffer
        self.workspaces: dict[Node, Workspace] = {}
        self.in_place_updates: set[Value] = set()
        self.copied_outputs: list[int] = []
        self.readers = graph.users()

    def _last_uses(self) -> dict[Value, int]:
        last = {v: -1 for v in self.graph.values()}
        for t, node in enumerate(self.graph.nodes):
            for value in node.inputs:
                last[value] = t
        for value in self.graph.outputs:
            last[value] = self.end
        for _, value in self.graph.updates:
            last[value] = self.end  # copied after the run, unless pinned below
        return last

    # -- the plan --------------------------------------------------------------------------------
    def plan(self) -> MemoryPlan:
        self._external_buffers()
        for t, node in enumerate(self.graph.nodes):
            self._place_node(t, node)
        self._finish_pins()
        arena_bytes = self._assign_offsets()
        plan = MemoryPlan(self.graph, self.buffer_of, self.view_of, arena_bytes,
                          self.workspaces, self.in_place_updates, self.copied_outputs, 0, 0)
        timeline = plan.timeline()
        if timeline:
            plan.peak_bytes = max(timeline)
            plan.peak_step = timeline.index(plan.peak_bytes)
        return plan

    def _external_buffers(self) -> None:
        g = self.graph
        for kind, values in ((INPUT, g.inputs), (PARAM, g.params), (CONST, g.constants)):
            for index, value in enumerate(values):
                self._new_buffer(value, kind, -1).index = index
        if self.body:
            for j, value in enumerate(g.outputs):
                if j in self.aliases:  # the node's output j is its operand k's memory
                    target = self.buffer_of[g.inputs[self.aliases[j]]]
                    target.kind, target.index = OUTPUT, j
                else:
                    target = Buffer(OUTPUT, value.type.nbytes, -1, self.end, index=j)
                self.pinned.setdefault(value, target)
        else:
            for param, value in g.updates:
                self.pinned.setdefault(value, self.buffer_of[param])

    def _new_buffer(self, value: Value, kind: str, start: int) -> Buffer:
        buffer = Buffer(kind, value.type.nbytes, start, max(start, self.last_use[value]))
        self._join(value, buffer)
        return buffer

    def _join(self, value: Value, buffer: Buffer) -> None:
        buffer.values.append(value)
        buffer.end = max(buffer.end, self.last_use[value])
        self.buffer_of[value] = buffer

    def _place_node(self, t: int, node: Node) -> None:
        opdef = node.opdef
        if opdef.view is not None:
            base = node.inputs[opdef.view]
            for value in node.outputs:
                self.view_of[value] = base
                self._join(value, self.buffer_of[base])
            return
        taken: set[int] = set()
        for j, value in enumerate(node.outputs):
            buffer = self._choose(t, node, j, value, taken)
            taken.add(id(buffer))
        if node.op == "fused":
            self._plan_workspace(node)
        elif node.opdef.scratch is not None:
            types = tuple(node.opdef.scratch(*(v.type for v in node.inputs), **node.attrs))
            if types:
                self.workspaces[node] = Workspace(sum(_aligned(t.nbytes) for t in types),
                                                  scratch=types)

    def _choose(self, t: int, node: Node, j: int, value: Value, taken: set) -> Buffer:
        """The buffer result j of `node` goes into: its pin, an operand's, or a new one."""
        if not self._writes(node):
            return self._new_buffer(value, HEAP, t)
        target = self._pin_target(value)
        if target is not None and id(target) not in taken and self._free_for(target, t, node, j):
            self._join(value, target)
            return target
        for k in self._inplace_inputs(node, j):
            operand = node.inputs[k]
            buffer = self.buffer_of[operand]
            if (buffer.kind == ARENA and id(buffer) not in taken and operand.type == value.type
                    and operand not in self.view_of and self._dies_at(buffer, t)
                    and self._only_operand(node, k, buffer)):
                self._join(value, buffer)
                return buffer
        return self._new_buffer(value, ARENA, t)

    @staticmethod
    def _writes(node: Node) -> bool:
        return node.op == "fused" or node.opdef.write is not None

    def _inplace_inputs(self, node: Node, j: int) -> tuple[int, ...]:
        if node.op == "fused":  # the body plan handles any aliasing (see plan_body)
            return tuple(range(len(node.inputs)))
        return node.opdef.inplace if j == 0 else ()

    def _pin_target(self, value: Value) -> Buffer | None:
        """Where `value` should land: its own pin, or the pin of the result its sole reader
        computes over it in place (so `relu(gemm(...))` runs the gemm straight into the relu's
        output buffer)."""
        for _ in range(len(self.graph.nodes)):
            if value in self.pinned:
                return self.pinned[value]
            readers = self.readers.get(value, [])
            if len(readers) != 1 or self.last_use[value] == self.end:
                return None
            reader = readers[0]
            positions = [k for k, v in enumerate(reader.inputs) if v is value]
            if (reader.op == "fused" or reader.opdef.write is None or len(positions) != 1
                    or positions[0] not in reader.opdef.inplace):
                return None
            if reader.outputs[0].type != value.type:
                return None
            value = reader.outputs[0]
        return None

    def _free_for(self, buffer: Buffer, t: int, node: Node, j: int) -> bool:
        """Whether result j of `node` (step t) may be written into `buffer` now: everything the
        buffer holds is dead by t, or read at t only as an operand the node overwrites in place."""
        if buffer.kind in (INPUT, CONST, HEAP):
            return False  # never write over a caller's input or a constant
        allowed = {node.inputs[k] for k in self._inplace_inputs(node, j)}
        for held in buffer.values:
            last = self.last_use[held]
            if last < t:
                continue
            if last == t and held in allowed and held not in self.view_of \
                    and held.type == node.outputs[j].type:
                continue
            return False
        return True

    def _dies_at(self, buffer: Buffer, t: int) -> bool:
        return all(self.last_use[v] <= t for v in buffer.values)

    def _only_operand(self, node: Node, k: int, buffer: Buffer) -> bool:
        """No other operand of `node` lives in `buffer` (unless it is the same value)."""
        own = node.inputs[k]
        return all(v is own or self.buffer_of.get(v) is not buffer for v in node.inputs)

    def _finish_pins(self) -> None:
        """Record which pins held; the others are copied after the run (or the body)."""
        g = self.graph
        if self.body:
            for j, value in enumerate(g.outputs):
                if self.buffer_of[value] is not self.pinned[value]:
                    self.copied_outputs.append(j)
            return
        for param, value in g.updates:
            if self.buffer_of[value] is self.buffer_of[param]:
                self.in_place_updates.add(param)

    def _plan_workspace(self, node: Node) -> None:
        body = node.attrs["body"]
        aliases = {}
        for j, value in enumerate(node.outputs):
            buffer = self.buffer_of[value]
            for k, operand in enumerate(node.inputs):
                if self.buffer_of.get(operand) is buffer and operand not in self.view_of:
                    aliases[j] = k
                    break
        body_plan = plan_body(body, aliases)
        self.workspaces[node] = Workspace(body_plan.arena_bytes, body=body_plan)

    # -- offsets -----------------------------------------------------------------------------------
    def _assign_offsets(self) -> int:
        """Greedy by size: each buffer at the lowest aligned offset clear of every placed buffer
        whose lifetime overlaps its own. Returns the arena's size."""
        index = {node: t for t, node in enumerate(self.graph.nodes)}
        items = []  # (nbytes, start, end, Buffer or Workspace)
        seen = set()
        for buffer in self.buffer_of.values():
            if buffer.kind == ARENA and id(buffer) not in seen:
                seen.add(id(buffer))
                items.append((buffer.nbytes, buffer.start, buffer.end, buffer))
        for node, workspace in self.workspaces.items():
            if workspace.nbytes:
                items.append((workspace.nbytes, index[node], index[node], workspace))
        items.sort(key=lambda item: (-item[0], item[1]))
        placed: list[tuple[int, int, int, int]] = []  # (offset, size, start, end)
        size = 0
        for nbytes, start, end, owner in items:
            offset = _lowest_offset(placed, _aligned(nbytes), start, end)
            placed.append((offset, _aligned(nbytes), start, end))
            size = max(size, offset + nbytes)
            owner.offset = offset
        return _aligned(size)


def _aligned(nbytes: int) -> int:
    return -(-nbytes // ALIGN) * ALIGN


def _lowest_offset(placed, nbytes: int, start: int, end: int) -> int:
    clashes = sorted((o, o + s) for o, s, a, b in placed if not (b < start or end < a))
    offset = 0
    for lo, hi in clashes:
        if offset + nbytes <= lo:
            break
        offset = max(offset, _aligned(hi))
    return offset
