"""The static IR: SSA `Value`s, `Node`s and the `Graph` that holds them in topological order."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator

import numpy as np

from ir.errors import ShapeError
from ir.ops.registry import get_op
from ir.types import TensorType

INPUT, PARAM, CONST, NODE = "input", "param", "const", "node"


class Value:
    """A tensor defined exactly once: by a graph input, a parameter, a constant or a node output.

    `kind` says which; `node`/`index` locate the defining node for node outputs; `data` holds the
    array of a constant.
    """

    __slots__ = ("__weakref__", "data", "index", "kind", "name", "node", "type")

    def __init__(self, type: TensorType, name: str, kind: str, node=None, index=0, data=None):
        self.type, self.name, self.kind = type, name, kind
        self.node, self.index, self.data = node, index, data

    @property
    def shape(self) -> tuple[int, ...]:
        return self.type.shape

    @property
    def dtype(self) -> str:
        return self.type.dtype

    def __repr__(self) -> str:
        return f"%{self.name}: {self.type}"


class Node:
    """One op application: `op` name, input Values, plain hashable `attrs`, output Values, `meta`.

    `meta` carries `loc` (the user's `file:line`), `scope` (module path such as
    `linear_relu_stack.0`), `phase` (forward/backward/optimizer), `grad_of` (the forward Value a
    backward node helps differentiate) and free-form pass annotations. A fused node holds its
    subgraph as the attribute `body`.
    """

    __slots__ = ("attrs", "inputs", "meta", "op", "outputs")

    def __init__(self, op: str, inputs, attrs: dict, meta: dict | None = None):
        self.op = op
        self.inputs = tuple(inputs)
        self.attrs = dict(attrs)
        self.outputs: tuple[Value, ...] = ()
        self.meta = dict(meta or {})

    @property
    def out(self) -> Value:
        """The single output of a one-output node."""
        (value,) = self.outputs
        return value

    @property
    def opdef(self):
        return get_op(self.op)

    @property
    def subgraph(self) -> Graph | None:
        """The body of a fused node (its `body` attribute), else None."""
        return self.attrs.get("body")

    def __repr__(self) -> str:
        outs = ", ".join(f"%{v.name}" for v in self.outputs)
        ins = ", ".join(f"%{v.name}" for v in self.inputs)
        return f"{outs} = {self.op}({ins})"


def describe_location(meta: dict) -> str:
    """' at file:line (in module.path)' for error messages, or '' when unknown."""
    text = f" at {meta['loc']}" if meta.get("loc") else ""
    return text + (f" (in {meta['scope']})" if meta.get("scope") else "")


def remap_meta(meta: dict, env: dict) -> dict:
    """`meta` with every Value in it (alone, or in a list/tuple) replaced through `env`.

    Values `env` does not map are dropped: a reference never points outside its graph.
    """
    out = {}
    for key, item in meta.items():
        if isinstance(item, Value):
            if item in env:
                out[key] = env[item]
        elif isinstance(item, (list, tuple)) and any(isinstance(v, Value) for v in item):
            out[key] = type(item)(env[v] for v in item if not isinstance(v, Value) or v in env)
        else:
            out[key] = list(item) if isinstance(item, list) else item
    return out


def meta_values(meta: dict) -> Iterator[Value]:
    """The Values a meta dict refers to."""
    for item in meta.values():
        if isinstance(item, Value):
            yield item
        elif isinstance(item, (list, tuple)):
            yield from (v for v in item if isinstance(v, Value))


class Graph:
    """A flat SSA graph: inputs, parameters, constants, nodes in topological order, outputs.

    `updates` lists (parameter, new value) pairs: state a run writes back (a training step's new
    parameters and optimizer state). `meta` holds graph-level annotations; it refers to values by
    the Values themselves: `saved` (the values the backward pass reads) and `random_keys` (inputs
    that take a fresh random key each run).
    """

    def __init__(self, name: str = "graph"):
        self.name = name
        self.inputs: list[Value] = []
        self.params: list[Value] = []
        self.constants: list[Value] = []
        self.nodes: list[Node] = []
        self.outputs: list[Value] = []
        self.updates: list[tuple[Value, Value]] = []
        self.meta: dict = {}
        self._names: dict[str, Value | None] = {}
        self._counter = itertools.count()

    # -- construction --------------------------------------------------------------------------
    def fresh_name(self, hint: str | None = None) -> str:
        """A name not used in this graph: `hint` itself if free, else `hint.N` / a number."""
        if hint and hint not in self._names:
            return hint
        while True:
            n = next(self._counter)
            name = f"{hint}.{n}" if hint else str(n)
            if name not in self._names:
                return name

    def _new_value(self, type, name, kind, **kw) -> Value:
        value = Value(type, self.fresh_name(name), kind, **kw)
        self._names[value.name] = value
        return value

    def claim_name(self, value: Value, name: str) -> None:
        """Name `value` exactly `name` (a user's name), renaming a generated value that has it.

        Raises ValueError when a parameter or input already holds the name.
        """
        holder = self._names.get(name)
        if holder is value:
            return
        if holder is not None and holder.kind in (INPUT, PARAM):
            raise ValueError(f"graph '{self.name}' already has a value named '{name}'")
        if holder is not None:
            holder.name = self.fresh_name(name)
            self._names[holder.name] = holder
        if self._names.get(value.name) is value:
            del self._names[value.name]
        value.name = name
        self._names[name] = value

    def add_input(self, name: str, type: TensorType) -> Value:
        value = self._new_value(type, name, INPUT)
        self.inputs.append(value)
        return value

    def add_param(self, name: str, type: TensorType) -> Value:
        value = Value(type, name, PARAM)
        self.claim_name(value, name)
        self.params.append(value)
        return value

    def add_constant(self, array, name: str | None = None) -> Value:
        array = np.asarray(array)
        value = self._new_value(TensorType.of(array), name or "c", CONST, data=array)
        self.constants.append(value)
        return value

    def make_node(self, op: str, inputs, attrs=None, meta=None, names=None) -> Node:
        """A node of this graph, checked and typed, not yet placed in `nodes`.

        A ShapeError names the op, the operand types and the user's location from `meta`.
        """
        meta = dict(meta or {})
        inputs = tuple(inputs)
        opdef = get_op(op)
        try:
            attrs = opdef.check_attrs(dict(attrs or {}))
            types = opdef.infer([v.type for v in inputs], attrs)
        except ShapeError as err:
            operands = ", ".join(str(v.type) for v in inputs)
            raise ShapeError(f"{op}({operands}): {err}{describe_location(meta)}") from None
        node = Node(op, inputs, attrs, meta)
        names = names or [None] * len(types)
        node.outputs = tuple(
            self._new_value(t, n, NODE, node=node, index=i) for i, (t, n) in enumerate(zip(types, names))
        )
        return node

    def add_node(self, op: str, inputs, attrs=None, meta=None, names=None) -> Node:
        """Append a node after checking its attributes and inferring its output types."""
        node = self.make_node(op, inputs, attrs, meta, names)
        self.nodes.append(node)
        return node

    def clone_node(self, node: Node, inputs) -> Node:
        """Append a copy of `node` (of any graph) reading `inputs`, with its results' names and
        types as they are: no shape rule runs (the caller vouches the operands' types match)."""
        copy = Node(node.op, inputs, node.attrs, node.meta)
        copy.outputs = tuple(self._new_value(v.type, v.name, NODE, node=copy, index=v.index)
                             for v in node.outputs)
        self.nodes.append(copy)
        return copy

    def insert_node(self, op: str, inputs, attrs=None, meta=None, *, before: Node) -> Node:
        """Insert a new node just before `before` (which must be in this graph)."""
        node = self.make_node(op, inputs, attrs, meta)
        self.nodes.insert(self.nodes.index(before), node)
        return node

    def set_outputs(self, outputs: Iterable[Value]) -> None:
        self.outputs = list(outputs)

    # -- editing -------------------------------------------------------------------------------
    def replace_all_uses(self, old: Value, new: Value) -> None:
        """Make every reader of `old` (nodes, outputs, updates, meta) read `new` instead."""
        self.replace_uses({old: new})

    def replace_uses(self, mapping: dict[Value, Value]) -> None:
        """Replace values by others everywhere they are read, in one sweep.

        Chains resolve (a -> b and b -> c make a read c); types must match.
        """
        def resolve(value: Value) -> Value:
            seen = 0
            while value in mapping and seen <= len(mapping):
                value, seen = mapping[value], seen + 1
            return value

        resolved = {}
        for old in mapping:
            new = resolved[old] = resolve(old)
            if old.type != new.type:
                raise ShapeError(f"cannot replace %{old.name}: {old.type} by %{new.name}: {new.type}")
        if not resolved:
            return
        for node in self.nodes:
            if any(v in resolved for v in node.inputs):
                node.inputs = tuple(resolved.get(v, v) for v in node.inputs)
        self.outputs = [resolved.get(v, v) for v in self.outputs]
        self.updates = [(p, resolved.get(v, v)) for p, v in self.updates]
        env = {v: v for v in self.values()} | resolved
        self.meta = remap_meta(self.meta, env)
        for node in self.nodes:
            if node.meta and any(True for _ in meta_values(node.meta)):
                node.meta = remap_meta(node.meta, env)

    def remove_unused_nodes(self) -> int:
        """Drop nodes none of whose results is read (nodes, outputs, updates) and constants no
        node reads; return how many nodes went."""
        live = set(self.outputs) | {v for pair in self.updates for v in pair}
        kept = []
        for node in reversed(self.nodes):
            if any(v in live for v in node.outputs):
                kept.append(node)
                live.update(node.inputs)
        removed = len(self.nodes) - len(kept)
        self.nodes = kept[::-1]
        self.constants = [c for c in self.constants if c in live]
        self.prune_meta()
        return removed

    def prune_meta(self) -> None:
        """Drop meta references (graph and node meta) to values no longer in the graph."""
        present = {v: v for v in self.values()}
        self.meta = remap_meta(self.meta, present)
        for node in self.nodes:
            if node.meta and any(True for _ in meta_values(node.meta)):
                node.meta = remap_meta(node.meta, present)

    def copy(self, name: str | None = None) -> Graph:
        """An independent copy: new Values and Nodes, same names, types, attrs and meta."""
        new = Graph(self.name if name is None else name)
        env: dict[Value, Value] = {}
        for value in self.inputs:
            env[value] = new.add_input(value.name, value.type)
        for value in self.params:
            env[value] = new.add_param(value.name, value.type)
        for value in self.constants:
            env[value] = new.add_constant(value.data, value.name)
        for node in self.nodes:
            copy = new.clone_node(node, [env[v] for v in node.inputs])
            env.update(zip(node.outputs, copy.outputs))
        for node in new.nodes:
            node.meta = remap_meta(node.meta, env)
        new.outputs = [env[v] for v in self.outputs]
        new.updates = [(env[p], env[v]) for p, v in self.updates]
        new.meta = remap_meta(self.meta, env)
        return new

    # -- queries -------------------------------------------------------------------------------
    def leaves(self) -> list[Value]:
        """Inputs, parameters and constants: the values no node defines."""
        return [*self.inputs, *self.params, *self.constants]

    def values(self) -> Iterator[Value]:
        yield from self.leaves()
        for node in self.nodes:
            yield from node.outputs

    def users(self) -> dict[Value, list[Node]]:
        """Map each value to the nodes that read it (computed now, never cached)."""
        users: dict[Value, list[Node]] = {v: [] for v in self.values()}
        for node in self.nodes:
            for value in node.inputs:
                users.setdefault(value, []).append(node)
        return users

    @property
    def random_keys(self) -> list[Value]:
        """The inputs that take a fresh random key on every run."""
        return list(self.meta.get("random_keys", ()))

    def user_inputs(self) -> list[Value]:
        """The inputs a caller gives: all but the random keys, which the runtime feeds."""
        keys = set(self.random_keys)
        return [v for v in self.inputs if v not in keys]

    def param(self, name: str) -> Value:
        for value in self.params:
            if value.name == name:
                return value
        raise KeyError(f"graph '{self.name}' has no parameter '{name}'")

    def to_networkx(self):
        """A `networkx.MultiDiGraph` with one vertex per node and per leaf value, edges by data flow.

        Vertices are the Node and leaf Value objects themselves; edges carry `value` (the Value).
        """
        import networkx as nx

        g = nx.MultiDiGraph(name=self.name)
        for value in self.leaves():
            g.add_node(value, kind=value.kind, label=value.name)
        for node in self.nodes:
            g.add_node(node, kind="node", label=node.op)
            for value in node.inputs:
                source = value.node if value.kind == "node" else value
                g.add_edge(source, node, value=value)
        return g

    def verify(self) -> Graph:
        """Check SSA, types, topological order and attributes; raise VerifyError naming the node."""
        from ir.verify import verify

        verify(self)
        return self

    def __str__(self) -> str:
        from ir.printer import print_graph

        return print_graph(self)

    def __eq__(self, other) -> bool:
        """Structural equality (see ir/compare.py): names, types, ops, attrs, wiring, data, meta."""
        from ir.compare import graphs_equal

        return graphs_equal(self, other) if isinstance(other, Graph) else NotImplemented

    # Graphs are mutable; hashing stays by identity so they still work as cache keys (two equal
    # but distinct graphs are then two keys, which is what a cache of compiled graphs wants).
    __hash__ = object.__hash__

    def __repr__(self) -> str:
        return f"<Graph '{self.name}': {len(self.nodes)} nodes, {len(self.inputs)} inputs, " \
               f"{len(self.params)} params, {len(self.outputs)} outputs>"
