"""`graphc.utils.data`: PyTorch's `torch.utils.data` names, the same objects as `graphc.data`."""

from graphc.data import (
    DataLoader,
    Dataset,
    Subset,
    TensorDataset,
    default_collate,
    random_split,
)

__all__ = ["DataLoader", "Dataset", "Subset", "TensorDataset", "default_collate", "random_split"]
