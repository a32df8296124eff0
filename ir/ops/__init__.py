"""The primitive op set. Importing this package registers every op."""

from ir.ops import (  # noqa: F401
    bitwise,
    call,
    collective,
    conv,
    creation,
    elementwise,
    function,
    indexing,
    linalg,
    math,
    pool,
    reduce,
    scan,
    shape,
    sort,
)
from ir.ops.registry import OPS, Attr, OpDef, define_op, get_op, no_grad  # noqa: F401
