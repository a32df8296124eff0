"""`graphc.utils`: `graphc.utils.data` is `graphc.data`, PyTorch's `torch.utils.data` spelling."""

from graphc.utils import data

__all__ = ["data"]
