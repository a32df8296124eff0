"""`graphc.models`: a model zoo that traces, compiles, trains and draws, and the small data sets
the sequence models train on. `build(name, ...)` makes what `graphc train --model NAME` trains."""

from __future__ import annotations

from graphc.models.sequence import CharGRU, LSTMClassifier, TransformerClassifier
from graphc.models.tasks import CharText, MotifSequences
from graphc.models.vision import BasicBlock, LeNet, SmallAlexNet, SmallResNet

# `graphc train --model` name -> (what it trains on: an image data set or the generated motif
# sequences, the optimizer it trains well with by default)
TRAINABLE = {"cnn": ("images", "sgd"), "lstm": ("sequences", "sgd"),
             "transformer": ("sequences", "adam")}


def build(name: str, train_data):
    """The zoo model for `graphc train --model NAME` (cnn, lstm, transformer), sized for the
    samples and classes of `train_data`."""
    sample = train_data[0][0]
    classes = len(train_data.classes)
    if name == "cnn":
        return LeNet(classes, in_channels=sample.shape[0], image_size=sample.shape[-1],
                     batch_norm=True)
    if name == "lstm":
        return LSTMClassifier(train_data.vocab_size, classes, embed_dim=16, hidden_size=32)
    if name == "transformer":
        return TransformerClassifier(train_data.vocab_size, classes, max_len=train_data.length)
    raise ValueError(f"unknown model {name!r}; choose from {', '.join(TRAINABLE)}")


__all__ = [
    "TRAINABLE",
    "BasicBlock",
    "CharGRU",
    "CharText",
    "LSTMClassifier",
    "LeNet",
    "MotifSequences",
    "SmallAlexNet",
    "SmallResNet",
    "TransformerClassifier",
    "build",
]
