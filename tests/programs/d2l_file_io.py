"""Dive into Deep Learning, "File I/O" (chapter 6.6, https://d2l.ai/chapter_builders-guide/
read-write.html), written from the published PyTorch code with only the imports changed
(`import graphc as torch`, `from graphc import nn`, `from graphc.nn import functional as F`).
No data to swap; the files are written to the current folder, as in the book."""

import graphc as torch
from graphc import nn
from graphc.nn import functional as F

# Loading and saving tensors
x = torch.arange(4)
torch.save(x, 'x-file')

x2 = torch.load('x-file')
print(x2)

y = torch.zeros(4)
torch.save([x, y], 'x-files')
x2, y2 = torch.load('x-files')
print((x2, y2))

mydict = {'x': x, 'y': y}
torch.save(mydict, 'mydict')
mydict2 = torch.load('mydict')
print(mydict2)


# Loading and saving model parameters
class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.hidden = nn.LazyLinear(256)
        self.output = nn.LazyLinear(10)

    def forward(self, x):
        return self.output(F.relu(self.hidden(x)))


net = MLP()
X = torch.randn(size=(2, 20))
Y = net(X)

torch.save(net.state_dict(), 'mlp.params')

clone = MLP()
clone.load_state_dict(torch.load('mlp.params'))
print(clone.eval())

Y_clone = clone(X)
print(Y_clone == Y)
