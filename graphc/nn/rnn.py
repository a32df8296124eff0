"""RNN, LSTM and GRU (stacked, bidirectional, with PyTorch's parameter names) and their cells.

A sequence runs as a Python loop over its static length, so a traced graph holds one copy of the
cell per time step; each copy runs under the scope `<module>.l<layer>[_reverse].t<step>`, which
the IR printout shows and the renderer groups and collapses like a submodule. As in PyTorch's CPU
kernels, a layer's input projection is one matrix multiply over the whole sequence before the
loop, and the cell arithmetic follows PyTorch's formulas and order.
"""

from __future__ import annotations

import math
import numbers
import warnings

import graphc
from graphc.creation import layer_dtype, like_device
from graphc.nn import functional as F
from graphc.nn import init
from graphc.nn.checks import size_list, user_error
from graphc.nn.module import Module
from graphc.nn.parameter import Parameter
from graphc.tracing import sub_scope

GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}
NAMES = {"RNN_TANH": "RNN", "RNN_RELU": "RNN", "LSTM": "LSTM", "GRU": "GRU"}


# -- cell arithmetic (layers and cells share it) -----------------------------------------------------
def cell_step(mode: str, igates, h, c, w_hh_t, b_hh, w_hr_t=None):
    """(h', c') of one time step from the input gates (x W_ih^T + b_ih), the state (h, c) and the
    transposed recurrent weights; c is None except for LSTM."""
    hgates = h @ w_hh_t
    if b_hh is not None:
        hgates = hgates + b_hh
    if mode == "LSTM":
        i, f, g, o = (hgates + igates).chunk(4, -1)
        c = F.sigmoid(f) * c + F.sigmoid(i) * F.tanh(g)
        h = F.sigmoid(o) * F.tanh(c)
        return (h if w_hr_t is None else h @ w_hr_t), c
    if mode == "GRU":
        i_r, i_z, i_n = igates.chunk(3, -1)
        h_r, h_z, h_n = hgates.chunk(3, -1)
        reset, update = F.sigmoid(h_r + i_r), F.sigmoid(h_z + i_z)
        new = F.tanh(i_n + h_n * reset)
        return (h - new) * update + new, None
    activation = F.tanh if mode == "RNN_TANH" else F.relu
    return activation(hgates + igates), None


def input_gates(x, w_ih, b_ih):
    """x W_ih^T + b_ih for a whole sequence (or batch) at once."""
    gates = x @ w_ih.T
    return gates if b_ih is None else gates + b_ih


def _dtype_name(dtype) -> str:
    return f"torch.{str(dtype).rsplit('.', 1)[-1]}"


