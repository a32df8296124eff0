"""Dive into Deep Learning, "Convolutions for Images" (chapter 7.2, https://d2l.ai/
chapter_convolutional-neural-networks/conv-layer.html), written from the published PyTorch code with
only the imports changed (`import graphc as torch`, `from graphc import nn`). No data to swap."""

import graphc as torch
from graphc import nn


def corr2d(X, K):
    """Compute 2D cross-correlation."""
    h, w = K.shape
    Y = torch.zeros((X.shape[0] - h + 1, X.shape[1] - w + 1))
    for i in range(Y.shape[0]):
        for j in range(Y.shape[1]):
            Y[i, j] = (X[i:i + h, j:j + w] * K).sum()
    return Y


X = torch.tensor([[0.0, 1.0, 2.0], [3.0, 4.0, 5.0], [6.0, 7.0, 8.0]])
K = torch.tensor([[0.0, 1.0], [2.0, 3.0]])
print(corr2d(X, K))


# Convolutional layers
class Conv2D(nn.Module):
    def __init__(self, kernel_size):
        super().__init__()
        self.weight = nn.Parameter(torch.rand(kernel_size))
        self.bias = nn.Parameter(torch.zeros(1))

    def forward(self, x):
        return corr2d(x, self.weight) + self.bias


# Object edge detection in images
X = torch.ones((6, 8))
X[:, 2:6] = 0
print(X)

K = torch.tensor([[1.0, -1.0]])
Y = corr2d(X, K)
print(Y)
print(corr2d(X.t(), K))

# Learning a kernel: a 2-D convolution layer with 1 output channel and a kernel of shape (1, 2)
conv2d = nn.LazyConv2d(1, kernel_size=(1, 2), bias=False)

# The layer's input and output are 4-D (example, channel, height, width); batch size and
# channels are 1 here
X = X.reshape((1, 1, 6, 8))
Y = Y.reshape((1, 1, 6, 7))
lr = 3e-2  # Learning rate

for i in range(10):
    Y_hat = conv2d(X)
    l = (Y_hat - Y) ** 2
    conv2d.zero_grad()
    l.sum().backward()
    # Update the kernel
    conv2d.weight.data[:] -= lr * conv2d.weight.grad
    if (i + 1) % 2 == 0:
        print(f'epoch {i + 1}, loss {l.sum():.3f}')

print(conv2d.weight.data.reshape((1, 2)))

# The custom Conv2D module learns the same kernel
conv = Conv2D(kernel_size=(1, 2))
print(conv(X.reshape((6, 8))).shape)
