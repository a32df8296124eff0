"""`graphc show FILE.py:NAME --input 64x1x28x28 --out DIR`: trace a model, print its IR, draw it.

Writes DIR/forward.svg (and forward.ir); with --train also the backward graph and the whole
training step (forward, loss, backward, optimizer update): backward.svg, step.svg and their .ir.
`--level O1|O2` draws the forward graph and the step as optimized (fused kernels as clusters).
"""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

LOSSES = {"cross_entropy": "CrossEntropyLoss", "mse": "MSELoss"}
OPTIMIZERS = {"sgd": "SGD", "adam": "Adam"}
LEVELS = ("O0", "O1", "O2")
DTYPES = ("float32", "float64", "int64", "int32", "bool")
SHAPE = re.compile(r"^\d+(x\d+)*$")


class ShowError(Exception):
    """A bad argument or a model that cannot be shown: reported as one line, exit status 2."""


def add_arguments(parser) -> None:
    parser.description = __doc__.splitlines()[0]
    parser.add_argument("target", metavar="FILE.py:NAME",
                        help="a Python file and the model class (or factory function) in it")
    parser.add_argument("--input", action="append", default=[], metavar="SHAPE[:DTYPE]",
                        help="an example input shape such as 64x1x28x28; repeat for more inputs")
    parser.add_argument("--dtype", default="float32", metavar="DTYPE",
                        help=f"dtype of inputs given without one ({', '.join(DTYPES)})")
    parser.add_argument("--train", action="store_true",
                        help="also draw the backward graph and the whole training step")
    parser.add_argument("--loss", default="cross_entropy", metavar="|".join(LOSSES),
                        help="the loss of the training step (cross_entropy: class indices)")
    parser.add_argument("--optim", default="sgd", metavar="|".join(OPTIMIZERS),
                        help="the optimizer of the training step")
    parser.add_argument("--level", default="O0", metavar="|".join(LEVELS),
                        help="optimization level of the drawn graphs")
    parser.add_argument("--depth", type=str, default=None, metavar="N",
                        help="collapse modules more than N levels deep into one box each")
    parser.add_argument("--out", required=True, metavar="DIR", help="where the pictures go")


def run(args) -> int:
    try:
        return show(args)
    except ShowError as err:
        sys.stderr.write(f"graphc show: error: {err}\n")
        return 2


def show(args) -> int:
    depth = parse_depth(args.depth)
    specs = [parse_input(text, args.dtype) for text in args.input]
    if not specs:
        raise ShowError("give at least one --input shape, such as --input 64x1x28x28")
    check_choice("--loss", args.loss, LOSSES)
    check_choice("--optim", args.optim, OPTIMIZERS)
    check_choice("--level", args.level, LEVELS)
    model, name = load_model(args.target)

    import graphc

    out = Path(args.out)
    forward = call_user(f"failed to trace {name}", graphc.trace, model, *specs)
    graphs = {"forward": forward}
    if args.level != "O0":
        from passes.pipeline import optimize

        graphs["forward"] = optimize(forward, args.level)
    if args.train:
        step = build_step(graphc, model, name, specs, forward, args, level=args.level)
        graphs.update(backward=step.backward_graph, step=step.graph)
    for kind, graph in graphs.items():
        text = str(graph)
        print(f"# {kind} graph of {name}\n{text}")
        out.mkdir(parents=True, exist_ok=True)
        (out / f"{kind}.ir").write_text(text + "\n")
        path = graphc.render(graph, out / f"{kind}.svg", depth=depth, title=f"{name}: {kind}")
        print(f"wrote {path}")
    return 0


def build_step(graphc, model, name, specs, forward, args, level="O0"):
    """compile_train_step with the chosen loss and optimizer, and labels shaped for the loss."""
    from graphc import nn, optim

    if not hasattr(model, "parameters"):
        raise ShowError(f"--train needs an nn.Module, and {name} gave a {type(model).__name__}")
    (logits,) = forward.outputs[:1]
    if args.loss == "cross_entropy":
        if logits.type.ndim < 1:
            raise ShowError(f"cross_entropy needs class scores, but {name} returns a scalar")
        target = graphc.spec(logits.shape[:-1], "int64")  # class indices over the last dim
    else:
        target = graphc.spec(logits.shape, logits.dtype)
    loss_fn = getattr(nn, LOSSES[args.loss])()
    params = list(model.parameters())
    if not params:
        raise ShowError(f"--train needs parameters, and {name} has none")
    optimizer = getattr(optim, OPTIMIZERS[args.optim])(params, lr=1e-3)
    return call_user(f"failed to build the training step of {name}",
                     graphc.compile_train_step, model, loss_fn, optimizer, *specs, target,
                     opt_level=level)


# -- arguments -------------------------------------------------------------------------------------
def parse_input(text: str, default_dtype: str):
    """'64x1x28x28' or '64x10:int64' -> a graphc.spec."""
    import graphc

    shape, _, dtype = text.partition(":")
    dtype = dtype or default_dtype
    if not SHAPE.match(shape):
        raise ShowError(f"malformed --input shape '{text}': expected sizes joined by x, "
                        "such as 64x1x28x28 (optionally :dtype)")
    check_choice("dtype", dtype, DTYPES)
    return graphc.spec(tuple(int(d) for d in shape.split("x")), dtype)


def parse_depth(text: str | None) -> int | None:
    if text is None:
        return None
    if not text.isdigit() or int(text) < 1:
        raise ShowError(f"--depth must be a whole number >= 1, got '{text}'")
    return int(text)


def check_choice(option: str, value: str, choices) -> None:
    if value not in choices:
        raise ShowError(f"unknown {option} '{value}': choose from {', '.join(choices)}")


# -- the user's model ------------------------------------------------------------------------------
def load_model(target: str):
    """Import FILE.py by path and instantiate NAME (a class) or call it (a factory)."""
    file, sep, name = target.rpartition(":")
    if not sep or not file or not name:
        raise ShowError(f"expected FILE.py:NAME, got '{target}'")
    path = Path(file)
    if not path.is_file():
        raise ShowError(f"no such file: {file}")
    module = import_file(path)
    if not hasattr(module, name):
        found = sorted(k for k, v in vars(module).items()
                       if callable(v) and getattr(v, "__module__", None) == module.__name__)
        raise ShowError(f"{file} defines no '{name}' (it defines: {', '.join(found) or 'nothing'})")
    factory = getattr(module, name)
    if not callable(factory):
        raise ShowError(f"{name} in {file} is not a class or a function")
    return call_user(f"could not create {name}", factory), name


def import_file(path: Path):
    """Run a user's file as a module, its folder importable (as when run as a script)."""
    module_name = f"graphc_show_{path.stem}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ShowError(f"cannot import {path}: not a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    folder = str(path.resolve().parent)
    sys.path.insert(0, folder)
    try:
        call_user(f"importing {path} failed", spec.loader.exec_module, module)
    finally:
        sys.path.remove(folder)
    return module


def call_user(what: str, fn, *args, **kwargs):
    """Call into user code; any failure becomes one line naming what failed and why."""
    try:
        return fn(*args, **kwargs)
    except ShowError:
        raise
    except Exception as err:
        message = str(err).strip().splitlines()
        reason = message[0] if message else ""
        raise ShowError(f"{what}: {type(err).__name__}: {reason}".rstrip(": ")) from err
