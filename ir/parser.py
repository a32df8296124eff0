"""`parse(text) -> Graph`: read the IR text form written by `ir.printer` back into a graph.

The parser rebuilds exactly what the text says (names, types, attributes, meta) without running
shape rules, so it can also read graphs that do not verify; call `graph.verify()` to check them.
A node line's trailing `# ...` is its meta (location, then `key=value`); lines holding only a
comment are free text. `%name` in meta is resolved to that Value once the graph is read. Errors
give the line number and the line.
"""

from __future__ import annotations

from ir.graph import CONST, INPUT, NODE, PARAM, Graph, Node, Value
from ir.ops.registry import OPS, REQUIRED
from ir.textformat import (
    ParseError,
    TokenStream,
    ValueRef,
    read_array,
    read_literal,
    read_name,
    read_string,
    tokenize,
)
from ir.types import LONG_NAMES, TensorType

__all__ = ["ParseError", "parse"]


def parse(text: str) -> Graph:
    """The graph written in `text` (one top-level `graph NAME { ... }` block)."""
    lines = _Lines(text)
    stream, _ = lines.next_statement("'graph NAME {'")
    graph = lines.guard(lambda: _read_graph_header(stream))
    _read_body(lines, graph)
    if lines.next_statement(None) is not None:
        lines.fail("text continues after the end of the graph")
    return graph


class _Lines:
    """Non-blank lines with their numbers; errors raised here carry the current line."""

    def __init__(self, text: str):
        self.lines = text.splitlines()
        self.index = -1

    def next_statement(self, what: str | None):
        """(tokens, comment) of the next line that has tokens; None at the end if `what` is None."""
        while self.index + 1 < len(self.lines):
            self.index += 1
            tokens, comment = self.guard(lambda: tokenize(self.lines[self.index]))
            if tokens:
                return TokenStream(tokens), comment
        if what is None:
            return None
        raise ParseError(f"line {len(self.lines)}: expected {what}, found end of text")

    def guard(self, read):
        """Run `read()`; a ParseError from it gets this line's number and text."""
        try:
            return read()
        except ParseError as err:
            self.fail(str(err))

    def fail(self, message: str):
        line = self.lines[self.index].strip() if self.index >= 0 else ""
        raise ParseError(f"line {self.index + 1}: {message}\n    {line}") from None


def _read_graph_header(stream: TokenStream) -> Graph:
    stream.expect("graph")
    graph = Graph(read_string(stream, "a graph name"))
    stream.expect("{")
    stream.expect_end()
    return graph


def _read_body(lines: _Lines, graph: Graph) -> None:
    scope: dict[str, Value] = {}
    while True:
        stream, comment = lines.next_statement("'}' closing the graph")
        if stream.accept("}"):
            stream.expect_end()
            lines.guard(lambda: _resolve_refs(graph, scope))
            return
        subgraph = lines.guard(lambda s=stream, c=comment: _read_statement(s, c, graph, scope))
        if subgraph is not None:
            _read_body(lines, subgraph)


def _resolve_refs(graph: Graph, scope: dict) -> None:
    """Replace the `%name` references in graph and node meta by the Values of that name."""
    graph.meta = _resolved(graph.meta, scope)
    for node in graph.nodes:
        node.meta = _resolved(node.meta, scope)


def _resolved(meta: dict, scope: dict) -> dict:
    def value(ref: ValueRef) -> Value:
        if ref.name not in scope:
            raise ParseError(f"meta refers to %{ref.name}, which graph does not define")
        return scope[ref.name]

    out = {}
    for key, item in meta.items():
        if isinstance(item, ValueRef):
            item = value(item)
        elif isinstance(item, (list, tuple)) and any(isinstance(v, ValueRef) for v in item):
            item = type(item)(value(v) if isinstance(v, ValueRef) else v for v in item)
        out[key] = item
    return out


def _read_statement(stream: TokenStream, comment, graph: Graph, scope: dict) -> Graph | None:
    """Read one statement into `graph`; return the nested graph a fused node opens, if any."""
    first = stream.peek()
    keyword = first.text if first.kind == "word" else None
    if keyword == "meta":
        stream.next()
        key = read_string(stream, "a meta key")
        stream.expect("=")
        graph.meta[key] = read_literal(stream)
    elif keyword in ("input", "param", "const"):
        stream.next()
        name, type = _read_typed_name(stream)
        if keyword == "const":
            stream.expect("=")
            _define(graph, scope, Value(type, name, CONST, data=read_array(stream, type)))
        else:
            _define(graph, scope, Value(type, name, INPUT if keyword == "input" else PARAM))
    elif keyword == "return":
        stream.next()
        graph.outputs = _read_operands(stream, scope)
    elif keyword == "update":
        stream.next()
        param = _lookup(scope, stream.next("a parameter"))
        stream.expect("<-")
        graph.updates.append((param, _lookup(scope, stream.next("a value"))))
    else:
        return _read_node(stream, comment, graph, scope)
    stream.expect_end()
    return None


