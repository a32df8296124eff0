"""unique, bincount, bucketize and searchsorted against PyTorch: eager only, with a TraceError
naming the user's line inside a trace."""

from __future__ import annotations

import numpy as np
import pytest

import graphc

torch = pytest.importorskip("torch")

CASES = {
    "unique": lambda t: t.unique(t.tensor([3, 1, 2, 3, 1, 5])),
    "unique_inverse_counts": lambda t: t.unique(t.tensor([[3, 1], [2, 3]]), return_inverse=True,
                                                return_counts=True),
    "unique_rows": lambda t: t.tensor([[1, 2], [1, 2], [0, 1]]).unique(
        dim=0, return_inverse=True, return_counts=True),
    "unique_nan": lambda t: t.tensor([2.5, float("nan"), 1.0, 2.5]).unique(return_counts=True),
    "unique_empty": lambda t: t.unique(t.tensor([], dtype=t.int64)),
    "bincount": lambda t: t.bincount(t.tensor([0, 1, 1, 4])),
    "bincount_minlength": lambda t: t.bincount(t.tensor([0, 1, 1, 4]), minlength=7),
    "bincount_weights32": lambda t: t.bincount(t.tensor([0, 1, 1, 4]),
                                               weights=t.tensor([0.5, 1.0, 2.0, 3.0])),
    "bincount_weights64": lambda t: t.tensor([0, 1, 1, 4]).bincount(
        t.tensor([0.5, 1.0, 2.0, 3.0], dtype=t.float64)),
    "bucketize": lambda t: t.bucketize(t.tensor([[1, 5], [9, 3]]), t.tensor([1, 3, 5, 7, 9])),
    "bucketize_right": lambda t: t.bucketize(t.tensor([1.0, 5.5, 9.0]),
                                             t.tensor([1.0, 3.0, 5.5, 9.0]), right=True),
    "searchsorted": lambda t: t.searchsorted(t.tensor([1, 3, 5, 7, 9]), t.tensor([3, 6, 9])),
    "searchsorted_rows": lambda t: t.searchsorted(t.tensor([[1, 3, 5], [2, 4, 6]]),
                                                  t.tensor([[3, 6], [1, 4]]), right=True),
    "searchsorted_side_int32": lambda t: t.searchsorted(
        t.tensor([1, 3, 5, 7, 9]), t.tensor([3, 6, 9]), side="right", out_int32=True),
}


@pytest.mark.parametrize("name", CASES)
def test_values_and_dtypes_equal_pytorch(name):
    ours, theirs = CASES[name](graphc), CASES[name](torch)
    ours = ours if isinstance(ours, tuple) else (ours,)
    theirs = theirs if isinstance(theirs, tuple) else (theirs,)
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs):
        assert str(a.dtype).split(".")[-1] == str(b.dtype).split(".")[-1]
        np.testing.assert_array_equal(a.numpy(), b.numpy())


@pytest.mark.parametrize("bad", [lambda t: t.bincount(t.tensor([-1, 2])),
                                 lambda t: t.bincount(t.tensor([[1]])),
                                 lambda t: t.bincount(t.tensor([1.0]))])
def test_bincount_refuses_what_pytorch_refuses(bad):
    errors = []
    for lib in (torch, graphc):
        with pytest.raises(Exception) as err:
            bad(lib)
        errors.append((type(err.value), str(err.value)))
    assert errors[0] == errors[1]


def test_inside_a_trace_they_name_the_line():
    def counts(x):
        return x.bincount()  # the traced line

    with pytest.raises(graphc.TraceError, match="bincount") as err:
        graphc.trace(counts, graphc.tensor([0, 1, 1]))
    assert "test_data_dependent_ops.py" in str(err.value)
