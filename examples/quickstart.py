"""PyTorch's quickstart tutorial on graphc: the same code with the imports changed.

    python examples/quickstart.py                  # Digits (bundled), eager, as the tutorial
    python examples/quickstart.py --compile        # the training loop as one compiled step
    python examples/quickstart.py --data fashion-mnist --epochs 5   # the tutorial's data set

Changes from the tutorial, each marked "graphc:" below: the imports; the data set (Digits by
default: it needs no download); the input width follows the data; the `--compile` branch of the
training loop.
"""

import argparse

import graphc as torch
from graphc import nn
from graphc.data import DataLoader, datasets
from graphc.data.transforms import ToTensor

# graphc: command-line switches around the tutorial's code
parser = argparse.ArgumentParser(description="PyTorch's quickstart tutorial, ported to graphc")
parser.add_argument("--data", choices=["digits", "fashion-mnist", "mnist"], default="digits")
parser.add_argument("--epochs", type=int, default=5)
parser.add_argument("--lr", type=float, default=None,
                    help="SGD learning rate (default: the tutorial's 1e-3; 0.1 for digits, whose "
                         "epoch is 40x shorter)")
parser.add_argument("--log-every", type=int, default=100, help="print the loss every N batches")
parser.add_argument("--compile", action="store_true",
                    help="train with graphc.compile_train_step instead of the eager loop")
args = parser.parse_args()
Dataset = {"digits": datasets.Digits, "fashion-mnist": datasets.FashionMNIST,
           "mnist": datasets.MNIST}[args.data]

# Download training data from open datasets.
training_data = Dataset(
    root="data",
    train=True,
    download=True,
    transform=ToTensor(),
)

# Download test data from open datasets.
test_data = Dataset(
    root="data",
    train=False,
    download=True,
    transform=ToTensor(),
)

batch_size = 64

# Create data loaders.
train_dataloader = DataLoader(training_data, batch_size=batch_size)
test_dataloader = DataLoader(test_data, batch_size=batch_size)

for X, y in test_dataloader:
    print(f"Shape of X [N, C, H, W]: {X.shape}")
    print(f"Shape of y: {y.shape} {y.dtype}")
    break

device = torch.accelerator.current_accelerator().type if torch.accelerator.is_available() else "cpu"
print(f"Using {device} device")

in_features = X[0].numel()  # graphc: 28*28 for the MNISTs, 8*8 for Digits


# Define model
class NeuralNetwork(nn.Module):
    def __init__(self):
        super().__init__()
        self.flatten = nn.Flatten()
        self.linear_relu_stack = nn.Sequential(
            nn.Linear(in_features, 512),
            nn.ReLU(),
            nn.Linear(512, 512),
            nn.ReLU(),
            nn.Linear(512, 10)
        )

    def forward(self, x):
        x = self.flatten(x)
        logits = self.linear_relu_stack(x)
        return logits


model = NeuralNetwork().to(device)
print(model)

loss_fn = nn.CrossEntropyLoss()
lr = args.lr if args.lr is not None else (0.1 if args.data == "digits" else 1e-3)
optimizer = torch.optim.SGD(model.parameters(), lr=lr)

# graphc: one compiled step (forward, loss, backward, SGD update) per batch shape; the last batch
# of an epoch may be shorter. The steps update the model's own parameters in place.
compiled_steps = {}


def compiled_step(X, y):
    if tuple(X.shape) not in compiled_steps:
        compiled_steps[tuple(X.shape)] = torch.compile_train_step(model, loss_fn, optimizer, X, y)
    return compiled_steps[tuple(X.shape)](X, y)


def train(dataloader, model, loss_fn, optimizer):
    size = len(dataloader.dataset)
    model.train()
    for batch, (X, y) in enumerate(dataloader):
        X, y = X.to(device), y.to(device)

        if args.compile:  # graphc
            loss = compiled_step(X, y)
        else:
            # Compute prediction error
            pred = model(X)
            loss = loss_fn(pred, y)

            # Backpropagation
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()

        if batch % args.log_every == 0:
            loss, current = loss.item(), (batch + 1) * len(X)
            print(f"loss: {loss:>7f}  [{current:>5d}/{size:>5d}]")


def test(dataloader, model, loss_fn):
    size = len(dataloader.dataset)
    num_batches = len(dataloader)
    model.eval()
    test_loss, correct = 0, 0
    with torch.no_grad():
        for X, y in dataloader:
            X, y = X.to(device), y.to(device)
            pred = model(X)
            test_loss += loss_fn(pred, y).item()
            correct += (pred.argmax(1) == y).type(torch.float).sum().item()
    test_loss /= num_batches
    correct /= size
    print(f"Test Error: \n Accuracy: {(100*correct):>0.1f}%, Avg loss: {test_loss:>8f} \n")


epochs = args.epochs
for t in range(epochs):
    print(f"Epoch {t+1}\n-------------------------------")
    train(train_dataloader, model, loss_fn, optimizer)
    test(test_dataloader, model, loss_fn)
print("Done!")

torch.save(model.state_dict(), "model.pth")  # graphc: a safetensors file, whatever its name
print("Saved PyTorch Model State to model.pth")

model = NeuralNetwork().to(device)
model.load_state_dict(torch.load("model.pth", weights_only=True))

classes = test_data.classes  # graphc: the tutorial lists FashionMNIST's ten names here

model.eval()
x, y = test_data[0][0], test_data[0][1]
with torch.no_grad():
    x = x.to(device)
    pred = model(x)
    predicted, actual = classes[pred[0].argmax(0)], classes[y]
    print(f'Predicted: "{predicted}", Actual: "{actual}"')
