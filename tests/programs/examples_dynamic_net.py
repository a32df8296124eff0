"""PyTorch tutorial "Learning PyTorch with Examples", PyTorch: Control Flow + Weight Sharing
(beginner_source/examples_nn/dynamic_net.py,
https://pytorch.org/tutorials/beginner/pytorch_with_examples.html), written from the published
program with only the import changed (`import graphc as torch`). No data to swap."""

import math
import random

import graphc as torch


class DynamicNet(torch.nn.Module):
    def __init__(self):
        """Five parameters, registered as members of the module."""
        super().__init__()
        self.a = torch.nn.Parameter(torch.randn(()))
        self.b = torch.nn.Parameter(torch.randn(()))
        self.c = torch.nn.Parameter(torch.randn(()))
        self.d = torch.nn.Parameter(torch.randn(()))
        self.e = torch.nn.Parameter(torch.randn(()))

    def forward(self, x):
        """A third, fourth or fifth order polynomial, chosen at random on each pass; the fourth
        and fifth order terms share the parameter e.

        Each forward pass builds a dynamic computation graph, so ordinary Python control flow
        (loops, conditionals) works, and reusing a parameter several times is fine.
        """
        y = self.a + self.b * x + self.c * x ** 2 + self.d * x ** 3
        for exp in range(4, random.randint(4, 6)):
            y = y + self.e * x ** exp
        return y

    def string(self):
        """Custom methods work like any Python method."""
        return (f'y = {self.a.item()} + {self.b.item()} x + {self.c.item()} x^2 + '
                f'{self.d.item()} x^3 + {self.e.item()} x^4 ? + {self.e.item()} x^5 ?')


# Create Tensors to hold input and outputs.
x = torch.linspace(-math.pi, math.pi, 2000)
y = torch.sin(x)

# Construct our model by instantiating the class defined above
model = DynamicNet()

# Plain SGD is hard on this strange model: use momentum
criterion = torch.nn.MSELoss(reduction='sum')
optimizer = torch.optim.SGD(model.parameters(), lr=1e-8, momentum=0.9)
for t in range(30000):
    # Forward pass: Compute predicted y by passing x to the model
    y_pred = model(x)

    # Compute and print loss
    loss = criterion(y_pred, y)
    if t % 2000 == 1999:
        print(t, loss.item())

    # Zero gradients, perform a backward pass, and update the weights.
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()

print(f'Result: {model.string()}')
