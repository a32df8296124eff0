"""`graphc.nn.parallel`: where PyTorch code imports DistributedDataParallel from."""

from graphc.distributed.ddp import DistributedDataParallel

__all__ = ["DistributedDataParallel"]
