"""Attention and Transformers against PyTorch in float64 (PyTorch's state_dict loaded): masks,
need_weights/average_attn_weights, kdim/vdim, batch_first, norm_first, activations; traced
graphs equal eager results; errors as PyTorch's."""

from __future__ import annotations

import numpy as np
import pytest

import graphc
from graphc import nn
from graphc.nn import functional as F
from runtime import run_graph

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")  # PyTorch's notes on its fast paths

L, S, N, E = 4, 5, 2, 8


def bool_mask(shape, rng, keep_one_per_row=True):
    mask = rng.random(shape) < 0.4
    if keep_one_per_row:
        mask[..., 0] = False  # every query may attend somewhere
    return mask


# name -> (constructor, query/key/value shapes, extra arrays (masks), keyword arguments)
MHA = {
    "plain": (lambda nn: nn.MultiheadAttention(E, 2), {}),
    "per_head_weights": (lambda nn: nn.MultiheadAttention(E, 4), {"average_attn_weights": False}),
    "no_weights": (lambda nn: nn.MultiheadAttention(E, 2), {"need_weights": False}),
    "batch_first": (lambda nn: nn.MultiheadAttention(E, 2, batch_first=True), {}),
    "kdim_vdim": (lambda nn: nn.MultiheadAttention(E, 2, kdim=3, vdim=6), {}),
    "no_bias": (lambda nn: nn.MultiheadAttention(E, 2, bias=False), {}),
    "bias_kv_zero_attn": (lambda nn: nn.MultiheadAttention(E, 2, add_bias_kv=True,
                                                           add_zero_attn=True), {}),
    "bool_attn_mask": (lambda nn: nn.MultiheadAttention(E, 2), {"attn_mask": "bool2d"}),
    "float_attn_mask_3d": (lambda nn: nn.MultiheadAttention(E, 2), {"attn_mask": "float3d"}),
    "key_padding_mask": (lambda nn: nn.MultiheadAttention(E, 2), {"key_padding_mask": "bool"}),
    "both_masks_no_weights": (lambda nn: nn.MultiheadAttention(E, 2),
                              {"key_padding_mask": "bool", "attn_mask": "float2d",
                               "need_weights": False}),
    "float_key_padding_mask_bias_kv": (
        lambda nn: nn.MultiheadAttention(E, 2, add_bias_kv=True),
        {"key_padding_mask": "float", "attn_mask": "bool2d"}),
    "unbatched": (lambda nn: nn.MultiheadAttention(E, 2), {"unbatched": True,
                                                           "attn_mask": "float3d"}),
    "dropout_eval": (lambda nn: nn.MultiheadAttention(E, 2, dropout=0.5).eval(), {}),
}


def mha_inputs(options, rng, module):
    batch_first, unbatched = module.batch_first, options.pop("unbatched", False)
    kdim, vdim = module.kdim, module.vdim

    def seq(length, dim):
        shape = (length, dim) if unbatched else ((N, length, dim) if batch_first
                                                else (length, N, dim))
        return rng.standard_normal(shape)

    arrays = [seq(L, E), seq(S, kdim), seq(S, vdim)]
    names = []
    masks = {"bool2d": lambda: bool_mask((L, S), rng),
             "float2d": lambda: rng.standard_normal((L, S)),
             "float3d": lambda: rng.standard_normal(((1 if unbatched else N) * 2, L, S)),
             "bool": lambda: bool_mask((N, S), rng),
             "float": lambda: rng.standard_normal((N, S))}
    for name in ("attn_mask", "key_padding_mask"):
        kind = options.pop(name, None)
        if kind is not None:
            arrays.append(masks[kind]())
            names.append(name)
    return arrays, names, options


@pytest.mark.parametrize("name", sorted(MHA))
def test_multihead_attention_equals_pytorch(name, parity):
    make, options = MHA[name]
    theirs, mine = parity.twins(make)
    assert repr(mine) == repr(theirs)
    assert list(mine.state_dict()) == list(theirs.state_dict())
    arrays, names, options = mha_inputs(dict(options), np.random.default_rng(1), mine)

    def call(module, q, k, v, *masks):
        return module(q, k, v, **dict(zip(names, masks)), **options)

    parity.check(theirs, mine, *arrays, call=call)


