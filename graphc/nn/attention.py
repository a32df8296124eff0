"""Attention: `F.scaled_dot_product_attention`, `F.multi_head_attention_forward` and
`nn.MultiheadAttention`, with PyTorch's arguments, masks and parameters.

Both are composites (matmul, softmax, masks as additive -inf biases), so autodiff and the
optimizer see through them. As PyTorch's kernels do, scaled_dot_product_attention gives zeros for
a query that may attend to nothing, while MultiheadAttention's weight path gives NaN there.
"""

from __future__ import annotations

import math

import numpy as np

import graphc
from graphc.creation import layer_dtype, like_device
from graphc.dispatch import apply
from graphc.nn import functional as F
from graphc.nn import init
from graphc.nn.checks import user_error
from graphc.nn.linear import Linear
from graphc.nn.module import Module
from graphc.nn.parameter import Parameter


def causal_bias(size: int, dtype, columns: int | None = None):
    """(size, columns) float tensor: 0 on and below the diagonal, -inf above it."""
    bias = np.triu(np.full((size, columns or size), -np.inf), 1)
    return graphc.from_numpy(bias.astype(graphc.float32.np if dtype is None else dtype.np))


def additive_mask(mask, dtype, name: str = "attn_mask"):
    """A bool mask (True: masked out) as a float bias with -inf; a float mask as it is."""
    if mask is None:
        return None
    if mask.dtype is graphc.bool:
        return graphc.zeros(tuple(mask.shape), dtype=dtype,
                            device=like_device(mask, None)).masked_fill(mask, float("-inf"))
    if not mask.dtype.is_floating_point:
        raise user_error(AssertionError, f"only bool and floating types of {name} are supported")
    return mask


def _softmax(scores, safe: bool):
    """Softmax over the last dim; `safe`: rows that are all -inf give zeros instead of NaN."""
    if not safe:
        return F.softmax(scores, dim=-1)
    top = apply("stop_gradient", scores.amax(-1, keepdim=True))
    top = graphc.where(top > float("-inf"), top, 0.0)
    e = graphc.exp(scores - top)
    total = e.sum(-1, keepdim=True)
    return e / graphc.where(total > 0, total, 1.0)


