"""A kernel's error reaches the user as an ExecutionError naming the node that is also of the
kernel's own class, as PyTorch would raise it."""

from __future__ import annotations

import pytest

from ir.errors import ExecutionError, kernel_error


@pytest.mark.parametrize("kind", [IndexError, ValueError, ZeroDivisionError, TypeError])
def test_a_kernel_error_keeps_its_class(kind):
    err = kernel_error("while executing %3 = gather(...): boom", kind("boom"))
    assert isinstance(err, ExecutionError) and isinstance(err, kind)
    assert isinstance(err, RuntimeError)
    assert "while executing %3" in str(err)
    assert type(kernel_error("again", kind("x"))) is type(err)  # one class per kind


def test_classes_that_cannot_be_combined_give_a_plain_execution_error():
    err = kernel_error("while executing", UnicodeDecodeError("utf-8", b"\xff", 0, 1, "bad"))
    assert type(err) is ExecutionError
    for other in (FileNotFoundError("gone"), KeyError("k")):  # (KeyError's str quotes it)
        err = kernel_error("while executing", other)
        assert isinstance(err, ExecutionError) and str(err) == "while executing"
