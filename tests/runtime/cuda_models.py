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


def step_feeds(step, model, inputs) -> dict:
    """Everything the graph of compiled training step `step` is fed, by name: the inputs, the
    model's parameters and buffers, the optimizer's hyper-parameters and first state."""
    from graphc.compile import live_tensors
    from graphc.differential import _Recorder

    recorder = _Recorder()
    step.variant.extra["program"].feeder(recorder).before(step.variant.extra["tensors"])
    feeds = dict(recorder.arrays)
    feeds.update(zip(step.variant.extra["inputs"], [x.numpy() for x in inputs]))
    feeds.update((n, t.detach().numpy()) for n, t in live_tensors(model).items())
    return feeds


def zoo_steps():
    """(optimized training-step graph, what it is fed by name) of the tutorial MLP with SGD,
    momentum and Adam, LeNet, and the zoo's models (graphc.models): LeNet with BatchNorm,
    SmallAlexNet (with Dropout), SmallResNet, the LSTM and the Transformer classifiers."""
    import graphc
    from graphc import models, nn, optim

    mlp = examples().NeuralNetwork
    image, small = (4, 1, 28, 28), (4, 3, 32, 32)
    sgd = lambda p: optim.SGD(p, lr=0.1)
    adam = lambda p: optim.Adam(p, lr=1e-3)
    cases = [(mlp, image, sgd),
             (mlp, image, lambda p: optim.SGD(p, lr=0.1, momentum=0.9)),
             (mlp, image, adam),
             (examples().LeNet, image, sgd),
             (lambda: models.LeNet(batch_norm=True), image, sgd),
             (lambda: models.SmallAlexNet(width=8), small, sgd),
             (lambda: models.SmallResNet(width=8), small, lambda p: optim.SGD(p, lr=0.1,
                                                                              momentum=0.9)),
             (lambda: models.LSTMClassifier(20, 5), "tokens", sgd),
             (lambda: models.TransformerClassifier(20, 5, max_len=12, d_model=32, nhead=4,
                                                   num_layers=1, dim_feedforward=64), "tokens",
              adam)]
    for make_model, shape, make_optimizer in cases:
        graphc.manual_seed(0)
        model = make_model()
        x = graphc.randint(0, 20, (4, 12)) if shape == "tokens" else graphc.randn(*shape)
        logits = model(x)
        y = graphc.randint(0, logits.shape[-1], tuple(logits.shape[:-1]))
        step = graphc.compile_train_step(model, nn.CrossEntropyLoss(),
                                         make_optimizer(model.parameters()), x, y)
        yield step.graph, step_feeds(step, model, (x, y))
