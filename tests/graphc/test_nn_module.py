"""Module semantics: attribute stores, traversal, state_dict/load_state_dict, modes, repr, containers."""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import pytest

import graphc
from graphc import nn


def small_net():
    graphc.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1))


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 2)
        self.scale = nn.Parameter(graphc.ones((2,)))
        self.register_buffer("steps", graphc.zeros((1,)))
        self.register_buffer("scratch", graphc.zeros((2,)), persistent=False)
        self.plain = graphc.ones((2,))

    def forward(self, x):
        return self.fc(x) * self.scale


# -- attribute stores --------------------------------------------------------------------------------
def test_setattr_sorts_members_into_their_stores():
    block = Block()
    assert list(block._parameters) == ["scale"]
    assert list(block._modules) == ["fc"]
    assert list(block._buffers) == ["steps", "scratch"]
    assert "plain" in block.__dict__ and "fc" not in block.__dict__
    assert block.fc is block._modules["fc"] and block.steps is block._buffers["steps"]
    assert isinstance(block.scale, nn.Parameter) and block.scale.requires_grad


def test_reassigning_and_deleting_members():
    block = Block()
    block.scale = None
    assert "scale" in block._parameters and block.scale is None
    with pytest.raises(TypeError, match="parameter 'scale'"):
        block.scale = graphc.ones((2,))
    block.fc = nn.Identity()
    assert isinstance(block._modules["fc"], nn.Identity)
    with pytest.raises(TypeError, match="child module 'fc'"):
        block.fc = 3
    block.steps = graphc.ones((1,))
    assert block._buffers["steps"].numpy()[0] == 1
    del block.fc, block.steps
    assert "fc" not in block._modules and "steps" not in block._buffers
    with pytest.raises(AttributeError, match="'Block' object has no attribute 'fc'"):
        block.fc  # noqa: B018


def test_a_parameter_moves_out_of_plain_attributes():
    block = Block()
    block.plain = nn.Parameter(graphc.zeros((2,)))
    assert "plain" in block._parameters and "plain" not in block.__dict__


def test_registration_checks():
    block = Block()
    with pytest.raises(KeyError, match="attribute 'plain' already exists"):
        block.register_buffer("plain", graphc.zeros((1,)))
    with pytest.raises(KeyError, match=r'contain "\.", got: a\.b'):
        block.add_module("a.b", nn.ReLU())
    with pytest.raises(TypeError, match="parameter 'w'"):
        block.register_parameter("w", graphc.zeros((1,)))
    with pytest.raises(TypeError, match="is not a Module subclass"):
        block.add_module("x", 3)

    class Early(nn.Module):
        def __init__(self):
            self.w = nn.Parameter(graphc.zeros((1,)))

    with pytest.raises(AttributeError, match="before Module.__init__"):
        Early()


def test_register_module_and_get_submodule():
    net = nn.Sequential()
    net.register_module("block 0", nn.Sequential(nn.Linear(2, 2)))
    assert net.get_submodule("block 0.0") is net[0][0]
    assert [name for name, _ in net.named_parameters()] == ["block 0.0.weight", "block 0.0.bias"]


# -- traversal ---------------------------------------------------------------------------------------
def test_traversal_and_duplicates():
    shared = nn.Linear(2, 2)
    net = nn.Sequential(shared, nn.ReLU(), shared)
    assert [n for n, _ in net.named_parameters()] == ["0.weight", "0.bias"]
    assert [n for n, _ in net.named_parameters(remove_duplicate=False)] == [
        "0.weight", "0.bias", "2.weight", "2.bias"]
    assert [n for n, _ in net.named_modules()] == ["", "0", "1"]
    assert [n for n, _ in net.named_children()] == ["0", "1"]
    assert len(list(net.parameters())) == 2
    assert [n for n, _ in net.named_parameters(prefix="model")] == ["model.0.weight", "model.0.bias"]
    assert list(net.parameters(recurse=False)) == []
    block = Block()
    assert [n for n, _ in block.named_buffers()] == ["steps", "scratch"]
    assert len(list(block.buffers())) == 2
    assert [n for n, _ in block.named_parameters()] == ["scale", "fc.weight", "fc.bias"]


