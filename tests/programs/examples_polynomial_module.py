"""PyTorch tutorial "Learning PyTorch with Examples", PyTorch: Custom nn Modules
(beginner_source/examples_nn/polynomial_module.py,
https://pytorch.org/tutorials/beginner/pytorch_with_examples.html), written from the published
program with only the import changed (`import graphc as torch`). No data to swap."""

import math

import graphc as torch


class Polynomial3(torch.nn.Module):
    def __init__(self):
        """Four parameters, registered as members of the module."""
        super().__init__()
        self.a = torch.nn.Parameter(torch.randn(()))
        self.b = torch.nn.Parameter(torch.randn(()))
        self.c = torch.nn.Parameter(torch.randn(()))
        self.d = torch.nn.Parameter(torch.randn(()))

    def forward(self, x):
        """The output from the input, with any tensor operations."""
        return self.a + self.b * x + self.c * x ** 2 + self.d * x ** 3

    def string(self):
        """Custom methods work like any Python method."""
        return f'y = {self.a.item()} + {self.b.item()} x + {self.c.item()} x^2 + {self.d.item()} x^3'


# Create Tensors to hold input and outputs.
x = torch.linspace(-math.pi, math.pi, 2000)
y = torch.sin(x)

# Construct our model by instantiating the class defined above
model = Polynomial3()

# Loss function and optimizer: SGD over the model's parameters (its nn.Parameter members)
criterion = torch.nn.MSELoss(reduction='sum')
optimizer = torch.optim.SGD(model.parameters(), lr=1e-6)
for t in range(2000):
    # Forward pass: Compute predicted y by passing x to the model
    y_pred = model(x)

    # Compute and print loss
    loss = criterion(y_pred, y)
    if t % 100 == 99:
        print(t, loss.item())

    # Zero gradients, perform a backward pass, and update the weights.
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()

print(f'Result: {model.string()}')
