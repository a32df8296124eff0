"""PyTorch tutorial "Learn the Basics: Save and Load the Model"
(beginner_source/basics/saveloadrun_tutorial.py,
https://pytorch.org/tutorials/beginner/basics/saveloadrun_tutorial.html), written from the published
tutorial with only the imports changed (`import graphc as torch`). Model swapped: torchvision's
pretrained VGG16 (a download) is replaced by the small VGG-style `models.vgg16` defined below; the
calls on it are the tutorial's."""

import graphc as torch
from graphc import nn


class models:  # stands in for torchvision.models: a VGG-style network, no pretrained weights
    @staticmethod
    def vgg16(weights=None):
        return nn.Sequential(
            nn.Conv2d(3, 8, kernel_size=3, padding=1), nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=2, stride=2),
            nn.Conv2d(8, 16, kernel_size=3, padding=1), nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=2, stride=2),
            nn.Flatten(),
            nn.Linear(16 * 4 * 4, 32), nn.ReLU(True), nn.Dropout(),
            nn.Linear(32, 10),
        )


# Saving and loading model weights
model = models.vgg16(weights='IMAGENET1K_V1')
torch.save(model.state_dict(), 'model_weights.pth')

model = models.vgg16()  # an untrained model of the same shape
model.load_state_dict(torch.load('model_weights.pth', weights_only=True))
model.eval()

# Saving and loading models with shapes
torch.save(model, 'model.pth')
model = torch.load('model.pth', weights_only=False)
print(model)