SDPA = {
    "plain": {},
    "scale": {"scale": 0.3},
    "causal": {"is_causal": True},
    "bool_mask": {"attn_mask": "bool"},
    "float_mask": {"attn_mask": "float"},
    "fully_masked_row": {"attn_mask": "bool_empty_row"},
    "gqa": {"enable_gqa": True},
}


@pytest.mark.parametrize("name", sorted(SDPA))
def test_scaled_dot_product_attention_equals_pytorch(name, parity):
    torch = parity.torch
    options = dict(SDPA[name])
    rng = np.random.default_rng(2)
    heads_kv = 2 if options.get("enable_gqa") else 4
    q = rng.standard_normal((2, 4, L, 6))
    k, v = rng.standard_normal((2, heads_kv, S, 6)), rng.standard_normal((2, heads_kv, S, 3))
    mask = options.pop("attn_mask", None)
    arrays = [q, k, v]
    if mask is not None:
        if mask == "float":
            arrays.append(rng.standard_normal((4, L, S)))
        else:
            keep = ~bool_mask((2, 1, L, S), rng)
            if mask == "bool_empty_row":
                keep[0, 0, 1] = False
            arrays.append(keep)
    tensors = [torch.from_numpy(a.copy()).requires_grad_(a.dtype == np.float64) for a in arrays]
    mine = [graphc.from_numpy(a.copy()).requires_grad_(a.dtype == np.float64) for a in arrays]
    t = torch.nn.functional.scaled_dot_product_attention(*tensors, **options)
    g = F.scaled_dot_product_attention(*mine, **options)
    np.testing.assert_allclose(g.detach().numpy(), t.detach().numpy(), rtol=1e-10, atol=1e-12)
    weight = rng.standard_normal(tuple(t.shape))
    (t * torch.from_numpy(weight)).sum().backward()
    (g * graphc.from_numpy(weight)).sum().backward()
    for a, e in zip(mine, tensors):
        if e.requires_grad:
            np.testing.assert_allclose(a.grad.numpy(), e.grad.numpy(), rtol=1e-9, atol=1e-11)


TRANSFORMERS = {
    "encoder_layer": (lambda nn: nn.TransformerEncoderLayer(E, 2, 16, dropout=0.0), "enc"),
    "encoder_layer_norm_first_gelu_batch_first": (
        lambda nn: nn.TransformerEncoderLayer(E, 2, 16, 0.0, "gelu", batch_first=True,
                                              norm_first=True), "enc"),
    "encoder_layer_module_activation_no_bias": (
        lambda nn: nn.TransformerEncoderLayer(E, 4, 12, 0.0, nn.GELU(approximate="tanh"),
                                              bias=False), "enc"),
    "encoder_masked": (
        lambda nn: nn.TransformerEncoder(nn.TransformerEncoderLayer(E, 2, 16, 0.0), 2,
                                         nn.LayerNorm(E)), "enc_masks"),
    "decoder_layer": (lambda nn: nn.TransformerDecoderLayer(E, 2, 16, 0.0), "dec"),
    "decoder_layer_norm_first": (
        lambda nn: nn.TransformerDecoderLayer(E, 2, 16, 0.0, norm_first=True), "dec_masks"),
    "decoder": (lambda nn: nn.TransformerDecoder(nn.TransformerDecoderLayer(E, 2, 16, 0.0), 2),
                "dec_masks"),
    "transformer": (lambda nn: nn.Transformer(E, 2, 2, 2, 16, 0.0), "seq2seq"),
    "transformer_batch_first": (
        lambda nn: nn.Transformer(E, 2, 1, 1, 16, 0.0, batch_first=True, norm_first=True),
        "seq2seq"),
}


def transformer_inputs(kind, rng, batch_first):
    def seq(length):
        return rng.standard_normal((N, length, E) if batch_first else (length, N, E))

    causal = np.triu(np.full((L, L), -np.inf), 1)
    if kind == "enc":
        return [seq(L)], {}
    if kind == "enc_masks":
        return [seq(L), causal, bool_mask((N, L), rng)], {"names": ("mask",
                                                                    "src_key_padding_mask")}
    if kind == "dec":
        return [seq(L), seq(S)], {}
    if kind == "dec_masks":
        return [seq(L), seq(S), causal, bool_mask((N, S), rng)], {
            "names": ("tgt_mask", "memory_key_padding_mask")}
    return [seq(S), seq(L), causal], {"names": ("tgt_mask",)}


