"""`graphc train`: the PyTorch quickstart's five steps (data, model, loss, optimizer, loops), compiled.

Each epoch runs the training loop with one compiled step per batch shape (forward, loss, backward
and update in one graph) and then the test loop, printing accuracy and average loss as the tutorial
does. `--eager` runs the same loops eagerly. The run ends with a checkpoint and pictures of the
forward and backward graphs in `--out`.
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from pathlib import Path

from tqdm import tqdm

import graphc
from graphc import models, nn, optim
from graphc.data import MNIST, DataLoader, Digits, DistributedSampler, FashionMNIST, ToTensor
from graphc.distributed import DistributedDataParallel, launch, launched_world_size
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
        type=_model_name,
        default="mlp",
        metavar="{mlp,cnn,lstm,transformer,FILE.py:NAME}",
        help="mlp: the tutorial's MLP; cnn: LeNet (with BatchNorm); lstm, transformer: sequence "
        "classifiers on generated motif sequences, --data unused; FILE.py:NAME: a class or "
        "factory in FILE.py (as graphc show takes it) that gets image batches (N, 1, H, W) and "
        "returns class scores (default: mlp)",
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
    model.add_argument(
        "--batch-size", type=_positive(int), default=64, help="per process (default: 64)"
    )
    model.add_argument(
        "--nproc",
        type=_positive(int),
        default=1,
        metavar="N",
        help="train data-parallel in N local processes started by mpiexec (needs graphc[dist]; "
        "under `mpiexec -n N`, the N processes it starts are used)",
    )
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
        if args.nproc > 1 and launched_world_size() is None:
            return launch.launch_local(args.nproc, args.command_line)
        with launch.join_job(args.nproc) as job:
            return _run(args, job)
    except launch.LaunchError as err:
        print(f"graphc train: error: {err}", file=sys.stderr)
        return 1


def _run(args: argparse.Namespace, job: launch.Job) -> int:
    try:
        optimizer_options = _optimizer_options(args)
        check_writable(args.out)
        if models.TRAINABLE.get(args.model, ("images",))[0] == "sequences":
            train_data, test_data = models.MotifSequences(True), models.MotifSequences(False)
            args.data = "motif sequences"
        else:
            train_data, test_data = load_data(args.data, args.root, args.download)
        graphc.manual_seed(args.seed)
        model = build_model(args.model, args.hidden, train_data)
    except (UsageError, OSError, RuntimeError, ValueError) as err:
        print(f"graphc train: error: {err}", file=sys.stderr)
        return 2 if isinstance(err, UsageError) else 1

    sampler = DistributedSampler(train_data, seed=args.seed) if job.distributed else None
    train_loader = DataLoader(
        train_data,
        batch_size=args.batch_size,
        shuffle=sampler is None,
        sampler=sampler,
        generator=args.seed,
    )
    test_loader = DataLoader(test_data, batch_size=args.batch_size)
    loss_fn = nn.CrossEntropyLoss()
    optimizer = make_optimizer(args.optim, model.parameters(), optimizer_options)
    replica = DistributedDataParallel(model) if job.distributed else model
    loop = (
        EagerLoop(replica, loss_fn, optimizer)
        if args.eager
        else CompiledLoop(replica, loss_fn, optimizer)
    )
    mode = ("eager" if args.eager else "compiled") + (
        f", {job.size} processes" if job.distributed else ""
    )
    print(
        f"{args.data}: {len(train_data)} train / {len(test_data)} test samples, "
        f"{mode}, {args.optim} {_describe(optimizer_options)}"
    )
    print(model)

    start = time.perf_counter()
    accuracy, checkpoint, epoch = 0.0, args.out / CHECKPOINT, 0
    try:
        for epoch in range(1, args.epochs + 1):
            print(f"Epoch {epoch}\n-------------------------------")
            if sampler is not None:
                sampler.set_epoch(epoch)
            quiet = args.no_progress or job.rank > 0
            train_epoch(loop, train_loader, epoch, args.epochs, quiet)
            accuracy, test_loss = evaluate(loop, test_loader)
            print(f"Test Error: \n Accuracy: {100 * accuracy:>0.1f}%, "
                  f"Avg loss: {test_loss:>8f} \n")
            if job.rank == 0:  # one writer: every replica holds the same weights
                graphc.save(model.state_dict(), checkpoint)  # the last good checkpoint
    except Diverged as err:
        print(f"graphc train: error: {err}. Hint: {_divergence_hint(args, optimizer_options)}; "
              f"{_kept(checkpoint, epoch)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"\ngraphc train: interrupted in epoch {epoch}; {_kept(checkpoint, epoch)}",
              file=sys.stderr)
        return 130
    elapsed = time.perf_counter() - start
    print(
        f"Done! Final test accuracy: {100 * accuracy:.1f}% "
        f"({mode}, {args.epochs} epoch{'s' if args.epochs > 1 else ''}, {elapsed:.1f} s)"
    )
    if job.rank == 0:
        save_outputs(args.out, model, loop, render=not args.no_render)
    return 0


CHECKPOINT = "model.safetensors"


class Diverged(ArithmeticError):
    """The training loss became NaN or infinite."""


def check_writable(out: Path) -> None:
    """Fail before training, not after it, when the checkpoint cannot be written to `out`."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out):
            pass
    except OSError as err:
        raise OSError(f"cannot write to --out {out}: {err.strerror or err}") from None


