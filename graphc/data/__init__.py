"""`graphc.data`: data sets, transforms and the DataLoader (PyTorch's and torchvision's names)."""

from graphc.data import datasets, transforms
from graphc.data.dataset import Dataset, Subset, TensorDataset, random_split
from graphc.data.datasets import MNIST, Digits, FashionMNIST
from graphc.data.distributed import DistributedSampler
from graphc.data.loader import DataLoader, default_collate
from graphc.data.transforms import Compose, Lambda, Normalize, ToTensor

__all__ = [
    "MNIST",
    "Compose",
    "DataLoader",
    "Dataset",
    "Digits",
    "DistributedSampler",
    "FashionMNIST",
    "Lambda",
    "Normalize",
    "Subset",
    "TensorDataset",
    "ToTensor",
    "datasets",
    "default_collate",
    "random_split",
    "transforms",
]
