"""Sequence models: an LSTM classifier, a character-level GRU language model and a Transformer
encoder classifier, all over (N, L) token ids with batch_first layers."""

from __future__ import annotations

import math

import numpy as np

import graphc
from graphc import nn


class LSTMClassifier(nn.Module):
    """Embedding, a stacked LSTM, and a Linear classifier on the last time step's output."""

    render_depth = 2

    def __init__(self, vocab_size: int, num_classes: int, embed_dim: int = 16,
                 hidden_size: int = 32, num_layers: int = 1, dropout: float = 0.0):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embed_dim)
        self.lstm = nn.LSTM(embed_dim, hidden_size, num_layers, batch_first=True,
                            dropout=dropout)
        self.head = nn.Linear(hidden_size, num_classes)

    def forward(self, tokens):
        out, _ = self.lstm(self.embedding(tokens))
        return self.head(out[:, -1])


class CharGRU(nn.Module):
    """A character language model: Embedding, GRU, and a Linear layer giving next-character
    logits (N, L, vocab) at every position; `hidden` carries state across calls."""

    render_depth = 2

    def __init__(self, vocab_size: int, embed_dim: int = 16, hidden_size: int = 64,
                 num_layers: int = 1):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embed_dim)
        self.gru = nn.GRU(embed_dim, hidden_size, num_layers, batch_first=True)
        self.decoder = nn.Linear(hidden_size, vocab_size)

    def forward(self, tokens, hidden=None):
        out, _ = self.gru(self.embedding(tokens), hidden)
        return self.decoder(out)


def sinusoidal_positions(max_len: int, d_model: int):
    """(max_len, d_model) positional encoding of "Attention Is All You Need": sin on even
    features, cos on odd ones, wavelengths from 2 pi to 10000 * 2 pi."""
    position = np.arange(max_len)[:, None]
    frequency = np.exp(np.arange(0, d_model, 2) * (-math.log(10000.0) / d_model))
    table = np.zeros((max_len, d_model), np.float32)
    table[:, 0::2] = np.sin(position * frequency)
    table[:, 1::2] = np.cos(position * frequency[: d_model // 2])
    return graphc.from_numpy(table)


class TransformerClassifier(nn.Module):
    """Token embeddings plus sinusoidal positions, a pre-norm Transformer encoder, max pooling
    over positions and a Linear classifier."""

    render_depth = 3

    def __init__(self, vocab_size: int, num_classes: int, max_len: int, d_model: int = 64,
                 nhead: int = 8, num_layers: int = 2, dim_feedforward: int = 128,
                 dropout: float = 0.0):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, d_model)
        self.register_buffer("positions", sinusoidal_positions(max_len, d_model))
        layer = nn.TransformerEncoderLayer(d_model, nhead, dim_feedforward, dropout,
                                           batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, num_layers, norm=nn.LayerNorm(d_model))
        self.head = nn.Linear(d_model, num_classes)

    def forward(self, tokens):
        x = self.embedding(tokens) + self.positions[: tokens.shape[1]]
        return self.head(self.encoder(x).amax(1))
