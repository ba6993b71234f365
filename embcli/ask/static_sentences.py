"""Sentence vectors of a static-embedding model, from the cached table: numpy and tokenizers only.

A static model (model2vec, sentence-transformers' ``StaticEmbedding``) makes a sentence's
vector as the mean of its tokens' rows, so the cache already holds everything ``sentences``
needs: the token rows (``unit * norms``), the tokenizer, and the recipe the build recorded
(``meta.static``, see :meth:`embcli.read.static_model.StaticContainer.recipe`). No model is
loaded and torch is never imported.

The two libraries tokenise differently, and each is followed exactly:

- model2vec's ``StaticModel.encode``: each text is first cut to ``max_length`` times the median
  vocabulary-piece length in characters, then tokenised without special tokens and truncated
  to ``max_length`` tokens; the unknown token is dropped; the mean is normalised (with
  ``1e-32`` added to the length) when ``config.json`` says ``normalize``.
- sentence-transformers' ``StaticEmbedding``: tokenised without special tokens, with the
  truncation its ``tokenizer.json`` states; nothing dropped; a ``Normalize`` module divides by
  ``max(length, 1e-12)``.

A text with no tokens left is a zero vector in both (and said in a note). Means are taken in
float64 over the raw rows; the libraries average in float32, or in float16 for a float16 model
whose vectors model2vec then returns as float16: embcli gives the float32 mean of the same rows.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from embcli.errors import EmbcliError, UsageProblem
from embcli.linalg import raw_rows
from embcli.store.table import EmbeddingTable

Progress = Callable[[int, int], None]
MODEL2VEC = "model2vec"


@dataclass
class StaticEncoder:
    """Turns texts into a static model's sentence vectors, as its own library does."""

    table: EmbeddingTable
    recipe: dict[str, Any]
    max_length: int | None  # tokens; None: no limit
    notes: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        return self.table.label

    @property
    def pooling_name(self) -> str:
        return "mean"

    @property
    def normalize(self) -> bool:
        return bool(self.recipe["normalize"])

    def encode(
        self, texts: Sequence[str], batch_size: int = 1024, progress: Progress | None = None
    ) -> np.ndarray:
        """``[N, D]`` float32 vectors in the order of ``texts``."""
        ids = self.token_ids(texts, batch_size)
        out = np.zeros((len(ids), self.table.shape[1]), dtype=np.float32)
        for lo in range(0, len(ids), max(1, batch_size)):
            out[lo : lo + batch_size] = self._means(ids[lo : lo + batch_size])
            if progress is not None:
                progress(min(len(ids), lo + batch_size), len(ids))
        empty = [i for i, row in enumerate(ids) if not row]
        if empty:
            shown = ", ".join(f"#{i}" for i in empty[:5]) + (" ..." if len(empty) > 5 else "")
            self.notes.append(f"{len(empty)} sentence(s) have no known tokens ({shown}): "
                              "their vectors are zero")  # fmt: skip
        return out

    def token_ids(self, texts: Sequence[str], batch_size: int = 1024) -> list[list[int]]:
        """Each text's row ids, tokenised, cut and filtered as the model's library does."""
        texts = list(texts)
        model2vec = self.recipe["library"] == MODEL2VEC
        limit = self.max_length
        cut: list[int] = []
        if model2vec and limit is not None:
            chars = limit * int(self.recipe["median_token_length"])
            cut = [i for i, t in enumerate(texts) if len(t) > chars]
            texts = [t[:chars] for t in texts]
        truncation = self._truncation()
        tok = self.table.require_tokenizer()
        encodings = []
        try:
            if truncation:
                tok.enable_truncation(**truncation)
            for lo in range(0, len(texts), max(1, batch_size)):
                encodings += tok.encode_batch(texts[lo : lo + batch_size], add_special_tokens=False)
        finally:
            tok.no_truncation()  # the cached tokenizer's own state
        truncated = sorted(set(cut) | {i for i, e in enumerate(encodings) if e.overflowing})
        if truncated and limit is not None:
            shown = ", ".join(str(i) for i in truncated[:5]) + (
                " ..." if len(truncated) > 5 else ""
            )
            self.notes.append(
                f"{len(truncated)} sentence(s) longer than {limit} tokens were truncated "
                f"(#{shown}); --max-length changes the limit"
            )
        drop = self.recipe.get("drop_id")
        ids = [list(e.ids) for e in encodings]
        if model2vec and drop is not None:
            ids = [[i for i in row if i != drop] for row in ids]
        return ids

    def _truncation(self) -> dict[str, Any] | None:
        if self.max_length is None:
            return None
        stated = self.recipe.get("truncation") or {}
        return {**stated, "max_length": self.max_length}

    def _means(self, ids: list[list[int]]) -> np.ndarray:
        """Mean of each text's raw rows (float64), normalised as the recipe says."""
        dim = self.table.shape[1]
        lengths = np.array([len(row) for row in ids], dtype=np.int64)
        out = np.zeros((len(ids), dim), dtype=np.float64)
        filled = lengths > 0
        if filled.any():
            flat = np.fromiter((i for row in ids for i in row), np.int64, int(lengths.sum()))
            starts = np.cumsum(lengths) - lengths
            rows = raw_rows(self.table.unit, self.table.norms, flat)
            sums = np.add.reduceat(rows, starts[filled], axis=0)
            out[filled] = sums / lengths[filled, None]
        if self.normalize:
            norm = np.linalg.norm(out, axis=1, keepdims=True)
            if self.recipe["library"] == MODEL2VEC:
                out = out / (norm + 1e-32)
            else:  # torch.nn.functional.normalize
                out = out / np.maximum(norm, 1e-12)
        return out


def static_encoder(table: EmbeddingTable, max_length: int | None = None) -> StaticEncoder:
    """The encoder of a static model's cached table; ``max_length`` overrides its limit."""
    recipe = table.meta.static
    if not recipe:
        raise EmbcliError(f"{table.label} is not a static-embedding model")
    if max_length is not None and max_length < 1:
        raise UsageProblem(f"max_length must be at least 1, not {max_length}", param="max_length")
    extra = recipe.get("unsupported_modules") or []
    if extra:
        raise EmbcliError(
            f"{table.label}: module {extra[0]} follows the static table; embcli makes sentence "
            "vectors with StaticEmbedding and Normalize only"
        )
    limit = max_length if max_length is not None else recipe.get("max_length")
    return StaticEncoder(table, recipe, limit)
