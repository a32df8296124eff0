"""Example models for `graphc show` and the docs: the tutorial MLP, a LeNet and a small MLP.

    graphc show examples/models.py:NeuralNetwork --input 64x1x28x28 --out out/
    graphc show examples/models.py:LeNet --input 8x1x28x28 --train --loss cross_entropy --out out/
    graphc show examples/models.py:make_mlp --input 2x20 --out out/
"""

from graphc import nn
from graphc.nn import functional as F


class NeuralNetwork(nn.Module):
    """The PyTorch quickstart's FashionMNIST classifier."""

    def __init__(self):
        super().__init__()
        self.flatten = nn.Flatten()
        self.linear_relu_stack = nn.Sequential(
            nn.Linear(28 * 28, 512), nn.ReLU(),
            nn.Linear(512, 512), nn.ReLU(),
            nn.Linear(512, 10),
        )

    def forward(self, x):
        return self.linear_relu_stack(self.flatten(x))


class LeNet(nn.Module):
    """LeNet-5 for 28x28 single-channel images."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 6, kernel_size=5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(6, 16, kernel_size=5), nn.ReLU(), nn.MaxPool2d(2),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(16 * 5 * 5, 120), nn.ReLU(),
            nn.Linear(120, 84), nn.ReLU(),
            nn.Linear(84, 10),
        )

    def forward(self, x):
        return self.classifier(self.features(x))


class MLP(nn.Module):
    """The custom block of "layers and blocks": a hidden layer and a functional ReLU."""

    def __init__(self):
        super().__init__()
        self.hidden = nn.Linear(20, 256)
        self.out = nn.Linear(256, 10)

    def forward(self, X):
        return self.out(F.relu(self.hidden(X)))


def make_mlp():
    """A factory: `graphc show` calls it to get the model."""
    return nn.Sequential(nn.Linear(20, 256), nn.ReLU(), nn.Linear(256, 10))
