"""Image classifiers: LeNet, a small AlexNet-style net with Dropout, a small ResNet with
BatchNorm and residual blocks (PyTorch spelling throughout: they run on torch too)."""

from __future__ import annotations

from graphc import nn


class LeNet(nn.Module):
    """LeNet-5 with ReLU and max pooling on 1 x 28 x 28 images (the d2l/PyTorch tutorial net);
    `batch_norm=True` puts BatchNorm after each convolution and hidden Linear layer (d2l's
    "LeNet with batch normalization"), which trains fast and stably at SGD's lr=0.1.

    Images of another size (e.g. the 8 x 8 Digits) are first resized to 28 x 28 by bilinear
    interpolation, the model's first layer.
    """

    render_depth = 1

    def __init__(self, num_classes: int = 10, in_channels: int = 1, image_size: int = 28,
                 batch_norm: bool = False):
        super().__init__()

        def norm(kind, channels):
            return [kind(channels)] if batch_norm else []

        self.resize = (nn.Identity() if image_size == 28
                       else nn.Upsample(size=(28, 28), mode="bilinear"))
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 6, kernel_size=5, padding=2), *norm(nn.BatchNorm2d, 6),
            nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(6, 16, kernel_size=5), *norm(nn.BatchNorm2d, 16), nn.ReLU(),
            nn.MaxPool2d(2))
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(16 * 5 * 5, 120), *norm(nn.BatchNorm1d, 120), nn.ReLU(),
            nn.Linear(120, 84), *norm(nn.BatchNorm1d, 84), nn.ReLU(), nn.Linear(84, num_classes))

    def forward(self, x):
        return self.classifier(self.features(self.resize(x)))


class SmallAlexNet(nn.Module):
    """AlexNet's shape scaled down to 3 x 32 x 32 images: five 3x3 convolutions (three max pools),
    then two Dropout + Linear + ReLU layers and the classifier."""

    render_depth = 1

    def __init__(self, num_classes: int = 10, width: int = 32, dropout: float = 0.5):
        super().__init__()
        w = width
        self.features = nn.Sequential(
            nn.Conv2d(3, w, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(w, 2 * w, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(2 * w, 3 * w, 3, padding=1), nn.ReLU(),
            nn.Conv2d(3 * w, 3 * w, 3, padding=1), nn.ReLU(),
            nn.Conv2d(3 * w, 2 * w, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Dropout(dropout), nn.Linear(2 * w * 4 * 4, 8 * w), nn.ReLU(),
            nn.Dropout(dropout), nn.Linear(8 * w, 8 * w), nn.ReLU(),
            nn.Linear(8 * w, num_classes))

    def forward(self, x):
        return self.classifier(self.features(x))


class BasicBlock(nn.Module):
    """Two 3x3 conv + BatchNorm layers and a shortcut (a 1x1 conv + BatchNorm when the shape
    changes), added before the last ReLU."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride, bias=False),
                nn.BatchNorm2d(out_channels))
        else:
            self.shortcut = nn.Identity()

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


class SmallResNet(nn.Module):
    """A CIFAR-style ResNet: a 3x3 stem, three stages of `blocks` BasicBlocks (widths w, 2w, 4w,
    stride 2 between stages), global average pooling and a Linear classifier."""

    render_depth = 2

    def __init__(self, num_classes: int = 10, blocks: int = 1, width: int = 16,
                 in_channels: int = 3):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(in_channels, width, 3, padding=1, bias=False),
                                  nn.BatchNorm2d(width), nn.ReLU())
        stages, channels = [], width
        for i, out in enumerate((width, 2 * width, 4 * width)):
            for j in range(blocks):
                stages.append(BasicBlock(channels, out, 2 if i and not j else 1))
                channels = out
        self.stages = nn.Sequential(*stages)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(channels, num_classes)

    def forward(self, x):
        return self.fc(self.pool(self.stages(self.stem(x))).flatten(1))
