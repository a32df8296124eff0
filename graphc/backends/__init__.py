"""`graphc.backends`: the flags and queries PyTorch code reads from `torch.backends`."""

from graphc.backends import cudnn, mps

__all__ = ["cudnn", "mps"]
