"""`graphc.backends.cudnn`: PyTorch's cuDNN flags as plain attributes that read back what was set.

graphc does not use cuDNN (its GPU kernels come from CuPy), so the flags change nothing: scripts
set `cudnn.benchmark = True` or `cudnn.deterministic = True` and go on (graphc's kernels are
deterministic already).
"""

enabled = True
benchmark = False
deterministic = False
allow_tf32 = True


def is_available() -> bool:
    """False: graphc runs no cuDNN kernels."""
    return False


def version() -> None:
    """None, as PyTorch reports when cuDNN is not available."""
