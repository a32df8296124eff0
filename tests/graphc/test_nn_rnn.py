"""RNN, LSTM, GRU and their cells against PyTorch in float64 (PyTorch's state_dict loaded):
outputs, final states, gradients w.r.t. inputs, initial states and weights; the unrolled trace
(one scope per layer and time step) and its compile time; errors as PyTorch's."""

from __future__ import annotations

import time

import numpy as np
import pytest

import graphc
from graphc import nn
from graphc.render import to_dot_source
from runtime import run_graph

pytestmark = pytest.mark.filterwarnings("ignore:dropout option adds dropout")

# name -> (constructor, input shape, initial state shapes or None)
LAYERS = {
    "rnn_tanh": (lambda nn: nn.RNN(3, 4), (5, 2, 3), None),
    "rnn_relu_h0": (lambda nn: nn.RNN(3, 4, nonlinearity="relu"), (5, 2, 3), [(1, 2, 4)]),
    "rnn_stacked_bidirectional": (lambda nn: nn.RNN(3, 4, 2, bidirectional=True), (4, 2, 3),
                                  [(4, 2, 4)]),
    "rnn_positional_nonlinearity": (lambda nn: nn.RNN(3, 4, 1, "relu", False), (4, 2, 3), None),
    "lstm": (lambda nn: nn.LSTM(3, 5), (6, 2, 3), None),
    "lstm_states": (lambda nn: nn.LSTM(3, 5), (6, 2, 3), [(1, 2, 5), (1, 2, 5)]),
    "lstm_stacked_bidirectional_batch_first": (
        lambda nn: nn.LSTM(3, 4, num_layers=2, batch_first=True, bidirectional=True),
        (2, 5, 3), [(4, 2, 4), (4, 2, 4)]),
    "lstm_no_bias_3_layers": (lambda nn: nn.LSTM(2, 3, 3, bias=False), (4, 2, 2), None),
    "lstm_proj": (lambda nn: nn.LSTM(3, 5, proj_size=2, num_layers=2), (4, 2, 3),
                  [(2, 2, 2), (2, 2, 5)]),
    "lstm_unbatched": (lambda nn: nn.LSTM(3, 4, bidirectional=True), (5, 3),
                       [(2, 4), (2, 4)]),
    "lstm_dropout_eval": (lambda nn: nn.LSTM(3, 4, 2, dropout=0.5).eval(), (5, 2, 3), None),
    "gru": (lambda nn: nn.GRU(3, 5), (6, 2, 3), None),
    "gru_batch_first_h0": (lambda nn: nn.GRU(3, 4, batch_first=True), (2, 6, 3), [(1, 2, 4)]),
    "gru_stacked_bidirectional": (lambda nn: nn.GRU(4, 3, 2, bidirectional=True), (5, 2, 4),
                                  [(4, 2, 3)]),
    "gru_unbatched_batch_first": (lambda nn: nn.GRU(3, 4, batch_first=True), (5, 3), [(1, 4)]),
}


