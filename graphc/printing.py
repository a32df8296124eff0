"""`repr(tensor)` in PyTorch's format (precision 4, 1000-element threshold, 80 columns by
default; `graphc.set_printoptions` changes them as `torch.set_printoptions` does)."""

from __future__ import annotations

import math

import numpy as np

from graphc.device import CPU, move
from graphc.dtypes import get_default_dtype

PROFILES = {  # PyTorch's: (precision, threshold, edgeitems, linewidth)
    "default": (4, 1000, 3, 80),
    "short": (2, 1000, 2, 80),
    "full": (4, math.inf, 3, 80),
}


class PrintOptions:
    """The options every repr reads (one instance: `OPTIONS`)."""

    def __init__(self):
        self.precision, self.threshold, self.edgeitems, self.linewidth = PROFILES["default"]
        self.sci_mode: bool | None = None  # None: chosen from the values, as PyTorch


OPTIONS = PrintOptions()


def set_printoptions(precision=None, threshold=None, edgeitems=None, linewidth=None,
                     profile=None, sci_mode=None) -> None:
    """PyTorch's `torch.set_printoptions`: a `profile` ("default", "short", "full") first, then
    any option given; `sci_mode` True/False forces scientific notation on or off, None lets the
    values decide."""
    if profile is not None:
        if profile not in PROFILES:
            raise ValueError(f"Unknown profile {profile!r}; choose from {', '.join(PROFILES)}")
        (OPTIONS.precision, OPTIONS.threshold, OPTIONS.edgeitems,
         OPTIONS.linewidth) = PROFILES[profile]
    for name, value in (("precision", precision), ("threshold", threshold),
                        ("edgeitems", edgeitems), ("linewidth", linewidth)):
        if value is not None:
            setattr(OPTIONS, name, value)
    OPTIONS.sci_mode = sci_mode


class _Formatter:
    """Picks integer, fixed or scientific notation and a common width, as torch's _Formatter."""

    def __init__(self, values: np.ndarray):
        self.floating = values.dtype.kind == "f"
        self.int_mode, self.sci_mode, self.width = True, False, 1
        flat = values.reshape(-1)
        if not self.floating:
            for v in flat.tolist():
                self.width = max(self.width, len(str(v)))
            return
        finite = flat[np.isfinite(flat) & (flat != 0)].astype(np.float64)
        if finite.size == 0:
            return
        mag = np.abs(finite)
        lo, hi = float(mag.min()), float(mag.max())
        self.int_mode = bool(np.all(finite == np.ceil(finite)))
        self.sci_mode = hi / lo > 1000.0 or hi > 1.0e8 or (not self.int_mode and lo < 1.0e-4)
        if OPTIONS.sci_mode is not None:
            self.sci_mode = OPTIONS.sci_mode
        for v in finite.tolist():
            if self.sci_mode:
                text = f"{v:.{OPTIONS.precision}e}"
            elif self.int_mode:
                text = f"{v:.0f}."
            else:
                text = f"{v:.{OPTIONS.precision}f}"
            self.width = max(self.width, len(text))

    def format(self, v) -> str:
        if self.floating:
            if self.sci_mode:
                text = f"{v:{self.width}.{OPTIONS.precision}e}"
            elif self.int_mode:
                text = f"{v:.0f}" + ("" if math.isinf(v) or math.isnan(v) else ".")
            else:
                text = f"{v:.{OPTIONS.precision}f}"
        else:
            text = str(v)
        return " " * (self.width - len(text)) + text


def _summarized(a: np.ndarray) -> np.ndarray:
    if a.ndim == 0:
        return a
    if a.shape[0] > 2 * OPTIONS.edgeitems:
        a = np.concatenate([a[:OPTIONS.edgeitems], a[-OPTIONS.edgeitems:]])
    return np.stack([_summarized(x) for x in a]) if a.ndim > 1 else a


def _body(a: np.ndarray, indent: int, summarize: bool, fmt: _Formatter) -> str:
    if a.ndim == 0:
        return fmt.format(a.item())
    if a.ndim == 1:
        per_line = max(1, (OPTIONS.linewidth - indent) // (fmt.width + 2))
        if summarize and a.shape[0] > 2 * OPTIONS.edgeitems:
            items = (
                [fmt.format(v) for v in a[:OPTIONS.edgeitems].tolist()]
                + [" ..."]
                + [fmt.format(v) for v in a[-OPTIONS.edgeitems:].tolist()]
            )
        else:
            items = [fmt.format(v) for v in a.tolist()]
        lines = [", ".join(items[i : i + per_line]) for i in range(0, len(items), per_line)]
        return "[" + (",\n" + " " * (indent + 1)).join(lines) + "]"
    edge = OPTIONS.edgeitems
    if summarize and a.shape[0] > 2 * edge:
        parts = (
            [_body(a[i], indent + 1, summarize, fmt) for i in range(edge)]
            + ["..."]
            + [_body(a[i], indent + 1, summarize, fmt) for i in range(len(a) - edge, len(a))]
        )
    else:
        parts = [_body(a[i], indent + 1, summarize, fmt) for i in range(a.shape[0])]
    return "[" + ("," + "\n" * (a.ndim - 1) + " " * (indent + 1)).join(parts) + "]"


def tensor_repr(t) -> str:
    if t._data is None:
        return f"tensor(<traced %{t._value.name}: {t._value.type}>)"
    a = t._data
    prefix, suffixes = "tensor(", []
    if t.device.type != "cpu":  # printed from a host copy, as PyTorch does
        a = move(a, CPU)
        suffixes.append(f"device='{t.device}'")
    if a.size == 0:
        body = "[]"
        if a.ndim != 1:
            suffixes.append(f"size={tuple(a.shape)}")
    else:
        summarize = a.size > OPTIONS.threshold
        fmt = _Formatter(_summarized(a) if summarize else a)
        body = _body(a, len(prefix), summarize, fmt)
    if a.dtype.name not in (get_default_dtype().name, "int64", "bool"):
        suffixes.append(f"dtype=graphc.{a.dtype.name}")
    if t._grad_fn is not None:
        suffixes.append(f"grad_fn=<{t._grad_fn.name()}>")
    elif t._requires_grad:
        suffixes.append("requires_grad=True")
    text = prefix + body
    last = len(text) - text.rfind("\n") + 1
    for suffix in suffixes:
        if last + len(suffix) + 2 > OPTIONS.linewidth:
            text += ",\n" + " " * len(prefix) + suffix
            last = len(prefix) + len(suffix)
        else:
            text += ", " + suffix
            last += len(suffix) + 2
    return text + ")"
