"""`Parameter`: a Tensor that a Module registers as a trainable parameter when assigned to it."""

from __future__ import annotations

import graphc
from graphc import Tensor


class Parameter(Tensor):
    """A leaf Tensor, sharing storage with `data`, that requires grad by default.

    Assigning one to a Module attribute registers it in `_parameters`. Results of operations on a
    Parameter are plain Tensors.
    """

    # No new slots: a Parameter is laid out exactly like the Tensor it wraps.
    __slots__ = ()

    def __init__(self, data=None, requires_grad: bool = True):
        if data is None:
            data = graphc.empty((0,))
        elif not isinstance(data, Tensor):
            data = graphc.tensor(data)
        super().__init__(data, requires_grad=requires_grad)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()