# -- state_dict --------------------------------------------------------------------------------------
def test_state_dict_detached_shared_and_ordered():
    block = Block()
    state = block.state_dict()
    assert isinstance(state, OrderedDict)
    assert list(state) == ["scale", "steps", "fc.weight", "fc.bias"]  # non-persistent left out
    assert not state["scale"].requires_grad and not isinstance(state["scale"], nn.Parameter)
    state["scale"].numpy()[0] = 7.0  # shares storage with the parameter
    assert block.scale.detach().numpy()[0] == 7.0
    assert block.state_dict(keep_vars=True)["scale"] is block.scale
    net = small_net()
    assert list(net[2].state_dict()) == ["weight", "bias"]


def test_load_state_dict_round_trip():
    source, target = small_net(), small_net()
    graphc.manual_seed(5)
    source[0].reset_parameters()
    result = target.load_state_dict(source.state_dict())
    assert result.missing_keys == [] and result.unexpected_keys == []
    assert repr(result) == "<All keys matched successfully>"
    for (name, a), (_, b) in zip(source.state_dict().items(), target.state_dict().items()):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=name)
    assert target[0].weight.is_leaf and target[0].weight.requires_grad


def snapshot(model):
    return {k: v.numpy().copy() for k, v in model.state_dict().items()}


def assert_unchanged(model, before):
    after = snapshot(model)
    assert list(after) == list(before)
    for key in before:
        np.testing.assert_array_equal(after[key], before[key], err_msg=key)


def test_failed_load_leaves_the_model_unchanged():
    net = small_net()
    before = snapshot(net)
    state = {k: graphc.from_numpy(v + 1) for k, v in before.items()}  # all valid but one
    state["2.weight"] = graphc.zeros((2, 8))
    with pytest.raises(RuntimeError) as err:
        net.load_state_dict(state)
    assert str(err.value) == (
        "Error(s) in loading state_dict for Sequential:\n\tsize mismatch for 2.weight: copying a "
        "param with shape graphc.Size([2, 8]) from checkpoint, the shape in current model is "
        "graphc.Size([1, 8]).")
    assert_unchanged(net, before)

    del state["2.weight"]
    state["2.weight"] = graphc.from_numpy(before["2.weight"] + 1)
    del state["0.bias"]
    state["extra"] = graphc.zeros((1,))
    with pytest.raises(RuntimeError) as err:
        net.load_state_dict(state)
    assert str(err.value) == (
        "Error(s) in loading state_dict for Sequential:\n\tMissing key(s) in state_dict: "
        '"0.bias". \n\tUnexpected key(s) in state_dict: "extra". ')
    assert_unchanged(net, before)


def test_non_strict_load_reports_keys_and_writes_the_rest():
    net = small_net()
    before = snapshot(net)
    state = {"0.weight": graphc.from_numpy(before["0.weight"] * 2), "junk": graphc.zeros((1,))}
    result = net.load_state_dict(state, strict=False)
    assert result.missing_keys == ["0.bias", "2.weight", "2.bias"]
    assert result.unexpected_keys == ["junk"]
    np.testing.assert_array_equal(net[0].weight.detach().numpy(), before["0.weight"] * 2)


def test_load_errors_match_pytorch_wording():
    torch = pytest.importorskip("torch")
    tnet = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1))
    net = small_net()
    bad = {"0.weight": np.zeros((8, 4), np.float32), "2.weight": np.zeros((3, 8), np.float32),
           "2.bias": np.zeros((1,), np.float32), "zzz": np.zeros((1,), np.float32)}
    with pytest.raises(RuntimeError) as terr:
        tnet.load_state_dict({k: torch.from_numpy(v) for k, v in bad.items()})
    with pytest.raises(RuntimeError) as gerr:
        net.load_state_dict({k: graphc.from_numpy(v) for k, v in bad.items()})
    assert str(gerr.value) == str(terr.value).replace("torch.", "graphc.")


# -- modes, apply, grads, dtype ----------------------------------------------------------------------
def test_train_eval_propagate():
    net = nn.Sequential(nn.Linear(2, 2), nn.Sequential(nn.Dropout(), nn.ReLU()))
    assert all(m.training for m in net.modules())
    assert net.eval() is net
    assert not any(m.training for m in net.modules())
    net.train()
    assert all(m.training for m in net.modules())
    with pytest.raises(ValueError, match="boolean"):
        net.train("no")


def test_apply_visits_children_first():
    net = nn.Sequential(nn.Linear(2, 2), nn.Sequential(nn.ReLU()))
    seen = []
    assert net.apply(lambda m: seen.append(type(m).__name__)) is net
    assert seen == ["Linear", "ReLU", "Sequential", "Sequential"]


