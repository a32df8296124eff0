"""`graphc.linalg`: PyTorch's `torch.linalg` norms."""

from graphc.tensor_reduce import matrix_norm, norm, vector_norm

__all__ = ["matrix_norm", "norm", "vector_norm"]
