"""Single-token words without the tokenizer: a sorted, memory-mapped map from query to row.

Loading a ``tokenizer.json`` costs 0.1-0.5 s (more for 9-33 MB Llama and Gemma files), which is
most of a warm query's time on a large vocabulary. Most queries are single tokens, and which
strings resolve to a single token is fixed once the tokenizer is, so the build asks the tokenizer
once, for every candidate string the vocabulary suggests, and stores only the answers it gave:

    lookup_keys.npy   uint8, the UTF-8 query strings, sorted bytewise and concatenated
    lookup_index.npy  int64 [n + 1, 3]: key start offset, row id, form (last row: end offset)

A key is stored only if the tokenizer itself resolved it (see ``embcli.ask.words.resolve``), so a
hit is exactly what the tokenizer would have answered; a miss means nothing, and the caller falls
back to the tokenizer (a word that splits, a case the normaliser folds).
Opening the two files is two ``np.load`` calls with ``mmap_mode``; a lookup is a binary search
of about 18 comparisons on a 200,000-entry vocabulary.
"""

from __future__ import annotations

import json
import operator
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from embcli.store.npy import mapped

KEYS = "lookup_keys.npy"
INDEX = "lookup_index.npy"
#: ``tokens.json`` again, as UTF-8 bytes and row offsets: a query shows ten rows' strings, and
#: parsing all 202,048 of them from JSON takes longer than the query itself.
TOKEN_BLOB = "tokens_blob.npy"
TOKEN_INDEX = "tokens_index.npy"
#: Form codes in the index; the names are ``Resolved.form`` values.
FORMS = ("special", "word", "bare")


class Lookup:
    """Read side: ``find(query) -> (row, form) | None`` over the memory-mapped files."""

    def __init__(self, keys: np.ndarray, index: np.ndarray) -> None:
        self.keys, self.index = keys, index
        self.n = index.shape[0] - 1

    @classmethod
    def open(cls, directory: Path) -> Lookup | None:
        """The entry's lookup, or None for a table without a tokenizer (word vectors)."""
        keys, index = directory / KEYS, directory / INDEX
        if not (keys.is_file() and index.is_file()):
            return None
        return cls(mapped(keys), mapped(index))

    def _key(self, i: int) -> bytes:
        return self.keys[int(self.index[i, 0]) : int(self.index[i + 1, 0])].tobytes()

    def find(self, query: str) -> tuple[int, str] | None:
        want = query.encode("utf-8", errors="surrogatepass")
        lo, hi = 0, self.n
        while lo < hi:
            mid = (lo + hi) // 2
            if self._key(mid) < want:
                lo = mid + 1
            else:
                hi = mid
        if lo < self.n and self._key(lo) == want:
            return int(self.index[lo, 1]), FORMS[int(self.index[lo, 2])]
        return None


def write_lookup(
    target: Path,
    tok: Any,
    vocab: dict[str, int],
    tokens: list[str],
    style: str,
    special: set[int],
    unk_id: int | None,
    rows: int,
) -> int:
    """Write the lookup files for a ``tokenizers.Tokenizer``; return how many keys they hold.

    Candidates come from the vocabulary (each piece's text, with and without its word-start
    space; capitalised variants where a normaliser may fold case); each is kept only if the
    tokenizer, asked the way ``resolve`` asks it, answers with one usable row.
    """
    found: dict[str, tuple[int, int]] = {}
    for piece, idx in vocab.items():  # the "special" form: the literal text of a special token
        if idx in special and tok.token_to_id(piece) in special:
            found[piece] = (int(tok.token_to_id(piece)), 0)

    candidates: set[str] = set()
    folds = style not in ("byte_level", "metaspace")  # WordPiece normalisers may fold case
    for text in tokens[: min(rows, len(tokens))]:
        core = text[1:] if text.startswith(" ") else text
        if core.strip():
            candidates.add(core)
            if folds:
                candidates.update((core.capitalize(), core.upper()))
    if style == "metaspace":
        candidates.update(p for p in vocab if p.strip())
    order = sorted(q for q in candidates if q not in found)

    def single(ids: list[int]) -> int | None:
        if len(ids) == 1 and ids[0] != unk_id and ids[0] < rows:
            return ids[0]
        return None

    def encode_all(texts: list[str]) -> list[int | None]:
        out: list[int | None] = []
        for lo in range(0, len(texts), 8192):
            batch = tok.encode_batch(texts[lo : lo + 8192], add_special_tokens=False)
            out.extend(single(e.ids) for e in batch)
        return out

    if style == "byte_level":
        word = encode_all([" " + q for q in order])
        bare = encode_all(order)
    elif style == "metaspace":
        word = encode_all(order)
        bare = []
        for q in order:
            i = tok.token_to_id(q)
            bare.append(single([i]) if i is not None else None)
    else:
        word = encode_all(order)
        bare = [None] * len(order)
    for q, w, b in zip(order, word, bare, strict=True):
        if w is not None:
            found[q] = (w, 1)
        elif b is not None:
            found[q] = (b, 2)

    return _save(target, found)


