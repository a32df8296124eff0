"""PyTorch tutorial "Learn the Basics: Transforms" (beginner_source/basics/transforms_tutorial.py,
https://pytorch.org/tutorials/beginner/basics/transforms_tutorial.html), written from the published
tutorial with only the imports changed (torchvision's datasets and transforms come from
`graphc.data`). Data swapped: the FashionMNIST files under data/ are small synthetic ones that the
test writes first (download=True finds them and downloads nothing)."""

import graphc as torch
from graphc.data import datasets
from graphc.data.transforms import Lambda, ToTensor

ds = datasets.FashionMNIST(
    root="data",
    train=True,
    download=True,
    transform=ToTensor(),
    target_transform=Lambda(lambda y: torch.zeros(10, dtype=torch.float).scatter_(0, torch.tensor(y), value=1))
)

# The one-hot target transform, on its own
target_transform = Lambda(lambda y: torch.zeros(
    10, dtype=torch.float).scatter_(dim=0, index=torch.tensor(y), value=1))

image, target = ds[0]
print(image.shape, image.dtype, float(image.min()), float(image.max()))
print(target, target_transform(3))
