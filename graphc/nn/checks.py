"""Input checks layers share: PyTorch's error class and message, plus the user's line."""

from __future__ import annotations

from graphc.tracing import user_location


def user_error(cls: type[Exception], message: str) -> Exception:
    """`cls(message)` ending with the user's `file:line` (the innermost frame outside graphc)."""
    where = user_location()
    return cls(f"{message} at {where}" if where else message)


def size_list(shape) -> str:
    """A shape as PyTorch prints it in messages: [2, 3, 4]."""
    return f"[{', '.join(str(int(d)) for d in shape)}]"
