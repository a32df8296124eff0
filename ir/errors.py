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


_KERNEL_ERRORS: dict[type, type] = {}


def kernel_error(message: str, err: Exception) -> ExecutionError:
    """An ExecutionError for a kernel that raised `err`, which is also an instance of err's class
    (IndexError, ValueError, ...): `except IndexError` catches a compiled step's bad class target
    as it catches the eager one, and `except ExecutionError` still catches every kernel error."""
    kind = type(err)
    cls = _KERNEL_ERRORS.get(kind)
    if cls is None:
        try:
            cls = type("ExecutionError", (ExecutionError, kind), {"__module__": __name__})
        except TypeError:  # a class that cannot be combined (its own instance layout)
            cls = ExecutionError
        _KERNEL_ERRORS[kind] = cls
    try:
        combined = cls(message)
        usable = str(combined) == message
    except Exception:  # noqa: BLE001 (a class whose constructor wants other arguments)
        usable = False
    return combined if usable else ExecutionError(message)