def call_with_states(module, x, *states):
    if not states:
        return module(x)
    return module(x, tuple(states) if len(states) == 2 else states[0])


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_layer_equals_pytorch(name, parity):
    make, shape, state_shapes = LAYERS[name]
    theirs, mine = parity.twins(make)
    assert repr(mine) == repr(theirs)
    assert [n for n, _ in mine.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    rng = np.random.default_rng(1)
    inputs = [rng.standard_normal(s) for s in [shape, *(state_shapes or [])]]
    parity.check(theirs, mine, *inputs, call=call_with_states)


CELLS = {
    "rnn_cell": (lambda nn: nn.RNNCell(3, 4), [(2, 3), (2, 4)]),
    "rnn_cell_relu_no_bias": (lambda nn: nn.RNNCell(3, 4, False, "relu"), [(2, 3)]),
    "lstm_cell": (lambda nn: nn.LSTMCell(3, 4), [(2, 3), (2, 4), (2, 4)]),
    "lstm_cell_zero_state": (lambda nn: nn.LSTMCell(3, 4), [(2, 3)]),
    "lstm_cell_unbatched": (lambda nn: nn.LSTMCell(3, 4), [(3,), (4,), (4,)]),
    "gru_cell": (lambda nn: nn.GRUCell(3, 4), [(2, 3), (2, 4)]),
    "gru_cell_unbatched": (lambda nn: nn.GRUCell(3, 4, bias=False), [(3,)]),
}


@pytest.mark.parametrize("name", sorted(CELLS))
def test_cell_equals_pytorch(name, parity):
    make, shapes = CELLS[name]
    theirs, mine = parity.twins(make)
    assert repr(mine) == repr(theirs)
    rng = np.random.default_rng(2)
    parity.check(theirs, mine, *[rng.standard_normal(s) for s in shapes],
                 call=call_with_states)


def test_cell_loop_over_time_equals_pytorch(parity):
    """The time-sequence-prediction pattern: two LSTMCells stepped by a Python loop."""
    twins = parity.twins(lambda nn: nn.ModuleList([nn.LSTMCell(1, 6), nn.LSTMCell(6, 6),
                                                   nn.Linear(6, 1)]))
    x = np.random.default_rng(3).standard_normal((3, 8))

    def forward(cells, x):
        lib = graphc if isinstance(x, graphc.Tensor) else parity.torch
        h1 = c1 = h2 = c2 = lib.zeros(x.shape[0], 6, dtype=lib.double)
        outputs = []
        for x_t in x.split(1, dim=1):
            h1, c1 = cells[0](x_t, (h1, c1))
            h2, c2 = cells[1](h1, (h2, c2))
            outputs.append(cells[2](h2))
        return lib.cat(outputs, dim=1)

    parity.check(*twins, x, call=forward)


def test_dropout_between_layers_in_training_only():
    graphc.manual_seed(0)
    lstm = nn.LSTM(3, 4, num_layers=3, dropout=0.5)
    x = graphc.randn(5, 2, 3)
    graph = graphc.trace(lstm, x)
    assert sum(n.op == "random_mask" for n in graph.nodes) == 2  # between layers, not after
    first, second = lstm(x)[0].detach().numpy(), lstm(x)[0].detach().numpy()
    assert not np.array_equal(first, second)
    lstm.eval()
    np.testing.assert_array_equal(lstm(x)[0].detach().numpy(), lstm(x)[0].detach().numpy())
    assert not any(n.op == "random_mask" for n in graphc.trace(lstm, x).nodes)


def test_init_is_uniform_in_one_over_sqrt_hidden():
    graphc.manual_seed(0)
    gru = nn.GRU(10, 400, bidirectional=True)
    bound = 1 / np.sqrt(400)
    for name, p in gru.named_parameters():
        values = p.detach().numpy()
        assert np.abs(values).max() <= bound, name
        assert abs(values.std() - bound / np.sqrt(3)) < 0.05 * bound, name
    assert [len(w) for w in gru.all_weights] == [4, 4]
    assert gru.weight_hh_l0_reverse.shape == (1200, 400)


class SequenceModel(nn.Module):
    def __init__(self, cell="LSTM", steps=6):
        super().__init__()
        self.rnn = getattr(nn, cell)(3, 8, num_layers=2, batch_first=True)
        self.head = nn.Linear(8, 2)

    def forward(self, x):
        out, _ = self.rnn(x)
        return self.head(out[:, -1])


def test_trace_groups_each_time_step_under_its_scope():
    model = SequenceModel()
    graph = graphc.trace(model, graphc.spec((4, 6, 3)))
    scopes = {n.meta.get("scope") for n in graph.nodes}
    assert {f"rnn.l{layer}.t{t}" for layer in range(2) for t in range(6)} <= scopes
    assert "rnn.l0" in scopes  # the whole-sequence input projection
    assert "rnn.l0.t3" in str(graph)
    x = np.random.default_rng(0).standard_normal((4, 6, 3)).astype(np.float32)
    params = {k: v.numpy() for k, v in model.state_dict().items()}
    (out,) = run_graph(graph, [x], params)
    np.testing.assert_allclose(out, model(graphc.from_numpy(x)).detach().numpy(), rtol=1e-5,
                               atol=1e-6)
    # collapsed at the layer level: one box per layer, no time-step clusters
    dot = to_dot_source(graph, depth=2)
    assert "rnn.l1" in dot and "rnn.l1.t3" not in dot
    assert "rnn.l1.t3" in to_dot_source(graph, depth=3)


def test_unrolled_lstm_of_50_steps_traces_and_compiles_in_seconds():
    graphc.manual_seed(0)
    model = SequenceModel(steps=50)
    x, y = graphc.randn(16, 50, 3), graphc.randint(0, 2, (16,))
    start = time.perf_counter()
    step = graphc.compile_train_step(model, nn.CrossEntropyLoss(),
                                     graphc.optim.SGD(model.parameters(), lr=0.1), x, y)
    elapsed = time.perf_counter() - start
    losses = [step(x, y).item() for _ in range(5)]
    # about 3 s on one core: a generous bound that still catches a quadratic blow-up
    assert elapsed < 20, f"trace + autodiff + compile took {elapsed:.1f} s"
    assert losses[-1] < losses[0]


ERRORS = [
    (lambda nn, t: nn.LSTM(3, 4)(t(5, 2, 6)), RuntimeError,
     "input.size(-1) must be equal to input_size. Expected 3, got 6"),
    (lambda nn, t: nn.LSTM(3, 4)(t(5, 2, 3, 1)), ValueError,
     "LSTM: Expected input to be 2D or 3D, got 4D instead"),
    (lambda nn, t: nn.LSTM(3, 4)(t(5, 2, 3), (t(1, 3, 4), t(1, 2, 4))), RuntimeError,
     "Expected hidden[0] size (1, 2, 4), got [1, 3, 4]"),
    (lambda nn, t: nn.LSTM(3, 4)(t(5, 2, 3), (t(1, 2, 4), t(1, 2, 5))), RuntimeError,
     "Expected hidden[1] size (1, 2, 4), got [1, 2, 5]"),
    (lambda nn, t: nn.GRU(3, 4)(t(5, 2, 3), t(2, 2, 4)), RuntimeError,
     "Expected hidden size (1, 2, 4), got [2, 2, 4]"),
    (lambda nn, t: nn.GRU(3, 4)(t(5, 2, 3), t(1, 4)), RuntimeError,
     "For batched 3-D input, hx should also be 3-D but got 2-D tensor"),
    (lambda nn, t: nn.LSTM(3, 4)(t(5, 3), (t(1, 1, 4), t(1, 1, 4))), RuntimeError,
     "For unbatched 2-D input, hx and cx should also be 2-D but got (3-D, 3-D) tensors"),
    (lambda nn, t: nn.RNN(3, 4)(t(5, 2, 3).double()), ValueError,
     "RNN input dtype (torch.float64) does not match weight dtype (torch.float32)"),
    (lambda nn, t: nn.LSTMCell(3, 4)(t(5, 2, 3)), ValueError,
     "LSTMCell: Expected input to be 1D or 2D, got 3D instead"),
    (lambda nn, t: nn.LSTMCell(3, 4)(t(2, 5)), RuntimeError,
     "input has inconsistent input_size: got 5 expected 3"),
    (lambda nn, t: nn.RNNCell(3, 4)(t(2, 3), t(2, 5)), RuntimeError,
     "hidden0 has inconsistent hidden_size: got 5, expected 4"),
    (lambda nn, t: nn.GRUCell(3, 4)(t(2, 3), t(3, 4)), RuntimeError,
     "Input batch size 2 doesn't match hidden0 batch size 3"),
    (lambda nn, t: nn.GRUCell(3, 4)(t(2, 3), t(2, 4, 1)), ValueError,
     "GRUCell: Expected hidden to be 1D or 2D, got 3D instead"),
]


@pytest.mark.parametrize("index", range(len(ERRORS)))
def test_bad_input_raises_pytorchs_error_with_the_user_line(index, parity):
    parity.check_error(*ERRORS[index], test_file="test_nn_rnn.py")


@pytest.mark.parametrize("make, message", [
    (lambda nn: nn.RNN(3, 4, nonlinearity="sigmoid"),
     "Unknown nonlinearity 'sigmoid'. Select from 'tanh' or 'relu'."),
    (lambda nn: nn.GRU(3, 4, proj_size=2),
     "proj_size argument is only supported for LSTM, not RNN or GRU"),
    (lambda nn: nn.LSTM(3, 4, proj_size=4), "proj_size has to be smaller than hidden_size"),
    (lambda nn: nn.LSTM(3, 4, dropout=1.5), "dropout should be a number in range [0, 1]"),
])
def test_bad_arguments_raise_pytorchs_error(make, message, parity):
    for lib in (parity.torch.nn, nn):
        with pytest.raises(ValueError) as err:
            make(lib)
        assert message in str(err.value)
