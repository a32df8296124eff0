"""The differential checker (`graphc.check`, `graphc check`): silent on the real pipeline, and it
names the node, op and line of a broken pass, a broken kernel and a broken memory plan."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import graphc
from graphc import nn, optim
from graphc.cli import main
from graphc.differential import KERNEL, OVERWRITTEN, VALUE, check
from passes import pipeline
from runtime import program

ROOT = Path(__file__).resolve().parents[2]
MODELS = ROOT / "examples" / "models.py"


def tutorial_step(optimizer=optim.SGD, **options):
    from test_optimized import examples

    graphc.manual_seed(0)
    model = examples().NeuralNetwork()
    X, y = graphc.randn(64, 1, 28, 28), graphc.randint(0, 10, (64,))
    return model, X, y, nn.CrossEntropyLoss(), optimizer(model.parameters(), **options)


def check_step(model, X, y, loss_fn, opt, **options):
    return check(model, X, y, loss_fn=loss_fn, optimizer=opt, **options)


@pytest.mark.parametrize("optimizer, options", [(optim.SGD, {"lr": 0.1, "momentum": 0.9}),
                                                (optim.Adam, {"lr": 1e-3})])
def test_the_real_o2_step_of_the_tutorial_mlp_has_no_difference(optimizer, options):
    model, X, y, loss_fn, opt = tutorial_step(optimizer, **options)
    before = {k: v.numpy().copy() for k, v in model.state_dict().items()}
    result = check_step(model, X, y, loss_fn, opt)
    assert result.ok, str(result)
    assert result.compared > 50 and "no difference" in str(result)
    for name, value in model.state_dict().items():  # the model is left as it was
        np.testing.assert_array_equal(value.numpy(), before[name])
    assert not any(opt.state.values())  # no optimizer state was created


def swap_first_sub(phase: str):
    """A broken `simplify`: the first `sub` of `phase` gets its operands swapped (once)."""
    real = pipeline.PASSES["simplify"]

    def broken(graph):
        graph = real(graph)
        for node in graph.nodes:
            if node.op == "sub" and node.meta.get("phase") == phase:
                if not node.meta.get("broken"):
                    node.inputs = node.inputs[::-1]
                    node.meta["broken"] = True
                return graph
        return graph

    return broken


def test_a_pass_that_swaps_operands_is_named_with_its_node_and_line(monkeypatch):
    monkeypatch.setitem(pipeline.PASSES, "simplify", swap_first_sub("forward"))
    model, X, y, loss_fn, opt = tutorial_step(lr=0.1)
    result = check_step(model, X, y, loss_fn, opt)
    found = result.difference
    assert found is not None and found.kind == VALUE and found.op == "sub"
    assert found.meta["scope"] == "CrossEntropyLoss" and found.meta["phase"] == "forward"
    assert Path(__file__).name in found.meta["loc"]  # the line that called check
    assert found.fused is not None  # the sub was fused: found inside the body
    text = str(result)
    assert "the graph computes something else here" in text and f"%{found.name} = sub(" in text
    assert found.max_abs > 0.1


def test_a_pass_that_changes_a_constant_is_found(monkeypatch):
    real = pipeline.PASSES["fold"]

    def broken(graph):  # every 0.5 in the graph becomes 0.25
        graph = real(graph)
        for value in graph.constants:
            if value.type.shape == () and value.data == 0.5:
                value.data = np.asarray(0.25, value.data.dtype)
        return graph

    monkeypatch.setitem(pipeline.PASSES, "fold", broken)
    model = nn.Sequential(nn.Linear(4, 3), nn.GELU(approximate="tanh"))
    x = graphc.randn(5, 4)
    found = check(model, x, levels="O0,O1").difference
    assert found is not None and found.kind == VALUE and found.op == "mul"
    assert found.meta["scope"] == "1"


def test_a_wrong_kernel_is_told_from_a_wrong_graph(monkeypatch):
    right = program.NUMPY_KERNELS["gemm"]

    def wrong_gemm():
        kernel = right()

        def write(xp, out, a, b, c, alpha, beta, *, trans_a, trans_b):
            kernel(xp, out, a, b, c, alpha, beta, trans_a=trans_a, trans_b=trans_b)
            out[0, 0] += 1.0

        return write

    monkeypatch.setitem(program.NUMPY_KERNELS, "gemm", wrong_gemm)
    model, X, y, loss_fn, opt = tutorial_step(lr=0.1)
    found = check_step(model, X, y, loss_fn, opt).difference
    assert found is not None and found.kind == KERNEL
    assert found.op in ("gemm", "fused") and found.max_abs == pytest.approx(1.0, rel=1e-3)


def test_an_operand_overwritten_before_it_is_read_is_found(monkeypatch):
    real = program.Program._observed

    def scribbling(self, step, node, observe):  # the first product also zeroes its operand x
        real(self, step, node, observe)
        if node.op in ("matmul", "gemm") and not getattr(self, "scribbled", False):
            self.env[self.slot[node.inputs[0]]][...] = 0
            self.scribbled = True

    monkeypatch.setattr(program.Program, "_observed", scribbling)
    model = nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 2))
    found = check(model, graphc.randn(3, 6), graphc.randn(3, 2), loss_fn=nn.MSELoss(),
                  optimizer=optim.SGD(model.parameters(), lr=0.1), levels="O1").difference
    assert found is not None and found.kind == OVERWRITTEN and found.name == "inputs0"
    assert found.meta["phase"] == "backward"  # the weight gradient reads x again
    assert "was overwritten before this node read it" in str(found)


def test_check_takes_levels_and_backends_as_pairs_or_one_name():
    model = nn.Sequential(nn.Linear(3, 2))
    x = graphc.randn(2, 3)
    assert check(model, x, levels="O2", backends=["numpy"]).runs == ("O2 on numpy",) * 2
    with pytest.raises(ValueError, match="two runs"):
        check(model, x, levels=("O0", "O1", "O2"))
    with pytest.raises(TypeError, match="both loss_fn and optimizer"):
        check(model, x, x, loss_fn=nn.MSELoss())


def test_the_command_checks_the_tutorial_step_by_default(capsys):
    assert main(["check"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("O0 on numpy vs O2 on numpy:") and "no difference" in out


def test_the_command_exits_1_on_a_difference_and_2_on_bad_arguments(monkeypatch, capsys):
    target = f"{MODELS}:make_mlp"
    assert main(["check", target, "--input", "4x20", "--levels", "O1;O2"]) == 0
    assert "O1 on numpy vs O2 on numpy" in capsys.readouterr().out
    assert main(["check", target, "--input", "4x20", "--levels", "O0,O7"]) == 2
    assert "unknown optimization level or pass 'O7'" in capsys.readouterr().err
    assert main(["check", target, "--input", "4x20", "--backends", "numpy,tpu"]) == 2
    assert "unknown backend 'tpu'" in capsys.readouterr().err
    monkeypatch.setitem(pipeline.PASSES, "simplify", swap_first_sub("forward"))
    assert main(["check", target, "--input", "4x20", "--train", "--loss", "cross_entropy"]) == 1
    assert "first difference" in capsys.readouterr().out