def build_model(name: str, hidden, train_data):
    """The model `--model` names: the MLP, a zoo model sized for `train_data`, or FILE.py:NAME
    (a class or factory, as `graphc show` takes it)."""
    if name == "mlp":
        return MLP(train_data[0][0].numel(), hidden, len(train_data.classes))
    if name in models.TRAINABLE:
        return models.build(name, train_data)
    from graphc.show import ShowError, load_model

    try:
        model, name = load_model(name)
    except ShowError as err:
        raise UsageError(f"--model: {err}") from None
    if not isinstance(model, nn.Module):
        raise UsageError(f"--model: {name} gave a {type(model).__name__}, not an nn.Module")
    return model


def _kept(checkpoint: Path, epoch: int) -> str:
    if epoch > 1 and checkpoint.exists():
        return f"kept the checkpoint of epoch {epoch - 1} in {checkpoint}"
    if checkpoint.exists():
        return f"left {checkpoint} as it was"
    return "no checkpoint written"


def _divergence_hint(args, options: dict) -> str:
    return (f"lower the learning rate (--lr, now {options['lr']:g})"
            + (" or the momentum (--momentum)" if options.get("momentum") else "")
            + ("" if args.data == "digits" else ", and check the data for NaN or inf values"))


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


def train_epoch(loop, loader, epoch: int, epochs: int, quiet: bool) -> None:
    """One pass over `loader`; raises Diverged at the first NaN or infinite loss."""
    loop.model.train()
    description = f"epoch {epoch}/{epochs}"
    with tqdm(loader, desc=description, unit="batch", disable=quiet, leave=True) as bar:
        for batch, (X, y) in enumerate(bar, 1):
            loss = loop.train_step(X, y).item()
            if not math.isfinite(loss):
                raise Diverged(f"the training loss became {loss} at epoch {epoch}, step {batch} "
                               f"of {len(loader)}: training diverged")
            bar.set_postfix(loss=f"{loss:.4f}", refresh=False)


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
    """For a compiled run, the forward and backward graph pictures beside the checkpoint (drawn
    `model.render_depth` module levels deep, where the model sets it)."""
    written = [CHECKPOINT]
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


def _model_name(text: str) -> str:
    if text in ("mlp", *models.TRAINABLE) or ":" in text:
        return text
    raise argparse.ArgumentTypeError(
        f"invalid choice: '{text}' (choose from {', '.join(('mlp', *models.TRAINABLE))} "
        "or FILE.py:NAME)")


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
