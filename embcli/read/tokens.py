"""Readable strings for token ids, and the tokenizer saved beside the cache.

Tokenizers store pieces in their own alphabets: GPT-2's byte-level BPE maps every byte to a
printable character (a leading space becomes ``Ġ``, a newline ``Ċ``); SentencePiece marks a
word start with ``▁``; WordPiece marks a continuation with ``##``. ``display_tokens`` turns each
vocabulary entry into the text it stands for (``Ġ Paris`` -> ``" Paris"``), keeping WordPiece's
``##`` because it carries meaning, and showing bytes that are not valid UTF-8 as ``\\xNN``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any

from embcli.errors import EmbcliError


@lru_cache(maxsize=1)
def byte_decoder() -> dict[str, int]:
    """Inverse of GPT-2's ``bytes_to_unicode`` table (printable stand-ins for all 256 bytes)."""
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    chars = keep[:]
    n = 0
    for b in range(256):
        if b not in keep:
            keep.append(b)
            chars.append(256 + n)
            n += 1
    return {chr(c): b for b, c in zip(keep, chars, strict=True)}


def _decode_bytes(data: bytes) -> str:
    """UTF-8 text, with bytes that do not form valid characters shown as ``\\xNN``."""
    return data.decode("utf-8", errors="backslashreplace")


def vocabulary_style(spec: dict[str, Any]) -> str:
    """``byte_level``, ``metaspace`` or ``plain``, from a ``tokenizer.json`` document."""
    parts = {k: spec.get(k) for k in ("pre_tokenizer", "decoder", "normalizer")}
    # ensure_ascii=False: a Llama 2 style tokenizer states "▁" only in its normalizer
    # (Prepend, Replace), and escaped as \u2581 it would not be found
    text = json.dumps(parts, ensure_ascii=False)
    if '"ByteLevel"' in text:
        return "byte_level"
    if '"Metaspace"' in text or "\u2581" in text:
        return "metaspace"
    return "plain"


def display_piece(piece: str, style: str) -> str:
    """The text a vocabulary piece stands for (see the module docstring)."""
    if style == "byte_level":
        table = byte_decoder()
        if all(ch in table for ch in piece):
            return _decode_bytes(bytes(table[ch] for ch in piece))
        return piece
    if style == "metaspace":
        return piece.replace("\u2581", " ")
    return piece


def display_tokens(spec: dict[str, Any], vocab: dict[str, int], rows: int) -> list[str]:
    """Display strings for ids ``0..rows-1``; ids with no piece (padded rows) get ``<row N>``."""
    style = vocabulary_style(spec)
    special = {t["id"] for t in spec.get("added_tokens", []) if t.get("special")}
    out = [f"<row {i}>" for i in range(rows)]
    for piece, idx in vocab.items():
        if 0 <= idx < rows:
            out[idx] = piece if idx in special else display_piece(piece, style)
    return out


#: A whole word: letters or digits, with inner apostrophes, hyphens or dots (``don't``, ``U.S``).
WORD = re.compile(r"^[^\W_](?:[\w'’.-]*[^\W_])?$")


def wordlike_mask(tokens: list[str], style: str, special: set[int], size: int | None) -> list[bool]:
    """Which rows are whole word-initial tokens, the only ones worth listing as neighbours.

    Byte-level and SentencePiece vocabularies mark a word start with a leading space, so a word
    is ``" Paris"`` and ``"aris"`` is a fragment; WordPiece marks fragments with ``##``. Special
    tokens, rows beyond the tokenizer (padding) and punctuation are never word-like.
    """
    limit = size if size is not None else len(tokens)
    out = []
    for i, t in enumerate(tokens):
        if i in special or i >= limit:
            out.append(False)
        elif style in ("byte_level", "metaspace"):
            out.append(t.startswith(" ") and bool(WORD.match(t[1:])))
        elif style in ("words", "none"):
            out.append(True)
        else:
            out.append(not t.startswith("##") and bool(WORD.match(t)))
    return out


def visible(text: str) -> str:
    """Make whitespace and control characters visible for tables: ``" Paris"`` -> ``␣Paris``."""
    out = []
    for ch in text:
        if ch == " ":
            out.append("\u2423")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        elif ord(ch) < 32 or ord(ch) == 127:
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(ch)
    return "".join(out)


#: Slow-tokenizer files transformers can convert into a ``tokenizer.json``.
SLOW_TOKENIZER_FILES = ("vocab.txt", "vocab.json", "merges.txt", "tokenizer.model", "spiece.model")


def prepare_tokenizer(small_file: Callable[[str], Path | None], target: Path) -> bool:
    """Write the model's tokenizer to ``target`` as ``tokenizer.json``; False if it has none.

    ``small_file(name)`` is the source's path for one of its small files (None if absent).
    Padding and truncation are switched off (MiniLM's ships with padding on, which would append
    ``[PAD]`` ids to every encoding). A model with only slow-tokenizer files (``vocab.txt``,
    ``merges.txt``, ``*.model``) is converted once through transformers; the warm path then needs
    only the ``tokenizers`` package.
    """
    from tokenizers import Tokenizer

    source = small_file("tokenizer.json")
    if source is not None:
        try:
            tok = Tokenizer.from_file(str(source))
        except Exception as exc:  # tokenizers raises a bare Exception on bad JSON
            raise EmbcliError(f"cannot read {source}: {exc}") from None
    else:
        slow = [p for p in map(small_file, SLOW_TOKENIZER_FILES) if p is not None]
        if not slow:
            return False
        tok = _convert_slow_tokenizer(slow[0].parent)
    save_tokenizer(tok, target)
    return True


def save_tokenizer(tok: Any, target: Path) -> None:
    """Save a ``tokenizers.Tokenizer`` with padding and truncation off."""
    tok.no_padding()
    tok.no_truncation()
    tok.save(str(target))


def _convert_slow_tokenizer(model_dir: Path) -> Any:
    try:
        from transformers import AutoTokenizer

        slow = AutoTokenizer.from_pretrained(str(model_dir), trust_remote_code=False)
        return slow.backend_tokenizer
    except ImportError:
        raise EmbcliError(
            f"{model_dir} has only slow-tokenizer files; converting them needs transformers",
            "pip install transformers",
        ) from None
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise EmbcliError(f"cannot convert the tokenizer in {model_dir}: {first}") from None