def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p: float = 0.0,
                                 is_causal: bool = False, scale=None, enable_gqa: bool = False):
    """softmax(Q K^T * scale + mask) V over (..., L, E) queries and (..., S, E) keys.

    attn_mask: bool (True: may attend) or float (added), broadcast to (..., L, S); is_causal
    masks the upper triangle; enable_gqa repeats each key/value head for a group of query heads.
    """
    if is_causal and attn_mask is not None:
        raise user_error(RuntimeError, "_scaled_dot_product_attention: Explicit attn_mask "
                         "should not be set when is_causal=True")
    length, source = query.shape[-2], key.shape[-2]
    if is_causal:
        bias = causal_bias(length, query.dtype, source)
    elif attn_mask is not None and attn_mask.dtype is graphc.bool:
        bias = additive_mask(attn_mask.logical_not(), query.dtype)
    else:
        bias = attn_mask
    if enable_gqa and key.ndim >= 3 and key.shape[-3] != query.shape[-3]:
        key, value = (_repeat_heads(t, query.shape[-3] // key.shape[-3]) for t in (key, value))
    scale = 1.0 / math.sqrt(query.shape[-1]) if scale is None else scale
    scores = (query @ key.transpose(-2, -1)) * scale
    if bias is not None:
        scores = scores + bias
    weights = _softmax(scores, safe=True)
    if dropout_p > 0.0:
        weights = F.dropout(weights, dropout_p, True)
    return weights @ value


def _repeat_heads(t, times: int):
    """(..., H, S, E) -> (..., H*times, S, E), each head repeated `times` times in place."""
    shape = tuple(t.shape)
    wide = t.unsqueeze(-3).expand(shape[:-2] + (times,) + shape[-2:])
    return wide.reshape(shape[:-3] + (shape[-3] * times,) + shape[-2:])


# -- multi-head attention --------------------------------------------------------------------------
def _check_shapes(query, key, value, key_padding_mask, attn_mask, num_heads) -> bool:
    """Whether the input is batched; PyTorch's assertion messages otherwise."""
    def fail(message):
        raise user_error(AssertionError, message)

    if query.ndim not in (2, 3):
        fail(f"query should be unbatched 2D or batched 3D tensor but received {query.ndim}-D "
             "query tensor")
    rank = query.ndim
    kind = "batched (3-D)" if rank == 3 else "unbatched (2-D)"
    if key.ndim != rank or value.ndim != rank:
        fail(f"For {kind} `query`, expected `key` and `value` to be {rank}-D but found "
             f"{key.ndim}-D and {value.ndim}-D tensors respectively")
    if key_padding_mask is not None and key_padding_mask.ndim != rank - 1:
        fail(f"For {kind} `query`, expected `key_padding_mask` to be `None` or {rank - 1}-D but "
             f"found {key_padding_mask.ndim}-D tensor instead")
    if attn_mask is not None and attn_mask.ndim not in (2, 3):
        fail(f"For {kind} `query`, expected `attn_mask` to be `None`, 2-D or 3-D but found "
             f"{attn_mask.ndim}-D tensor instead")
    expected = (num_heads, query.shape[0], key.shape[0])
    if rank == 2 and attn_mask is not None and attn_mask.ndim == 3 \
            and tuple(attn_mask.shape) != expected:
        fail(f"Expected `attn_mask` shape to be {expected} but got {graphc.Size(attn_mask.shape)}")
    return rank == 3


def multi_head_attention_forward(
    query, key, value, embed_dim_to_check: int, num_heads: int, in_proj_weight, in_proj_bias,
    bias_k, bias_v, add_zero_attn: bool, dropout_p: float, out_proj_weight, out_proj_bias,
    training: bool = True, key_padding_mask=None, need_weights: bool = True, attn_mask=None,
    use_separate_proj_weight: bool = False, q_proj_weight=None, k_proj_weight=None,
    v_proj_weight=None, static_k=None, static_v=None, average_attn_weights: bool = True,
    is_causal: bool = False,
):
    """PyTorch's multi-head attention on (L, N, E) query and (S, N, E) key/value (or unbatched):
    (output, weights averaged over heads or per head, or None)."""
    if static_k is not None or static_v is not None:
        raise user_error(NotImplementedError, "multi_head_attention_forward: static_k/static_v")
    batched = _check_shapes(query, key, value, key_padding_mask, attn_mask, num_heads)
    if not batched:
        query, key, value = query.unsqueeze(1), key.unsqueeze(1), value.unsqueeze(1)
        if key_padding_mask is not None:
            key_padding_mask = key_padding_mask.unsqueeze(0)
    length, batch, embed_dim = query.shape
    if is_causal and attn_mask is None:
        raise user_error(RuntimeError, "Need attn_mask if specifying the is_causal hint. You may "
                         "use the Transformer module method `generate_square_subsequent_mask` to "
                         "create this mask.")
    key_padding_mask = additive_mask(key_padding_mask, query.dtype, "key_padding_mask")
    attn_mask = additive_mask(attn_mask, query.dtype)
    if embed_dim != embed_dim_to_check:
        raise user_error(AssertionError, f"was expecting embedding dimension of "
                         f"{embed_dim_to_check}, but got {embed_dim}")
    head_dim = embed_dim // num_heads
    if use_separate_proj_weight:
        if tuple(key.shape[:2]) != tuple(value.shape[:2]):
            raise user_error(AssertionError, f"key's sequence and batch dims {key.shape[:2]} do "
                             f"not match value's {value.shape[:2]}")
        biases = in_proj_bias.chunk(3) if in_proj_bias is not None else (None,) * 3
        q, k, v = (F.linear(x, w, b) for x, w, b in zip(
            (query, key, value), (q_proj_weight, k_proj_weight, v_proj_weight), biases))
    else:
        if tuple(key.shape) != tuple(value.shape):
            raise user_error(AssertionError, f"key shape {graphc.Size(key.shape)} does not match "
                             f"value shape {graphc.Size(value.shape)}")
        weights = in_proj_weight.chunk(3)
        biases = in_proj_bias.chunk(3) if in_proj_bias is not None else (None,) * 3
        q, k, v = (F.linear(x, w, b) for x, w, b in zip((query, key, value), weights, biases))
    source = key.shape[0]
    if attn_mask is not None:
        attn_mask = _check_attn_mask(attn_mask, (length, source), batch * num_heads)
    if bias_k is not None and bias_v is not None:
        k = graphc.cat([k, bias_k.expand(1, batch, embed_dim)])
        v = graphc.cat([v, bias_v.expand(1, batch, embed_dim)])
        attn_mask = None if attn_mask is None else F.pad(attn_mask, (0, 1))
        key_padding_mask = None if key_padding_mask is None else F.pad(key_padding_mask, (0, 1))
    # (T, N, E) -> (N * heads, T, head_dim), batch-major as PyTorch lays them out
    q = q.reshape((length, batch * num_heads, head_dim)).transpose(0, 1)
    k = k.reshape((k.shape[0], batch * num_heads, head_dim)).transpose(0, 1)
    v = v.reshape((v.shape[0], batch * num_heads, head_dim)).transpose(0, 1)
    if add_zero_attn:
        zeros = graphc.zeros((batch * num_heads, 1, head_dim), dtype=q.dtype,
                             device=like_device(q, None))
        k, v = graphc.cat([k, zeros], 1), graphc.cat([v, zeros], 1)
        attn_mask = None if attn_mask is None else F.pad(attn_mask, (0, 1))
        key_padding_mask = None if key_padding_mask is None else F.pad(key_padding_mask, (0, 1))
    source = k.shape[1]
    if key_padding_mask is not None:
        key_padding_mask = key_padding_mask.reshape((batch, 1, 1, source)).expand(
            batch, num_heads, 1, source).reshape((batch * num_heads, 1, source))
        attn_mask = key_padding_mask if attn_mask is None else attn_mask + key_padding_mask
    if not training:
        dropout_p = 0.0
    if need_weights:
        scores = (q * math.sqrt(1.0 / head_dim)) @ k.transpose(-2, -1)
        if attn_mask is not None:
            scores = attn_mask + scores
        weights = _softmax(scores, safe=False)
        if dropout_p > 0.0:
            weights = F.dropout(weights, dropout_p)
        out = weights @ v
        weights = weights.reshape((batch, num_heads, length, source))
        if average_attn_weights:
            weights = weights.mean(1)
    else:
        heads = (batch, num_heads, -1, head_dim)
        if attn_mask is not None:
            attn_mask = (attn_mask.unsqueeze(0) if attn_mask.shape[0] == 1
                         else attn_mask.reshape((batch, num_heads, -1, source)))
        out = scaled_dot_product_attention(q.reshape(heads), k.reshape(heads), v.reshape(heads),
                                           attn_mask, dropout_p)
        weights = None
    out = out.reshape((batch, num_heads, length, head_dim)).permute(2, 0, 1, 3)
    out = F.linear(out.reshape((length * batch, embed_dim)), out_proj_weight, out_proj_bias)
    out = out.reshape((length, batch, out.shape[1]))
    if not batched:
        out = out.squeeze(1)
        weights = None if weights is None else weights.squeeze(0)
    return out, weights


def _check_attn_mask(mask, size2d, heads_batch):
    if mask.ndim == 2:
        if tuple(mask.shape) != size2d:
            raise user_error(RuntimeError, f"The shape of the 2D attn_mask is "
                             f"{graphc.Size(mask.shape)}, but should be {size2d}.")
        return mask.unsqueeze(0)
    if mask.ndim == 3:
        expected = (heads_batch, *size2d)
        if tuple(mask.shape) != expected:
            raise user_error(RuntimeError, f"The shape of the 3D attn_mask is "
                             f"{graphc.Size(mask.shape)}, but should be {expected}.")
        return mask
    raise user_error(RuntimeError, f"attn_mask's dimension {mask.ndim} is not supported")


class NonDynamicallyQuantizableLinear(Linear):
    """MultiheadAttention's output projection: a Linear (PyTorch's name, for its repr)."""


class MultiheadAttention(Module):
    """Attention of queries to keys/values with `num_heads` heads (PyTorch's parameters:
    in_proj_weight/in_proj_bias, or q/k/v_proj_weight when kdim/vdim differ, and out_proj)."""

    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.0, bias: bool = True,
                 add_bias_kv: bool = False, add_zero_attn: bool = False, kdim=None, vdim=None,
                 batch_first: bool = False, device=None, dtype=None):
        if embed_dim <= 0 or num_heads <= 0:
            raise ValueError(f"embed_dim and num_heads must be greater than 0, got "
                             f"embed_dim={embed_dim} and num_heads={num_heads} instead")
        super().__init__()
        self.embed_dim = embed_dim
        self.kdim = kdim if kdim is not None else embed_dim
        self.vdim = vdim if vdim is not None else embed_dim
        self._qkv_same_embed_dim = self.kdim == embed_dim and self.vdim == embed_dim
        self.num_heads, self.dropout, self.batch_first = num_heads, dropout, batch_first
        self.head_dim = embed_dim // num_heads
        if self.head_dim * num_heads != embed_dim:
            raise AssertionError("embed_dim must be divisible by num_heads")
        dtype = layer_dtype(dtype, device)

        def empty(*shape):
            return Parameter(graphc.empty(shape, dtype=dtype, device=device))

        if self._qkv_same_embed_dim:
            self.in_proj_weight = empty(3 * embed_dim, embed_dim)
            for name in ("q_proj_weight", "k_proj_weight", "v_proj_weight"):
                self.register_parameter(name, None)
        else:
            self.q_proj_weight = empty(embed_dim, embed_dim)
            self.k_proj_weight = empty(embed_dim, self.kdim)
            self.v_proj_weight = empty(embed_dim, self.vdim)
            self.register_parameter("in_proj_weight", None)
        if bias:
            self.in_proj_bias = empty(3 * embed_dim)
        else:
            self.register_parameter("in_proj_bias", None)
        self.out_proj = NonDynamicallyQuantizableLinear(embed_dim, embed_dim, bias=bias,
                                                        device=device, dtype=dtype)
        if add_bias_kv:
            self.bias_k, self.bias_v = empty(1, 1, embed_dim), empty(1, 1, embed_dim)
        else:
            self.bias_k = self.bias_v = None
        self.add_zero_attn = add_zero_attn
        self._reset_parameters()

    def _reset_parameters(self) -> None:
        if self._qkv_same_embed_dim:
            init.xavier_uniform_(self.in_proj_weight)
        else:
            for weight in (self.q_proj_weight, self.k_proj_weight, self.v_proj_weight):
                init.xavier_uniform_(weight)
        if self.in_proj_bias is not None:
            init.constant_(self.in_proj_bias, 0.0)
            init.constant_(self.out_proj.bias, 0.0)
        if self.bias_k is not None:
            init.xavier_normal_(self.bias_k)
            init.xavier_normal_(self.bias_v)

    def forward(self, query, key, value, key_padding_mask=None, need_weights: bool = True,
                attn_mask=None, average_attn_weights: bool = True, is_causal: bool = False):
        """(attn_output, attn_weights or None); (N, L, E) tensors when batch_first."""
        batched = query.ndim == 3
        if self.batch_first and batched:
            query, key, value = (x.transpose(1, 0) for x in (query, key, value))
        out, weights = multi_head_attention_forward(
            query, key, value, self.embed_dim, self.num_heads, self.in_proj_weight,
            self.in_proj_bias, self.bias_k, self.bias_v, self.add_zero_attn, self.dropout,
            self.out_proj.weight, self.out_proj.bias, training=self.training,
            key_padding_mask=key_padding_mask, need_weights=need_weights, attn_mask=attn_mask,
            use_separate_proj_weight=not self._qkv_same_embed_dim,
            q_proj_weight=self.q_proj_weight, k_proj_weight=self.k_proj_weight,
            v_proj_weight=self.v_proj_weight, average_attn_weights=average_attn_weights,
            is_causal=is_causal)
        if self.batch_first and batched:
            out = out.transpose(1, 0)
        return out, weights
