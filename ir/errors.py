"""Errors raised by the IR layer."""


class GraphError(Exception):
    """Base class for IR errors."""


class ShapeError(GraphError, RuntimeError):
    """An op was given operands whose shapes, dtypes or attributes do not fit its rule (a
    RuntimeError, the class PyTorch raises for such mistakes)."""


class VerifyError(GraphError):
    """`Graph.verify()` found a broken invariant; the message names the node."""


class ExecutionError(GraphError, RuntimeError):
    """A kernel failed, or a graph was given inputs that do not match its signature."""
