"""`graphc.nn`: PyTorch's module API (Module, Parameter, containers, layers, losses, init)."""

from graphc.nn import functional, init
from graphc.nn.activation import (
    ELU,
    GELU,
    LeakyReLU,
    LogSoftmax,
    Mish,
    PReLU,
    ReLU,
    Sigmoid,
    SiLU,
    Softmax,
    Softplus,
    Tanh,
)
from graphc.nn.containers import ModuleDict, ModuleList, ParameterDict, ParameterList, Sequential
from graphc.nn.conv import AvgPool2d, Conv2d, MaxPool2d
from graphc.nn.dropout import Dropout
from graphc.nn.lazy import (
    LazyBatchNorm1d,
    LazyBatchNorm2d,
    LazyConv2d,
    LazyLinear,
    UninitializedBuffer,
    UninitializedParameter,
)
from graphc.nn.linear import Flatten, Identity, Linear, Unflatten
from graphc.nn.loss import (
    BCELoss,
    BCEWithLogitsLoss,
    CrossEntropyLoss,
    HuberLoss,
    KLDivLoss,
    L1Loss,
    MSELoss,
    NLLLoss,
    SmoothL1Loss,
)
from graphc.nn.module import Module
from graphc.nn.normalization import BatchNorm1d, BatchNorm2d, LayerNorm
from graphc.nn.parameter import Parameter
from graphc.nn.sparse import Embedding

__all__ = [
    "ELU",
    "GELU",
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
    "HuberLoss",
    "Identity",
    "KLDivLoss",
    "L1Loss",
    "LayerNorm",
    "LazyBatchNorm1d",
    "LazyBatchNorm2d",
    "LazyConv2d",
    "LazyLinear",
    "LeakyReLU",
    "Linear",
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
    "Sequential",
    "SiLU",
    "Sigmoid",
    "SmoothL1Loss",
    "Softmax",
    "Softplus",
    "Tanh",
    "Unflatten",
    "UninitializedBuffer",
    "UninitializedParameter",
    "functional",
    "init",
]
