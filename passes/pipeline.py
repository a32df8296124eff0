"""The pass pipeline: named levels or a pass list, with timing, verification and IR dumps.

    optimize(graph, "O2")                      # the optimized graph
    run_pipeline(graph, "fold,cse,dce,fuse")   # the graph and what each pass did (PassRecord)

Levels: `O0` runs nothing, `O1` folds constants, simplifies, merges common subexpressions and
removes dead code, `O2` adds layout assignment, GEMM epilogue folding and fusion (memory planning
is the runtime's analysis of the result). Every pass is a named function Graph -> Graph. With
`verify=True` (or the environment variable GRAPHC_DEBUG=1) the graph is verified after every pass
and a broken invariant names the pass; `dump=DIR` (or GRAPHC_DUMP=DIR) writes the IR before the
first pass and after each one as `NN-name.ir`, files that `ir.parse` reads back.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ir.errors import GraphError, VerifyError
from ir.graph import Graph
from passes.cse import eliminate_common_subexpressions
from passes.dce import eliminate_dead_code
from passes.fold import fold_constants
from passes.fusion import fuse
from passes.gemm import fold_gemm_epilogues
from passes.layout import assign_layouts
from passes.simplify import simplify

PASSES: dict[str, Callable[[Graph], Graph]] = {
    "fold": fold_constants,
    "simplify": simplify,
    "cse": eliminate_common_subexpressions,
    "dce": eliminate_dead_code,
    "layout": assign_layouts,
    "gemm": fold_gemm_epilogues,
    "fuse": fuse,
}
O1 = ("fold", "simplify", "cse", "dce")
LEVELS: dict[str, tuple[str, ...]] = {
    "O0": (),
    "O1": O1,
    # layout exposes permute pairs and gemm epilogues; simplify and cse tidy what they leave.
    "O2": (*O1, "layout", "simplify", "cse", "gemm", "cse", "fuse"),
}


class PassError(GraphError):
    """A pass broke an IR invariant, or an unknown level or pass was asked for."""


@dataclass(frozen=True)
class PassRecord:
    """What one pass did: its name, seconds, and nodes/kernels before and after."""

    name: str
    seconds: float
    nodes_before: int
    nodes_after: int
    kernels_before: int
    kernels_after: int


@dataclass
class PipelineResult:
    graph: Graph
    records: list[PassRecord]

    @property
    def seconds(self) -> float:
        return sum(r.seconds for r in self.records)


def normalize_level(level) -> str:
    """'O2' for 2, '2', 'o2', 'O2' and '-O2'; a pass list string is returned as it is."""
    if isinstance(level, int) and not isinstance(level, bool):
        level = f"O{level}"
    if not isinstance(level, str):
        raise PassError(f"optimization level must be a name such as 'O2', got {level!r}")
    text = level.strip().lstrip("-")
    if text.isdigit():
        text = f"O{text}"
    return text.upper() if text.upper() in LEVELS else level


def pass_names(level) -> tuple[str, ...]:
    """The passes a level or a comma-separated pass list names; one-line PassError if unknown."""
    level = normalize_level(level)
    if level in LEVELS:
        return LEVELS[level]
    names = tuple(name.strip() for name in level.split(",") if name.strip())
    unknown = [name for name in names if name not in PASSES]
    if unknown or not names:
        raise PassError(
            f"unknown optimization level or pass {unknown[0] if unknown else level!r}: "
            f"levels are {', '.join(LEVELS)}; passes are {', '.join(PASSES)}"
        )
    return names


def debug_enabled() -> bool:
    return os.environ.get("GRAPHC_DEBUG", "") not in ("", "0")


def run_pipeline(graph: Graph, level="O2", *, verify: bool | None = None,
                 dump: str | os.PathLike | None = None) -> PipelineResult:
    """Run the passes of `level` on `graph` (left unchanged) and record what each did."""
    names = pass_names(level)
    verify = debug_enabled() if verify is None else verify
    dump = dump if dump is not None else os.environ.get("GRAPHC_DUMP") or None
    if dump is not None:
        Path(dump).mkdir(parents=True, exist_ok=True)
        _dump(dump, 0, "input", graph)
    records = []
    for index, name in enumerate(names, start=1):
        start = time.perf_counter()
        after = PASSES[name](graph)
        seconds = time.perf_counter() - start
        if verify:
            _verify_after(name, after)
        records.append(PassRecord(name, seconds, len(graph.nodes), len(after.nodes),
                                  count_kernels(graph), count_kernels(after)))
        if dump is not None:
            _dump(dump, index, name, after)
        graph = after
    return PipelineResult(graph, records)


def optimize(graph: Graph, level="O2", **options) -> Graph:
    """`graph` optimized at `level` (see run_pipeline)."""
    return run_pipeline(graph, level, **options).graph


def count_kernels(graph: Graph) -> int:
    """Nodes that compute: all but those whose result only views an operand (reshape, permute)."""
    return sum(1 for node in graph.nodes if node.opdef.view is None)


def _verify_after(name: str, graph: Graph) -> None:
    try:
        graph.verify()
    except VerifyError as err:
        raise PassError(f"pass '{name}' broke the graph: {err}") from None


def _dump(folder, index: int, name: str, graph: Graph) -> None:
    Path(folder, f"{index:02d}-{name}.ir").write_text(str(graph))
