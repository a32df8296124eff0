"""One training step of the quickstart MLP: graphc compiled vs graphc eager vs PyTorch.

    python benchmarks/bench_train_step.py [--steps 200] [--batch-size 64] [--threads N]

The model is the tutorial's (784-512-512-10, ReLU), the loss CrossEntropyLoss, the optimizer SGD
(lr 1e-3, as the tutorial); all three start from the same weights and see the same batch. Prints
milliseconds per step (median of repeats) and the ratios to PyTorch. Not part of the test run.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

import graphc
from graphc import nn, optim


def quickstart_mlp():
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(28 * 28, 512),
        nn.ReLU(),
        nn.Linear(512, 512),
        nn.ReLU(),
        nn.Linear(512, 10),
    )


def time_steps(step, steps: int, repeats: int) -> float:
    """Median milliseconds per call of `step` over `repeats` runs of `steps` calls."""
    for _ in range(3):
        step()
    runs = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(steps):
            step()
        runs.append((time.perf_counter() - start) / steps * 1e3)
    return statistics.median(runs)


def graphc_steps(X: np.ndarray, y: np.ndarray, lr: float):
    """(eager step, compiled step, initial weights as arrays): two copies of one model."""
    graphc.manual_seed(0)
    state = quickstart_mlp().state_dict()
    X_t, y_t = graphc.from_numpy(X), graphc.from_numpy(y)
    loss_fn = nn.CrossEntropyLoss()

    eager_model = quickstart_mlp()
    eager_model.load_state_dict(state)
    eager_opt = optim.SGD(eager_model.parameters(), lr=lr)

    def eager_step():
        loss = loss_fn(eager_model(X_t), y_t)
        loss.backward()
        eager_opt.step()
        eager_opt.zero_grad()
        return loss

    compiled_model = quickstart_mlp()
    compiled_model.load_state_dict(state)
    compiled_opt = optim.SGD(compiled_model.parameters(), lr=lr)
    train_step = graphc.compile_train_step(compiled_model, loss_fn, compiled_opt, X_t, y_t)

    def compiled_step():
        return train_step(X_t, y_t)

    return eager_step, compiled_step, {k: v.numpy().copy() for k, v in state.items()}


def torch_step(X: np.ndarray, y: np.ndarray, lr: float, state: dict):
    import torch

    model = torch.nn.Sequential(
        torch.nn.Flatten(),
        torch.nn.Linear(28 * 28, 512),
        torch.nn.ReLU(),
        torch.nn.Linear(512, 512),
        torch.nn.ReLU(),
        torch.nn.Linear(512, 10),
    )
    model.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()})
    loss_fn = torch.nn.CrossEntropyLoss()
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    X_t, y_t = torch.from_numpy(X), torch.from_numpy(y)

    def step():
        loss = loss_fn(model(X_t), y_t)
        loss.backward()
        opt.step()
        opt.zero_grad()
        return loss

    return step


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=100, help="steps per timed run")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="BLAS/torch threads (default: the libraries' own choice)",
    )
    args = parser.parse_args(argv)

    limits = None
    if args.threads is not None:
        from threadpoolctl import threadpool_limits  # ships with scikit-learn

        limits = threadpool_limits(args.threads)
    rng = np.random.default_rng(0)
    X = rng.random((args.batch_size, 1, 28, 28), dtype=np.float32)
    y = rng.integers(0, 10, args.batch_size).astype(np.int64)

    eager, compiled, state = graphc_steps(X, y, args.lr)
    first = {"graphc compiled": compiled().item(), "graphc eager": eager().item()}
    results = {
        "graphc compiled": time_steps(compiled, args.steps, args.repeats),
        "graphc eager": time_steps(eager, args.steps, args.repeats),
    }
    try:
        import torch
    except ImportError:
        print("(torch not installed: PyTorch column skipped)")
    else:
        if args.threads is not None:
            torch.set_num_threads(args.threads)
        step = torch_step(X, y, args.lr, state)
        first["torch"] = step().item()
        results["torch"] = time_steps(step, args.steps, args.repeats)

    print(
        f"quickstart MLP 784-512-512-10, batch {args.batch_size}, SGD lr {args.lr}, "
        f"threads: {args.threads or 'default'}"
    )
    print(f"{'':<18}{'ms/step':>10}{'vs torch':>10}{'first loss':>12}")
    for name, ms in results.items():
        ratio = f"{ms / results['torch']:.2f}x" if "torch" in results else "-"
        print(f"{name:<18}{ms:>10.3f}{ratio:>10}{first[name]:>12.6f}")
    if limits is not None:
        limits.restore_original_limits()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
