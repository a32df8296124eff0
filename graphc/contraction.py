"""`einsum`: Einstein summation as diagonals, sums and one matmul per pair of operands."""

from __future__ import annotations

import math
import string

ELLIPSIS_LABELS = "".join(chr(0x3B1 + i) for i in range(24))  # private labels for '...' dims


def einsum(equation: str, operands):
    terms, output = _parse(equation.replace(" ", ""), operands)
    pending = []
    for term, x in zip(terms, operands):
        x, term = _diagonals(x, term)
        pending.append((x, term))
    x, term = pending[0]
    for i, (y, other) in enumerate(pending[1:], start=1):
        later = set(output).union(*(t for _, t in pending[i + 1 :]))
        x, term = _contract(x, term, y, other, later)
    x, term = _sum_out(x, term, set(output))
    return x.permute([term.index(c) for c in output]) if term != output else x


def _parse(equation: str, operands):
    lhs, arrow, rhs = equation.partition("->")
    terms = lhs.split(",")
    if len(terms) != len(operands):
        raise RuntimeError(
            "einsum(): more operands were provided than specified in the equation"
            if len(operands) > len(terms)
            else "einsum(): fewer operands were provided than specified in the equation"
        )
    ranks = []
    for term, x in zip(terms, operands):
        letters = term.replace("...", "")
        if any(c not in string.ascii_letters for c in letters):
            raise RuntimeError(f"einsum(): invalid subscript given in the equation: {term!r}")
        ellipsis = "..." in term
        if (ellipsis and len(letters) > x.ndim) or (not ellipsis and len(letters) != x.ndim):
            raise RuntimeError(
                f"einsum(): the number of subscripts in the equation ({len(letters)}) does not "
                f"match the number of dimensions ({x.ndim}) for operand {terms.index(term)}"
                + ("" if ellipsis else " and no ellipsis was given")
            )
        ranks.append(x.ndim - len(letters) if ellipsis else 0)
    width = max(ranks, default=0)
    expanded = [
        t.replace("...", ELLIPSIS_LABELS[width - r : width]) for t, r in zip(terms, ranks)
    ]
    if arrow:
        output = rhs.replace("...", ELLIPSIS_LABELS[:width])
    else:
        counts = {c: lhs.count(c) for c in set(lhs.replace("...", "").replace(",", ""))}
        output = ELLIPSIS_LABELS[:width] + "".join(sorted(c for c, n in counts.items() if n == 1))
    for c in output:
        if not any(c in t for t in expanded):
            raise RuntimeError(f"einsum(): output subscript {c} does not appear in the equation "
                               "for any input operand")
    return expanded, output


def _diagonals(x, term: str):
    """x with every label that repeats within its term reduced to its diagonal."""
    while len(set(term)) != len(term):
        c = next(c for c in term if term.count(c) > 1)
        i = term.index(c)
        j = term.index(c, i + 1)
        x = x.diagonal(0, i, j)
        term = "".join(t for k, t in enumerate(term) if k not in (i, j)) + c
    return x, term


def _sum_out(x, term: str, keep: set):
    axes = [i for i, c in enumerate(term) if c not in keep]
    if not axes:
        return x, term
    return x.sum(axes), "".join(c for c in term if c in keep)


def _contract(a, ta: str, b, tb: str, later: set):
    """The product of a and b summed over the labels nothing later needs: one matmul."""
    a, ta = _sum_out(a, ta, later | set(tb))
    b, tb = _sum_out(b, tb, later | set(ta))
    batch = [c for c in ta if c in tb and c in later]
    summed = [c for c in ta if c in tb and c not in later]
    only_a = [c for c in ta if c not in tb]
    only_b = [c for c in tb if c not in ta]
    a = a.permute([ta.index(c) for c in batch + only_a + summed])
    b = b.permute([tb.index(c) for c in batch + summed + only_b])
    nb = len(batch)
    rows = [a.shape[nb + i] for i in range(len(only_a))]
    cols = [b.shape[nb + len(summed) + i] for i in range(len(only_b))]
    inner = math.prod(a.shape[nb + len(only_a) :])
    a = a.reshape(*a.shape[:nb], math.prod(rows), inner)
    b = b.reshape(*b.shape[:nb], inner, math.prod(cols))
    out = a.matmul(b)
    out = out.reshape(*out.shape[:nb], *rows, *cols)
    return out, "".join(batch + only_a + only_b)