# -- stacked layers ------------------------------------------------------------------------------------
class RNNBase(Module):
    """What RNN, LSTM and GRU share: parameters (weight_ih_l0, weight_hh_l0_reverse, ...), their
    init U(-1/sqrt(hidden_size), 1/sqrt(hidden_size)), argument checks, the unrolled forward."""

    def __init__(self, mode: str, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False, proj_size: int = 0, device=None, dtype=None):
        super().__init__()
        self._check_arguments(mode, input_size, hidden_size, num_layers, bias, batch_first,
                              dropout, proj_size)
        self.mode, self.input_size, self.hidden_size = mode, input_size, hidden_size
        self.num_layers, self.bias, self.batch_first = num_layers, bias, batch_first
        self.dropout, self.bidirectional, self.proj_size = float(dropout), bidirectional, proj_size
        dtype = layer_dtype(dtype, device)
        gate_size = GATES[mode] * hidden_size
        real_hidden = proj_size or hidden_size
        directions = 2 if bidirectional else 1
        self._flat_weights_names, self._all_weights = [], []
        for layer in range(num_layers):
            for direction in range(directions):
                layer_input = input_size if layer == 0 else real_hidden * directions
                shapes = {"weight_ih": (gate_size, layer_input),
                          "weight_hh": (gate_size, real_hidden)}
                if bias:
                    shapes.update(bias_ih=(gate_size,), bias_hh=(gate_size,))
                if proj_size:
                    shapes["weight_hr"] = (proj_size, hidden_size)
                suffix = "_reverse" if direction else ""
                names = [f"{kind}_l{layer}{suffix}" for kind in shapes]
                for name, shape in zip(names, shapes.values()):
                    setattr(self, name, Parameter(graphc.empty(shape, dtype=dtype, device=device)))
                self._flat_weights_names.extend(names)
                self._all_weights.append(names)
        self.reset_parameters()

    @staticmethod
    def _check_arguments(mode, input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         proj_size) -> None:
        if (not isinstance(dropout, numbers.Number) or isinstance(dropout, bool)
                or not 0 <= dropout <= 1):
            raise ValueError("dropout should be a number in range [0, 1] representing the "
                             "probability of an element being zeroed")
        if dropout > 0 and num_layers == 1:
            warnings.warn("dropout option adds dropout after all but last recurrent layer, so "
                          "non-zero dropout expects num_layers greater than 1, but got "
                          f"dropout={dropout} and num_layers={num_layers}", stacklevel=3)
        for name, value, kind in (("bias", bias, bool), ("batch_first", batch_first, bool),
                                  ("input_size", input_size, int),
                                  ("hidden_size", hidden_size, int)):
            if not isinstance(value, kind):
                raise TypeError(f"{name} should be of type {kind.__name__}, got: "
                                f"{type(value).__name__}")
        for name, value in (("input_size", input_size), ("hidden_size", hidden_size),
                            ("num_layers", num_layers)):
            if value <= 0:
                raise ValueError(f"{name} must be greater than zero")
        if proj_size < 0:
            raise ValueError("proj_size should be a positive integer or zero to disable "
                             "projections")
        if proj_size >= hidden_size:
            raise ValueError("proj_size has to be smaller than hidden_size")
        if mode not in GATES:
            raise ValueError("Unrecognized RNN mode: " + mode)

    @property
    def all_weights(self) -> list[list[Parameter]]:
        return [[getattr(self, name) for name in names] for names in self._all_weights]

    def flatten_parameters(self) -> None:
        """A no-op, as PyTorch's is off cuDNN: graphc keeps each weight in its own array."""

    def reset_parameters(self) -> None:
        stdv = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0
        for weight in self.parameters():
            init.uniform_(weight, -stdv, stdv)

    def extra_repr(self) -> str:
        text = f"{self.input_size}, {self.hidden_size}"
        if self.proj_size != 0:
            text += f", proj_size={self.proj_size}"
        if self.num_layers != 1:
            text += f", num_layers={self.num_layers}"
        if self.bias is not True:
            text += f", bias={self.bias}"
        if self.batch_first is not False:
            text += f", batch_first={self.batch_first}"
        if self.dropout != 0:
            text += f", dropout={self.dropout}"
        if self.bidirectional is not False:
            text += f", bidirectional={self.bidirectional}"
        return text

    # -- forward ---------------------------------------------------------------------------------
    def forward(self, input, hx=None):
        """(output, h_n) for RNN and GRU, (output, (h_n, c_n)) for LSTM."""
        lstm = self.mode == "LSTM"
        x, states, batched = self._prepare(input, hx)
        output, h_n, c_n = self._run(x, *states)
        if self.batch_first:
            output = output.transpose(0, 1)
        if not batched:
            output = output.squeeze(0 if self.batch_first else 1)
            h_n, c_n = h_n.squeeze(1), (c_n.squeeze(1) if lstm else None)
        return output, ((h_n, c_n) if lstm else h_n)

    def _prepare(self, input, hx):
        """(input as (L, N, I), [h0] or [h0, c0] as (layers*directions, N, H), batched?)."""
        name = NAMES[self.mode]
        if not isinstance(input, graphc.Tensor):
            raise user_error(NotImplementedError, f"{name}: input must be a Tensor "
                             f"(PackedSequence is not supported), got {type(input).__name__}")
        if input.ndim not in (2, 3):
            raise user_error(ValueError,
                             f"{name}: Expected input to be 2D or 3D, got {input.ndim}D instead")
        batched = input.ndim == 3
        if not batched:
            input = input.unsqueeze(0 if self.batch_first else 1)
        x = input.transpose(0, 1) if self.batch_first else input
        weight = getattr(self, self._flat_weights_names[0])
        if x.dtype != weight.dtype:
            theirs, ours = _dtype_name(x.dtype), _dtype_name(weight.dtype)
            raise user_error(ValueError, (
                f"RNN input dtype ({theirs}) does not match weight dtype ({ours}). Convert "
                f"input: input.to({ours}), or convert model: model.to({theirs})"))
        if x.shape[-1] != self.input_size:
            raise user_error(RuntimeError, (
                "input.size(-1) must be equal to input_size. Expected "
                f"{self.input_size}, got {x.shape[-1]}"))
        if x.shape[0] == 0:
            raise user_error(RuntimeError, "Expected sequence length to be larger than 0 in RNN")
        return x, self._initial_states(x, hx, batched), batched

    def _initial_states(self, x, hx, batched: bool) -> list:
        lstm = self.mode == "LSTM"
        layers = self.num_layers * (2 if self.bidirectional else 1)
        sizes = [self.proj_size or self.hidden_size] + ([self.hidden_size] if lstm else [])
        expected = [(layers, x.shape[1], size) for size in sizes]
        if hx is None:
            return [graphc.zeros(shape, dtype=x.dtype, device=like_device(x, None))
                    for shape in expected]
        states = list(hx) if lstm else [hx]
        rank = 3 if batched else 2
        if any(s.ndim != rank for s in states):
            given = "batched 3-D" if batched else "unbatched 2-D"
            got = (f"({states[0].ndim}-D, {states[1].ndim}-D) tensors" if lstm
                   else f"{states[0].ndim}-D tensor")
            raise user_error(RuntimeError, f"For {given} input, {'hx and cx' if lstm else 'hx'} "
                             f"should also be {rank}-D but got {got}")
        states = [s if batched else s.unsqueeze(1) for s in states]
        for i, (state, shape) in enumerate(zip(states, expected)):
            if tuple(state.shape) != shape:
                label = f"hidden[{i}] size" if lstm else "hidden size"
                raise user_error(RuntimeError,
                                 f"Expected {label} {shape}, got {size_list(state.shape)}")
        return states

    def _run(self, x, h0, c0=None):
        """The stacked layers over (L, N, I) input: (output, h_n, c_n)."""
        directions = 2 if self.bidirectional else 1
        h_n, c_n = [], []
        for layer in range(self.num_layers):
            outputs = []
            for direction in range(directions):
                index = layer * directions + direction
                c = None if c0 is None else c0[index]
                ys, h, c = self._run_direction(x, h0[index], c, layer, direction)
                outputs.append(ys)
                h_n.append(h)
                c_n.append(c)
            x = outputs[0] if directions == 1 else graphc.cat(outputs, -1)
            if self.dropout and self.training and layer < self.num_layers - 1:
                x = F.dropout(x, self.dropout, True)
        return x, graphc.stack(h_n), (graphc.stack(c_n) if c0 is not None else None)

    def _run_direction(self, x, h, c, layer: int, direction: int):
        suffix = "_reverse" if direction else ""
        weights = {name.rsplit("_l", 1)[0]: getattr(self, name)
                   for name in self._all_weights[layer * (2 if self.bidirectional else 1)
                                                 + direction]}
        w_hr = weights.get("weight_hr")
        with sub_scope(f"l{layer}{suffix}"):
            steps = input_gates(x, weights["weight_ih"], weights.get("bias_ih")).unbind(0)
            w_hh_t, w_hr_t = weights["weight_hh"].T, (None if w_hr is None else w_hr.T)
            ys = [None] * len(steps)
            order = reversed(range(len(steps))) if direction else range(len(steps))
            for t in order:
                with sub_scope(f"t{t}"):
                    h, c = cell_step(self.mode, steps[t], h, c, w_hh_t, weights.get("bias_hh"),
                                     w_hr_t)
                ys[t] = h
            return graphc.stack(ys), h, c


