"""graphc's compiled training step on the GPU against PyTorch eager CUDA and torch.compile.

    python benchmarks/bench_gpu.py [--quick] [--only mlp_64,lenet_64] [--no-torch-compile]
                                   [--json out.json]

Workloads (training steps: forward, loss, backward, optimizer update):
  mlp_64, mlp_4096   the tutorial MLP (784-512-512-10), cross entropy, SGD, batch 64 and 4096
  lenet_64           LeNet-5 on 1x28x28 images, cross entropy, SGD, batch 64
  transformer_64     the zoo's TransformerClassifier (graphc.models: embeddings and positions, two
                     pre-norm encoder layers d_model 64, 8 heads, max pooling, Linear), tokens of
                     length 32, cross entropy, Adam, batch 64
Implementations: graphc compiled (O2, cupy backend, replayed as a CUDA graph where safe), graphc
compiled without the graph, PyTorch eager, torch.compile (default mode) and torch.compile's
"reduce-overhead" (CUDA graphs). Every implementation starts from the same weights and batch
(already on the GPU), runs in this one process, and is timed interleaved: each repeat times every
implementation once, after warm-up, between device synchronizations. One step of each is first
checked against PyTorch eager's loss.

Reported per workload: median ms per step, steps/s, speed over PyTorch eager (above 1: faster),
and from PyTorch's profiler (CUPTI sees CuPy's kernels as well as PyTorch's): GPU kernels per step
and kernel/graph launch calls per step; for graphc also whether the step was captured and the
kernel calls of its program. The issue's target: graphc at least 2x PyTorch eager's steps/s on
mlp_64. Needs a CUDA GPU, CuPy and PyTorch with CUDA; not part of the test run.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
# the models (written once for both libraries), their batches and initial weights
from bench_compiled import data as batch_of
from bench_compiled import define, initial_state

WORKLOADS = {
    # name: (model, batch, optimizer)
    "mlp_64": ("mlp", 64, "sgd"),
    "mlp_4096": ("mlp", 4096, "sgd"),
    "lenet_64": ("lenet", 64, "sgd"),
    "transformer_64": ("transformer", 64, "adam"),
}
IMPLS = ("graphc", "graphc no graph", "torch eager", "torch.compile",
         "torch.compile reduce-overhead")
TARGET = 0.3  # seconds per timed block


def optimizer(lib, name: str, params):
    return lib.optim.SGD(params, lr=1e-3) if name == "sgd" else lib.optim.Adam(params, lr=1e-3)


# -- one step function per implementation ---------------------------------------------------------------
def setup(lib, workload: str):
    """(model on the GPU from the shared initial weights, inputs and target there, optimizer)."""
    model_name, batch, opt_name = WORKLOADS[workload]
    model = define(lib)[model_name]()
    model.load_state_dict({k: lib.tensor(v) for k, v in initial_state(model_name).items()})
    model.cuda()
    X, y = (lib.tensor(a, device="cuda") for a in batch_of(model_name, batch))
    return model, X, y, optimizer(lib, opt_name, model.parameters())


def graphc_step(workload: str, impl: str):
    import graphc

    model, X, y, opt = setup(graphc, workload)
    step = graphc.compile_train_step(model, graphc.nn.CrossEntropyLoss(), opt, X, y,
                                     cuda_graph=impl == "graphc")
    return (lambda: step(X, y)), step


def torch_step(workload: str, impl: str):
    import torch

    model, X, y, opt = setup(torch, workload)
    loss_fn = torch.nn.CrossEntropyLoss()
    if impl == "torch.compile":
        model = torch.compile(model)
    elif impl == "torch.compile reduce-overhead":
        model = torch.compile(model, mode="reduce-overhead")

    def step():
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(X), y)
        loss.backward()
        opt.step()
        return loss

    return step, None


def make(workload: str, impl: str):
    return (graphc_step if impl.startswith("graphc") else torch_step)(workload, impl)


# -- measuring -------------------------------------------------------------------------------------------
def synchronize() -> None:
    import torch

    torch.cuda.synchronize()  # the whole device: CuPy's streams too


def time_block(fn, calls: int) -> float:
    synchronize()
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    synchronize()
    return (time.perf_counter() - start) / calls * 1e3


def calls_per_block(fn) -> int:
    each = time_block(fn, 5) / 1e3
    return max(5, int(TARGET / max(each, 1e-6)))


LAUNCHES = ("cudaLaunchKernel", "cuLaunchKernel", "cudaLaunchKernelExC", "cuLaunchKernelEx",
            "cudaLaunchCooperativeKernel", "cudaGraphLaunch", "cuGraphLaunch")


def profile(fn, steps: int = 5) -> dict:
    """GPU kernels and launch calls per step, from PyTorch's profiler (CUPTI)."""
    import torch
    from torch.autograd import DeviceType
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    fn()
    synchronize()
    with torch_profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        for _ in range(steps):
            fn()
        torch.cuda.synchronize()
    events = prof.events()
    kernels = sum(1 for e in events if e.device_type == DeviceType.CUDA
                  and not e.name.lower().startswith(("memcpy", "memset")))
    launches = sum(1 for e in events if e.name in LAUNCHES)
    graphs = sum(1 for e in events if e.name in ("cudaGraphLaunch", "cuGraphLaunch"))
    return {"kernels_per_step": kernels / steps, "launches_per_step": launches / steps,
            "graph_launches_per_step": graphs / steps}


