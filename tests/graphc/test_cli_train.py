"""`graphc train` end to end through `graphc.cli.main`, and its errors."""

import re
import warnings

import numpy as np
import pytest

import graphc
from graphc import cli
from graphc.data.datasets import write_idx
from graphc.train import MLP

FAST = ["--epochs", "1", "--hidden", "32", "--no-progress"]


def _train(tmp_path, capsys, *extra):
    status = cli.main(["train", *FAST, "--out", str(tmp_path), *extra])
    out, err = capsys.readouterr()
    return status, out, err


def _test_results(out):
    found = re.findall(r"Accuracy: ([\d.]+)%, Avg loss: ([\d.]+)", out)
    return [(float(a), float(loss)) for a, loss in found]


def test_compiled_run_writes_checkpoint_and_graphs(tmp_path, capsys):
    status, out, _ = _train(tmp_path, capsys)
    assert status == 0
    assert "Epoch 1" in out and "Final test accuracy" in out
    assert len(_test_results(out)) == 1
    assert (tmp_path / "forward.svg").read_text().lstrip().startswith(("<?xml", "<svg"))
    assert (tmp_path / "backward.svg").exists()
    state = graphc.load(tmp_path / "model.safetensors")
    model = MLP(64, [32], 10)
    model.load_state_dict(state)
    assert sorted(state) == sorted(model.state_dict())
    assert tuple(state["linear_relu_stack.0.weight"].shape) == (32, 64)


def test_eager_and_compiled_runs_agree(tmp_path, capsys):
    _, compiled, _ = _train(tmp_path / "c", capsys, "--no-render", "--epochs", "2")
    status, eager, _ = _train(tmp_path / "e", capsys, "--eager", "--epochs", "2")
    assert status == 0
    assert "compiled runs only" in eager and not (tmp_path / "e" / "forward.svg").exists()
    (acc_c, loss_c), (acc_e, loss_e) = _test_results(compiled)[-1], _test_results(eager)[-1]
    assert acc_c == acc_e
    assert loss_c == pytest.approx(loss_e, rel=1e-3)
    saved_c = graphc.load(tmp_path / "c" / "model.safetensors")
    saved_e = graphc.load(tmp_path / "e" / "model.safetensors")
    for name in saved_c:
        np.testing.assert_allclose(saved_c[name].numpy(), saved_e[name].numpy(), atol=1e-4)


def test_other_optimizer_trains(tmp_path, capsys):
    status, out, _ = _train(tmp_path, capsys, "--optim", "adam", "--no-render")
    assert status == 0 and "adam lr=0.001" in out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--epochs", "0"], "--epochs: must be positive"),
        (["--lr", "-1"], "--lr: must be positive"),
        (["--hidden", "64", "x"], "--hidden: invalid"),
        (["--data", "cifar"], "invalid choice: 'cifar'"),
        (["--bogus"], "unrecognized arguments: --bogus"),
        (["--optim", "adam", "--momentum", "0.5"], "--momentum does not apply to --optim adam"),
    ],
)
def test_bad_arguments_give_one_line_error(tmp_path, capsys, argv, message):
    status = cli.main(["train", "--out", str(tmp_path), *argv])
    _, err = capsys.readouterr()
    assert status == 2
    assert err.count("\n") == 1 and err.startswith("graphc train: error:")
    assert message in err
    assert not (tmp_path / "model.safetensors").exists()


def test_trains_on_fashion_mnist_files(tmp_path, capsys):
    raw = tmp_path / "data" / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 96), ("t10k", 40)):
        write_idx(
            raw / f"{prefix}-images-idx3-ubyte.gz", rng.integers(0, 256, (n, 28, 28), np.uint8)
        )
        write_idx(raw / f"{prefix}-labels-idx1-ubyte.gz", rng.integers(0, 10, n).astype(np.uint8))
    status, out, _ = _train(
        tmp_path / "out", capsys, "--data", "fashion-mnist", "--root", str(tmp_path / "data")
    )
    assert status == 0
    assert "fashion-mnist: 96 train / 40 test samples" in out
    state = graphc.load(tmp_path / "out" / "model.safetensors")
    assert tuple(state["linear_relu_stack.0.weight"].shape) == (32, 28 * 28)


