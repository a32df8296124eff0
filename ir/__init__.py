"""graphc's static IR: types, values, nodes, graphs, the op set, verifier, printer and parser."""

from ir import ops  # noqa: F401  (registers the op set)
from ir.builder import Builder
from ir.compare import graph_difference
from ir.errors import GraphError, ShapeError, VerifyError
from ir.graph import CONST, INPUT, NODE, PARAM, Graph, Node, Value, describe_location
from ir.ops.registry import OPS, OpDef, define_op, get_op
from ir.parser import ParseError, parse
from ir.serialize import from_json, load_json, save_json, to_json
from ir.types import DTYPES, TensorType, is_float, normalize_dtype
from ir.verify import verify

__all__ = [
    "CONST",
    "DTYPES",
    "INPUT",
    "NODE",
    "OPS",
    "PARAM",
    "Builder",
    "Graph",
    "GraphError",
    "Node",
    "OpDef",
    "ParseError",
    "ShapeError",
    "TensorType",
    "Value",
    "VerifyError",
    "define_op",
    "describe_location",
    "from_json",
    "get_op",
    "graph_difference",
    "is_float",
    "load_json",
    "normalize_dtype",
    "parse",
    "save_json",
    "to_json",
    "verify",
]
