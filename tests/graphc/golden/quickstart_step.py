"""The training step whose IR the golden files hold (kept in its own file so that the source
lines printed in the IR do not move when the tests change)."""

import graphc
from graphc import nn, optim


def build(model, level: str):
    """The PyTorch quickstart's step: cross-entropy, SGD with momentum, batch 64."""
    opt = optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    x, y = graphc.spec((64, 1, 28, 28)), graphc.spec((64,), "int64")
    return graphc.compile_train_step(model, nn.CrossEntropyLoss(), opt, x, y, opt_level=level)
