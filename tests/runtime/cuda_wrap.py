"""Generated kernel sources wrapped into whole translation units the way CuPy wraps them
(cupy/_core/_kernel.pyx, _reduction.pyx), over `cupy_shim.cuh` instead of CuPy's headers:

- `elementwise_unit(source, ndims)`: the `__global__` function of an ElementwiseKernel: CArray
  parameters (`_raw_` prefixed unless raw), the CIndexer loop, references to each element;
- `reduction_unit(source, in_ndim, out_ndim)`: CuPy's block reduction template (device only);
- `host_reduction_unit(...)`: the same map/reduce/post-map macros in a sequential loop, so the
  host can run a generated reduction.

`translation_unit(units)` puts kernels in one file; it compiles with nvcc (`compile_device`:
does it build for the GPU?) and with the host's C++ compiler (`host_library`: run it on the CPU
from NumPy through ctypes).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

from runtime.cuda.ctype import c_type

SHIM = Path(__file__).with_name("cupy_shim.cuh")
BLOCK_SIZE = 512


def nvcc() -> str | None:
    found = shutil.which("nvcc")
    if found:
        return found
    for root in sorted(Path("/usr/local").glob("cuda*"), reverse=True):
        if (root / "bin" / "nvcc").exists():
            return str(root / "bin" / "nvcc")
    return None


def _array_type(param, ndim: int) -> str:
    contiguous = 1 if ndim == 0 else 0  # CuPy passes 0-d arrays as contiguous
    return f"CArray<{c_type(param.dtype)}, {ndim}, {contiguous}, 0>"


def kernel_parameters(source, ndims: list[int], indexers: list[str]) -> str:
    """`const CArray<float, 2, 0, 0> _raw_in0, ..., CIndexer<2, 0> _ind` as CuPy declares them."""
    params = []
    for k, (param, ndim) in enumerate(zip((*source.inputs, *source.outputs), ndims)):
        const = "const " if k < len(source.inputs) else ""
        prefix = "" if param.raw else "_raw_"
        params.append(f"{const}{_array_type(param, ndim)} {prefix}{param.name}")
    return ", ".join(params + indexers)


def elementwise_unit(source, ndims: list[int], name: str | None = None) -> str:
    """An ElementwiseKernel's translation unit; `ndims[k]` is parameter k's ndim at the call
    (raw ones their own, the others the loop's)."""
    loop = max((d for p, d in zip((*source.inputs, *source.outputs), ndims) if not p.raw),
               default=0)
    refs = []
    for k, param in enumerate((*source.inputs, *source.outputs)):
        if param.raw:
            continue
        const = "const " if k < len(source.inputs) else ""
        refs.append(f"{const}{c_type(param.dtype)} &{param.name} = "
                    f"_raw_{param.name}[_ind.get()];")
    operation = "\n".join([*refs, source.operation])
    params = kernel_parameters(source, ndims, [f"CIndexer<{loop}, 0> _ind"])
    return f"""{source.preamble}
extern "C" __global__ void {name or source.name}({params}) {{
  ;
  #pragma unroll 1
  CUPY_FOR(i, _ind.size()) {{
    _ind.set(i);
    {operation};
  }}
  ;
}}
"""


def _reduction_parts(source, in_ndim: int, out_ndim: int):
    ndims = [in_ndim] * len(source.inputs) + [out_ndim] * len(source.outputs)
    params = kernel_parameters(source, ndims, [f"CIndexer<{in_ndim}, 0> _in_ind",
                                               f"CIndexer<{out_ndim}, 0> _out_ind",
                                               "const int _block_stride"])
    input_expr = "\n".join(f"const {c_type(p.dtype)} {p.name} = _raw_{p.name}[_in_ind.get()];"
                           for p in source.inputs)
    output_expr = "\n".join(f"{c_type(p.dtype)} &{p.name} = _raw_{p.name}[_out_ind.get()];"
                            for p in source.outputs)
    head = f"""{source.preamble}
#define REDUCE(a, b) ({source.reduce_expr})
#define POST_MAP(a) ({source.post_map_expr})
typedef {source.reduce_type} _type_reduce;
"""
    return params, input_expr, output_expr, head


def reduction_unit(source, in_ndim: int, out_ndim: int, name: str | None = None) -> str:
    """A ReductionKernel's translation unit: CuPy's block reduction template."""
    params, input_expr, output_expr, head = _reduction_parts(source, in_ndim, out_ndim)
    return head + f"""#define _REDUCE(_offset) if (_tid < _offset) {{ \\
  _type_reduce _a = _sdata[_tid], _b = _sdata[(_tid + _offset)]; \\
  _sdata[_tid] = REDUCE(_a, _b); \\
}}
extern "C" __global__ void {name or source.name}({params}) {{
  __shared__ char _sdata_raw[{BLOCK_SIZE} * sizeof(_type_reduce)];
  _type_reduce *_sdata = reinterpret_cast<_type_reduce*>(_sdata_raw);
  unsigned int _tid = threadIdx.x;
  int _J_offset = _tid >> __popc(_block_stride - 1);
  ptrdiff_t _j_offset = (ptrdiff_t)_J_offset * _out_ind.size();
  int _J_stride = {BLOCK_SIZE} >> __popc(_block_stride - 1);
  ptrdiff_t _j_stride = (ptrdiff_t)_J_stride * _out_ind.size();
  for (ptrdiff_t _i_base = (ptrdiff_t)blockIdx.x * _block_stride;
       _i_base < _out_ind.size();
       _i_base += (ptrdiff_t)gridDim.x * _block_stride) {{
    _type_reduce _s = _type_reduce({source.identity});
    ptrdiff_t _i = _i_base + (_tid & (_block_stride - 1));
    int _J = _J_offset;
    for (ptrdiff_t _j = _i + _j_offset; _j < _in_ind.size();
         _j += _j_stride, _J += _J_stride) {{
      _in_ind.set(_j);
      {input_expr}
      _type_reduce _a = static_cast<_type_reduce>({source.map_expr});
      _s = REDUCE(_s, _a);
    }}
    _sdata[_tid] = _s;
    __syncthreads();
    for (unsigned int _block = {BLOCK_SIZE} / 2; _block >= _block_stride; _block >>= 1) {{
      if (_tid < _block) {{
        _REDUCE(_block);
      }}
      __syncthreads();
    }}
    if (_tid < _block_stride) {{
      _s = _sdata[_tid];
    }}
    if (_tid < _block_stride && _i < _out_ind.size()) {{
      _out_ind.set(static_cast<ptrdiff_t>(_i));
      {output_expr}
      POST_MAP(_s);
    }}
  }}
}}
"""


def host_reduction_unit(source, in_ndim: int, out_ndim: int, name: str) -> str:
    """The reduction as a sequential loop for the host; inputs come with the reduced axes first
    (as CuPy permutes them), so element `_J * out_size + _i` is reduction step `_J` of output
    `_i`."""
    params, input_expr, output_expr, head = _reduction_parts(source, in_ndim, out_ndim)
    return head + f"""extern "C" void {name}({params}) {{
  const ptrdiff_t _out_size = _out_ind.size();
  for (ptrdiff_t _i = 0; _i < _out_size; _i++) {{
    _type_reduce _s = _type_reduce({source.identity});
    ptrdiff_t _J = 0;
    for (ptrdiff_t _j = _i; _j < _in_ind.size(); _j += _out_size, _J++) {{
      _in_ind.set(_j);
      {input_expr}
      _type_reduce _a = static_cast<_type_reduce>({source.map_expr});
      _s = REDUCE(_s, _a);
    }}
    _out_ind.set(_i);
    {output_expr}
    POST_MAP(_s);
  }}
}}
"""


def translation_unit(units: list[str]) -> str:
    """Kernels (from the functions above, each with its own name) as one file over the shim:
    each in a namespace of its own, the reduction macros undefined after each."""
    parts = [f'#include "{SHIM}"']
    for k, unit in enumerate(units):
        parts += [f"namespace unit{k} {{", unit, "}",
                  "#undef REDUCE", "#undef POST_MAP", "#undef _REDUCE"]
    return "\n".join(parts) + "\n"


def compile_device(unit: str, folder: Path) -> subprocess.CompletedProcess:
    """`nvcc -c` of a translation unit (device code for the default architecture)."""
    path = _write(unit, folder, ".cu")
    return subprocess.run([nvcc(), "-c", "-std=c++17", "-w", str(path), "-o",
                           str(path.with_suffix(".o"))], check=False, capture_output=True, text=True)


def host_library(unit: str, folder: Path):
    """A translation unit (`translation_unit`) compiled for the host as a shared library (cached
    on disk by its text)."""
    import ctypes

    path = _write(unit, folder, ".cpp")
    library = path.with_suffix(".so")
    if not library.exists():
        compiler = os.environ.get("CXX", "g++")
        done = subprocess.run([compiler, "-shared", "-fPIC", "-O1", "-std=c++17", "-w",
                               "-ffp-contract=off", str(path), "-o", str(library)],
                              check=False, capture_output=True, text=True)
        if done.returncode:
            raise RuntimeError(f"host compile failed:\n{done.stderr}\n{unit}")
    return ctypes.CDLL(str(library))


def _write(unit: str, folder: Path, suffix: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / (hashlib.sha1(unit.encode()).hexdigest()[:16] + suffix)
    if not path.exists():
        path.write_text(unit)
    return path
