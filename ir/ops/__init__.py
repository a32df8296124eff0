"""The primitive op set. Importing this package registers every op."""

from ir.ops import call, conv, creation, elementwise, indexing, linalg, pool, reduce, shape  # noqa: F401
from ir.ops.registry import OPS, Attr, OpDef, define_op, get_op, no_grad  # noqa: F401