class RNN(RNNBase):
    """Elman RNN: h_t = tanh(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh) (or relu)."""

    def __init__(self, *args, **kwargs):
        if "proj_size" in kwargs:
            raise ValueError("proj_size argument is only supported for LSTM, not RNN or GRU")
        if len(args) > 3:
            self.nonlinearity = args[3]
            args = args[:3] + args[4:]
        else:
            self.nonlinearity = kwargs.pop("nonlinearity", "tanh")
        modes = {"tanh": "RNN_TANH", "relu": "RNN_RELU"}
        if self.nonlinearity not in modes:
            raise ValueError(f"Unknown nonlinearity '{self.nonlinearity}'. Select from 'tanh' or "
                             "'relu'.")
        super().__init__(modes[self.nonlinearity], *args, **kwargs)


class LSTM(RNNBase):
    """Long short-term memory: gates i, f, g, o (in that order in weight_ih/weight_hh); with
    proj_size, h is projected by weight_hr."""

    def __init__(self, *args, **kwargs):
        super().__init__("LSTM", *args, **kwargs)


class GRU(RNNBase):
    """Gated recurrent unit: gates r, z, n; h' = (1 - z) * n + z * h."""

    def __init__(self, *args, **kwargs):
        if "proj_size" in kwargs:
            raise ValueError("proj_size argument is only supported for LSTM, not RNN or GRU")
        super().__init__("GRU", *args, **kwargs)


