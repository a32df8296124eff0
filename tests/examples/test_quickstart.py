"""examples/quickstart.py: the ported tutorial runs eagerly and compiled, with the same losses."""

import re
import runpy
import sys
from pathlib import Path

import pytest

import graphc

SCRIPT = Path(__file__).resolve().parents[2] / "examples" / "quickstart.py"


def _run(folder, monkeypatch, capsys, *argv):
    folder.mkdir()
    monkeypatch.chdir(folder)
    monkeypatch.setattr(sys, "argv", [str(SCRIPT), "--epochs", "2", "--log-every", "5", *argv])
    graphc.manual_seed(0)  # the tutorial does not seed; both runs start from the same weights
    runpy.run_path(str(SCRIPT), run_name="__main__")
    out = capsys.readouterr().out
    losses = [float(x) for x in re.findall(r"^loss: +([\d.]+)", out, re.MULTILINE)]
    return out, losses


def test_quickstart_eager_and_compiled_give_the_same_decreasing_losses(
    tmp_path, monkeypatch, capsys
):
    eager_out, eager = _run(tmp_path / "eager", monkeypatch, capsys)
    compiled_out, compiled = _run(tmp_path / "compiled", monkeypatch, capsys, "--compile")
    assert len(eager) == len(compiled) == 10  # 23 batches per Digits epoch, every 5th printed
    assert eager[-1] < eager[0] - 0.3
    assert compiled == pytest.approx(eager, rel=1e-4)
    for out in (eager_out, compiled_out):
        assert "Shape of X [N, C, H, W]: graphc.Size([64, 1, 8, 8])" in out
        assert "Test Error:" in out and "Done!" in out
        assert re.search(r'Predicted: "\d", Actual: "\d"', out)
    assert (tmp_path / "compiled" / "model.pth").is_file()