def test_missing_data_files_name_them(tmp_path, capsys):
    status = cli.main(["train", "--data", "fashion-mnist", "--root", str(tmp_path)])
    _, err = capsys.readouterr()
    assert status == 1 and err.count("\n") == 1
    assert "train-images-idx3-ubyte.gz" in err
    assert str(tmp_path.resolve() / "FashionMNIST" / "raw") in err


def test_top_level_usage_errors(capsys):
    assert cli.main([]) == 2
    assert cli.main(["fly"]) == 2
    err = capsys.readouterr().err
    assert "invalid choice: 'fly'" in err
    assert cli.main(["train", "--help"]) == 0
    assert "--batch-size" in capsys.readouterr().out


@pytest.mark.slow
def test_default_run_reaches_90_percent_on_digits(tmp_path, capsys):
    status = cli.main(["train", "--out", str(tmp_path), "--no-progress", "--no-render"])
    out, _ = capsys.readouterr()
    assert status == 0
    final = float(re.search(r"Final test accuracy: ([\d.]+)%", out).group(1))
    assert final >= 90.0


def test_unwritable_out_fails_before_training(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    status = cli.main(["train", *FAST, "--out", str(blocker / "run")])
    out, err = capsys.readouterr()
    assert status == 1 and "Epoch 1" not in out
    assert err.count("\n") == 1 and f"cannot write to --out {blocker / 'run'}" in err


def test_divergence_is_reported_at_its_step_and_keeps_the_good_checkpoint(tmp_path, capsys):
    assert _train(tmp_path, capsys, "--no-render")[0] == 0
    good = (tmp_path / "model.safetensors").read_bytes()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        graphc._hide_kernel_warnings()  # as `import graphc` in the graphc command does
        status, out, err = _train(tmp_path, capsys, "--lr", "1e30", "--momentum", "0.9",
                                  "--no-render", "--epochs", "2")
    assert status == 1 and "Epoch 2" not in out
    assert re.search(r"the training loss became (nan|inf) at epoch 1, step \d+ of \d+", err)
    assert "Hint: lower the learning rate (--lr, now 1e+30)" in err and err.count("\n") == 1
    assert (tmp_path / "model.safetensors").read_bytes() == good
    assert not [w for w in caught if issubclass(w.category, RuntimeWarning)]


def test_ctrl_c_stops_with_one_line_and_keeps_the_last_epochs_checkpoint(tmp_path, capsys,
                                                                          monkeypatch):
    from graphc import train

    real, calls = train.evaluate, []

    def interrupt_in_epoch_2(loop, loader):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(loop, loader)

    monkeypatch.setattr(train, "evaluate", interrupt_in_epoch_2)
    status, out, err = _train(tmp_path, capsys, "--epochs", "3", "--no-render")
    assert status == 130 and "Epoch 2" in out and "Epoch 3" not in out
    assert err.strip() == ("graphc train: interrupted in epoch 2; kept the checkpoint of epoch 1 "
                           f"in {tmp_path / 'model.safetensors'}")
    assert graphc.load(tmp_path / "model.safetensors")


def test_train_a_model_from_a_file_and_print_the_version(tmp_path, capsys):
    source = tmp_path / "lenet.py"
    source.write_text(
        "from graphc import nn\n\n\n"
        "def LeNet():\n"
        "    return nn.Sequential(nn.LazyConv2d(4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),\n"
        "                         nn.Flatten(), nn.LazyLinear(10))\n"
    )
    status, out, _ = _train(tmp_path / "out", capsys, "--model", f"{source}:LeNet", "--no-render")
    assert status == 0 and "Conv2d(1, 4, kernel_size=(3, 3)" not in out  # printed before use
    state = graphc.load(tmp_path / "out" / "model.safetensors")
    assert tuple(state["0.weight"].shape) == (4, 1, 3, 3)
    status = cli.main(["train", "--model", f"{source}:Nope", "--out", str(tmp_path / "x")])
    assert status == 2 and "defines no 'Nope'" in capsys.readouterr().err
    assert cli.main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"graphc {graphc.__version__}"
