"""graphc's static IR: types, values, nodes, graphs, the op set, verifier, printer and parser."""

from ir import ops  # noqa: F401  (registers the op set)
from ir.builder import Builder
from ir.errors import GraphError, ShapeError, VerifyError
from ir.graph import CONST, INPUT, NODE, PARAM, Graph, Node, Value, describe_location
from ir.ops.registry import OPS, OpDef, define_op, get_op
from ir.types import DTYPES, TensorType, is_float, normalize_dtype

__all__ = [
    "Builder", "GraphError", "ShapeError", "VerifyError", "CONST", "INPUT", "NODE", "PARAM",
    "Graph", "Node", "Value", "describe_location", "OPS", "OpDef", "define_op", "get_op",
    "DTYPES", "TensorType", "is_float", "normalize_dtype",
]
