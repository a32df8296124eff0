"""`graphc show`: trace a model from a user file, print its IR, draw forward/backward/step SVGs."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from graphc import show
from graphc.cli import main

MODELS = Path(__file__).resolve().parents[2] / "examples" / "models.py"


def run_show(*argv):
    return main(["show", *map(str, argv)])


def test_forward_of_the_quickstart_model(tmp_path, capsys):
    assert run_show(f"{MODELS}:NeuralNetwork", "--input", "64x1x28x28", "--out", tmp_path) == 0
    out = capsys.readouterr().out
    assert "graph NeuralNetwork {" in out and "input %x: f32[64,1,28,28]" in out
    assert "param %linear_relu_stack.0.weight: f32[512,784]" in out
    svg = (tmp_path / "forward.svg").read_text()
    assert "</svg>" in svg and "linear_relu_stack.0" in svg and "f32[64,512]" in svg
    assert (tmp_path / "forward.ir").read_text().startswith("graph NeuralNetwork {")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["forward.ir", "forward.svg"]


def test_training_step_draws_backward_and_whole_step(tmp_path, capsys):
    code = run_show(f"{MODELS}:NeuralNetwork", "--input", "8x1x28x28", "--train",
                    "--loss", "cross_entropy", "--optim", "sgd", "--depth", "2", "--out", tmp_path)
    assert code == 0
    out = capsys.readouterr().out
    assert "# backward graph of NeuralNetwork" in out and "# step graph of NeuralNetwork" in out
    step = (tmp_path / "step.svg").read_text()
    assert "∇ linear_relu_stack.0" in step and "optimizer" in step
    assert "→ linear_relu_stack.4.bias" in step  # the update written back to the parameter
    assert "∇ linear_relu_stack" in (tmp_path / "backward.svg").read_text()
    assert "phase=optimizer" in (tmp_path / "step.ir").read_text()


def test_factory_mse_adam_at_o2_draws_fused_kernels(tmp_path, capsys):
    code = run_show(f"{MODELS}:make_mlp", "--input", "2x20", "--train", "--loss", "mse",
                    "--optim", "adam", "--level", "O2", "--out", tmp_path)
    assert code == 0
    step_ir = (tmp_path / "step.ir").read_text()
    assert "f32[2,10]" in step_ir  # the mse target has the output's shape
    assert "= fused(" in step_ir and "= gemm(" in step_ir
    assert "fused · " in (tmp_path / "step.svg").read_text()
    assert "= fused(" in (tmp_path / "forward.ir").read_text()


def test_cross_entropy_labels_are_class_indices(tmp_path):
    assert run_show(f"{MODELS}:MLP", "--input", "3x20", "--train", "--out", tmp_path) == 0
    step_ir = (tmp_path / "step.ir").read_text()
    assert "i64[3]" in step_ir


BAD_MODELS = """
from graphc import nn

class Branchy(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        y = self.fc(x)
        if y.sum() > 0:
            return y
        return -y

def broken():
    raise RuntimeError("cannot build\\nsecond line")

NOT_CALLABLE = 3
"""


@pytest.fixture
def bad_file(tmp_path):
    path = tmp_path / "bad_models.py"
    path.write_text(BAD_MODELS)
    return path


@pytest.mark.parametrize("case, argv, message", [
    ("missing file", ["nowhere.py:Net", "--input", "2x4"], "no such file: nowhere.py"),
    ("no colon", ["{models}", "--input", "2x4"], "expected FILE.py:NAME"),
    ("unknown class", ["{models}:Resnet", "--input", "2x4"], "defines no 'Resnet'"),
    ("malformed shape", ["{models}:MLP", "--input", "2x-4"], "malformed --input shape '2x-4'"),
    ("bad dtype", ["{models}:MLP", "--input", "2x20:complex"], "unknown dtype 'complex'"),
    ("no input", ["{models}:MLP"], "give at least one --input"),
    ("wrong shape", ["{models}:MLP", "--input", "2x3"], "failed to trace MLP: ShapeError"),
    ("control flow", ["{bad}:Branchy", "--input", "2x4"], "failed to trace Branchy: TraceError"),
    ("factory fails", ["{bad}:broken", "--input", "2x4"], "could not create broken"),
    ("not callable", ["{bad}:NOT_CALLABLE", "--input", "2x4"], "not a class or a function"),
    ("bad depth", ["{models}:MLP", "--input", "2x20", "--depth", "x"], "--depth must be"),
    ("bad optim", ["{models}:MLP", "--input", "2x20", "--optim", "lbfgs"], "unknown --optim"),
    ("bad level", ["{models}:MLP", "--input", "2x20", "--level", "O9"], "unknown --level"),
])
def test_bad_arguments_give_one_line(case, argv, message, tmp_path, bad_file, capsys):
    argv = [a.format(models=MODELS, bad=bad_file) for a in argv]
    assert run_show(*argv, "--out", tmp_path / "out") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("graphc show: error: "), err
    assert message in err
    assert "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_a_file_that_fails_to_import(tmp_path, capsys):
    path = tmp_path / "syntax.py"
    path.write_text("def oops(:\n")
    assert run_show(f"{path}:oops", "--input", "2", "--out", tmp_path) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"graphc show: error: importing {path} failed: SyntaxError")
    assert err.count("\n") == 1


def test_module_contract_with_a_plain_parser(tmp_path):
    parser = argparse.ArgumentParser()
    show.add_arguments(parser)
    args = parser.parse_args([f"{MODELS}:MLP", "--input", "2x20", "--out", str(tmp_path)])
    assert show.run(args) == 0
    assert (tmp_path / "forward.svg").exists()
