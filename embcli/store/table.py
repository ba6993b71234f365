"""``EmbeddingTable``: the one owner of a cached table's vectors, tokens and tokenizer.

Like gensim's ``KeyedVectors``, it keeps the vectors and the index that names them together, and
everything that reads vectors goes through it. The arrays are memory-mapped from the cache, so
opening a 50,257 x 768 table costs a few milliseconds and touches only the pages a query reads.

``unit``  is the unit-normalised matrix (cosine similarity is a dot product of its rows);
``norms`` holds the original row lengths, so ``unit[i] * norms[i]`` gives back the raw vector.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from embcli import linalg
from embcli.atomic import atomic_write, atomic_write_all
from embcli.errors import EmbcliError, UsageProblem
from embcli.store.cache import Entry
from embcli.store.meta import TableMeta

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

    def __init__(self, entry: Entry) -> None:
        self.path: Path = entry.path
        self.meta: TableMeta = entry.meta
        self.unit: np.ndarray = np.load(self.path / "vectors.npy", mmap_mode="r")
        self.norms: np.ndarray = np.load(self.path / "norms.npy", mmap_mode="r")
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
        return np.load(self.path / "wordlike.npy", mmap_mode="r")

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
    def _variant_group(self) -> np.ndarray:
        return np.load(self.path / "variant_group.npy", mmap_mode="r")

    def variants(self, token_id: int) -> list[int]:
        """Rows spelling the same word up to case and surrounding space (" Paris", "paris")."""
        groups = self._variant_group
        return np.flatnonzero(np.asarray(groups) == groups[token_id]).tolist()

    def transformed(
        self,
        center: bool,
        remove_pcs: int = 0,
        axis: np.ndarray | None = None,
        axis_label: str = "",
    ) -> tuple[np.ndarray, Transform]:
        """The unit matrix after ``--center`` / ``--remove-pcs D`` / ``--remove-axis``, and the
        transform applied.

        ``remove_pcs`` > 0 is all-but-the-top (Mu and Viswanath, 2018): subtract the mean, then
        the projections on the top D principal components of the centred rows; it implies
        centring. ``axis`` (a direction of the table's width) is then projected out of every
        row as well (the neutralise step of hard debiasing, Bolukbasi et al. 2016); see
        :meth:`Transform.with_axis`. Query vectors must go through the same ``Transform``
        (``Transform.apply``). The matrix and the transform are cached beside the entry,
        written atomically; when the cache cannot be written (read-only, full) they are
        computed in memory for this run.
        """
        check_removed(remove_pcs, self.shape[1])
        if axis is not None:
            return self._without_axis(self.transformed(center, remove_pcs)[1], axis, axis_label)
        if remove_pcs <= 0:
            if not center:
                return self.unit, Transform()
            unit, mean = self.centered()
            return unit, Transform(mean=np.asarray(mean, np.float64))
        target = self.path / f"abtt{remove_pcs}.npy"
        params = self.path / f"abtt{remove_pcs}.npz"
        if target.is_file() and params.is_file():
            arr = np.load(target, mmap_mode="r")
            if arr.shape == self.shape and arr.nbytes == self.shape[0] * self.shape[1] * 4:
                with np.load(params) as saved:
                    return arr, Transform(saved["mean"], saved["components"])
        mean, comps = linalg.top_components(self.unit, self.norms, self.mean_rows(), remove_pcs)
        transform = Transform(mean, comps)
        try:
            atomic_write_all({
                target: lambda tmp: self._fill_rows(_memmap(tmp, self.shape), transform),
                params: lambda tmp: _save(tmp, np.savez, mean=mean, components=comps),
            })  # fmt: skip
        except OSError:
            return self._rows_in_memory(transform), transform
        return np.load(target, mmap_mode="r"), transform

    def _without_axis(
        self, base: Transform, axis: np.ndarray, label: str
    ) -> tuple[np.ndarray, Transform]:
        """``base`` followed by projecting ``axis`` out, cached under a hash of the axis.

        One full-size copy per distinct axis (``axis-<hash>.npy``, its parameters in
        ``axis-<hash>.npz``), as ``--remove-pcs`` keeps one per D; ``embcli cache clear``
        removes them with the entry.
        """
        transform = base.with_axis(axis, label)
        target = self.path / f"axis-{transform.key()}.npy"
        params = self.path / f"axis-{transform.key()}.npz"
        if target.is_file() and params.is_file():
            arr = np.load(target, mmap_mode="r")
            if arr.shape == self.shape and arr.nbytes == self.shape[0] * self.shape[1] * 4:
                return arr, transform
        saved = {k: v for k, v in (("mean", transform.mean), ("components", transform.components),
                                   ("axis", transform.axis)) if v is not None}  # fmt: skip
        try:
            atomic_write_all({
                target: lambda tmp: self._fill_rows(_memmap(tmp, self.shape), transform),
                params: lambda tmp: _save(tmp, np.savez, **saved),
            })  # fmt: skip
        except OSError:
            return self._rows_in_memory(transform), transform
        return np.load(target, mmap_mode="r"), transform

    def mean_rows(self) -> np.ndarray:
        """The rows a mean or a PCA is taken over (ids): the tokenizer's rows with non-zero norm."""
        rows = self.shape[0]
        limit = min(rows, self.tokenizer_size or rows)
        return np.flatnonzero((np.arange(rows) < limit) & (np.asarray(self.norms) > 0))

    def _fill_rows(self, out: np.ndarray, transform: Transform) -> None:
        """Fill ``out`` with ``transform`` of every raw row, re-normalised (zero rows stay 0)."""
        rows, _ = self.shape
        for lo in range(0, rows, 16384):
            block = slice(lo, lo + 16384)
            raw = transform.apply(linalg.raw_rows(self.unit, self.norms, block))
            raw[np.asarray(self.norms[block]) == 0] = 0.0
            out[block] = linalg.unit_rows(raw)
        if isinstance(out, np.memmap):
            out.flush()

    def _write_rows(self, target: Path, transform: Transform) -> None:
        """Write ``transform`` of every raw row, re-normalised, to ``target`` atomically."""
        atomic_write(target, lambda tmp: self._fill_rows(_memmap(tmp, self.shape), transform))

    def _rows_in_memory(self, transform: Transform) -> np.ndarray:
        """What :meth:`_write_rows` would write, as an in-memory float32 array."""
        out = np.empty(self.shape, dtype=np.float32)
        self._fill_rows(out, transform)
        return out

    def centered(self) -> tuple[np.ndarray, np.ndarray]:
        """The table with its mean vector removed, re-normalised: ``(unit matrix, mean)``.

        Token tables are anisotropic (a large shared component makes every cosine high); the
        mean is taken over the tokenizer's rows with non-zero norm and the result is cached
        beside the entry the first time it is asked for (in memory only, if the cache cannot
        be written).
        """
        target = self.path / "centered.npy"
        mean_file = self.path / "mean.npy"
        if target.is_file() and mean_file.is_file():
            arr = np.load(target, mmap_mode="r")
            if arr.shape == self.shape and arr.nbytes == self.shape[0] * self.shape[1] * 4:
                return arr, np.load(mean_file)
        mean = linalg.mean_rows(self.unit, self.norms, self.mean_rows())
        try:
            atomic_write(mean_file, lambda tmp: _save(tmp, np.save, mean))
            self._write_rows(target, Transform(mean))
        except OSError:
            return self._rows_in_memory(Transform(mean)), mean
        return np.load(target, mmap_mode="r"), mean

    def size_on_disk(self) -> int:
        return sum(p.stat().st_size for p in self.path.iterdir() if p.is_file())


@dataclass(frozen=True)
class Transform:
    """What ``--center`` / ``--remove-pcs`` / ``--remove-axis`` do to a raw vector: ``x - mean``,
    minus its projection on ``components`` (orthonormal rows), minus its projection on ``axis``
    (a unit vector orthogonal to ``components``). Empty: the identity."""

    mean: np.ndarray | None = None
    components: np.ndarray | None = None
    axis: np.ndarray | None = None
    axis_label: str = ""  # what the axis was built from, for captions (not part of the key)

    @property
    def identity(self) -> bool:
        return self.mean is None and self.components is None and self.axis is None

    @property
    def removed(self) -> int:
        """How many principal components are removed (the axis not counted)."""
        return 0 if self.components is None else int(self.components.shape[0])

    def apply(self, raw: np.ndarray) -> np.ndarray:
        """The transformed float64 vector(s) (not normalised)."""
        directions = self.components
        if self.axis is not None:
            directions = self.axis[None, :] if directions is None else np.vstack(
                [directions, self.axis[None, :]]
            )  # fmt: skip
        return linalg.remove_top(raw, self.mean, directions)

    def with_axis(self, axis: np.ndarray, label: str = "") -> Transform:
        """This transform, then ``axis`` projected out too.

        The axis is made orthogonal to the removed components (what they remove is gone
        already; the two projections then add up to one onto their joint span), normalised,
        and rounded to float32: a rebuilt axis that differs in its last bits still finds the
        same cache files, and the cached rows and the queries use exactly this vector.
        """
        g = linalg.unit_rows(np.asarray(axis, np.float64).reshape(-1))
        if self.components is not None and self.components.size:
            g = g - self.components.T @ (self.components @ g)
        n = float(np.linalg.norm(g))
        if not n > 1e-6:
            raise UsageProblem("the axis has no direction left to remove (it is zero, or lies "
                               "in the principal components removed already)")  # fmt: skip
        g32 = (g / n).astype(np.float32).astype(np.float64)
        return replace(self, axis=g32 / np.linalg.norm(g32), axis_label=label)

    def key(self) -> str:
        """A short hash of what the transform does: whether it centres, the components it
        removes and the axis (the name of its cache files)."""
        import hashlib

        h = hashlib.sha256()
        h.update(f"center={self.mean is not None};pcs={self.removed};".encode())
        if self.axis is not None:
            h.update(np.ascontiguousarray(self.axis, np.float64).tobytes())
        return h.hexdigest()[:16]

    def caption(self) -> str:
        """Words for a caption: '', 'centred', 'centred, top 7 PCs removed', and with an axis
        '..., axis removed (man:woman, he:she)'."""
        parts = []
        if self.removed:
            parts.append(f"centred, top {self.removed} PCs removed")
        elif self.mean is not None:
            parts.append("centred")
        if self.axis is not None:
            parts.append("axis removed" + (f" ({self.axis_label})" if self.axis_label else ""))
        return ", ".join(parts)


def check_removed(d: int, width: int) -> None:
    """Removing ``d`` principal components leaves ``width - d`` dimensions: none at ``d >=
    width`` (every row zero), so such a ``d`` is refused rather than shown as a caption."""
    if d >= width:
        raise UsageProblem(
            f"--remove-pcs {d} is not below the table's width ({width}): "
            f"at most {width - 1} components can be removed"
        )


def _memmap(path: Path, shape: tuple[int, int]) -> np.ndarray:
    """A new float32 ``.npy`` file at ``path`` (any name: ``np.save`` would append ``.npy``)."""
    return np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=shape)


def _save(path: Path, save: Any, *args: Any, **kwargs: Any) -> None:
    """``np.save``/``np.savez`` into exactly ``path`` (they append a suffix to a bare name)."""
    with path.open("wb") as fh:
        save(fh, *args, **kwargs)
