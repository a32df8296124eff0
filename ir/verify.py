"""`verify(graph)`: check the IR invariants and raise a VerifyError that names the broken node.

Checked: leaves are well-formed (kinds, constant data matching their types); SSA (each Value defined
once, names unique); every operand defined earlier in the same graph (topological order, no values
from other graphs); each op exists, its attributes pass the op's schema, and the stored result types
equal what its shape rule infers; a fused node's types match its subgraph, which is verified in
turn; outputs, updates and graph meta (`saved`, `random_keys`) refer to values of the graph.
"""

from __future__ import annotations

from ir.errors import ShapeError, VerifyError
from ir.graph import CONST, INPUT, NODE, PARAM, describe_location
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
        if node.subgraph is not None:
            types = self.fused_types(node)
        else:
            types = self.inferred_types(node)
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

    def fused_types(self, node) -> tuple:
        """A fused node is defined by its subgraph: same operand types in, its outputs out."""
        sub = node.subgraph
        if node.op in OPS:
            try:
                OPS[node.op].check_attrs(dict(node.attrs))
            except ShapeError as err:
                self.fail(f"bad attribute: {err}", node)
        if sub.params or sub.updates:
            self.fail("a fused subgraph may not have parameters or updates", node)
        operand_types = [v.type for v in node.inputs]
        sub_types = [v.type for v in sub.inputs]
        if operand_types != sub_types:
            self.fail(f"operand types {_types(operand_types)} differ from its subgraph's inputs "
                      f"{_types(sub_types)}", node)
        try:
            verify(sub)
        except VerifyError as err:
            self.fail(f"in its subgraph: {err}", node)
        return tuple(v.type for v in sub.outputs)

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
        inputs = {v.name: v for v in self.graph.inputs}
        for name in self.graph.meta.get("random_keys", ()):
            if name not in inputs:
                self.fail(f"random key %{name} is not an input")
            if inputs[name].type != TensorType((), "int64"):
                self.fail(f"random key %{name} must be i64[], not {inputs[name].type}")
        for name in self.graph.meta.get("saved", ()):
            if name not in self.names:
                self.fail(f"saved value %{name} is not in this graph")


def _types(types) -> str:
    return "(" + ", ".join(map(str, types)) + ")"
