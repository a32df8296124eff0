"""The IR text form: one line per node, readable, and parsed back exactly by `ir.parser.parse`.

    graph mlp {
      meta random_keys = [key]
      input %x: f32[64,784]
      param %fc.weight: f32[512,784]
      const %c: f32[] = 0.5
      %0: f32[64,512] = matmul(%x, %fc.weight)         # model.py:12  scope=fc
      %a: f32[2,4], %b: f32[3,4] = split(%x, sizes=(2, 3), axis=0)
      %5: f32[64,512] = fused(%0, %c) graph fused_0 {  # model.py:13
        input %x: f32[64,512]
        ...
      }
      return %0, %5
      update %fc.weight <- %9
    }

Node meta goes in the trailing comment: the source location first, then `key=value` pairs. Meta
refers to values by the Values themselves, printed `%name`. A fused node's `body` attribute prints
as its nested graph.
"""

from __future__ import annotations

from ir.compare import same_data
from ir.graph import Value
from ir.ops.registry import OPS
from ir.textformat import ValueRef, format_array, format_literal, format_name, format_string

INDENT = "  "
COMMENT_COLUMN_MAX = 72  # trailing comments align up to this column, then just follow the code
META_ORDER = ("scope", "phase", "grad_of")


def print_graph(graph) -> str:
    """The text of `graph` (nested graphs of fused nodes included), ending with a newline."""
    return "\n".join(_graph_lines(graph, 0)) + "\n"


def _graph_lines(graph, depth: int, header: str = "") -> list[str]:
    """`graph NAME {`, the body, `}`; `header` prefixes the first line (a fused node's result)."""
    pad = INDENT * depth
    lines = [(pad + header + f"graph {format_string(graph.name)} {{", None)]
    body = INDENT * (depth + 1)
    for key, value in graph.meta.items():
        lines.append((f"{body}meta {format_string(str(key))} = {_meta_value(key, value)}", None))
    for kind, values in (("input", graph.inputs), ("param", graph.params)):
        lines += [(f"{body}{kind} {format_name(v.name)}: {v.type}", None) for v in values]
    for v in graph.constants:
        lines.append((f"{body}const {format_name(v.name)}: {v.type} = {format_array(v.data)}", None))
    out = _aligned(lines)
    for node in graph.nodes:
        text, comment = body + _node_text(node), _meta_comment(node.meta)
        body_graph = node.attrs.get("body")
        if body_graph is None:
            out += _aligned([(text, comment)])
            continue
        # The nested graph opens on the node's own line; its meta comment stays on that line.
        nested = _graph_lines(body_graph, depth + 1, _node_text(node) + " ")
        out.append(nested[0] + (f"  # {comment}" if comment else ""))
        out += nested[1:]
    if graph.outputs:
        out.append(f"{body}return " + ", ".join(format_name(v.name) for v in graph.outputs))
    for param, new in graph.updates:
        out.append(f"{body}update {format_name(param.name)} <- {format_name(new.name)}")
    out.append(pad + "}")
    return _align_comments(out)


def _node_text(node) -> str:
    results = ", ".join(f"{format_name(v.name)}: {v.type}" for v in node.outputs)
    operands = [format_name(v.name) for v in node.inputs]
    operands += [f"{format_string(str(k))}={_literal(v)}" for k, v in _shown_attrs(node).items()]
    call = f"{format_string(node.op)}({', '.join(operands)})"
    return f"{results} = {call}" if results else call


def _shown_attrs(node) -> dict:
    """The attributes worth printing: not the body (printed nested), not those at their default
    (the parser fills defaults back in)."""
    spec = OPS[node.op].attrs if node.op in OPS else {}
    return {k: v for k, v in node.attrs.items()
            if k != "body" and not (k in spec and _is_default(v, spec[k].default))}


def _is_default(value, default) -> bool:
    return type(value) is type(default) and same_data(value, default)


def _meta_comment(meta: dict) -> str:
    loc = meta.get("loc")
    parts = [format_string(loc)] if isinstance(loc, str) else []
    keys = [k for k in META_ORDER if k in meta]
    keys += [k for k in meta if k not in META_ORDER and not (k == "loc" and parts)]
    parts += [f"{format_string(str(k))}={_meta_value(k, meta[k])}" for k in keys]
    return "  ".join(parts)


def _meta_value(key, value) -> str:
    """Values (alone or in lists and tuples) print as `%name`; the parser resolves them back."""
    if isinstance(value, Value):
        return format_name(value.name)
    if isinstance(value, (list, tuple)) and any(isinstance(v, Value) for v in value):
        value = type(value)(ValueRef(v.name) if isinstance(v, Value) else v for v in value)
    return _literal(value)


def _literal(value) -> str:
    try:
        return format_literal(value)
    except TypeError:
        # Printing must never fail; such a value reads back as its repr string.
        return format_literal(repr(value))


def _aligned(pairs) -> list[str]:
    """Join (code, comment) pairs; `\0` marks where alignment padding goes."""
    return [code + (f"\0# {comment}" if comment else "") for code, comment in pairs]


def _align_comments(lines: list[str]) -> list[str]:
    widths = [len(line.split("\0")[0]) for line in lines if "\0" in line]
    column = min(max(widths, default=0), COMMENT_COLUMN_MAX) + 2
    result = []
    for line in lines:
        if "\0" in line:
            code, comment = line.split("\0", 1)
            line = code.ljust(column) + comment if len(code) < column else f"{code}  {comment}"
        result.append(line)
    return result
