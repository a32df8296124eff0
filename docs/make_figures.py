"""Regenerate the pictures of the tutorial MLP in docs/ (the README shows them).

    python docs/make_figures.py

Writes quickstart_forward.svg (the traced forward graph), quickstart_backward.svg (the backward
graph autodiff derives from it with cross-entropy loss) and quickstart_step.svg (the whole SGD
training step, modules collapsed two levels deep).
"""

from __future__ import annotations

import os
from pathlib import Path

import graphc
from graphc import nn, optim
from graphc.show import load_model

ROOT = Path(__file__).resolve().parents[1]
BATCH = 64


def main() -> None:
    os.chdir(ROOT)  # source locations in the tooltips read examples/models.py:LINE
    graphc.manual_seed(0)
    model, _ = load_model("examples/models.py:NeuralNetwork")
    x = graphc.spec((BATCH, 1, 28, 28), "float32")
    y = graphc.spec((BATCH,), "int64")
    step = graphc.compile_train_step(
        model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=1e-3), x, y
    )
    figures = {
        "quickstart_forward.svg": (graphc.trace(model, x), None, "quickstart MLP: forward"),
        "quickstart_backward.svg": (step.backward_graph, None, "quickstart MLP: backward"),
        "quickstart_step.svg": (step.graph, 2, "quickstart MLP: SGD training step (depth 2)"),
    }
    for name, (graph, depth, title) in figures.items():
        print("wrote", graphc.render(graph, ROOT / "docs" / name, depth=depth, title=title))


if __name__ == "__main__":
    main()
