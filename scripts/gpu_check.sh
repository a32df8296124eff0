#!/usr/bin/env bash
# The GPU checks of issue 12 in one go, on a machine with a CUDA GPU, CuPy and PyTorch with CUDA
# (the device machine's python3 holds both). About five minutes; run from the repository root:
#
#     scripts/gpu_check.sh [OUT_DIR]
#
# 1. the GPU tests: generated kernels of every op and reduction, the zoo's training steps, float64
#    parity to 1e-10, captured replays, eager CUDA tensors, the checker numpy vs cupy
#    (tests/runtime/test_cuda_gpu.py), and the host-side CUDA tests (nvcc compiles every kernel)
# 2. `graphc check --backends numpy,cupy` on the tutorial MLP's training step
# 3. benchmarks/bench_gpu.py: every workload without torch.compile, then mlp_64 with it
#
# graphc imports the `graphviz` package; the device machine has none and no network: where it
# is missing, this installs it from .gpu-wheels/ (prepare it on a machine with network:
# `pip download --no-deps -d .gpu-wheels graphviz`; untracked files travel with the tree).
set -u
OUT=${1:-gpu-check-out}
mkdir -p "$OUT"
PY=${PYTHON:-python3}
export PYTHONPATH=${PYTHONPATH:+$PYTHONPATH:}$(pwd)
status=0

step() {  # step NAME SECONDS COMMAND...: run with a time limit, log to OUT/NAME.log
    local name=$1 limit=$2
    shift 2
    echo "== $name"
    timeout "$limit" "$@" 2>&1 | tee "$OUT/$name.log"
    local rc=${PIPESTATUS[0]}
    echo "== $name: exit $rc"
    [ "$rc" -eq 0 ] || status=1
}

nvidia-smi -L || true
if ! $PY -c "import graphviz" 2>/dev/null; then
    $PY -m pip install --no-index --find-links .gpu-wheels graphviz >/dev/null \
        || echo "graphviz is missing and not in .gpu-wheels/: graphc will not import"
fi
$PY -c "import cupy, torch, graphc; print('cupy', cupy.__version__, '| torch', torch.__version__,
'| cuda available: graphc', graphc.cuda.is_available(), 'torch', torch.cuda.is_available())"

step tests 240 $PY -m pytest -q -p no:cacheprovider -x \
    tests/runtime/test_cuda_gpu.py tests/runtime/test_cuda_codegen.py \
    tests/runtime/test_cuda_runtime.py tests/graphc/test_cuda_devices.py
step check 60 $PY -m graphc check --backends numpy,cupy
step bench 240 $PY benchmarks/bench_gpu.py --quick --no-torch-compile --json "$OUT/bench.json"
step bench_torch_compile 180 $PY benchmarks/bench_gpu.py --quick --only mlp_64 \
    --json "$OUT/bench_mlp_64_torch_compile.json"
echo "gpu_check: $([ $status -eq 0 ] && echo all passed || echo SOME FAILED) (logs in $OUT/)"
exit $status
