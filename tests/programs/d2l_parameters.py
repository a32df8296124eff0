"""Dive into Deep Learning, "Parameter Management" (chapter 6.2, https://d2l.ai/chapter_builders-
guide/parameters.html), written from the published PyTorch code with only the imports changed
(`import graphc as torch`, `from graphc import nn`). No data to swap."""

import graphc as torch
from graphc import nn

net = nn.Sequential(nn.LazyLinear(8),
                    nn.ReLU(),
                    nn.LazyLinear(1))

X = torch.rand(size=(2, 4))
print(net(X).shape)

# Parameter access
print(net[2].state_dict())

# Targeted parameters
print(type(net[2].bias), net[2].bias.data)
print(net[2].weight.grad == None)

# All parameters at once
print([(name, param.shape) for name, param in net.named_parameters()])

# Tied parameters: name the shared layer to refer to its parameters
shared = nn.LazyLinear(8)
net = nn.Sequential(nn.LazyLinear(8), nn.ReLU(),
                    shared, nn.ReLU(),
                    shared, nn.ReLU(),
                    nn.LazyLinear(1))

net(X)
# Check whether the parameters are the same
print(net[2].weight.data[0] == net[4].weight.data[0])
net[2].weight.data[0, 0] = 100
# Make sure that they are actually the same object rather than just having the same value
print(net[2].weight.data[0] == net[4].weight.data[0])
