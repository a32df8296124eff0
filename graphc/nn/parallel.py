"""`graphc.nn.parallel`: `DataParallel` and `data_parallel` as PyTorch runs them on a single device
(the wrapped module called as is; its state_dict keys gain the `module.` prefix, as in PyTorch),
and where PyTorch code imports `DistributedDataParallel` from."""

from __future__ import annotations

from graphc.distributed.ddp import DistributedDataParallel
from graphc.nn.module import Module

__all__ = ["DataParallel", "DistributedDataParallel", "data_parallel"]


class DataParallel(Module):
    """Holds `module` as `self.module` and calls it; graphc runs on one device per process."""

    def __init__(self, module: Module, device_ids=None, output_device=None, dim: int = 0):
        super().__init__()
        self.module = module
        self.device_ids = list(device_ids) if device_ids is not None else []
        self.output_device, self.dim = output_device, dim

    def forward(self, *inputs, **kwargs):
        return self.module(*inputs, **kwargs)


def data_parallel(module, inputs, device_ids=None, output_device=None, dim: int = 0,
                  module_kwargs=None):
    """`module(*inputs, **module_kwargs)`: PyTorch's functional DataParallel on one device."""
    if not isinstance(inputs, tuple):
        inputs = (inputs,) if inputs is not None else ()
    return module(*inputs, **(module_kwargs or {}))
