"""JSON form of a graph: `to_json`/`from_json` (dicts) and `save_json`/`load_json` (files).

Plain data keeps its Python type through JSON with small tags: `{"$tuple": [...]}`,
`{"$float": "inf"}`, `{"$dict": [[key, value], ...]}`. Constant data is base64 of its
little-endian bytes, so a round trip is exact.
"""

from __future__ import annotations

import base64
import json
import math
import os
import tempfile

import numpy as np

from ir.graph import CONST, INPUT, NODE, PARAM, Graph, Node, Value
from ir.textformat import ParseError
from ir.types import TensorType

FORMAT, VERSION = "graphc-ir", 1


def to_json(graph: Graph) -> dict:
    """A JSON-ready dict holding everything `graph == from_json(to_json(graph))` compares."""
    return {"format": FORMAT, "version": VERSION, **_graph_dict(graph)}


def from_json(data: dict) -> Graph:
    if data.get("format") != FORMAT:
        raise ParseError(f"not a graphc IR document (format {data.get('format')!r})")
    if data.get("version") != VERSION:
        raise ParseError(f"graphc IR version {data.get('version')!r}; this reader knows {VERSION}")
    try:
        return _read_graph(data)
    except (KeyError, TypeError, ValueError) as err:
        raise ParseError(f"malformed graphc IR document: {type(err).__name__}: {err}") from None


def save_json(graph: Graph, path) -> None:
    """Write `graph` to `path` atomically (a crash leaves any old file intact)."""
    path = os.fspath(path)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path) or ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(to_json(graph), f, indent=1)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def load_json(path) -> Graph:
    with open(path) as f:
        try:
            data = json.load(f)
        except json.JSONDecodeError as err:
            raise ParseError(f"{path}: not valid JSON: {err}") from None
    return from_json(data)


# -- writing ------------------------------------------------------------------------------------
def _graph_dict(graph: Graph) -> dict:
    return {
        "name": graph.name,
        "meta": _encode_fields(graph.meta),
        "inputs": [_value_dict(v) for v in graph.inputs],
        "params": [_value_dict(v) for v in graph.params],
        "constants": [{**_value_dict(v), "data": _encode_array(v.data)} for v in graph.constants],
        "nodes": [_node_dict(n) for n in graph.nodes],
        "outputs": [v.name for v in graph.outputs],
        "updates": [[p.name, v.name] for p, v in graph.updates],
    }


def _node_dict(node: Node) -> dict:
    data = {
        "op": node.op,
        "inputs": [v.name for v in node.inputs],
        "attrs": _encode_fields({k: v for k, v in node.attrs.items() if k != "body"}),
        "outputs": [_value_dict(v) for v in node.outputs],
        "meta": _encode_fields(node.meta),
    }
    if node.subgraph is not None:
        data["body"] = _graph_dict(node.subgraph)
    return data


def _value_dict(value: Value) -> dict:
    return {"name": value.name, "type": [list(value.type.shape), value.type.dtype]}


def _encode_array(array) -> str:
    array = np.asarray(array)
    data = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<")).tobytes()
    return base64.b64encode(data).decode("ascii")


def _encode_fields(fields: dict) -> dict:
    return {str(k): _encode(v) for k, v in fields.items()}


def _encode(value):
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, Value):
        return {"$value": value.name}
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return value if math.isfinite(value) else {"$float": repr(value)}
    if isinstance(value, tuple):
        return {"$tuple": [_encode(v) for v in value]}
    if isinstance(value, list):
        return [_encode(v) for v in value]
    if isinstance(value, dict):
        return {"$dict": [[_encode(k), _encode(v)] for k, v in value.items()]}
    raise TypeError(f"cannot write {type(value).__name__} {value!r} as JSON")


# -- reading ------------------------------------------------------------------------------------
def _read_graph(data: dict) -> Graph:
    graph = Graph(data["name"])
    scope: dict[str, Value] = {}

    def define(value: Value) -> Value:
        if value.name in scope:
            raise ValueError(f"%{value.name} is defined twice in graph '{graph.name}'")
        scope[value.name] = value
        graph._names[value.name] = value  # keeps graph.fresh_name() from reusing loaded names
        return value

    def lookup(name: str) -> Value:
        if name not in scope:
            raise ValueError(f"%{name} is used before its definition in graph '{graph.name}'")
        return scope[name]

    graph.inputs = [define(Value(_type(v), v["name"], INPUT)) for v in data["inputs"]]
    graph.params = [define(Value(_type(v), v["name"], PARAM)) for v in data["params"]]
    for v in data["constants"]:
        array = _decode_array(v["data"], _type(v))
        graph.constants.append(define(Value(_type(v), v["name"], CONST, data=array)))
    for n in data["nodes"]:
        attrs = _decode_fields(n["attrs"])
        if n.get("body") is not None:
            attrs["body"] = _read_graph(n["body"])
        node = Node(n["op"], [lookup(name) for name in n["inputs"]], attrs, n["meta"])
        node.outputs = tuple(
            define(Value(_type(v), v["name"], NODE, node=node, index=i))
            for i, v in enumerate(n["outputs"])
        )
        graph.nodes.append(node)
    graph.outputs = [lookup(name) for name in data["outputs"]]
    graph.updates = [(lookup(p), lookup(v)) for p, v in data["updates"]]
    graph.meta = _decode_fields(data["meta"], lookup)
    for node in graph.nodes:
        node.meta = _decode_fields(node.meta, lookup)
    return graph


def _type(value: dict) -> TensorType:
    shape, dtype = value["type"]
    return TensorType(tuple(shape), dtype)


def _decode_array(text: str, type: TensorType) -> np.ndarray:
    data = base64.b64decode(text)
    if len(data) != type.nbytes:
        raise ValueError(f"constant data has {len(data)} bytes, {type} needs {type.nbytes}")
    array = np.frombuffer(data, dtype=type.np_dtype.newbyteorder("<"))
    return array.astype(type.np_dtype).reshape(type.shape)


def _decode_fields(fields: dict, lookup=None) -> dict:
    return {k: _decode(v, lookup) for k, v in fields.items()}


def _decode(value, lookup=None):
    if isinstance(value, list):
        return [_decode(v, lookup) for v in value]
    if isinstance(value, dict):
        if "$tuple" in value:
            return tuple(_decode(v, lookup) for v in value["$tuple"])
        if "$float" in value:
            return float(value["$float"])
        if "$dict" in value:
            return {_decode(k, lookup): _decode(v, lookup) for k, v in value["$dict"]}
        if "$value" in value and lookup is not None:
            return lookup(value["$value"])
        raise ValueError(f"unknown tagged value {value!r}")
    return value
