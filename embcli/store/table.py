"""``EmbeddingTable``: the one owner of a cached table's vectors, tokens and tokenizer.

Like gensim's ``KeyedVectors``, it keeps the vectors and the index that names them together, and
everything that reads vectors goes through it. The arrays are memory-mapped from the cache, so
opening a 50,257 x 768 table costs a few milliseconds and touches only the pages a query reads.

``unit``  is the unit-normalised matrix (cosine similarity is a dot product of its rows);
``norms`` holds the original row lengths, so ``unit[i] * norms[i]`` gives back the raw vector.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from embcli import linalg
from embcli.errors import EmbcliError, UsageProblem
from embcli.store.cache import Entry
from embcli.store.derived import Derived, Notice, on_stderr
from embcli.store.meta import TableMeta
from embcli.store.npy import mapped
from embcli.store.space import Space, Transform

__all__ = ["EmbeddingTable", "Piece", "Space", "Transform"]

if TYPE_CHECKING:
    from embcli.store.lookup import Lookup


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

    def __init__(self, entry: Entry, notice: Notice = on_stderr) -> None:
        self.path: Path = entry.path
        self.meta: TableMeta = entry.meta
        self.notice = notice  # where the store says what it could not keep
        self._transforms: dict[tuple[bool, int], Transform] = {}  # see transform()
        self.unit: np.ndarray = mapped(self.path / "vectors.npy")
        self.norms: np.ndarray = mapped(self.path / "norms.npy")
        if self.unit.shape != self.meta.shape:
            raise EmbcliError(f"cache entry {self.path} disagrees with its metadata; clear it")

    @property
    def label(self) -> str:
        return self.meta.model

    @property
    def shape(self) -> tuple[int, int]:
        rows, dim = self.unit.shape
        return int(rows), int(dim)

    @cached_property
    def tokens(self) -> list[str]:
        """Display string of every row (``" Paris"``, ``"##ing"``, ``"<row 50257>"``).

        A :class:`~embcli.store.lookup.TokenList`: indexing reads one row, so a query that shows
        ten rows does not parse the whole vocabulary.
        """
        from embcli.store.lookup import TokenList

        return TokenList.open(self.path)  # type: ignore[return-value]

    @cached_property
    def special_ids(self) -> frozenset[int]:
        return frozenset(self.meta.special_ids)

    @property
    def tokenizer_size(self) -> int | None:
        return self.meta.tokenizer_size

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

    @cached_property
    def lookup(self) -> Lookup | None:
        """Single-token words without loading the tokenizer (None for a table without one)."""
        from embcli.store.lookup import Lookup

        return Lookup.open(self.path)

    def require_tokenizer(self) -> Any:
        if self.tokenizer is None:
            if self.style == "words":  # a word-vector file: no text splitting, a row a word
                raise EmbcliError(f"{self.label} is a word-vector file: it has no tokenizer",
                                  "each of its rows is a word: ask for one by name")  # fmt: skip
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
        dtype = np.result_type(self.unit.dtype, self.norms.dtype)
        return linalg.raw_rows(self.unit, self.norms, np.asarray(ids), dtype)

    @cached_property
    def wordlike(self) -> np.ndarray:
        """Boolean mask of whole word-initial tokens (see ``tokens.wordlike_mask``)."""
        return mapped(self.path / "wordlike.npy")

    @property
    def style(self) -> str:
        """How the vocabulary marks words: byte_level, metaspace, plain, words or none."""
        return self.meta.tokenizer_style

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
    def variant_groups(self) -> np.ndarray:
        """One group number per row: rows spelling the same word up to case and surrounding
        space share it (``" Paris"``, ``"paris"``); kept with the entry (``variant_group.npy``)."""
        return mapped(self.path / "variant_group.npy")

    def variants(self, token_id: int) -> list[int]:
        """Rows spelling the same word up to case and surrounding space (" Paris", "paris")."""
        groups = self.variant_groups
        return np.flatnonzero(np.asarray(groups) == groups[token_id]).tolist()

    @cached_property
    def derived(self) -> Derived:
        """The files derived from this entry after it was built (``entry/derived/``)."""
        return Derived(self.path, self.notice)

    def transform(self, center: bool = False, remove_pcs: int = 0) -> Transform:
        """What ``--center`` / ``--remove-pcs D`` do to a raw vector (identity for neither).

        ``remove_pcs`` > 0 is all-but-the-top (Mu and Viswanath, 2018): subtract the mean, then
        the projections on the top D principal components of the centred rows; it implies
        centring. Means and components are taken over :meth:`mean_rows`, computed once and
        kept in the entry's derived files, and kept by this object too: a question that builds
        an axis in the transformed table and then removes it asks twice, and on a read-only
        cache the derived files keep nothing (the top components of a 202,048 x 5,120 table
        take a minute).
        """
        check_removed(remove_pcs, self.shape[1])
        key = (bool(center) or remove_pcs > 0, max(remove_pcs, 0))
        if key not in self._transforms:
            self._transforms[key] = self._transform(*key)
        return self._transforms[key]

    def _transform(self, center: bool, remove_pcs: int) -> Transform:
        dim = self.shape[1]
        if remove_pcs > 0:
            saved = self.derived.arrays(
                f"abtt{remove_pcs}.npz",
                lambda: dict(zip(("mean", "components"),
                                 linalg.top_components(self.unit, self.norms, self.mean_rows(),
                                                       remove_pcs), strict=True)),
                {"mean": (dim,), "components": (remove_pcs, dim)},
            )  # fmt: skip
            name = f"centred, top {remove_pcs} PCs removed"
            return Transform(saved["mean"], saved["components"], name)
        if center:
            mean = self.derived.array(
                "mean.npy",
                lambda: linalg.mean_rows(self.unit, self.norms, self.mean_rows()),
                (dim,),
            )
            return Transform(mean, None, "centred")
        return Transform()

    def space(self, transform: Transform | None = None) -> Space:
        """The rows through ``transform``, ready to score queries against (see
        :mod:`embcli.store.space`): no transformed copy of the table, only each row's length
        after the transform (V floats, kept in the derived files under the transform's key),
        read or computed on the space's first score."""
        if transform is None or transform.identity:
            return Space(self.unit, self.norms)

        def keep() -> np.ndarray:
            return self.derived.array(
                f"lengths-{transform.key}.npy",
                lambda: linalg.transformed_lengths(
                    self.unit, self.norms, transform.mean, transform.components
                ),
                (self.shape[0],),
            )

        return Space(self.unit, self.norms, transform, keep=keep)

    def mean_rows(self) -> np.ndarray:
        """The rows a mean or a PCA is taken over (ids): the tokenizer's rows with non-zero norm."""
        rows = self.shape[0]
        limit = min(rows, self.tokenizer_size or rows)
        return np.flatnonzero((np.arange(rows) < limit) & (np.asarray(self.norms) > 0))

    def size_on_disk(self) -> int:
        """Bytes of the entry, its derived files included."""
        return sum(p.stat().st_size for p in self.path.rglob("*") if p.is_file())


def check_removed(d: int, width: int) -> None:
    """Removing ``d`` principal components leaves ``width - d`` dimensions: none at ``d >=
    width`` (every row zero), so such a ``d`` is refused rather than shown as a caption.

    A table of width 0 is refused whatever ``d`` (0 when no ``--remove-pcs`` was given), by
    what it is, so the line never names an option the user did not pass."""
    if width < 1:
        raise EmbcliError(
            "the table has width 0 (its rows hold no numbers): no question can be asked of it"
        )
    if d >= width:
        raise UsageProblem(
            f"remove_pcs {d} is not below the table's width ({width}): "
            f"at most {width - 1} components can be removed",
            param="remove_pcs",
        )
