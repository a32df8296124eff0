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
    `linear_relu_stack.0`), `phase` (forward/backward/optimizer) and free-form pass annotations.
    A fused node holds its `subgraph`.
    """

    __slots__ = ("attrs", "inputs", "meta", "op", "outputs", "subgraph")

    def __init__(self, op: str, inputs, attrs: dict, meta: dict | None = None, subgraph=None):
        self.op = op
        self.inputs = tuple(inputs)
        self.attrs = dict(attrs)
        self.outputs: tuple[Value, ...] = ()
        self.meta = dict(meta or {})
        self.subgraph = subgraph

    @property
    def out(self) -> Value:
        """The single output of a one-output node."""
        (value,) = self.outputs
        return value

    @property
    def opdef(self):
        return get_op(self.op)

    def __repr__(self) -> str:
        outs = ", ".join(f"%{v.name}" for v in self.outputs)
        ins = ", ".join(f"%{v.name}" for v in self.inputs)
        return f"{outs} = {self.op}({ins})"


def describe_location(meta: dict) -> str:
    """' at file:line (in module.path)' for error messages, or '' when unknown."""
    text = f" at {meta['loc']}" if meta.get("loc") else ""
    return text + (f" (in {meta['scope']})" if meta.get("scope") else "")


class Graph:
    """A flat SSA graph: inputs, parameters, constants, nodes in topological order, outputs.

    `updates` lists (parameter, new value) pairs: state a run writes back (a training step's new
    parameters and optimizer state). `meta` holds graph-level annotations: `saved` (names of values
    the backward pass reads), `random_keys` (names of inputs that take a fresh random key each run).
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
        self._names: set[str] = set()
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
        name = self.fresh_name(name)
        self._names.add(name)
        return Value(type, name, kind, **kw)

    def add_input(self, name: str, type: TensorType) -> Value:
        value = self._new_value(type, name, INPUT)
        self.inputs.append(value)
        return value

    def add_param(self, name: str, type: TensorType) -> Value:
        if name in self._names:
            raise ValueError(f"graph '{self.name}' already has a value named '{name}'")
        value = self._new_value(type, name, PARAM)
        self.params.append(value)
        return value

    def add_constant(self, array, name: str | None = None) -> Value:
        array = np.asarray(array)
        value = self._new_value(TensorType.of(array), name or "c", CONST, data=array)
        self.constants.append(value)
        return value

    def add_node(self, op: str, inputs, attrs=None, meta=None, subgraph=None, names=None) -> Node:
        """Append a node after checking its attributes and inferring its output types.

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
        node = Node(op, inputs, attrs, meta, subgraph)
        names = names or [None] * len(types)
        node.outputs = tuple(
            self._new_value(t, n, NODE, node=node, index=i) for i, (t, n) in enumerate(zip(types, names))
        )
        self.nodes.append(node)
        return node

    def set_outputs(self, outputs: Iterable[Value]) -> None:
        self.outputs = list(outputs)

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
