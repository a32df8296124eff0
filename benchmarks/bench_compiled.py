"""graphc compiled (O0, O2) and eager against PyTorch eager (and torch.compile), side by side.

    python benchmarks/bench_compiled.py [--threads 2] [--repeats 5] [--rss] [--torch-compile]
                                        [--only mlp_train_64,lenet_train_64]

Workloads: the tutorial MLP (784-512-512-10) training step with SGD at batch 64 and 512 and its
inference at batch 64 and 4096; the training steps (SGD, batch 64) of LeNet-5, of an LSTM
classifier (embedding 32, hidden 64, 50 time steps, unrolled in graphc's graph) and of a
Transformer encoder classifier (two pre-norm layers, d_model 64, 8 heads, 32 tokens). All implementations run in one
process with the same BLAS/OpenMP thread count, start from the same weights and batch, and are
timed interleaved (each repeat times every implementation once, in a fixed order), with a pause
between blocks: OpenBLAS's worker threads spin for a while after a GEMM and slow what runs next.
Reported: median milliseconds per call, calls per second, and the median over repeats of PyTorch
eager's time over each implementation's in the same repeat (above 1: faster than PyTorch; pairing
the blocks timed next to each other keeps a noisy machine's slow spells out of the ratio). `--rss` adds the peak resident memory of each
implementation alone in a fresh process; `--torch-compile` adds torch.compile (slow to build).
Not part of the test run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np

PAUSE = 0.3  # seconds between timed blocks (OpenBLAS threads spin ~0.15 s after a GEMM)
TARGET = 0.25  # seconds per timed block
WORKLOADS = {
    # name: (model, batch, training?)
    "mlp_train_64": ("mlp", 64, True),
    "mlp_train_512": ("mlp", 512, True),
    "mlp_infer_64": ("mlp", 64, False),
    "mlp_infer_4096": ("mlp", 4096, False),
    "lenet_train_64": ("lenet", 64, True),
    "lstm_train_64": ("lstm", 64, True),
    "transformer_train_64": ("transformer", 64, True),
}
IMPLS = ("torch eager", "torch.compile", "graphc O2", "graphc O0", "graphc eager")


# -- models, written once for both libraries -------------------------------------------------------
VOCAB, CLASSES = 32, 4  # the sequence models' tokens and classes
LENGTHS = {"lstm": 50, "transformer": 32}  # their sequence lengths


def define(lib):
    """The models over `lib` (graphc or torch: their module APIs are the same)."""
    nn = lib.nn

    def mlp():
        return nn.Sequential(nn.Flatten(), nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512),
                             nn.ReLU(), nn.Linear(512, 10))

    def lenet():
        return nn.Sequential(
            nn.Conv2d(1, 6, kernel_size=5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(6, 16, kernel_size=5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
            nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10))

    class LSTM(nn.Module):  # graphc.models.LSTMClassifier, layer for layer
        def __init__(self, embed_dim=32, hidden_size=64):
            super().__init__()
            self.embedding = nn.Embedding(VOCAB, embed_dim)
            self.lstm = nn.LSTM(embed_dim, hidden_size, batch_first=True)
            self.head = nn.Linear(hidden_size, CLASSES)

        def forward(self, tokens):
            out, _ = self.lstm(self.embedding(tokens))
            return self.head(out[:, -1])

    class Transformer(nn.Module):  # graphc.models.TransformerClassifier, layer for layer
        def __init__(self, d_model=64, nhead=8, num_layers=2, dim_feedforward=128):
            super().__init__()
            from graphc.models.sequence import sinusoidal_positions

            self.embedding = nn.Embedding(VOCAB, d_model)
            table = sinusoidal_positions(LENGTHS["transformer"], d_model).numpy()
            self.register_buffer("positions", lib.tensor(table))
            layer = nn.TransformerEncoderLayer(d_model, nhead, dim_feedforward, 0.0,
                                               batch_first=True, norm_first=True)
            self.encoder = nn.TransformerEncoder(layer, num_layers, norm=nn.LayerNorm(d_model))
            self.head = nn.Linear(d_model, CLASSES)

        def forward(self, tokens):
            x = self.embedding(tokens) + self.positions[: tokens.shape[1]]
            return self.head(self.encoder(x).amax(1))

    return {"mlp": mlp, "lenet": lenet, "lstm": LSTM, "transformer": Transformer}


def data(model_name: str, batch: int):
    """(inputs, class targets) as NumPy arrays: images, or token ids for the sequence models."""
    rng = np.random.default_rng(0)
    if model_name in LENGTHS:
        return (rng.integers(0, VOCAB, (batch, LENGTHS[model_name])).astype(np.int64),
                rng.integers(0, CLASSES, batch).astype(np.int64))
    return (rng.random((batch, 1, 28, 28), dtype=np.float32),
            rng.integers(0, 10, batch).astype(np.int64))


def initial_state(model_name: str) -> dict:
    import graphc

    graphc.manual_seed(0)
    return {k: v.detach().cpu().numpy().copy()
            for k, v in define(graphc)[model_name]().state_dict().items()}


# -- one callable per implementation -----------------------------------------------------------------
def setup(lib, workload: str, state: dict | None):
    """(model, inputs, targets, loss, SGD optimizer) of `workload` in `lib` (graphc or torch),
    from `state` (None: the library's own initialization)."""
    model_name, batch, _ = WORKLOADS[workload]
    model = define(lib)[model_name]()
    if state is not None:
        model.load_state_dict({k: lib.from_numpy(v) for k, v in state.items()})
    X, y = (lib.from_numpy(a) for a in data(model_name, batch))
    return model, X, y, lib.nn.CrossEntropyLoss(), lib.optim.SGD(model.parameters(), lr=1e-3)


def eager_call(lib, workload: str, model, X, y, loss_fn, opt):
    """One eager training step (forward, loss, backward, update), or one forward without
    gradients for the inference workloads: written once for both libraries."""
    if not WORKLOADS[workload][2]:
        def infer():
            with lib.no_grad():
                return model(X)
        return infer

    def step():
        loss = loss_fn(model(X), y)
        loss.backward()
        opt.step()
        opt.zero_grad()
        return loss

    return step


def graphc_impl(workload: str, impl: str, state: dict | None):
    import graphc

    model, X, y, loss_fn, opt = setup(graphc, workload, state)
    if impl == "graphc eager":
        return eager_call(graphc, workload, model, X, y, loss_fn, opt), 0.0
    level = impl.split()[1]
    start = time.perf_counter()
    if WORKLOADS[workload][2]:
        compiled = graphc.compile_train_step(model, loss_fn, opt, X, y, opt_level=level)
        seconds = time.perf_counter() - start
        return (lambda: compiled(X, y)), seconds
    compiled = graphc.compile(model, X, opt_level=level)
    seconds = time.perf_counter() - start
    return (lambda: compiled(X)), seconds


def torch_impl(workload: str, impl: str, state: dict | None):
    import torch

    model, X, y, loss_fn, opt = setup(torch, workload, state)
    seconds = 0.0
    if impl == "torch.compile":
        start = time.perf_counter()
        model = torch.compile(model)
        if WORKLOADS[workload][2]:  # the build: one forward and backward, no update
            loss_fn(model(X), y).backward()
            opt.zero_grad()
        else:
            with torch.no_grad():
                model(X)
        seconds = time.perf_counter() - start
    return eager_call(torch, workload, model, X, y, loss_fn, opt), seconds


def make(workload: str, impl: str, state: dict | None):
    """`impl`'s callable for `workload` and its compile seconds; `state`: initial weights (None:
    the library's own initialization, so a fresh process imports only that library)."""
    return (torch_impl if impl.startswith("torch") else graphc_impl)(workload, impl, state)


# -- timing ------------------------------------------------------------------------------------------
def calls_per_block(fn) -> int:
    start = time.perf_counter()
    for _ in range(3):
        fn()
    each = (time.perf_counter() - start) / 3
    return max(3, int(TARGET / max(each, 1e-6)))


def time_block(fn, calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - start) / calls * 1e3


def bench(workload: str, impls, repeats: int) -> dict:
    fns, compile_s = {}, {}
    state = initial_state(WORKLOADS[workload][0])
    for impl in impls:
        fns[impl], compile_s[impl] = make(workload, impl, state)
    counts = {impl: calls_per_block(fn) for impl, fn in fns.items()}
    times = {impl: [] for impl in impls}
    for _ in range(repeats):
        for impl in impls:
            time.sleep(PAUSE)
            times[impl].append(time_block(fns[impl], counts[impl]))
    results = {impl: {"ms": statistics.median(t), "all": t, "compile_s": compile_s[impl]}
               for impl, t in times.items()}
    if "torch eager" in times:  # each repeat's ratio to the torch block timed next to it
        for impl, t in times.items():
            results[impl]["vs_torch"] = statistics.median(
                base / mine for base, mine in zip(times["torch eager"], t))
    return results


def peak_rss(workload: str, impl: str, threads: int) -> float:
    """MiB of peak resident memory of `impl` alone running `workload` in a fresh process."""
    out = subprocess.run(
        [sys.executable, __file__, "--child", workload, impl, "--threads", str(threads)],
        capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])["rss_mib"]


