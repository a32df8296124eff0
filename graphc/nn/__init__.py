"""`graphc.nn`: PyTorch's module API (Module, Parameter, containers, layers, losses, init)."""

from graphc.nn import functional, init
from graphc.nn.activation import (
    CELU,
    ELU,
    GELU,
    GLU,
    SELU,
    Hardshrink,
    Hardsigmoid,
    Hardswish,
    Hardtanh,
    LeakyReLU,
    LogSigmoid,
    LogSoftmax,
    Mish,
    PReLU,
    ReLU,
    ReLU6,
    Sigmoid,
    SiLU,
    Softmax,
    Softmin,
    Softplus,
    Softshrink,
    Softsign,
    Tanh,
    Tanhshrink,
    Threshold,
    Unfold,
)
from graphc.nn.containers import ModuleDict, ModuleList, ParameterDict, ParameterList, Sequential
from graphc.nn.conv import AvgPool2d, Conv2d, MaxPool2d
from graphc.nn.dropout import Dropout
from graphc.nn.linear import Flatten, Identity, Linear, Unflatten
from graphc.nn.loss import BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, L1Loss, MSELoss, NLLLoss
from graphc.nn.module import Module
from graphc.nn.normalization import BatchNorm1d, BatchNorm2d, LayerNorm
from graphc.nn.parameter import Parameter
from graphc.nn.sparse import Embedding

# isort: split
from graphc.nn import parallel  # DistributedDataParallel is a Module: import it last

__all__ = [
    "CELU",
    "ELU",
    "GELU",
    "GLU",
    "SELU",
    "AvgPool2d",
    "BCELoss",
    "BCEWithLogitsLoss",
    "BatchNorm1d",
    "BatchNorm2d",
    "Conv2d",
    "CrossEntropyLoss",
    "Dropout",
    "Embedding",
    "Flatten",
    "Hardshrink",
    "Hardsigmoid",
    "Hardswish",
    "Hardtanh",
    "Identity",
    "L1Loss",
    "LayerNorm",
    "LeakyReLU",
    "Linear",
    "LogSigmoid",
    "LogSoftmax",
    "MSELoss",
    "MaxPool2d",
    "Mish",
    "Module",
    "ModuleDict",
    "ModuleList",
    "NLLLoss",
    "PReLU",
    "Parameter",
    "ParameterDict",
    "ParameterList",
    "ReLU",
    "ReLU6",
    "Sequential",
    "SiLU",
    "Sigmoid",
    "Softmax",
    "Softmin",
    "Softplus",
    "Softshrink",
    "Softsign",
    "Tanh",
    "Tanhshrink",
    "Threshold",
    "Unflatten",
    "Unfold",
    "functional",
    "init",
    "parallel",
]
