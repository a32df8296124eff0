"""`graphc.backends`: PyTorch's backend switches, so published scripts that set them run as is."""

from graphc.backends import cudnn

__all__ = ["cudnn"]
