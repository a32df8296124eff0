"""The primitive op set. Importing this package registers every op."""

from ir.ops import (  # noqa: F401
    call,
    conv,
    creation,
    elementwise,
    function,
    indexing,
    linalg,
    reduce,
    shape,
)
from ir.ops.registry import OPS, Attr, OpDef, define_op, get_op, no_grad  # noqa: F401
