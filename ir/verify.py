"""`verify(graph)`: check the IR invariants and raise a VerifyError that names the broken node.

Checked: leaves are well-formed (kinds, constant data matching their types); SSA (each Value defined
once, names unique); every operand defined earlier in the same graph (topological order, no values
from other graphs); each op exists, its attributes pass the op's schema, and the stored result types
equal what its shape rule infers; a fused node's body is verified in turn; outputs, updates and the
Values that graph and node meta refer to (`saved`, `random_keys`, `grad_of`) belong to the graph.
"""

from __future__ import annotations

from ir.errors import ShapeError, VerifyError
from ir.graph import CONST, INPUT, NODE, PARAM, Value, describe_location, meta_values
from ir.ops.registry import OPS
from ir.types import TensorType

__all__ = ["VerifyError", "verify"]


def verify(graph) -> None:
    """Raise VerifyError on the first broken invariant of `graph` (and its nested subgraphs)."""
    _Verifier(graph).run()


class _Verifier:
    def __init__(self, graph):
        self.graph = graph
        self.defined: set[int] = set()  # ids of values defined so far, in order
        self.names: set[str] = set()
        # Every value the graph defines anywhere: tells use-before-definition from foreign values.
        self.all_values = {id(v) for v in graph.leaves()}
        self.all_values |= {id(v) for node in graph.nodes for v in node.outputs}

    def fail(self, message: str, node=None):
        where = f"graph '{self.graph.name}'"
        if node is not None:
            where += f": {node!r}{describe_location(node.meta)}"
        raise VerifyError(f"{where}: {message}")

    def run(self) -> None:
        for kind, values in ((INPUT, self.graph.inputs), (PARAM, self.graph.params),
                             (CONST, self.graph.constants)):
            for value in values:
                self.check_leaf(value, kind)
        for node in self.graph.nodes:
            self.check_node(node)
        self.check_outputs()

    def define(self, value, node=None) -> None:
        if not isinstance(getattr(value, "type", None), TensorType):
            self.fail(f"value {value!r} has no TensorType", node)
        if id(value) in self.defined:
            self.fail(f"%{value.name} is defined twice", node)
        if value.name in self.names:
            self.fail(f"name %{value.name} is used by two different values", node)
        self.defined.add(id(value))
        self.names.add(value.name)

    def check_leaf(self, value, kind: str) -> None:
        if value.kind != kind:
            self.fail(f"%{value.name} is listed as {kind} but has kind '{value.kind}'")
        self.define(value)
        if kind == CONST:
            data = value.data
            if data is None or TensorType.of(data) != value.type:
                got = "no data" if data is None else f"data {TensorType.of(data)}"
                self.fail(f"constant %{value.name}: {value.type} holds {got}")

    def check_node(self, node) -> None:
        for value in node.inputs:
            self.check_use(value, node, "operand")
        types = self.inferred_types(node)
        if node.subgraph is not None:
            try:
                verify(node.subgraph)
            except VerifyError as err:
                self.fail(f"in its subgraph: {err}", node)
        if len(types) != len(node.outputs):
            self.fail(f"has {len(node.outputs)} result(s), its op gives {len(types)}", node)
        for i, (value, expected) in enumerate(zip(node.outputs, types)):
            if value.kind != NODE or value.node is not node or value.index != i:
                self.fail(f"result %{value.name} does not point back to this node as result {i}",
                          node)
            if value.type != expected:
                self.fail(f"result %{value.name} is stored as {value.type}, "
                          f"but {node.op} gives {expected}", node)
            self.define(value, node)

    def check_use(self, value, node, role: str) -> None:
        if id(value) in self.defined:
            return
        name = getattr(value, "name", value)
        if id(value) in self.all_values:
            self.fail(f"{role} %{name} is used before its definition{self.cycle_hint()}", node)
        self.fail(f"{role} %{name} is not defined in this graph (a value of another graph?)", node)

    def inferred_types(self, node) -> tuple:
        opdef = OPS.get(node.op)
        if opdef is None:
            self.fail(f"unknown op '{node.op}'", node)
        try:
            attrs = opdef.check_attrs(dict(node.attrs))
        except ShapeError as err:
            self.fail(f"bad attribute: {err}", node)
        try:
            return opdef.infer([v.type for v in node.inputs], attrs)
        except ShapeError as err:
            operands = ", ".join(str(v.type) for v in node.inputs)
            self.fail(f"operand types ({operands}) do not fit: {err}", node)

    def cycle_hint(self) -> str:
        import networkx as nx

        try:
            cycle = nx.find_cycle(self.graph.to_networkx())
        except (nx.NetworkXNoCycle, AttributeError, KeyError):
            return ""
        ops = " -> ".join(getattr(edge[0], "op", "?") for edge in cycle)
        return f" (the graph has a cycle: {ops})"

    def check_outputs(self) -> None:
        for value in self.graph.outputs:
            if id(value) not in self.defined:
                self.fail(f"output %{getattr(value, 'name', value)} is not defined in this graph")
        params = {id(v) for v in self.graph.params}
        updated = set()
        for param, new in self.graph.updates:
            if id(param) not in params:
                self.fail(f"update target %{param.name} is not a parameter of this graph")
            if id(param) in updated:
                self.fail(f"parameter %{param.name} is updated twice")
            updated.add(id(param))
            if id(new) not in self.defined:
                self.fail(f"update of %{param.name} reads %{new.name}, not defined in this graph")
            if new.type != param.type:
                self.fail(f"update of %{param.name}: {param.type} with %{new.name}: {new.type}")
        self.check_meta()

    def check_meta(self) -> None:
        inputs = set(self.graph.inputs)
        for key in ("random_keys", "saved"):
            for value in self.graph.meta.get(key, ()):
                if not isinstance(value, Value):
                    self.fail(f"meta '{key}' must list Values, got {value!r}")
        for value in self.graph.random_keys:
            if value not in inputs:
                self.fail(f"random key %{value.name} is not an input")
            if value.type != TensorType((), "int64"):
                self.fail(f"random key %{value.name} must be i64[], not {value.type}")
        for value in meta_values(self.graph.meta):
            if id(value) not in self.defined:
                self.fail(f"graph meta refers to %{value.name}, which is not in this graph")
        for node in self.graph.nodes:
            for value in meta_values(node.meta):
                if id(value) not in self.defined:
                    self.fail(f"meta refers to %{value.name}, which is not in this graph", node)
