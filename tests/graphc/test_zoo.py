"""The model zoo: each model's compiled training step equals its eager step over several steps
(dropout masks and BatchNorm statistics included), its loss falls, and its graphs draw small
with depth collapse; `graphc train --model cnn|lstm|transformer` runs."""

from __future__ import annotations

import copy
import inspect
import re

import numpy as np
import pytest

import graphc
from graphc import cli, models, nn, optim
from graphc.nn import functional as F
from graphc.render import to_dot_source

TEXT = "the quick brown fox jumps over the lazy dog. " * 8


def next_char_loss(logits, target):
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), target.reshape(-1))


def image_batches(shape, classes, count=4, seed=0):
    rng = np.random.default_rng(seed)
    return [(graphc.from_numpy(rng.random(shape, np.float32)),
             graphc.from_numpy(rng.integers(0, classes,
                                                                                 shape[0])))
            for _ in range(count)]


def sequence_batches(count=4):
    data = models.MotifSequences(size=8 * count, length=12)
    tokens, labels = data.tensors
    return [(tokens[8 * i:8 * i + 8], labels[8 * i:8 * i + 8]) for i in range(count)]


def text_batches(count=4):
    data = models.CharText(TEXT, seq_len=10)
    x, y = data.tensors
    return [(x[4 * i:4 * i + 4], y[4 * i:4 * i + 4]) for i in range(count)], len(data.vocab)


def zoo():
    """name -> (model, loss function, batches); models in float64."""
    text, vocab = text_batches()
    return {
        "lenet_digits": (models.LeNet(10, image_size=8, batch_norm=True),
                         nn.CrossEntropyLoss(), image_batches((8, 1, 8, 8), 10)),
        "lenet": (models.LeNet(10), nn.CrossEntropyLoss(), image_batches((4, 1, 28, 28), 10)),
        "alexnet": (models.SmallAlexNet(10, width=8), nn.CrossEntropyLoss(),
                    image_batches((4, 3, 32, 32), 10)),
        "resnet": (models.SmallResNet(10, width=8), nn.CrossEntropyLoss(),
                   image_batches((4, 3, 32, 32), 10)),
        "lstm": (models.LSTMClassifier(10, 4, num_layers=2, dropout=0.3), nn.CrossEntropyLoss(),
                 sequence_batches()),
        "char_gru": (models.CharGRU(vocab, hidden_size=32), next_char_loss, text),
        "transformer": (models.TransformerClassifier(10, 4, max_len=12, d_model=16, nhead=2,
                                                     dim_feedforward=32, dropout=0.1),
                        nn.CrossEntropyLoss(), sequence_batches()),
    }


NAMES = sorted(zoo())
# every optimization level compile_train_step offers (none to choose from: its one way)
LEVELS = (["O0", "O1", "O2"] if "opt_level" in inspect.signature(graphc.compile_train_step)
          .parameters else [None])


def train(model, loss_fn, batches, compiled: bool, steps: int, level=None):
    optimizer = optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    x0, y0 = batches[0]
    options = {} if level is None else {"opt_level": level}
    step = (graphc.compile_train_step(model, loss_fn, optimizer, x0, y0, **options) if compiled
            else None)
    losses = []
    for i in range(steps):
        x, y = batches[i % len(batches)]
        graphc.manual_seed(100 + i)  # the same dropout masks in both runs
        if compiled:
            loss = step(x, y)
        else:
            loss = loss_fn(model(x), y)
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
        losses.append(loss.item())
    return losses


def as_double(batches):
    return [(x.double() if x.dtype.is_floating_point else x, y) for x, y in batches]


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("name", NAMES)
def test_compiled_step_equals_eager_step_and_loss_falls(name, level):
    graphc.manual_seed(0)
    model, loss_fn, batches = zoo()[name]
    model.double()
    batches = as_double(batches)
    twin = copy.deepcopy(model)
    eager = train(model, loss_fn, batches, compiled=False, steps=4)
    compiled = train(twin, loss_fn, batches, compiled=True, steps=4, level=level)
    np.testing.assert_allclose(compiled, eager, rtol=1e-9)
    ours = twin.state_dict()
    for key, value in model.state_dict().items():  # parameters and BatchNorm statistics
        np.testing.assert_allclose(ours[key].numpy(), value.numpy(), rtol=1e-8, atol=1e-10,
                                   err_msg=key)
    more = train(twin, loss_fn, batches[:1], compiled=True, steps=12, level=level)
    assert more[-1] < more[0], more


