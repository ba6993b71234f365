"""Semantic axes, the question: words along a direction of the table (``embcli axis``).

The axis is built from word pairs or two poles (:mod:`embcli.ask.directions`, pairs as
:mod:`embcli.ask.pairs` reads them). A word's score is the cosine of its unit vector with the
axis, in the question's space (the table through ``--center`` / ``--remove-pcs`` /
``--remove-axis``, :mod:`embcli.ask.space`). Without a word list, the ``k`` word-like rows
furthest at each end of the whole table (:func:`embcli.ask.directions.extremes`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from embcli.ask.directions import Direction, build, extremes
from embcli.ask.pairs import Pair
from embcli.ask.words import Resolver
from embcli.errors import UnresolvedWord, UsageProblem
from embcli.store.space import Space
from embcli.store.table import EmbeddingTable
from embcli.view import Result, View

# -- the question: words along an axis -----------------------------------------------------------


@dataclass
class AxisWord:
    """A word (or, for the ends of the table, a token) and its cosine with the axis (and with
    the second axis, when there is one)."""

    word: str
    score: float
    score2: float | None = None
    id: int | None = None  # the table row, for the ends of the table

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"word": self.word, "score": self.score}
        if self.score2 is not None:
            out["score2"] = self.score2
        return out


@dataclass
class AxisScores(Result):
    """Words scored along an axis: ``axis`` (a :class:`Direction`), ``words`` sorted by
    decreasing score, ``missing`` (words not in the table, from the axis and the word list);
    ``second`` is the second axis of a 2-D picture (each word then has ``score2``)."""

    axis: Direction
    words: list[AxisWord]
    missing: list[str] = field(default_factory=list)
    second: Direction | None = None
    ends: int = 0  # k, when the words are the ends of the table rather than a given list
    inputs_left_out: bool = False  # the axis's own words were left out of the ends
    model: str = ""
    space: str = ""
    notes: list[str] = field(default_factory=list)  # said once (the API's notices)

    def __iter__(self) -> Any:
        return iter(self.words)

    def __len__(self) -> int:
        return len(self.words)

    def __getitem__(self, i: int) -> AxisWord:
        return self.words[i]

    @property
    def vector(self) -> np.ndarray:
        return self.axis.vector

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"axis": self.axis.to_dict()}
        if self.second is not None:
            out["axis2"] = self.second.to_dict()
        out["words"] = [w.to_dict() for w in self.words]
        out["missing"] = self.missing
        return out

    def view(self) -> View:
        two = self.second is not None
        columns = ["word", "score", *(["score2"] if two else [])]
        rows = [(w.word, w.score, *([w.score2] if two else [])) for w in self.words]
        parts = [f"{self.model}{', ' + self.space if self.space else ''}",
                 f"Axis: {self.axis.caption()}"]  # fmt: skip
        if two:
            parts.append(f"Second axis (score2): {self.second.caption()}")  # type: ignore[union-attr]
        if self.ends:
            parts.append(
                f"The {self.ends} word-like rows furthest at each end"
                + (", the axis's own words left out" if self.inputs_left_out else "")
            )
        return View(columns, rows, caption=". ".join(parts),
                    token_columns={"word"} if self.ends else set())  # fmt: skip


def axis(
    table: EmbeddingTable,
    pairs: str | Sequence[str] | Sequence[Pair] | None = None,
    poles: tuple[Sequence[str], Sequence[str]] | None = None,
    *,
    space: Space | None = None,
    method: str = "pca",
    words: Sequence[str] | None = None,
    k: int = 20,
    pairs2: str | Sequence[str] | Sequence[Pair] | None = None,
    poles2: tuple[Sequence[str], Sequence[str]] | None = None,
    pool: bool = False,
    all_tokens: bool = False,
    keep_inputs: bool = False,
) -> AxisScores:
    """Build an axis (and optionally a second one) and score ``words`` along it, or, without
    ``words``, find the ``k`` word-like rows furthest at each end of the table.

    The rows that built the axis (and their case variants) are left out of the ends unless
    ``keep_inputs``: they are at the ends by construction. Everything is scored in ``space``
    (the table's own rows when None), as the other questions are (:mod:`embcli.ask.space`).
    """
    if k < 1:
        raise UsageProblem(f"k must be at least 1, not {k}", param="k")
    if words is not None and not [w for w in words if w.strip()]:
        raise UsageProblem("the word list is empty")
    space = space if space is not None else table.space()
    rows = Resolver(table, pool=pool, space=space)
    first = build(table, pairs, poles, method=method, rows=rows)
    second = None
    if pairs2 is not None or poles2 is not None:
        second = build(table, pairs2, poles2, method=method, rows=rows)
    if words is not None:
        found = _scored_words(rows, [w.strip() for w in words if w.strip()], first, second)
        if not found:
            raise UnresolvedWord(f"none of the {len(words)} words is in {table.label}")
    else:
        found = _scored_ends(table, space, k, first, second, all_tokens, keep_inputs)
    missing = list(dict.fromkeys(rows.missing))
    ends = 0 if words is not None else k
    return AxisScores(first, found, missing, second, ends, bool(ends) and not keep_inputs,
                      table.label, space.transform.caption(), rows.notes())  # fmt: skip


def _scored_words(
    rows: Resolver, words: Sequence[str], first: Direction, second: Direction | None
) -> list[AxisWord]:
    kept, _, vecs = rows.vectors(list(dict.fromkeys(words)))
    if not kept:
        return []
    s1 = vecs @ first.vector
    s2 = vecs @ second.vector if second is not None else None
    out = [AxisWord(w, float(s1[i]), None if s2 is None else float(s2[i]))
           for i, w in enumerate(kept)]  # fmt: skip
    return sorted(out, key=lambda s: -s.score)


def _scored_ends(
    table: EmbeddingTable,
    space: Space,
    k: int,
    first: Direction,
    second: Direction | None,
    all_tokens: bool,
    keep_inputs: bool,
) -> list[AxisWord]:
    allowed = None if all_tokens else table.wordlike
    exclude: set[int] = set()
    if not keep_inputs:
        for directed in (first, second):
            for i in directed.rows if directed is not None else []:
                exclude.add(i)
                if not all_tokens:
                    exclude.update(table.variants(i))
    ids, scores = extremes(space, first.vector, k, allowed, sorted(exclude))
    s2 = None
    if second is not None and len(ids):
        s2 = space.exact(ids, second.vector)
    return [AxisWord(table.tokens[int(i)], float(v), None if s2 is None else float(s2[n]), int(i))
            for n, (i, v) in enumerate(zip(ids, scores, strict=True))]  # fmt: skip