def loss_of(value) -> float:
    return float(value.item())


def bench(workload: str, impls, repeats: int) -> dict:
    results, fns = {}, {}
    for impl in impls:
        start = time.perf_counter()
        try:
            fn, compiled = make(workload, impl)
            first = loss_of(fn())  # the first step (builds, compiles)
            fn()
            synchronize()
        except Exception as err:  # noqa: BLE001 (torch.compile may fail any way: say so, go on)
            results[impl] = {"error": f"{type(err).__name__}: {str(err).splitlines()[0][:200]}"}
            continue
        fns[impl] = fn
        results[impl] = {"first_loss": first, "build_s": time.perf_counter() - start}
        if compiled is not None:
            exe = compiled.variant.exe
            results[impl].update(captured=exe.captured, program_kernel_calls=exe.kernels,
                                 generated_nodes=len(exe.program.generated),
                                 fallbacks=[str(n) for n, _ in exe.program.fallbacks])
    counts = {impl: calls_per_block(fn) for impl, fn in fns.items()}
    times = {impl: [] for impl in fns}
    for _ in range(repeats):
        for impl, fn in fns.items():
            times[impl].append(time_block(fn, counts[impl]))
    for impl, fn in fns.items():
        ms = statistics.median(times[impl])
        results[impl].update(ms=ms, all_ms=times[impl], steps_per_s=1e3 / ms)
        try:
            results[impl].update(profile(fn))
        except Exception as err:  # noqa: BLE001 (the profiler is a report, not the benchmark)
            results[impl]["profile_error"] = f"{type(err).__name__}: {err}"
    eager = results.get("torch eager", {})
    for impl, r in results.items():
        if "ms" in r and "ms" in eager:
            r["speedup_vs_torch_eager"] = eager["ms"] / r["ms"]
        if "first_loss" in r and "first_loss" in eager:
            r["first_loss_rel_diff"] = abs(r["first_loss"] - eager["first_loss"]) / max(
                abs(eager["first_loss"]), 1e-12)
    return results


def table(workload: str, results: dict) -> str:
    header = (f"  {'implementation':<30} {'ms/step':>9} {'steps/s':>9} {'vs eager':>9} "
              f"{'kernels':>8} {'launches':>9}  notes")
    lines = [f"\n{workload}", header]
    for impl, r in results.items():
        if "error" in r:
            lines.append(f"  {impl:<30} {'n/a':>9}  {r['error']}")
            continue
        notes = []
        if "captured" in r:
            notes.append(f"captured={r['captured']}, {r['program_kernel_calls']} kernel calls")
        if r.get("fallbacks"):
            notes.append(f"{len(r['fallbacks'])} fused nodes op by op")
        if r.get("first_loss_rel_diff", 0) > 1e-4:
            notes.append(f"first loss differs from eager by {r['first_loss_rel_diff']:.1e}")
        lines.append(
            f"  {impl:<30} {r['ms']:>9.3f} {r['steps_per_s']:>9.1f} "
            f"{r.get('speedup_vs_torch_eager', float('nan')):>8.2f}x "
            f"{r.get('kernels_per_step', float('nan')):>8.1f} "
            f"{r.get('launches_per_step', float('nan')):>9.1f}  {'; '.join(notes)}")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(WORKLOADS), help="workloads, comma-separated")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="3 repeats, shorter blocks")
    parser.add_argument("--no-torch-compile", action="store_true")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args(argv)
    import graphc

    try:
        import torch
    except ImportError:
        print("bench_gpu: needs PyTorch with CUDA")
        return 2
    if not graphc.cuda.is_available() or not torch.cuda.is_available():
        print(f"bench_gpu: needs a CUDA GPU (graphc: {graphc.cuda.unavailable_reason()}; "
              f"torch: {torch.cuda.is_available()})")
        return 2
    global TARGET
    repeats = 3 if args.quick else args.repeats
    if args.quick:
        TARGET = 0.1
    impls = [i for i in IMPLS if not (args.no_torch_compile and i.startswith("torch.compile"))]
    print(f"GPU: {torch.cuda.get_device_name()}; torch {torch.__version__}; "
          f"cupy {__import__('cupy').__version__}; graphc {graphc.__version__}")
    everything = {}
    for workload in args.only.split(","):
        everything[workload] = bench(workload.strip(), impls, repeats)
        print(table(workload, everything[workload]), flush=True)
    mlp = everything.get("mlp_64", {})
    if "ms" in mlp.get("graphc", {}) and "ms" in mlp.get("torch eager", {}):
        speed = mlp["graphc"]["speedup_vs_torch_eager"]
        print(f"\ntarget (graphc >= 2x torch eager on mlp_64): {speed:.2f}x "
              f"{'met' if speed >= 2 else 'NOT met'}")
    if args.json:
        Path(args.json).write_text(json.dumps(everything, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
