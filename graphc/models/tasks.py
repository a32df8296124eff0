"""Small generated data sets the sequence models train on in seconds (no download).

`MotifSequences`: which of four orderings of the tokens (0, 1, 2) is hidden at a random place in a
sequence of noise tokens. Every class holds the same tokens, so only a model that reads order
(an RNN, or attention with positions) can tell them apart. `CharText`: next-character prediction
windows over a text.
"""

from __future__ import annotations

import numpy as np

import graphc
from graphc.data import TensorDataset

MOTIFS = ((0, 1, 2), (2, 1, 0), (1, 2, 0), (0, 2, 1))


class MotifSequences(TensorDataset):
    """(tokens, label) samples: int64 tokens of length `length` over `vocab_size` ids, noise from
    ids 3.. and one motif of MOTIFS at a random position; the label is the motif's index. The
    train and test sets come from different fixed seeds."""

    classes = tuple(str(i) for i in range(len(MOTIFS)))

    def __init__(self, train: bool = True, size: int | None = None, length: int = 16,
                 vocab_size: int = 10, seed: int = 0):
        size = size if size is not None else (2000 if train else 500)
        rng = np.random.default_rng([seed, 0 if train else 1])
        tokens = rng.integers(len(MOTIFS[0]), vocab_size, size=(size, length))
        labels = rng.integers(0, len(MOTIFS), size=size)
        starts = rng.integers(0, length - len(MOTIFS[0]) + 1, size=size)
        motifs = np.array(MOTIFS)[labels]
        rows = np.arange(size)[:, None]
        tokens[rows, starts[:, None] + np.arange(len(MOTIFS[0]))] = motifs
        self.train, self.length, self.vocab_size = train, length, vocab_size
        super().__init__(graphc.from_numpy(tokens), graphc.from_numpy(labels))


class CharText(TensorDataset):
    """(input, target) windows of `seq_len` characters of `text`; the target is the input shifted
    by one. `vocab` lists the characters; `encode`/`decode` map text to ids and back."""

    def __init__(self, text: str, seq_len: int = 32):
        self.vocab = sorted(set(text))
        self.index = {ch: i for i, ch in enumerate(self.vocab)}
        ids = self.encode(text)
        count = (len(ids) - 1) // seq_len
        if count < 1:
            raise ValueError(f"text of {len(text)} characters is shorter than seq_len + 1")
        inputs = ids[: count * seq_len].reshape(count, seq_len)
        targets = ids[1 : count * seq_len + 1].reshape(count, seq_len)
        super().__init__(graphc.from_numpy(inputs), graphc.from_numpy(targets))

    def encode(self, text: str) -> np.ndarray:
        return np.array([self.index[ch] for ch in text], dtype=np.int64)

    def decode(self, ids) -> str:
        return "".join(self.vocab[int(i)] for i in ids)