def _read_node(stream: TokenStream, comment, graph: Graph, scope: dict) -> Graph | None:
    results = []
    if stream.peek().kind == "name":
        results.append(_read_typed_name(stream))
        while stream.accept(","):
            results.append(_read_typed_name(stream))
        stream.expect("=")
    op = read_string(stream, "an op name")
    stream.expect("(")
    inputs, attrs = [], {}
    while not stream.accept(")"):
        token = stream.peek()
        if token is not None and token.kind == "name":
            if attrs:
                raise ParseError(f"operand at column {token.col} comes after attributes")
            inputs.append(_lookup(scope, stream.next()))
        else:
            key = read_string(stream, "an operand or attribute")
            stream.expect("=")
            attrs[key] = read_literal(stream)
        if not stream.at(")"):
            stream.expect(",")
    subgraph = None
    if stream.accept("graph"):
        subgraph = attrs["body"] = Graph(read_string(stream, "a graph name"))
        stream.expect("{")
    stream.expect_end()
    node = Node(op, inputs, _with_defaults(op, attrs), _read_meta(comment))
    node.outputs = tuple(
        Value(type, name, NODE, node=node, index=i) for i, (name, type) in enumerate(results)
    )
    for value in node.outputs:
        _define(graph, scope, value)
    graph.nodes.append(node)
    return subgraph


def _with_defaults(op: str, attrs: dict) -> dict:
    """The printer leaves out attributes at their default: put them back (known ops only)."""
    spec = OPS[op].attrs if op in OPS else {}
    for key, attr in spec.items():
        if key not in attrs and attr.default is not REQUIRED:
            attrs[key] = attr.default
    return attrs


def _read_meta(comment: str | None) -> dict:
    """Node meta from a trailing comment: an optional bare location, then `key=value` pairs."""
    if comment is None:
        return {}
    try:
        tokens, _ = tokenize(comment)
        stream, meta = TokenStream(tokens), {}
        if not stream.done() and not (stream.peek(1) and stream.peek(1).text == "="):
            meta["loc"] = read_string(stream, "a source location")
        while not stream.done():
            key = read_string(stream, "a meta key")
            stream.expect("=")
            meta[key] = read_literal(stream)
    except ParseError as err:
        # Columns here count from the '#'.
        raise ParseError(f"in the meta comment: {err}") from None
    return meta


def _read_typed_name(stream: TokenStream) -> tuple[str, TensorType]:
    token = stream.next("a %name")
    if token.kind != "name":
        raise ParseError(f"expected a %name at column {token.col}, found {token.text!r}")
    stream.expect(":")
    return read_name(token), _read_type(stream)


def _read_type(stream: TokenStream) -> TensorType:
    token = stream.next("a type such as f32[2,3]")
    if token.text not in LONG_NAMES:
        known = ", ".join(LONG_NAMES)
        raise ParseError(f"unknown dtype {token.text!r} at column {token.col} (known: {known})")
    stream.expect("[")
    dims = []
    while not stream.accept("]"):
        dim = stream.next("a dimension")
        if dim.kind != "number" or not dim.text.isdigit():
            raise ParseError(f"bad dimension {dim.text!r} at column {dim.col}")
        dims.append(int(dim.text))
        if not stream.at("]"):
            stream.expect(",")
    return TensorType(tuple(dims), LONG_NAMES[token.text])


def _read_operands(stream: TokenStream, scope: dict) -> list[Value]:
    values = [_lookup(scope, stream.next("a value"))]
    while stream.accept(","):
        values.append(_lookup(scope, stream.next("a value")))
    return values


def _lookup(scope: dict, token) -> Value:
    if token.kind != "name":
        raise ParseError(f"expected a %name at column {token.col}, found {token.text!r}")
    name = read_name(token)
    if name not in scope:
        raise ParseError(f"%{name} is not defined before this line")
    return scope[name]


def _define(graph: Graph, scope: dict, value: Value) -> None:
    if value.name in scope:
        raise ParseError(f"%{value.name} is defined twice")
    scope[value.name] = value
    graph._names[value.name] = value  # keeps graph.fresh_name() from reusing parsed names
    leaves = {INPUT: graph.inputs, PARAM: graph.params, CONST: graph.constants}
    if value.kind in leaves:
        leaves[value.kind].append(value)
