"""`graphc train`: the PyTorch quickstart's five steps (data, model, loss, optimizer, loops), compiled.

Each epoch runs the training loop with one compiled step per batch shape (forward, loss, backward
and update in one graph) and then the test loop, printing accuracy and average loss as the tutorial
does. `--eager` runs the same loops eagerly. The run ends with a checkpoint and pictures of the
forward and backward graphs in `--out`.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from tqdm import tqdm

import graphc
from graphc import models, nn, optim
from graphc.data import MNIST, DataLoader, Digits, FashionMNIST, ToTensor
from graphc.render import RenderError

DATASETS = ("digits", "mnist", "fashion-mnist")
# optimizer -> (default lr, default momentum or None when it takes none)
OPTIMIZERS = {
    "sgd": (0.1, 0.9),
    "adam": (1e-3, None),
    "adamw": (1e-3, None),
    "rmsprop": (1e-3, 0.0),
    "adagrad": (1e-2, None),
}


class UsageError(ValueError):
    """A combination of arguments that cannot run."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = __doc__.splitlines()[0]
    data = parser.add_argument_group("data")
    data.add_argument(
        "--data",
        choices=DATASETS,
        default="digits",
        help="data set (default: digits, bundled with scikit-learn)",
    )
    data.add_argument(
        "--root",
        type=Path,
        default=Path("data"),
        help="folder with the MNIST/FashionMNIST IDX files (default: ./data)",
    )
    data.add_argument(
        "--download",
        action="store_true",
        help="download missing MNIST/FashionMNIST files into --root",
    )
    model = parser.add_argument_group("model and training")
    model.add_argument(
        "--model",
        choices=("mlp", *models.TRAINABLE),
        default="mlp",
        help="mlp: the tutorial's MLP; cnn: LeNet (with BatchNorm); lstm, transformer: sequence "
        "classifiers on generated motif sequences, --data unused (default: mlp)",
    )
    model.add_argument(
        "--hidden",
        type=_positive(int),
        nargs="*",
        default=[512, 512],
        metavar="N",
        help="hidden layer widths of the MLP (default: 512 512)",
    )
    model.add_argument(
        "--optim",
        choices=sorted(OPTIMIZERS),
        default=None,
        help="optimizer (default: sgd; adam for --model transformer)",
    )
    model.add_argument(
        "--lr",
        type=_positive(float),
        default=None,
        help="learning rate (default: 0.1 for sgd, 1e-3 adam/adamw/rmsprop, 1e-2 adagrad)",
    )
    model.add_argument(
        "--momentum",
        type=_non_negative(float),
        default=None,
        help="momentum for sgd and rmsprop (default: 0.9 for sgd)",
    )
    model.add_argument("--weight-decay", type=_non_negative(float), default=0.0)
    model.add_argument("--epochs", type=_positive(int), default=10, help="(default: 10)")
    model.add_argument("--batch-size", type=_positive(int), default=64, help="(default: 64)")
    model.add_argument(
        "--seed", type=int, default=0, help="seed for initialization and shuffling (default: 0)"
    )
    model.add_argument(
        "--eager",
        action="store_true",
        help="run the loops eagerly instead of compiled, for comparison",
    )
    out = parser.add_argument_group("output")
    out.add_argument(
        "--out",
        type=Path,
        default=Path("runs/train"),
        help="folder for model.safetensors and the graph pictures (default: ./runs/train)",
    )
    out.add_argument("--no-render", action="store_true", help="do not render the graphs")
    out.add_argument("--no-progress", action="store_true", help="no progress bars")


def run(args: argparse.Namespace) -> int:
    args.optim = args.optim or models.TRAINABLE.get(args.model, ("", "sgd"))[1]
    try:
        optimizer_options = _optimizer_options(args)
        if models.TRAINABLE.get(args.model, ("images",))[0] == "sequences":
            train_data, test_data = models.MotifSequences(True), models.MotifSequences(False)
            args.data = "motif sequences"
        else:
            train_data, test_data = load_data(args.data, args.root, args.download)
    except (UsageError, OSError, RuntimeError, ValueError) as err:
        print(f"graphc train: error: {err}", file=sys.stderr)
        return 2 if isinstance(err, UsageError) else 1

    graphc.manual_seed(args.seed)
    train_loader = DataLoader(
        train_data, batch_size=args.batch_size, shuffle=True, generator=args.seed
    )
    test_loader = DataLoader(test_data, batch_size=args.batch_size)
    sample = train_data[0][0]
    if args.model == "mlp":
        model = MLP(sample.numel(), args.hidden, len(train_data.classes))
    else:
        model = models.build(args.model, train_data)
    loss_fn = nn.CrossEntropyLoss()
    optimizer = make_optimizer(args.optim, model.parameters(), optimizer_options)
    loop = (
        EagerLoop(model, loss_fn, optimizer)
        if args.eager
        else CompiledLoop(model, loss_fn, optimizer)
    )
    mode = "eager" if args.eager else "compiled"
    print(
        f"{args.data}: {len(train_data)} train / {len(test_data)} test samples, "
        f"{mode}, {args.optim} {_describe(optimizer_options)}"
    )
    print(model)

    start = time.perf_counter()
    accuracy = 0.0
    for epoch in range(1, args.epochs + 1):
        print(f"Epoch {epoch}\n-------------------------------")
        train_epoch(loop, train_loader, f"epoch {epoch}/{args.epochs}", args.no_progress)
        accuracy, test_loss = evaluate(loop, test_loader)
        print(f"Test Error: \n Accuracy: {100 * accuracy:>0.1f}%, Avg loss: {test_loss:>8f} \n")
    elapsed = time.perf_counter() - start
    print(
        f"Done! Final test accuracy: {100 * accuracy:.1f}% "
        f"({mode}, {args.epochs} epoch{'s' if args.epochs > 1 else ''}, {elapsed:.1f} s)"
    )
    save_outputs(args.out, model, loop, render=not args.no_render)
    return 0