def test_apply_with_init_functions():
    net = small_net()

    def init_normal(m):
        if type(m) is nn.Linear:
            nn.init.normal_(m.weight, mean=0, std=0.01)
            nn.init.zeros_(m.bias)

    net.apply(init_normal)
    assert np.all(net[0].bias.detach().numpy() == 0)
    assert np.abs(net[0].weight.detach().numpy()).max() < 0.1


def test_requires_grad_and_zero_grad():
    net = small_net()
    assert net.requires_grad_(False) is net
    assert not any(p.requires_grad for p in net.parameters())
    net.requires_grad_()
    assert net[2].weight.grad is None
    net(graphc.ones((2, 4))).sum().backward()
    assert net[2].weight.grad is not None
    net.zero_grad(set_to_none=False)
    assert np.all(net[2].weight.grad.numpy() == 0)
    net.zero_grad()
    assert net[2].weight.grad is None


def test_to_double_and_float_cast_floating_tensors_only():
    block = Block()
    block.register_buffer("count", graphc.tensor(3))
    block.double()
    assert block.fc.weight.dtype == graphc.float64 and isinstance(block.fc.weight, nn.Parameter)
    assert block.steps.dtype == graphc.float64 and block.count.dtype == graphc.int64
    assert block.fc.weight.requires_grad
    block.to(graphc.float32)
    assert block.scale.dtype == graphc.float32
    assert block.cpu() is block and block.to("cpu") is block
    assert block(graphc.ones((1, 3))).dtype == graphc.float32


def test_parameter_basics():
    p = nn.Parameter(graphc.ones((2,)))
    assert p.requires_grad and p.is_leaf and isinstance(p, graphc.Tensor)
    assert repr(p).startswith("Parameter containing:\ntensor(")
    assert not isinstance(p * 2, nn.Parameter)
    frozen = nn.Parameter(graphc.ones((2,)), requires_grad=False)
    assert not frozen.requires_grad
    data = graphc.zeros((3,))
    shared = nn.Parameter(data)
    data.numpy()[0] = 5  # shares storage with its data
    assert shared.detach().numpy()[0] == 5
    net = small_net()
    assert type(net[2].bias) is nn.Parameter
    assert not net[2].bias.data.requires_grad


def test_forward_missing_and_call_runs_forward():
    with pytest.raises(NotImplementedError, match='missing the required "forward"'):
        nn.Module()(1)
    assert nn.Identity()(5) == 5


# -- repr --------------------------------------------------------------------------------------------
def test_repr_format():
    net = nn.Sequential(nn.Linear(2, 3), nn.Sequential(nn.ReLU(), nn.Linear(3, 1, bias=False)))
    assert repr(net) == (
        "Sequential(\n"
        "  (0): Linear(in_features=2, out_features=3, bias=True)\n"
        "  (1): Sequential(\n"
        "    (0): ReLU()\n"
        "    (1): Linear(in_features=3, out_features=1, bias=False)\n"
        "  )\n"
        ")")
    assert repr(nn.Module()) == "Module()"


def layer_zoo(nn):
    return [
        nn.Softplus(), nn.ELU(), nn.LeakyReLU(0.2), nn.GELU(approximate="tanh"), nn.SiLU(),
        nn.Mish(), nn.PReLU(), nn.Dropout(0.3), nn.Flatten(), nn.Unflatten(1, (2, 5)),
        nn.Conv2d(1, 6, 5, padding=2), nn.Conv2d(6, 16, 3, stride=2, bias=False),
        nn.MaxPool2d(2), nn.AvgPool2d(2), nn.LayerNorm(10), nn.BatchNorm1d(4), nn.BatchNorm2d(3),
        nn.Embedding(10, 3), nn.Embedding(10, 3, padding_idx=0), nn.Softmax(dim=1),
        nn.LogSoftmax(1), nn.Identity(), nn.CrossEntropyLoss(), nn.MSELoss(), nn.Tanh(),
        nn.Sigmoid(), nn.ReLU(inplace=True), nn.ModuleDict({"a": nn.ReLU()}),
        nn.ModuleList([nn.Linear(2, 2), nn.Linear(2, 2), nn.Linear(2, 2), nn.ReLU()]),
        nn.ParameterList([nn.Parameter(graphc_or_torch(nn).randn(4, 4)) for _ in range(2)]),
    ]


def graphc_or_torch(nn_module):
    return graphc if nn_module is nn else pytest.importorskip("torch")


def test_layer_reprs_equal_pytorch():
    torch = pytest.importorskip("torch")
    for mine, theirs in zip(layer_zoo(nn), layer_zoo(torch.nn)):
        assert repr(mine) == repr(theirs).replace("torch.", "graphc."), repr(theirs)


