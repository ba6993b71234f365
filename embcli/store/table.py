"""``EmbeddingTable``: the one owner of a cached table's vectors, tokens and tokenizer.

Like gensim's ``KeyedVectors``, it keeps the vectors and the index that names them together, and
everything that reads vectors goes through it. The arrays are memory-mapped from the cache, so
opening a 50,257 x 768 table costs a few milliseconds and touches only the pages a query reads.

``unit``  is the unit-normalised matrix (cosine similarity is a dot product of its rows);
``norms`` holds the original row lengths, so ``unit[i] * norms[i]`` gives back the raw vector.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from embcli.errors import EmbcliError
from embcli.store.cache import Entry


@dataclass(frozen=True)
class Piece:
    """One token of an encoded text."""

    id: int
    piece: str  # as the tokenizer's vocabulary spells it (``ĠParis``)
    text: str  # what it stands for (``" Paris"``)
    start: int
    end: int


class EmbeddingTable:
    """A token-embedding table read from the normalised cache."""

    def __init__(self, entry: Entry) -> None:
        self.path: Path = entry.path
        self.meta: dict[str, Any] = entry.meta
        self.unit: np.ndarray = np.load(self.path / "vectors.npy", mmap_mode="r")
        self.norms: np.ndarray = np.load(self.path / "norms.npy", mmap_mode="r")
        if self.unit.shape != tuple(self.meta["shape"]):
            raise EmbcliError(f"cache entry {self.path} disagrees with its metadata; clear it")

    @property
    def label(self) -> str:
        return str(self.meta["model"])

    @property
    def shape(self) -> tuple[int, int]:
        rows, dim = self.unit.shape
        return int(rows), int(dim)

    @cached_property
    def tokens(self) -> list[str]:
        """Display string of every row (``" Paris"``, ``"##ing"``, ``"<row 50257>"``)."""
        return json.loads((self.path / "tokens.json").read_text(encoding="utf-8"))

    @cached_property
    def special_ids(self) -> frozenset[int]:
        return frozenset(self.meta.get("special_ids", []))

    @property
    def tokenizer_size(self) -> int | None:
        return self.meta.get("tokenizer_size")

    @property
    def padded_rows(self) -> int:
        """Rows beyond the tokenizer's vocabulary (tables are often padded to a multiple of 64)."""
        size = self.tokenizer_size
        return max(0, self.shape[0] - size) if size is not None else 0

    @cached_property
    def tokenizer(self) -> Any:
        """The model's ``tokenizers.Tokenizer`` (padding and truncation off), or None."""
        path = self.path / "tokenizer.json"
        if not path.is_file():
            return None
        from tokenizers import Tokenizer

        return Tokenizer.from_file(str(path))

    def require_tokenizer(self) -> Any:
        if self.tokenizer is None:
            raise EmbcliError(f"{self.label} has no tokenizer", "address tokens by id, as #123")
        return self.tokenizer

    def encode(self, text: str, special: bool = False) -> list[Piece]:
        """Tokenize ``text`` as the model would, without the special tokens it may add."""
        enc = self.require_tokenizer().encode(text, add_special_tokens=special)
        rows = self.shape[0]
        return [
            Piece(i, p, self.tokens[i] if 0 <= i < rows else p, s, e)
            for i, p, (s, e) in zip(enc.ids, enc.tokens, enc.offsets, strict=True)
        ]

    def token_id(self, piece: str) -> int | None:
        """The id of a vocabulary piece spelled as the tokenizer stores it, or None.

        For word-vector files (no tokenizer) the piece is a word of the file.
        """
        if self.style == "words":
            return self.word_index.get(piece)
        tok = self.tokenizer
        return None if tok is None else tok.token_to_id(piece)

    @cached_property
    def word_index(self) -> dict[str, int]:
        """word -> row; the first row wins, as in the file's frequency order."""
        n = len(self.tokens)
        return dict(zip(reversed(self.tokens), range(n - 1, -1, -1), strict=True))

    def raw(self, ids: np.ndarray | list[int]) -> np.ndarray:
        """The original (unnormalised) float32 vectors of ``ids``."""
        idx = np.asarray(ids)
        return np.asarray(self.unit[idx]) * np.asarray(self.norms[idx])[..., None]

    @cached_property
    def wordlike(self) -> np.ndarray:
        """Boolean mask of whole word-initial tokens (see ``tokens.wordlike_mask``)."""
        return np.load(self.path / "wordlike.npy", mmap_mode="r")

    @property
    def style(self) -> str:
        """How the vocabulary marks words: byte_level, metaspace, plain, words or none."""
        return str(self.meta.get("tokenizer_style", "plain"))

    @cached_property
    def _variant_index(self) -> dict[str, list[int]]:
        index: dict[str, list[int]] = {}
        for i, t in enumerate(self.tokens):
            index.setdefault(t.strip().casefold(), []).append(i)
        return index

    def variants_of(self, text: str) -> list[int]:
        """Rows whose text equals ``text`` up to case and surrounding space."""
        return self._variant_index.get(text.strip().casefold(), [])

    @cached_property
    def _variant_group(self) -> np.ndarray | None:
        path = self.path / "variant_group.npy"
        return np.load(path, mmap_mode="r") if path.is_file() else None

    def variants(self, token_id: int) -> list[int]:
        """Rows spelling the same word up to case and surrounding space (" Paris", "paris")."""
        groups = self._variant_group
        if groups is None:  # an entry written before variant groups were cached
            return self._variant_index.get(self.tokens[token_id].strip().casefold(), [token_id])
        return np.flatnonzero(np.asarray(groups) == groups[token_id]).tolist()

    def centered(self) -> tuple[np.ndarray, np.ndarray]:
        """The table with its mean vector removed, re-normalised: ``(unit matrix, mean)``.

        Token tables are anisotropic (a large shared component makes every cosine high); the
        mean is taken over the tokenizer's rows with non-zero norm and the result is cached
        beside the entry the first time it is asked for.
        """
        target = self.path / "centered.npy"
        mean_file = self.path / "mean.npy"
        rows, dim = self.shape
        expected = rows * dim * 4
        if target.is_file() and mean_file.is_file():
            arr = np.load(target, mmap_mode="r")
            if arr.shape == self.shape and arr.nbytes == expected:
                return arr, np.load(mean_file)
        limit = min(rows, self.tokenizer_size or rows)
        use = (np.arange(rows) < limit) & (np.asarray(self.norms) > 0)
        mean = mean_vector(self.unit, self.norms, use)
        tmp = self.path / f"centered.{os.getpid()}.tmp.npy"
        out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=self.shape)
        for lo in range(0, rows, 16384):
            raw = np.asarray(self.unit[lo : lo + 16384], np.float64)
            raw = raw * np.asarray(self.norms[lo : lo + 16384], np.float64)[:, None] - mean
            raw[np.asarray(self.norms[lo : lo + 16384]) == 0] = 0.0
            n = np.linalg.norm(raw, axis=1, keepdims=True)
            out[lo : lo + 16384] = np.divide(raw, n, out=np.zeros_like(raw), where=n > 0)
        out.flush()
        del out
        mtmp = self.path / f"mean.{os.getpid()}.tmp.npy"
        np.save(mtmp, mean)
        os.replace(mtmp, mean_file)
        os.replace(tmp, target)
        return np.load(target, mmap_mode="r"), mean

    def size_on_disk(self) -> int:
        return sum(p.stat().st_size for p in self.path.iterdir() if p.is_file())


def mean_vector(unit: np.ndarray, norms: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Mean of the raw (unnormalised) vectors of ``rows``, accumulated in float64 by blocks."""
    total = np.zeros(unit.shape[1], dtype=np.float64)
    idx = np.flatnonzero(rows)
    for lo in range(0, len(idx), 16384):
        sel = idx[lo : lo + 16384]
        total += (
            np.asarray(unit[sel], np.float64) * np.asarray(norms[sel], np.float64)[:, None]
        ).sum(0)
    return total / max(1, len(idx))
