"""The primitive op set. Importing this package registers every op."""

from ir.ops.registry import OPS, Attr, OpDef, define_op, get_op, no_grad  # noqa: F401
from ir.ops import elementwise, reduce, linalg, shape, indexing, creation, conv  # noqa: F401, E402