def count_vertices(dot: str) -> int:
    return len(re.findall(r"^\s+(?!graph |node |edge )\w+ \[", dot, re.MULTILINE))


@pytest.mark.parametrize("name", NAMES)
def test_graphs_draw_small_with_depth_collapse(name):
    graphc.manual_seed(0)
    model, loss_fn, batches = zoo()[name]
    x, y = batches[0]
    depth = model.render_depth
    collapsed = count_vertices(to_dot_source(graphc.trace(model, x), depth=depth))
    assert collapsed <= 60, f"{name}: {collapsed} vertices at depth {depth}"
    step = graphc.compile_train_step(model, loss_fn, optim.SGD(model.parameters(), lr=0.1), x, y)
    for graph in (step.forward_graph, step.backward_graph, step.graph):
        # (the forward and backward graphs also draw each saved value: one vertex apiece)
        assert count_vertices(to_dot_source(graph, depth=depth)) < count_vertices(
            to_dot_source(graph))


def test_models_run_on_pytorch_weights(parity):
    """The zoo is plain nn code: a PyTorch state_dict of the same architecture loads into it."""
    torch = parity.torch
    mine = models.LSTMClassifier(10, 4)
    theirs = torch.nn.Module()
    theirs.embedding = torch.nn.Embedding(10, 16)
    theirs.lstm = torch.nn.LSTM(16, 32, 1, batch_first=True)
    theirs.head = torch.nn.Linear(32, 4)
    mine.load_state_dict({k: graphc.from_numpy(v.detach().numpy().copy())
                          for k, v in theirs.state_dict().items()})
    tokens = np.random.default_rng(0).integers(0, 10, (3, 7))
    out, _ = theirs.lstm(theirs.embedding(torch.from_numpy(tokens)))
    expected = theirs.head(out[:, -1]).detach().numpy()
    got = mine(graphc.from_numpy(tokens)).detach().numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def test_char_gru_learns_the_text():
    graphc.manual_seed(0)
    data = models.CharText(TEXT, seq_len=16)
    model = models.CharGRU(len(data.vocab), hidden_size=48)
    x, y = data.tensors
    step = graphc.compile_train_step(model, next_char_loss, optim.Adam(model.parameters(),
                                                                       lr=0.02), x, y)
    losses = [step(x, y).item() for _ in range(60)]
    assert losses[-1] < 0.5 * losses[0]
    assert data.decode(data.encode("lazy dog")) == "lazy dog"


@pytest.mark.parametrize("model", ["cnn", "lstm", "transformer"])
def test_graphc_train_model_runs_and_prints_accuracy(model, tmp_path, capsys):
    status = cli.main(["train", "--model", model, "--epochs", "1", "--no-progress",
                       "--no-render", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert status == 0
    assert re.search(r"Final test accuracy: [\d.]+%", out)
    state = graphc.load(tmp_path / "model.safetensors")
    train_data = models.MotifSequences() if model != "cnn" else graphc.data.Digits()
    models.build(model, train_data).load_state_dict(state)
    if model == "transformer":
        assert "adam lr=0.001" in out
    if model != "cnn":
        assert "motif sequences: 2000 train / 500 test samples" in out


@pytest.mark.slow
def test_graphc_train_cnn_reaches_95_percent_on_digits(tmp_path, capsys):
    status = cli.main(["train", "--model", "cnn", "--no-progress", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert status == 0 and (tmp_path / "forward.svg").exists()
    accuracy = float(re.search(r"Final test accuracy: ([\d.]+)%", out).group(1))
    assert accuracy >= 95, out