# -- cells ---------------------------------------------------------------------------------------
class RNNCellBase(Module):
    """One time step: weight_ih, weight_hh, bias_ih, bias_hh as PyTorch's cells hold them."""

    _mode = "RNN_TANH"

    def __init__(self, input_size: int, hidden_size: int, bias: bool, num_chunks: int,
                 device=None, dtype=None):
        super().__init__()
        self.input_size, self.hidden_size, self.bias = input_size, hidden_size, bias
        dtype = layer_dtype(dtype, device)
        size = num_chunks * hidden_size
        self.weight_ih = Parameter(graphc.empty((size, input_size), dtype=dtype, device=device))
        self.weight_hh = Parameter(graphc.empty((size, hidden_size), dtype=dtype, device=device))
        if bias:
            self.bias_ih = Parameter(graphc.empty((size,), dtype=dtype, device=device))
            self.bias_hh = Parameter(graphc.empty((size,), dtype=dtype, device=device))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def extra_repr(self) -> str:
        text = f"{self.input_size}, {self.hidden_size}"
        if self.bias is not True:
            text += f", bias={self.bias}"
        if getattr(self, "nonlinearity", "tanh") != "tanh":
            text += f", nonlinearity={self.nonlinearity}"
        return text

    def reset_parameters(self) -> None:
        stdv = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0
        for weight in self.parameters():
            init.uniform_(weight, -stdv, stdv)

    def _step(self, input, states: list, hidden_label: str = "hidden"):
        """The cell on (N, I) or (I,) input and its state tensors (None: zeros)."""
        name = type(self).__name__
        if input.ndim not in (1, 2):
            raise user_error(ValueError,
                             f"{name}: Expected input to be 1D or 2D, got {input.ndim}D instead")
        for i, state in enumerate(states):
            if state is not None and state.ndim not in (1, 2):
                label = f"hx[{i}]" if len(states) > 1 else hidden_label
                raise user_error(ValueError, f"{name}: Expected {label} to be 1D or 2D, got "
                                 f"{state.ndim}D instead")
        batched = input.ndim == 2
        x = input if batched else input.unsqueeze(0)
        if x.shape[1] != self.input_size:
            raise user_error(RuntimeError, f"input has inconsistent input_size: got {x.shape[1]} "
                             f"expected {self.input_size}")
        where = like_device(x, None)
        states = [graphc.zeros((x.shape[0], self.hidden_size), dtype=x.dtype, device=where)
                  if s is None
                  else (s if batched else s.unsqueeze(0)) for s in states]
        for i, state in enumerate(states):
            if state.shape[0] != x.shape[0]:
                raise user_error(RuntimeError, f"Input batch size {x.shape[0]} doesn't match "
                                 f"hidden{i} batch size {state.shape[0]}")
            if state.shape[1] != self.hidden_size:
                raise user_error(RuntimeError, f"hidden{i} has inconsistent hidden_size: got "
                                 f"{state.shape[1]}, expected {self.hidden_size}")
        h, c = cell_step(self._mode, input_gates(x, self.weight_ih, self.bias_ih), states[0],
                         states[1] if len(states) > 1 else None, self.weight_hh.T, self.bias_hh)
        results = [h, c] if len(states) > 1 else [h]
        return [r if batched else r.squeeze(0) for r in results]


class RNNCell(RNNCellBase):
    """h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh) (or relu)."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True,
                 nonlinearity: str = "tanh", device=None, dtype=None):
        super().__init__(input_size, hidden_size, bias, num_chunks=1, device=device, dtype=dtype)
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"Unknown nonlinearity: {nonlinearity}")
        self.nonlinearity = nonlinearity
        self._mode = "RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU"

    def forward(self, input, hx=None):
        return self._step(input, [hx])[0]


class LSTMCell(RNNCellBase):
    """One LSTM step: (h', c') from input and (h, c)."""

    _mode = "LSTM"

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device=None,
                 dtype=None):
        super().__init__(input_size, hidden_size, bias, num_chunks=4, device=device, dtype=dtype)

    def forward(self, input, hx=None):
        h, c = self._step(input, [None, None] if hx is None else list(hx))
        return h, c


class GRUCell(RNNCellBase):
    """One GRU step: h' from input and h."""

    _mode = "GRU"

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device=None,
                 dtype=None):
        super().__init__(input_size, hidden_size, bias, num_chunks=3, device=device, dtype=dtype)

    def forward(self, input, hx=None):
        return self._step(input, [hx])[0]
