"""`graphc report` and `step.report()`: passes, memory figures, the live values at the peak, the
memory timeline picture, and one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest

import graphc
from graphc import nn, optim
from graphc.cli import main

MODELS = Path(__file__).resolve().parents[2] / "examples" / "models.py"


def test_default_report_is_the_tutorial_training_step(tmp_path, capsys):
    assert main(["report", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("training step of the tutorial MLP (f32[64,1,28,28], i64[64])")
    for line in ("fuse ", "total ", "naive (every value its own buffer)", "arena (planned)",
                 "peak live", "saved for backward", "state updated in place", "live at the peak"):
        assert line in out, line
    assert "6 of 6" in out  # SGD: every parameter updated in place
    svg = (tmp_path / "memory.svg").read_text()
    assert svg.startswith("<svg") and "peak" in svg and "linear_relu_stack" in svg


def test_report_of_a_model_file_for_inference_and_training(capsys):
    assert main(["report", f"{MODELS}:LeNet", "--input", "4x1x28x28", "--level", "O1"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("inference of LeNet") and "4 passes" in out
    assert main(["report", f"{MODELS}:make_mlp", "--input", "2x20", "--train"]) == 0
    assert capsys.readouterr().out.startswith("training step of make_mlp")


@pytest.mark.parametrize("argv, message", [
    (["--level", "O7"], "unknown optimization level or pass 'O7'"),
    ([f"{MODELS}:Nope", "--input", "2x20"], "defines no 'Nope'"),
    ([f"{MODELS}:make_mlp", "--input", "2xx20"], "malformed --input shape"),
    ([f"{MODELS}:make_mlp"], "give at least one --input"),
])
def test_bad_input_is_one_line(argv, message, capsys):
    assert main(["report", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("graphc report: error:") and message in err and "\n" not in err


def test_step_report_names_the_lines_that_hold_memory():
    model = nn.Sequential(nn.Linear(20, 64), nn.ReLU(), nn.Linear(64, 3))
    x, y = graphc.rand(8, 20), graphc.randint(0, 3, (8,))
    step = graphc.compile_train_step(model, nn.CrossEntropyLoss(),
                                     optim.Adam(model.parameters()), x, y)
    text = step.report()
    assert text.startswith("training step of Sequential") and "test_report.py:" in text
    assert "inference of Sequential" in graphc.compile(model, x).report()