def write_piece_lookup(target: Path, pieces: Sequence[str], rows: int) -> int:
    """Lookup files for a vocabulary no tokenizer reproduces: each piece exactly as stored
    (``▁Paris``, ``ĠParis``) names its row, the first row winning; return the number of keys.

    Nothing is guessed about how text would be split, so a piece is found only when typed as
    the vocabulary spells it (or as ``#id``).
    """
    found: dict[str, tuple[int, int]] = {}
    for i, piece in enumerate(pieces[:rows]):
        if piece.strip():
            found.setdefault(piece, (i, FORMS.index("bare")))
    return _save(target, found)


def _save(target: Path, found: dict[str, tuple[int, int]]) -> int:
    """Write ``query -> (row, form code)`` as the two sorted, memory-mappable lookup files."""
    encoded = sorted((q.encode("utf-8", errors="surrogatepass"), v) for q, v in found.items())
    lengths = np.fromiter((len(k) for k, _ in encoded), dtype=np.int64, count=len(encoded))
    index = np.zeros((len(encoded) + 1, 3), dtype=np.int64)
    index[1:, 0] = np.cumsum(lengths)
    index[:-1, 1] = [v[0] for _, v in encoded]
    index[:-1, 2] = [v[1] for _, v in encoded]
    blob = np.frombuffer(b"".join(k for k, _ in encoded), dtype=np.uint8)
    np.save(target / KEYS, blob)
    np.save(target / INDEX, index)
    return len(encoded)


def _utf8(text: str) -> bytes:
    return text.encode("utf-8", errors="surrogatepass")


def write_token_index(directory: Path) -> None:
    """Write the compact copy of ``directory/tokens.json`` (see :class:`TokenList`)."""
    tokens = json.loads((directory / "tokens.json").read_text(encoding="utf-8"))
    encoded = [_utf8(t) for t in tokens]
    offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum(np.fromiter(map(len, encoded), dtype=np.int64, count=len(encoded)))
    np.save(directory / TOKEN_BLOB, np.frombuffer(b"".join(encoded), dtype=np.uint8))
    np.save(directory / TOKEN_INDEX, offsets)


class TokenList(Sequence[str]):
    """The display strings of a table's rows, read one by one until all of them are wanted.

    Indexing decodes one row from the memory-mapped copy; iterating, slicing, searching or
    comparing loads ``tokens.json`` whole, once, as before.
    """

    def __init__(self, directory: Path, blob: np.ndarray, offsets: np.ndarray) -> None:
        self.directory, self.blob, self.offsets = directory, blob, offsets
        self._full: list[str] | None = None

    @classmethod
    def open(cls, directory: Path) -> TokenList:
        blob, index = directory / TOKEN_BLOB, directory / TOKEN_INDEX
        return cls(directory, mapped(blob), mapped(index))

    @property
    def full(self) -> list[str]:
        if self._full is None:
            text = (self.directory / "tokens.json").read_text(encoding="utf-8")
            self._full = json.loads(text)
        return self._full

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __getitem__(self, i: Any) -> Any:
        if isinstance(i, slice):
            return self.full[i]
        if self._full is not None:
            return self._full[i]
        n = len(self)
        k = operator.index(i)
        k = k + n if k < 0 else k
        if not 0 <= k < n:
            raise IndexError(f"row {i} out of range")
        lo, hi = int(self.offsets[k]), int(self.offsets[k + 1])
        return self.blob[lo:hi].tobytes().decode("utf-8", errors="surrogatepass")

    def __iter__(self) -> Iterator[str]:
        return iter(self.full)

    def __reversed__(self) -> Iterator[str]:
        return reversed(self.full)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, TokenList):
            return self.full == other.full
        if isinstance(other, list):
            return self.full == other
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"TokenList({len(self)} rows of {self.directory})"
