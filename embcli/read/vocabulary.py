"""A table's tokens when they come from the container rather than from ``tokenizer.json``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Vocabulary:
    """What the cache needs about a table's tokens when they do not come from tokenizer.json.

    Word-vector files hold words; GGUF files hold the tokenizer's pieces and types in their
    metadata. ``style`` is one of :mod:`embcli.read.tokens`' styles and says how a piece marks
    a word start (``byte_level`` ``Ġ``, ``metaspace`` ``▁``), or that pieces are whole words.
    """

    pieces: list[str]  # vocabulary piece of every id, as stored ("▁Paris", "ĠParis", "paris")
    tokenizer: Any | None = None  # a tokenizers.Tokenizer reproducing the model's, or None
    style: str = "plain"  # "byte_level" | "metaspace" | "plain" | "words" | "none"
    special: set[int] = field(default_factory=set)  # control tokens
    unused: set[int] = field(default_factory=set)  # unused/reserved ids (GGUF token_type 5)
    byte_tokens: set[int] = field(default_factory=set)  # byte tokens <0xNN> (GGUF token_type 6)
    #: Said once when the table is built: why words resolve only as ``#id`` or exact pieces
    #: (a GGUF whose tokenizer model embcli cannot rebuild).
    note: str | None = None
