"""Models whose compiled steps the CUDA backend's tests compile and run."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def examples():
    """examples/models.py as a module (the tutorial MLP, LeNet)."""
    spec = importlib.util.spec_from_file_location("cuda_examples_models",
                                                  ROOT / "examples" / "models.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def zoo_steps():
    """The training steps whose kernels must compile: the tutorial MLP with SGD, momentum and
    Adam, LeNet, and the zoo's models where graphc.models exists."""
    import graphc
    from graphc import nn, optim

    mlp = examples().NeuralNetwork
    cases = [(mlp(), (4, 1, 28, 28), lambda p: optim.SGD(p, lr=0.1)),
             (mlp(), (4, 1, 28, 28), lambda p: optim.SGD(p, lr=0.1, momentum=0.9)),
             (mlp(), (4, 1, 28, 28), lambda p: optim.Adam(p, lr=1e-3)),
             (examples().LeNet(), (4, 1, 28, 28), lambda p: optim.SGD(p, lr=0.1))]
    try:
        from graphc import models
    except ImportError:
        models = None
    for name in ("LeNet", "SmallAlexNet", "SmallResNet", "LSTMClassifier",
                 "TransformerClassifier", "CharGRU"):
        factory = getattr(models, name, None) if models is not None else None
        if factory is not None and hasattr(factory, "example_input"):
            model = factory()
            cases.append((model, tuple(model.example_input().shape),
                          lambda p: optim.Adam(p, lr=1e-3)))
    for model, shape, make in cases:
        graphc.manual_seed(0)
        x = graphc.randn(*shape)
        logits = model(x)
        y = graphc.randint(0, logits.shape[-1], tuple(logits.shape[:-1]))
        yield graphc.compile_train_step(model, nn.CrossEntropyLoss(),
                                        make(model.parameters()), x, y).graph
