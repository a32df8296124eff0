"""DataParallel and data_parallel as PyTorch's single-device pass-through; cuDNN flags that read
back: what published training scripts (DCGAN, ImageNet) touch before they train."""

from __future__ import annotations

import numpy as np

import graphc
import graphc.backends.cudnn as cudnn  # noqa: PLR0402  (the spelling DCGAN uses)
from graphc import nn


def test_data_parallel_calls_the_module_and_prefixes_state_dict_keys(parity):
    torch = parity.torch
    theirs, mine = parity.twins(lambda nn: nn.DataParallel(nn.Linear(3, 2)))
    assert repr(mine) == repr(theirs)
    assert list(mine.state_dict()) == ["module.weight", "module.bias"]
    parity.check(theirs, mine, np.random.default_rng(0).standard_normal((4, 3)))
    x = torch.ones(2, 3, dtype=torch.double)
    expected = theirs.module(x).detach().numpy()  # PyTorch's data_parallel needs CUDA devices
    got = nn.parallel.data_parallel(mine.module, graphc.ones(2, 3, dtype=graphc.double), range(2))
    np.testing.assert_allclose(got.detach().numpy(), expected, rtol=1e-12)


def test_data_parallel_traces_and_compiles():
    model = nn.DataParallel(nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2)))
    x, y = graphc.randn(5, 3), graphc.randint(0, 2, (5,))
    graph = graphc.trace(model, x)
    assert {v.name for v in graph.params} == set(model.state_dict())
    step = graphc.compile_train_step(model, nn.CrossEntropyLoss(),
                                     graphc.optim.SGD(model.parameters(), lr=0.1), x, y)
    assert step(x, y).item() > step(x, y).item()


def test_cudnn_flags_read_back():
    saved = cudnn.benchmark, cudnn.deterministic
    try:
        graphc.backends.cudnn.benchmark = True
        cudnn.deterministic = True
        assert cudnn.benchmark is True and graphc.backends.cudnn.deterministic is True
    finally:
        cudnn.benchmark, cudnn.deterministic = saved
    assert cudnn.enabled is True and cudnn.is_available() is False
