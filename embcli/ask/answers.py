"""Neighbours, similarity and analogies as results: the three questions, answered as data.

Each function takes an :class:`EmbeddingTable`, the :class:`~embcli.store.space.Space` to score
in (the table's own rows when None; the API resolves ``center`` / ``remove_pcs`` /
``remove_axis`` into one, :mod:`embcli.ask.space`) and what a user typed, resolves the words
(:mod:`embcli.ask.words`), runs the math (:mod:`embcli.ask.queries`) and returns a dataclass
subclassing :class:`embcli.view.Result`: ``to_dict()`` gives the CLI's JSON, ``view()`` its table.

A batch keeps going past a word it cannot resolve: the failure is kept as data in ``failed``
(the CLI prints each on stderr and exits 3 at the end), so a caller sees the answers and the
failures. A single query (``single=True``) raises :class:`UnresolvedWord` instead.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from embcli.ask import queries
from embcli.ask.words import Resolved, Resolver, exclusions, rows_of_words
from embcli.errors import UnresolvedWord, UsageProblem
from embcli.read.tokens import visible
from embcli.store.table import EmbeddingTable, Space, Transform
from embcli.view import Result, View

METHODS = ("3cosadd", "3cosmul")


def _model_caption(model: str, space: str) -> str:
    return f"{model}{', ' + space if space else ''}"


def _used(table: EmbeddingTable, ids: Sequence[int]) -> str:
    return "+".join(f"{visible(table.tokens[i])} (#{i})" for i in ids)


# -- neighbours ----------------------------------------------------------------------------------


@dataclass
class Neighbor:
    """One ranked neighbour: its rank (1-based), row id, token and cosine with the query."""

    rank: int
    id: int
    token: str
    cosine: float

    def to_dict(self) -> dict[str, Any]:
        return {"rank": self.rank, "id": self.id, "token": self.token, "cosine": self.cosine}


@dataclass
class NeighborList(Result):
    """The neighbours of one query; iterate it for :class:`Neighbor` items.

    ``tokens`` are the rows that stood for the query (``[{"id", "token"}]``, several when
    pooled, none for a ``--vector`` query).
    """

    query: str
    tokens: list[dict[str, Any]]
    pooled: bool
    neighbors: list[Neighbor]
    model: str = ""
    space: str = ""
    skipped: list[str] = field(default_factory=list)  # ``among`` words not in the table

    @property
    def failed(self) -> list[UnresolvedWord]:
        """Always empty: a single query that does not resolve raises instead."""
        return []

    def __iter__(self) -> Iterator[Neighbor]:
        return iter(self.neighbors)

    def __len__(self) -> int:
        return len(self.neighbors)

    def __getitem__(self, i: int) -> Neighbor:
        return self.neighbors[i]

    @property
    def tokens_found(self) -> list[str]:
        """The neighbour tokens, best first."""
        return [n.token for n in self.neighbors]

    def to_dict(self) -> dict[str, Any]:
        return {
            "query": self.query,
            "tokens": self.tokens,
            "pooled": self.pooled,
            "neighbors": [n.to_dict() for n in self.neighbors],
        }

    def view(self) -> View:
        return Neighbors([self], single=True, model=self.model, space=self.space).view()


@dataclass
class Neighbors(Result):
    """The neighbours of several queries; ``failed`` holds the queries that did not resolve."""

    results: list[NeighborList]
    failed: list[UnresolvedWord] = field(default_factory=list)
    single: bool = False  # one query: ``to_dict()`` is its record, not a list
    model: str = ""
    space: str = ""
    skipped: list[str] = field(default_factory=list)  # ``among`` words not in the table

    def __iter__(self) -> Iterator[NeighborList]:
        return iter(self.results)

    def __len__(self) -> int:
        return len(self.results)

    def __getitem__(self, i: int) -> NeighborList:
        return self.results[i]

    def to_dict(self) -> Any:
        records = [r.to_dict() for r in self.results]
        return records[0] if self.single and records else records

    def view(self) -> View:
        rows = [(r.query, n.rank, n.id, n.token, n.cosine) for r in self.results for n in r]
        used = "; ".join(
            f"{r.query} = "
            + "+".join(f"{visible(t['token'])} (#{t['id']})" for t in r.tokens)
            + (" pooled" if r.pooled else "")
            for r in self.results
        )
        return View(
            ["query", "rank", "id", "token", "cosine"],
            rows,
            caption=f"{_model_caption(self.model, self.space)}. {used}",
            token_columns={"token"},
            table_hidden={"query"} if len(self.results) == 1 else set(),
        )


def among_mask(table: EmbeddingTable, words: Sequence[str]) -> tuple[np.ndarray, list[str]]:
    """Rows standing for ``words`` (each resolved as a query is), and the words not in the table.

    This is the candidate set of ``neighbors --among FILE``; the fragment and special-token
    filter does not apply to it (the user chose the candidates).
    """
    ids, missing = rows_of_words(table, words)
    mask = np.zeros(table.shape[0], dtype=bool)
    mask[ids] = True
    return mask, missing


def neighbors(
    table: EmbeddingTable,
    words: Sequence[str],
    k: int = 10,
    *,
    space: Space | None = None,
    pool: bool = False,
    ids: bool = False,
    all_tokens: bool = False,
    among: Sequence[str] | None = None,
    single: bool = False,
) -> Neighbors:
    """Nearest rows by cosine for each word (its own token and variants left out).

    Candidates are the word-like rows (whole word-initial tokens) unless ``all_tokens``; with
    ``among``, only the rows of those words (the ones not in the table are in ``skipped``).
    """
    resolver = Resolver(table, pool=pool, ids=ids, single=single)
    resolved = [r for r in map(resolver, words) if r is not None]
    allowed, skipped = _candidates(table, all_tokens, among)
    rows = space if space is not None else table.space()
    transform, caption = rows.transform, rows.transform.caption()
    results = []
    if resolved:
        vecs = np.stack([r.unit(table, transform) for r in resolved])
        excl = [exclusions(table, r, all_tokens) for r in resolved]
        top_ids, top_scores = queries.top_k(rows, vecs, k, allowed, excl)
        for r, row_ids, row_scores in zip(resolved, top_ids, top_scores, strict=True):
            results.append(
                NeighborList(r.query, r.token_records(table), r.pooled,
                             _ranked(table, row_ids, row_scores), table.label, caption, skipped)
            )  # fmt: skip
    return Neighbors(results, resolver.failed, single, table.label, caption, skipped)


def neighbors_of_vector(
    table: EmbeddingTable,
    vector: np.ndarray,
    k: int = 10,
    *,
    space: Space | None = None,
    name: str = "vector",
    all_tokens: bool = False,
    among: Sequence[str] | None = None,
) -> Neighbors:
    """Nearest rows to an arbitrary vector of the table's width (compared by cosine).

    In a ``space`` the vector goes through the same transform as every row.
    """
    v = np.asarray(vector, dtype=np.float64).reshape(-1)
    width = table.shape[1]
    if v.shape[0] != width:
        raise UsageProblem(f"the vector has {v.shape[0]} numbers; this table's rows have {width}")
    if not np.all(np.isfinite(v)):
        raise UsageProblem("the vector holds NaN or infinite values")
    allowed, skipped = _candidates(table, all_tokens, among)
    rows = space if space is not None else table.space()
    transform, caption = rows.transform, rows.transform.caption()
    if not transform.identity and not np.all(np.isfinite(transform.apply(v))):
        raise UsageProblem("the vector is too large to centre (its values overflow)")
    q = rows.query(v)  # scaled by its largest value before the norm: 1e300s do not overflow
    if not q.any():
        raise UsageProblem("the vector is all zeros: it has no direction to compare")
    top_ids, top_scores = queries.top_k(rows, q.astype(np.float32)[None, :], k, allowed)
    found = NeighborList(name, [], False, _ranked(table, top_ids[0], top_scores[0]),
                         table.label, caption, skipped)  # fmt: skip
    return Neighbors([found], [], True, table.label, caption, skipped)


def _candidates(
    table: EmbeddingTable, all_tokens: bool, among: Sequence[str] | None
) -> tuple[np.ndarray | None, list[str]]:
    if among is not None:
        mask, missing = among_mask(table, among)
        if not mask.any():
            raise UnresolvedWord(f"none of the {len(among)} candidate words is in {table.label}")
        return mask, missing
    if all_tokens:
        return None, []
    if not np.asarray(table.wordlike).any():  # e.g. --tensor naming a position table
        raise UsageProblem(f"{table.label} has no word-like rows to rank",
                           "--all-tokens ranks every row")  # fmt: skip
    return table.wordlike, []


def _ranked(table: EmbeddingTable, ids: np.ndarray, scores: np.ndarray) -> list[Neighbor]:
    """Neighbours for the valid ids of a top-k row (-1 marks padding)."""
    kept = [(int(i), float(v)) for i, v in zip(ids, scores, strict=True) if i >= 0]
    return [Neighbor(n + 1, i, table.tokens[i], v) for n, (i, v) in enumerate(kept)]


# -- similarity ----------------------------------------------------------------------------------


@dataclass
class Pair:
    """Cosine and dot product of two queries, and the rows that stood for each."""

    a: str
    b: str
    cosine: float
    dot: float
    a_tokens: list[dict[str, Any]]
    b_tokens: list[dict[str, Any]]

    def __float__(self) -> float:
        return self.cosine

    def to_dict(self) -> dict[str, Any]:
        return {"a": self.a, "b": self.b, "cosine": self.cosine, "dot": self.dot,
                "a_tokens": self.a_tokens, "b_tokens": self.b_tokens}  # fmt: skip


@dataclass
class Similarity(Result):
    """Similarity of pairs of words. ``float(result)`` is the cosine when there is one pair.

    ``matrix`` holds the cosines of every word with every word (in ``words`` order) when
    similarity was asked of three or more words and all resolved; ``view()`` then shows it.
    """

    pairs: list[Pair]
    failed: list[UnresolvedWord] = field(default_factory=list)
    single: bool = False
    words: list[str] = field(default_factory=list)
    matrix: np.ndarray | None = None
    model: str = ""
    space: str = ""
    used: dict[str, str] = field(default_factory=dict)  # word -> "token (#id)" it stood for

    def __float__(self) -> float:
        if len(self.pairs) != 1:
            raise TypeError(f"{len(self.pairs)} pairs: float() needs exactly one")
        return self.pairs[0].cosine

    @property
    def cosine(self) -> float:
        return float(self)

    @property
    def dot(self) -> float:
        if len(self.pairs) != 1:
            raise TypeError(f"{len(self.pairs)} pairs: .dot needs exactly one")
        return self.pairs[0].dot

    def __iter__(self) -> Iterator[Pair]:
        return iter(self.pairs)

    def __len__(self) -> int:
        return len(self.pairs)

    def to_dict(self) -> Any:
        records = [p.to_dict() for p in self.pairs]
        return records[0] if self.single and records else records

    def _caption(self) -> str:
        words = "; ".join(f"{w} = {rows}" for w, rows in self.used.items())
        return f"{_model_caption(self.model, self.space)}. {words}"

    def pairs_view(self, caption: bool = True) -> View:
        """One row per pair (what TSV prints, matrix or not)."""
        rows = [(p.a, p.b, p.cosine, p.dot) for p in self.pairs]
        return View(["a", "b", "cosine", "dot"], rows, caption=self._caption() if caption else None)

    def view(self) -> View:
        if self.matrix is None:
            return self.pairs_view()
        rows = [[w, *map(float, self.matrix[i])] for i, w in enumerate(self.words)]
        return View(["", *self.words], rows, caption=self._caption())


def check_similarity(words: Sequence[str], pairs: Sequence[tuple[str, str]] | None) -> None:
    """Raise :class:`UsageProblem` unless the arguments make a similarity question.

    Separate from :func:`similarity` so a caller can check before it opens (or builds) a table.
    """
    if pairs is None and len(words) < 2:
        raise UsageProblem("similarity needs two or more words, or pairs")
    if pairs is not None and words:
        raise UsageProblem("give either words or pairs, not both")
    if pairs is not None and not pairs:  # an empty file or stdin, as neighbors says of its words
        raise UsageProblem("the pairs list no pair")


def check_analogy(question: Sequence[str], where: str = "") -> None:
    """Raise :class:`UsageProblem` unless ``question`` is ``a b c`` or ``a b c expected``."""
    if len(question) not in (3, 4):
        raise UsageProblem(
            f"{where}an analogy is 'a b c' or 'a b c expected', not {' '.join(question)!r}"
        )


def similarity(
    table: EmbeddingTable,
    words: Sequence[str] = (),
    pairs: Sequence[tuple[str, str]] | None = None,
    *,
    space: Space | None = None,
    pool: bool = False,
    ids: bool = False,
) -> Similarity:
    """Cosine (and dot product of the raw vectors) of two words, all pairs of more, or ``pairs``.

    Two words are a single question (an unresolvable one raises); more words, or ``pairs``,
    are a batch whose unresolvable words end up in ``failed``.
    """
    check_similarity(words, pairs)
    single = pairs is None and len(words) == 2
    resolver = Resolver(table, pool=pool, ids=ids, single=single)
    transform = space.transform if space is not None else Transform()  # no rows scored
    caption = transform.caption()
    if pairs is None:
        got = [resolver(w) for w in words]
        todo = [(a, b) for i, a in enumerate(got) for b in got[i + 1 :]]
    else:
        todo = [(resolver(a), resolver(b)) for a, b in pairs]
    found = [_pair(table, a, b, transform) for a, b in todo if a is not None and b is not None]
    used = {w: _used(table, r.ids) for w, r in resolver.resolved.items()}
    result = Similarity(found, resolver.failed, single, list(words), None, table.label, caption,
                        used)  # fmt: skip
    if pairs is None and len(words) > 2 and not resolver.failed:
        vecs = np.stack([resolver(w).unit(table, transform) for w in words])  # type: ignore[union-attr]
        vecs = vecs.astype(np.float64)
        result.matrix = vecs @ vecs.T
    return result


def _pair(table: EmbeddingTable, a: Resolved, b: Resolved, transform: Transform) -> Pair:
    ua, ub = a.unit(table, transform), b.unit(table, transform)
    return Pair(
        a.query,
        b.query,
        float(np.dot(ua.astype(np.float64), ub.astype(np.float64))),
        float(np.dot(a.raw(table), b.raw(table))),
        a.token_records(table),
        b.token_records(table),
    )


# -- analogy -------------------------------------------------------------------------------------


@dataclass
class Scored:
    """One ranked answer of an analogy: rank, row id, token and score."""

    rank: int
    id: int
    token: str
    score: float

    def to_dict(self) -> dict[str, Any]:
        return {"rank": self.rank, "id": self.id, "token": self.token, "score": self.score}


@dataclass
class Answer(Result):
    """The answers to one analogy ``a - b + c``; iterate it for :class:`Scored` items.

    ``correct`` is set when an expected word was given: whether the top answer equals it (up to
    case and surrounding space).
    """

    a: str
    b: str
    c: str
    method: str
    tokens: dict[str, list[dict[str, Any]]]
    results: list[Scored]
    expected: str | None = None
    correct: bool | None = None
    model: str = ""
    space: str = ""

    @property
    def formula(self) -> str:
        return f"{self.a} - {self.b} + {self.c}"

    @property
    def failed(self) -> list[UnresolvedWord]:
        """Always empty: a single question whose words do not resolve raises instead."""
        return []

    def __iter__(self) -> Iterator[Scored]:
        return iter(self.results)

    def __len__(self) -> int:
        return len(self.results)

    def __getitem__(self, i: int) -> Scored:
        return self.results[i]

    def to_dict(self) -> dict[str, Any]:
        rec: dict[str, Any] = {
            "a": self.a,
            "b": self.b,
            "c": self.c,
            "method": self.method,
            "formula": self.formula,
            "tokens": self.tokens,
            "results": [r.to_dict() for r in self.results],
        }
        if self.expected is not None:
            rec["expected"] = self.expected
            rec["correct"] = self.correct
        return rec

    def view(self) -> View:
        return Analogies([self], [], True, self.method, self.model, self.space).view()


@dataclass
class Analogies(Result):
    """Answers to several analogies; ``failed`` holds words that did not resolve."""

    results: list[Answer]
    failed: list[UnresolvedWord] = field(default_factory=list)
    single: bool = False
    method: str = "3cosadd"
    model: str = ""
    space: str = ""

    def __iter__(self) -> Iterator[Answer]:
        return iter(self.results)

    def __len__(self) -> int:
        return len(self.results)

    def __getitem__(self, i: int) -> Answer:
        return self.results[i]

    @property
    def accuracy(self) -> float | None:
        """Share of questions with an expected word whose top answer is right (None: none)."""
        judged = [a.correct for a in self.results if a.correct is not None]
        return sum(judged) / len(judged) if judged else None

    def to_dict(self) -> Any:
        records = [a.to_dict() for a in self.results]
        return records[0] if self.single and records else records

    def view(self) -> View:
        rows = [(a.formula, r.rank, r.id, r.token, r.score) for a in self.results for r in a]
        one = len(self.results) == 1
        return View(
            ["formula", "rank", "id", "token", "score"],
            rows,
            caption=f"{self.model}, {self.method}{', ' + self.space if self.space else ''}; "
            "a b c reads a - b + c",
            token_columns={"token"},
            title=f"{self.results[0].formula} = ?" if one else None,
            table_hidden={"formula"} if one else set(),
        )


def analogies(
    table: EmbeddingTable,
    questions: Sequence[Sequence[str]],
    k: int = 5,
    *,
    space: Space | None = None,
    method: str = "3cosadd",
    keep_inputs: bool = False,
    pool: bool = False,
    ids: bool = False,
    all_tokens: bool = False,
    single: bool = False,
) -> Analogies:
    """Solve ``a - b + c = ?`` for each question ``[a, b, c]`` or ``[a, b, c, expected]``.

    3CosAdd ranks rows by cosine with ``unit(a - b + c)``; 3CosMul (Levy and Goldberg, 2014)
    by ``cos(x, a) cos(x, c) / (cos(x, b) + eps)``. The inputs are left out unless
    ``keep_inputs``.
    """
    if method not in METHODS:
        raise UsageProblem(f"method must be 3cosadd or 3cosmul, not {method!r}")
    for q in questions:
        check_analogy(q)
    resolver = Resolver(table, pool=pool, ids=ids, single=single)
    rows = space if space is not None else table.space()
    transform, caption = rows.transform, rows.transform.caption()
    allowed = None if all_tokens else table.wordlike
    solvable: list[tuple[Sequence[str], list[Resolved]]] = []
    for q in questions:
        got = [resolver(w) for w in q[:3]]
        if all(g is not None for g in got):
            solvable.append((q, [g for g in got if g is not None]))
    answers = []
    if solvable:
        vecs = [[r.unit(table, transform) for r in res] for _, res in solvable]
        excl = [
            [] if keep_inputs else sorted({i for r in res for i in r.ids}) for _, res in solvable
        ]
        if method == "3cosadd":
            targets = np.stack([queries.analogy_target(a, b, c) for a, b, c in vecs])
            top_ids, top_scores = queries.top_k(rows, targets, k, allowed, excl)
            ranked = list(zip(top_ids, top_scores, strict=True))
        else:
            ranked = [
                queries.top_k_scores(queries.cosmul_scores(rows, a, b, c), k, allowed, ex)
                for (a, b, c), ex in zip(vecs, excl, strict=True)
            ]
        for (q, res), (row_ids, scores) in zip(solvable, ranked, strict=True):
            found = [Scored(n.rank, n.id, n.token, n.cosine)
                     for n in _ranked(table, row_ids, scores)]  # fmt: skip
            expected = q[3] if len(q) == 4 else None
            correct = None
            if expected is not None:
                top = found[0].token.strip().casefold() if found else None
                correct = top == expected.strip().casefold()
            tokens = {key: r.token_records(table) for key, r in zip("abc", res, strict=True)}
            answers.append(Answer(q[0], q[1], q[2], method, tokens, found, expected, correct,
                                  table.label, caption))  # fmt: skip
    return Analogies(answers, resolver.failed, single, method, table.label, caption)