def child(workload: str, impl: str) -> None:
    fn, _ = make(workload, impl, None)
    for _ in range(20):
        fn()
    # VmHWM, not getrusage's ru_maxrss: that one keeps the forking parent's peak across exec
    with open("/proc/self/status") as status:
        hwm_kib = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
    print(json.dumps({"rss_mib": hwm_kib / 1024}))


def set_threads(n: int, libraries=("graphc", "torch")) -> None:
    if "graphc" in libraries:
        import graphc

        graphc.set_num_threads(n)
    if "torch" in libraries:
        try:
            import torch

            torch.set_num_threads(n)
        except ImportError:
            pass


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--only", default=",".join(WORKLOADS))
    parser.add_argument("--rss", action="store_true", help="also peak RSS in fresh processes")
    parser.add_argument("--torch-compile", action="store_true")
    parser.add_argument("--json", metavar="FILE", help="write the raw results here")
    parser.add_argument("--child", nargs=2, metavar=("WORKLOAD", "IMPL"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        set_threads(args.threads, ["torch" if args.child[1].startswith("torch") else "graphc"])
        child(*args.child)
        return 0
    set_threads(args.threads)
    try:
        import torch  # noqa: F401
        have_torch = True
    except ImportError:
        have_torch = False
    impls = [i for i in IMPLS if (have_torch or not i.startswith("torch"))
             and (args.torch_compile or i != "torch.compile")]
    load = os.getloadavg()[0]
    print(f"threads {args.threads}, repeats {args.repeats}, load average {load:.2f} at start")
    results = {}
    for workload in args.only.split(","):
        results[workload] = bench(workload, impls, args.repeats)
        if args.rss:
            for impl in impls:
                results[workload][impl]["rss_mib"] = peak_rss(workload, impl, args.threads)
        print_table(workload, results[workload])
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    return 0


def print_table(workload: str, rows: dict) -> None:
    print(f"\n{workload}")
    print(f"  {'':<14}{'ms/call':>9}{'calls/s':>9}{'vs torch':>9}{'compile s':>10}{'RSS MiB':>9}")
    for impl, row in rows.items():
        ratio = f"{row['vs_torch']:.2f}x" if "vs_torch" in row else "-"
        rss = f"{row['rss_mib']:.0f}" if "rss_mib" in row else "-"
        print(f"  {impl:<14}{row['ms']:>9.3f}{1e3 / row['ms']:>9.0f}{ratio:>9}"
              f"{row['compile_s']:>10.2f}{rss:>9}")


if __name__ == "__main__":
    raise SystemExit(main())