@pytest.mark.parametrize("name", sorted(TRANSFORMERS))
def test_transformer_equals_pytorch(name, parity):
    make, kind = TRANSFORMERS[name]
    theirs, mine = parity.twins(make)
    assert repr(mine) == repr(theirs)
    batch_first = "batch_first" in name
    arrays, options = transformer_inputs(kind, np.random.default_rng(3), batch_first)
    names = options.get("names", ())
    positional = len(arrays) - len(names)

    def call(module, *tensors):
        return module(*tensors[:positional], **dict(zip(names, tensors[positional:])))

    parity.check(theirs, mine, *arrays, call=call, rtol=1e-9, atol=1e-11)


def test_generate_square_subsequent_mask_equals_pytorch(parity):
    torch = parity.torch
    np.testing.assert_array_equal(nn.Transformer.generate_square_subsequent_mask(5).numpy(),
                                  torch.nn.Transformer.generate_square_subsequent_mask(5).numpy())
    mask = nn.Transformer.generate_square_subsequent_mask(3, dtype=graphc.float64)
    assert mask.dtype is graphc.float64


def test_encoder_layers_are_independent_copies():
    layer = nn.TransformerEncoderLayer(E, 2, 16)
    encoder = nn.TransformerEncoder(layer, 3)
    weights = [m.linear1.weight for m in encoder.layers]
    assert len({id(w) for w in weights}) == 3
    np.testing.assert_array_equal(weights[0].detach().numpy(), weights[2].detach().numpy())
    assert len(list(encoder.parameters())) == 3 * len(list(layer.parameters()))


def test_traced_transformer_equals_eager_and_trains_compiled():
    graphc.manual_seed(0)
    model = nn.Transformer(E, 2, 1, 1, 16, dropout=0.1, batch_first=True)
    src, tgt = graphc.randn(N, S, E), graphc.randn(N, L, E)
    mask = nn.Transformer.generate_square_subsequent_mask(L)
    model.eval()
    graph = graphc.trace(lambda s, t: model(s, t, tgt_mask=mask), src, tgt, module=model)
    params = {k: v.numpy() for k, v in model.state_dict().items()}
    (out,) = run_graph(graph, [src.numpy(), tgt.numpy()], params)
    expected = model(src, tgt, tgt_mask=mask).detach().numpy()
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)
    model.train()
    graph = graphc.trace(lambda s, t: model(s, t, tgt_mask=mask), src, tgt, module=model)
    assert len(graph.random_keys) > 0  # dropout in training


ERRORS = [
    (lambda nn, t: nn.MultiheadAttention(8, 2)(t(3, 2, 8), t(4, 2, 8), t(4, 2, 8),
                                               attn_mask=t(3, 3)), RuntimeError,
     "The shape of the 2D attn_mask is torch.Size([3, 3]), but should be (3, 4)."),
    (lambda nn, t: nn.MultiheadAttention(8, 2)(t(3, 2, 7), t(4, 2, 7), t(4, 2, 7)),
     AssertionError, "was expecting embedding dimension of 8, but got 7"),
    (lambda nn, t: nn.MultiheadAttention(8, 2)(t(3, 2, 8), t(4, 8), t(4, 8)), AssertionError,
     ("For batched (3-D) `query`, expected `key` and `value` to be 3-D but found 2-D and 2-D "
     "tensors respectively")),
    (lambda nn, t: nn.TransformerEncoderLayer(8, 2)(t(3, 2, 6)), AssertionError,
     "was expecting embedding dimension of 8, but got 6"),
    (lambda nn, t: nn.functional.scaled_dot_product_attention(
        t(2, 3, 4), t(2, 5, 4), t(2, 5, 4), attn_mask=t(3, 5) > 0, is_causal=True),
     RuntimeError, "Explicit attn_mask should not be set when is_causal=True"),
]


@pytest.mark.parametrize("index", range(len(ERRORS)))
def test_bad_input_raises_pytorchs_error_with_the_user_line(index, parity):
    parity.check_error(*ERRORS[index], test_file="test_nn_attention.py")


def test_bad_arguments_raise_pytorchs_error(parity):
    for lib in (parity.torch.nn, nn):
        with pytest.raises(AssertionError, match="embed_dim must be divisible by num_heads"):
            lib.MultiheadAttention(8, 3)
        with pytest.raises(RuntimeError, match="activation should be relu/gelu, not tanh"):
            lib.TransformerEncoderLayer(8, 2, activation="tanh")
