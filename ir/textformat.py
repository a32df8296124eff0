"""The lexical layer of the IR text form, shared by the printer and the parser.

Literals are Python-like: ints, floats (`inf`, `-inf`, `nan` included), `True`/`False`/`None`,
strings (bare words such as `float32` or `model.py:12` when unambiguous, else JSON-quoted), tuples
`(1, 2)` / `(1,)`, lists and dicts. Arrays are nested lists or `b64"..."` (little-endian bytes).
"""

from __future__ import annotations

import base64
import json
import math
import re

import numpy as np

from ir.errors import GraphError

RESERVED = frozenset({"True", "False", "None", "inf", "nan"})
_STRING = r'"(?:[^"\\]|\\.)*"'
TOKEN_RE = re.compile(
    rf"""
    (?P<ws>\s+)
  | (?P<comment>\#.*)
  | (?P<b64>b64"[A-Za-z0-9+/=]*")
  | (?P<string>{_STRING})
  | (?P<name>%(?:[\w][\w.\-]*|{_STRING}))
  | (?P<number>-?(?:\d+(?:\.\d*)?(?:[eE][-+]?\d+)?|inf|nan)(?![\w.]))
  | (?P<arrow><-)
  | (?P<punct>[()\[\]{{}},=:])
  | (?P<word>[A-Za-z_/.][\w.:/\-+]*)
    """,
    re.VERBOSE,
)
BARE_NAME_RE = re.compile(r"[\w][\w.\-]*")


class ParseError(GraphError, ValueError):
    """Malformed IR text; the message gives the line number and the offending text."""


class ValueRef:
    """A `%name` inside a literal (meta refers to values): printed and read as the name."""

    __slots__ = ("name",)

    def __init__(self, name: str):
        self.name = name

    def __eq__(self, other) -> bool:
        return isinstance(other, ValueRef) and other.name == self.name

    def __hash__(self) -> int:
        return hash(("ValueRef", self.name))

    def __repr__(self) -> str:
        return format_name(self.name)


class Token:
    __slots__ = ("col", "kind", "text")

    def __init__(self, kind: str, text: str, col: int):
        self.kind, self.text, self.col = kind, text, col

    def __repr__(self) -> str:
        return f"{self.kind}:{self.text!r}"


def tokenize(line: str) -> tuple[list[Token], str | None]:
    """Tokens of one line and its trailing comment text (without `#`), or None."""
    tokens, pos, comment = [], 0, None
    while pos < len(line):
        match = TOKEN_RE.match(line, pos)
        if match is None:
            raise ParseError(f"unexpected character {line[pos]!r} at column {pos + 1}")
        kind = match.lastgroup
        if kind == "comment":
            comment = match.group()[1:]
        elif kind != "ws":
            tokens.append(Token(kind, match.group(), pos + 1))
        pos = match.end()
    return tokens, comment


# -- formatting ---------------------------------------------------------------------------------
def is_bare_word(text: str) -> bool:
    """Whether `text` reads back as itself when printed unquoted."""
    if text in RESERVED:
        return False
    match = TOKEN_RE.fullmatch(text)
    return match is not None and match.lastgroup == "word"


def format_string(text: str) -> str:
    return text if is_bare_word(text) else json.dumps(text, ensure_ascii=False)


def format_name(name: str) -> str:
    """A value reference: `%x`, or `%"odd name"` when the name has unusual characters."""
    return f"%{name}" if BARE_NAME_RE.fullmatch(name) else "%" + json.dumps(name, ensure_ascii=False)


def format_float(x, dtype: str = "float64") -> str:
    """The shortest text that reads back as exactly `x` in `dtype` (float32 or float64)."""
    x = float(x)
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    if dtype == "float32":
        text = str(np.float32(x))
        # Reading goes through float64 first; keep the short form only when that is exact.
        if np.float32(float(text)) != np.float32(x) or not _looks_float(text):
            text = repr(x)
        return text
    return repr(x)


def _looks_float(text: str) -> bool:
    return any(c in text for c in ".en")


