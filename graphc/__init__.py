"""graphc: PyTorch-style models in, a static graph IR out; symbolic autodiff, passes, compiled
steps."""

import math
import warnings

__version__ = "0.1.0"


def _hide_kernel_warnings() -> None:
    """NaN and inf propagate silently, as in PyTorch: NumPy's "invalid value"/"overflow" warnings
    from the kernels (eager and compiled) would only repeat what the results already say."""
    warnings.filterwarnings("ignore", category=RuntimeWarning, module=r"(ir|runtime)(\.|$)")


_hide_kernel_warnings()

from graphc import dispatch, functions
from graphc.autograd import (
    enable_grad,
    inference_mode,
    is_grad_enabled,
    no_grad,
    set_grad_enabled,
)
from graphc.creation import (
    arange,
    as_tensor,
    empty,
    empty_like,
    eye,
    from_numpy,
    full,
    full_like,
    linspace,
    ones,
    ones_like,
    tensor,
    zeros,
    zeros_like,
)
from graphc.device import device
from graphc.dtypes import bool_ as bool  # PyTorch's dtype names shadow builtins here only
from graphc.dtypes import (
    dtype,
    float16,
    float32,
    float64,
    int8,
    int16,
    int32,
    int64,
    uint8,
)
from graphc.dtypes import float16 as half
from graphc.dtypes import float32 as float
from graphc.dtypes import float64 as double
from graphc.dtypes import int16 as short
from graphc.dtypes import int32 as int
from graphc.dtypes import int64 as long
from graphc.functions import *
from graphc.random import (
    bernoulli,
    manual_seed,
    multinomial,
    normal,
    rand,
    rand_like,
    randint,
    randn,
    randn_like,
    randperm,
)
from graphc.tensor_core import Size, Tensor
from graphc.tracing import TraceError, spec, trace

# isort: split
# The packages built on the Tensor core (nn, optim, compile, checkpoints, rendering).
from graphc import linalg, nn, optim
from graphc.checkpoint import load, save
from graphc.compile import compile, compile_train_step
from graphc.differential import check
from graphc.render import render
from runtime.threads import get_num_threads, set_num_threads

# isort: split
# PyTorch's surroundings of the tensor API: devices and defaults, data, utils (beginner code
# reaches all of them from `import torch` alone).
from graphc import accelerator, backends, cuda, data, onnx, utils
from graphc.device import get_default_device, set_default_device
from graphc.dtypes import (
    can_cast,
    finfo,
    get_default_dtype,
    iinfo,
    promote_types,
    set_default_dtype,
)
from graphc.dtypes import tensor_result_type as result_type
from graphc.printing import set_printoptions

inf, nan, pi, e = math.inf, math.nan, math.pi, math.e

__all__ = [  # and every name of graphc.functions
    "Size",
    "Tensor",
    "TraceError",
    "arange",
    "as_tensor",
    "bernoulli",
    "bool",
    "can_cast",
    "check",
    "compile",
    "compile_train_step",
    "cuda",
    "device",
    "dispatch",
    "double",
    "dtype",
    "empty",
    "empty_like",
    "enable_grad",
    "eye",
    "finfo",
    "float",
    "float16",
    "float32",
    "float64",
    "from_numpy",
    "full",
    "full_like",
    "get_default_dtype",
    "get_num_threads",
    "half",
    "iinfo",
    "inference_mode",
    "int",
    "int8",
    "int16",
    "int32",
    "int64",
    "is_grad_enabled",
    "linalg",
    "linspace",
    "load",
    "long",
    "manual_seed",
    "multinomial",
    "nn",
    "no_grad",
    "normal",
    "ones",
    "ones_like",
    "optim",
    "promote_types",
    "rand",
    "rand_like",
    "randint",
    "randn",
    "randn_like",
    "randperm",
    "render",
    "result_type",
    "save",
    "set_grad_enabled",
    "set_num_threads",
    "short",
    "spec",
    "tensor",
    "trace",
    "uint8",
    "zeros",
    "zeros_like",
]
__all__ += [
    "accelerator", "backends", "data", "e", "get_default_device", "inf", "nan", "onnx", "pi",
    "set_default_device", "set_default_dtype", "set_printoptions", "utils",
]
__all__.extend(functions.__all__)