def test_layer_state_dict_keys_equal_pytorch():
    torch = pytest.importorskip("torch")
    for mine, theirs in zip(layer_zoo(nn), layer_zoo(torch.nn)):
        assert list(mine.state_dict()) == list(theirs.state_dict()), repr(theirs)
        for key, value in theirs.state_dict().items():
            assert tuple(mine.state_dict()[key].shape) == tuple(value.shape), key


# -- containers --------------------------------------------------------------------------------------
def test_sequential_indexing_slicing_and_growth():
    net = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
    assert isinstance(net[-1], nn.Linear) and net[-1] is net[2]
    with pytest.raises(IndexError):
        net[3]
    tail = net[1:]
    assert isinstance(tail, nn.Sequential) and len(tail) == 2
    assert list(tail._modules) == ["1", "2"] and tail[1] is net[2]
    assert [type(m).__name__ for m in net] == ["Linear", "ReLU", "Linear"]
    net.append(nn.Sigmoid())
    assert list(net._modules) == ["0", "1", "2", "3"]
    net[1] = nn.Tanh()
    assert isinstance(net[1], nn.Tanh)
    del net[0]
    assert list(net._modules) == ["0", "1", "2"] and isinstance(net[0], nn.Tanh)
    named = nn.Sequential(OrderedDict([("fc", nn.Linear(2, 2)), ("act", nn.ReLU())]))
    assert [n for n, _ in named.named_parameters()] == ["fc.weight", "fc.bias"]
    assert named[0] is named.fc


def test_module_list_and_dict():
    layers = nn.ModuleList([nn.Linear(2, 2) for _ in range(2)])
    layers.append(nn.ReLU())
    layers += [nn.Tanh()]
    assert len(layers) == 4 and isinstance(layers[-1], nn.Tanh)
    assert [n for n, _ in layers.named_parameters()] == ["0.weight", "0.bias", "1.weight", "1.bias"]
    assert isinstance(layers[1:3], nn.ModuleList) and len(layers[1:3]) == 2
    heads = nn.ModuleDict({"a": nn.Linear(2, 1)})
    heads["b"] = nn.Linear(2, 3)
    assert list(heads) == ["a", "b"] and "b" in heads and len(heads) == 2
    assert [n for n, _ in heads.named_parameters()][-1] == "b.bias"
    assert heads.pop("a") is not None and list(heads.keys()) == ["b"]


def test_parameter_list_and_dict():
    params = nn.ParameterList([nn.Parameter(graphc.randn(4, 4)) for _ in range(3)])
    params.append(graphc.randn(4, 1))  # a plain tensor becomes a Parameter
    assert len(params) == 4 and isinstance(params[3], nn.Parameter)
    assert params[-1] is params[3]
    assert [n for n, _ in params.named_parameters()] == ["0", "1", "2", "3"]
    assert [tuple(p.shape) for p in params] == [(4, 4)] * 3 + [(4, 1)]
    table = nn.ParameterDict({"w": nn.Parameter(graphc.ones((2,)))})
    table["b"] = graphc.zeros((2,))
    assert list(table) == ["w", "b"] and isinstance(table["b"], nn.Parameter)
    assert [n for n, _ in table.named_parameters()] == ["w", "b"]
    assert table.get("missing") is None
    with pytest.raises(RuntimeError, match="should not be called"):
        params(1)


def test_deepcopy_gives_an_independent_model():
    import copy

    net = small_net()
    clone = copy.deepcopy(net)
    assert type(clone[0].weight) is nn.Parameter and clone[0].weight.requires_grad
    assert clone[0].weight is not net[0].weight
    np.testing.assert_array_equal(clone[0].weight.detach().numpy(), net[0].weight.detach().numpy())
    clone[0].weight.detach().numpy()[:] = 0
    assert np.any(net[0].weight.detach().numpy() != 0)
    assert repr(clone) == repr(net)


def test_training_loop_lowers_the_loss():
    graphc.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 32), nn.ReLU(), nn.Dropout(0.1),
                          nn.Linear(32, 3))
    x, y = graphc.rand(24, 4, 4), graphc.randint(0, 3, (24,))
    loss_fn = nn.CrossEntropyLoss()
    losses = []
    for _ in range(20):
        loss = loss_fn(model(x), y)
        loss.backward()
        with graphc.no_grad():
            for p in model.parameters():
                p -= 0.5 * p.grad
        model.zero_grad()
        losses.append(loss.item())
    assert losses[-1] < 0.8 * losses[0]