def format_literal(value) -> str:
    """Text of an attribute or meta value; TypeError for data the text form cannot hold."""
    if value is None or isinstance(value, (bool, np.bool_)):
        return str(None if value is None else bool(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return format_float(value, "float32" if isinstance(value, np.float32) else "float64")
    if isinstance(value, str):
        return format_string(value)
    if isinstance(value, ValueRef):
        return format_name(value.name)
    if isinstance(value, tuple):
        items = ", ".join(map(format_literal, value))
        return f"({items},)" if len(value) == 1 else f"({items})"
    if isinstance(value, list):
        return "[" + ", ".join(map(format_literal, value)) + "]"
    if isinstance(value, dict):
        # Keys always quoted: a bare word followed by ':' would read as one word.
        items = (f"{_format_key(k)}: {format_literal(v)}" for k, v in value.items())
        return "{" + ", ".join(items) + "}"
    raise TypeError(f"cannot write {type(value).__name__} {value!r} as IR text")


def _format_key(key) -> str:
    return json.dumps(key, ensure_ascii=False) if isinstance(key, str) else format_literal(key)


INLINE_ARRAY_SIZE = 16  # larger arrays are written as base64 bytes


def format_array(array: np.ndarray) -> str:
    """Exact text of an array's data: a scalar, a nested list, or `b64"..."` for large ones."""
    dtype = array.dtype.name
    if array.size > INLINE_ARRAY_SIZE or array.size == 0:  # a nested [] loses the shape
        data = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<")).tobytes()
        return 'b64"' + base64.b64encode(data).decode("ascii") + '"'
    return _format_nested(array.tolist(), dtype)


def _format_nested(data, dtype: str) -> str:
    if isinstance(data, list):
        return "[" + ", ".join(_format_nested(x, dtype) for x in data) + "]"
    if dtype.startswith("float"):
        return format_float(data, dtype)
    return format_literal(data)


# -- reading --------------------------------------------------------------------------------------
class TokenStream:
    """A cursor over one line's tokens with helpers that raise ParseError on surprises."""

    def __init__(self, tokens: list[Token]):
        self.tokens, self.pos = tokens, 0

    def peek(self, offset: int = 0) -> Token | None:
        i = self.pos + offset
        return self.tokens[i] if i < len(self.tokens) else None

    def next(self, what: str = "a token") -> Token:
        token = self.peek()
        if token is None:
            raise ParseError(f"expected {what}, found end of line")
        self.pos += 1
        return token

    def at(self, text: str) -> bool:
        token = self.peek()
        return token is not None and token.text == text and token.kind in ("punct", "arrow", "word")

    def expect(self, text: str) -> Token:
        token = self.next(f"'{text}'")
        if token.text != text or token.kind not in ("punct", "arrow", "word"):
            raise ParseError(f"expected '{text}' at column {token.col}, found {token.text!r}")
        return token

    def accept(self, text: str) -> bool:
        if self.at(text):
            self.pos += 1
            return True
        return False

    def done(self) -> bool:
        return self.pos >= len(self.tokens)

    def expect_end(self) -> None:
        if not self.done():
            token = self.peek()
            raise ParseError(f"unexpected {token.text!r} at column {token.col}")


def read_name(token: Token) -> str:
    text = token.text[1:]
    return json.loads(text) if text.startswith('"') else text


def read_string(stream: TokenStream, what: str) -> str:
    token = stream.next(what)
    if token.kind == "word" and token.text not in RESERVED:
        return token.text
    if token.kind == "string":
        return json.loads(token.text)
    raise ParseError(f"expected {what} at column {token.col}, found {token.text!r}")


def read_literal(stream: TokenStream):
    token = stream.next("a value")
    if token.kind == "number":
        text = token.text
        return float(text) if _looks_float(text) or "inf" in text else int(text)
    if token.kind == "string":
        return json.loads(token.text)
    if token.kind == "name":
        return ValueRef(read_name(token))
    if token.kind == "word":
        return {"True": True, "False": False, "None": None}.get(token.text, token.text)
    if token.text in ("(", "["):
        close = ")" if token.text == "(" else "]"
        items = _read_sequence(stream, close)
        return tuple(items) if close == ")" else items
    if token.text == "{":
        result = {}
        while not stream.accept("}"):
            key = read_literal(stream)
            stream.expect(":")
            result[key] = read_literal(stream)
            if not stream.at("}"):
                stream.expect(",")
        return result
    raise ParseError(f"expected a value at column {token.col}, found {token.text!r}")


def _read_sequence(stream: TokenStream, close: str) -> list:
    items = []
    while not stream.accept(close):
        items.append(read_literal(stream))
        if not stream.at(close):
            stream.expect(",")
    return items


def read_array(stream: TokenStream, type) -> np.ndarray:
    """The data of a constant of TensorType `type`, written by `format_array`."""
    token = stream.peek()
    if token is not None and token.kind == "b64":
        stream.next()
        data = base64.b64decode(token.text[4:-1])
        dtype = type.np_dtype.newbyteorder("<")
        if len(data) != type.size * dtype.itemsize:
            raise ParseError(f"constant data has {len(data)} bytes, {type} needs {type.nbytes}")
        return np.frombuffer(data, dtype=dtype).astype(type.np_dtype).reshape(type.shape)
    value = read_literal(stream)
    try:
        array = np.array(value, dtype=type.np_dtype)
    except (TypeError, ValueError) as err:
        raise ParseError(f"constant data does not fit {type}: {err}") from None
    if array.shape != type.shape:
        raise ParseError(f"constant data has shape {list(array.shape)}, its type says {type}")
    return array