# -- the five steps ------------------------------------------------------------------------------


def load_data(name: str, root: Path, download: bool):
    """(train, test) data sets; images come as float Tensors in [0, 1]."""
    if name == "digits":
        return Digits(train=True), Digits(train=False)
    cls = MNIST if name == "mnist" else FashionMNIST
    return (
        cls(root, train=True, transform=ToTensor(), download=download),
        cls(root, train=False, transform=ToTensor(), download=download),
    )


class MLP(nn.Module):
    """The tutorial's NeuralNetwork: Flatten, Linear+ReLU per hidden width, Linear to the logits."""

    def __init__(self, in_features: int, hidden, classes: int):
        super().__init__()
        self.flatten = nn.Flatten()
        layers = []
        for width in hidden:
            layers += [nn.Linear(in_features, width), nn.ReLU()]
            in_features = width
        self.linear_relu_stack = nn.Sequential(*layers, nn.Linear(in_features, classes))

    def forward(self, x):
        return self.linear_relu_stack(self.flatten(x))


def make_optimizer(name: str, params, options: dict):
    cls = {
        "sgd": optim.SGD,
        "adam": optim.Adam,
        "adamw": optim.AdamW,
        "rmsprop": optim.RMSprop,
        "adagrad": optim.Adagrad,
    }[name]
    return cls(params, **options)


def _optimizer_options(args) -> dict:
    default_lr, default_momentum = OPTIMIZERS[args.optim]
    options = {"lr": args.lr if args.lr is not None else default_lr}
    if default_momentum is None:
        if args.momentum is not None:
            raise UsageError(
                f"--momentum does not apply to --optim {args.optim} (only to sgd and rmsprop)"
            )
    else:
        options["momentum"] = args.momentum if args.momentum is not None else default_momentum
    if args.weight_decay:
        options["weight_decay"] = args.weight_decay
    return options


def _describe(options: dict) -> str:
    return " ".join(f"{key}={value:g}" for key, value in options.items())


class EagerLoop:
    """The tutorial's loop body: forward, loss, backward, step, zero_grad."""

    def __init__(self, model, loss_fn, optimizer):
        self.model, self.loss_fn, self.optimizer = model, loss_fn, optimizer

    def train_step(self, X, y):
        loss = self.loss_fn(self.model(X), y)
        loss.backward()
        self.optimizer.step()
        self.optimizer.zero_grad()
        return loss

    def predict(self, X):
        with graphc.no_grad():
            return self.model(X)


class CompiledLoop(EagerLoop):
    """One compiled training step and one compiled forward per batch shape (a short last batch
    gets its own); all of them share the model's and the optimizer's storage."""

    def __init__(self, model, loss_fn, optimizer):
        super().__init__(model, loss_fn, optimizer)
        self.steps: dict = {}
        self.forwards: dict = {}

    def train_step(self, X, y):
        key = (tuple(X.shape), tuple(y.shape))
        if key not in self.steps:
            self.steps[key] = graphc.compile_train_step(
                self.model, self.loss_fn, self.optimizer, X, y
            )
        return self.steps[key](X, y)

    def predict(self, X):
        key = tuple(X.shape)
        if key not in self.forwards:
            self.forwards[key] = graphc.compile(self.model, X)
        return self.forwards[key](X)

    @property
    def main_step(self):
        """The step of the first (full) batch shape: the one whose graphs are rendered."""
        return next(iter(self.steps.values()), None)


def train_epoch(loop, loader, description: str, quiet: bool) -> None:
    loop.model.train()
    with tqdm(loader, desc=description, unit="batch", disable=quiet, leave=True) as bar:
        for X, y in bar:
            loss = loop.train_step(X, y)
            bar.set_postfix(loss=f"{loss.item():.4f}", refresh=False)


def evaluate(loop, loader) -> tuple[float, float]:
    """(accuracy, average loss per batch) on `loader`, as the tutorial's test loop computes them."""
    loop.model.eval()
    test_loss, correct = 0.0, 0.0
    with graphc.no_grad():
        for X, y in loader:
            pred = loop.predict(X)
            test_loss += loop.loss_fn(pred, y).item()
            correct += (pred.argmax(1) == y).type(graphc.float).sum().item()
    return correct / len(loader.dataset), test_loss / len(loader)


def save_outputs(out: Path, model, loop, render: bool) -> None:
    """The checkpoint and, for a compiled run, the forward and backward graph pictures."""
    out.mkdir(parents=True, exist_ok=True)
    graphc.save(model.state_dict(), out / "model.safetensors")
    written = ["model.safetensors"]
    step = getattr(loop, "main_step", None)
    if render and step is None:
        print("graphs are rendered for compiled runs only (drop --eager to get them)")
    elif render:
        try:
            for name, graph in (("forward", step.forward_graph), ("backward", step.backward_graph)):
                graphc.render(graph, out / f"{name}.svg", title=f"{name} graph",
                              depth=getattr(model, "render_depth", None))
                written.append(f"{name}.svg")
        except (RenderError, OSError) as err:  # a by-product: report it, keep the trained model
            print(f"could not render the graphs: {err}", file=sys.stderr)
    print(f"Saved {', '.join(written)} in {out}")


def _positive(kind):
    def parse(text: str):
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be positive, got {text}")
        return value

    parse.__name__ = kind.__name__
    return parse


def _non_negative(kind):
    def parse(text: str):
        value = kind(text)
        if value < 0:
            raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
        return value

    parse.__name__ = kind.__name__
    return parse
