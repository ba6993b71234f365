"""From what a user types to table rows, openly.

A word is looked up in the form the tokenizer gives a word inside running text: GPT-2's
byte-level BPE with a leading space (``" Paris"``), SentencePiece with ``▁``, BERT's WordPiece
after its own lower-casing. If that form is not a single token, the bare form (``"Paris"``, as
at the start of a text) is tried. The result records which token was used, so output can say so.

A word that splits into several tokens is an error (exit code 3) unless pooling is asked for;
embcli never silently takes the first piece. ``#1234`` addresses a row by id, and a special
token may be given by its literal text (``[CLS]``, ``<|endoftext|>``).

A batch of words (a query list, an axis's pairs and poles, WEAT's sets) goes through one
:class:`Resolver`: each word resolved once, those that do not resolve kept as data.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from embcli.errors import UnresolvedWord
from embcli.read.tokens import visible
from embcli.store.space import Space, Transform
from embcli.store.table import EmbeddingTable


@dataclass(frozen=True)
class Resolved:
    """A query word and the rows that stand for it."""

    query: str
    ids: tuple[int, ...]  # one id, or the sub-tokens of a pooled word
    form: str  # "word", "bare", "id", "special" or "pooled"

    @property
    def pooled(self) -> bool:
        return len(self.ids) > 1

    def raw(self, table: EmbeddingTable) -> np.ndarray:
        """The query's raw vector: its row, or the mean of its sub-token rows (float64)."""
        mean: np.ndarray = np.asarray(table.raw(list(self.ids)), np.float64).mean(axis=0)
        return mean

    def unit(self, table: EmbeddingTable, transform: Transform | None = None) -> np.ndarray:
        """The query's unit vector, after ``transform`` (``--center``, ``--remove-pcs``)."""
        if len(self.ids) == 1 and (transform is None or transform.identity):
            return np.asarray(table.unit[self.ids[0]], dtype=np.float32)
        return (transform or Transform()).unit(self.raw(table)).astype(np.float32)

    def token_records(self, table: EmbeddingTable) -> list[dict[str, object]]:
        """``[{id, token}]`` of the rows that stand for the query (what results list)."""
        return [{"id": i, "token": table.tokens[i]} for i in self.ids]


def row_id(text: str) -> int | None:
    """The row ``#123`` names, or None. Only ASCII digits: ``str.isdigit`` also accepts ``²``,
    which ``int`` refuses."""
    digits = text[1:] if text.startswith("#") else None
    return int(digits) if digits and digits.isascii() and digits.isdigit() else None


def resolve(table: EmbeddingTable, query: str, pool: bool = False, ids: bool = False) -> Resolved:
    """Resolve one query; raise :class:`UnresolvedWord` (exit 3) with the reason otherwise."""
    rows = table.shape[0]
    row = row_id(query) if query.startswith("#") else row_id("#" + query) if ids else None
    if row is None and query[:2] == "#-" and query[2:].isascii() and query[2:].isdigit():
        raise UnresolvedWord(f"{query!r} is not a row id of this table (0..{rows - 1})")
    if ids or row is not None:
        if row is None or row >= rows:
            raise UnresolvedWord(f"{query!r} is not a row id of this table (0..{rows - 1})")
        return Resolved(query, (row,), "id")
    if not query.strip():
        raise UnresolvedWord("empty word")
    if table.style == "words":
        return _resolve_word(table, query)
    hit = table.lookup.find(query) if table.lookup is not None else None
    if hit is not None:  # what the tokenizer answered for this word at build time
        return Resolved(query, (_within(table, query, hit[0]),), hit[1])
    special = table.token_id(query)
    if special is not None and special in table.special_ids:
        return Resolved(query, (_within(table, query, special),), "special")
    if table.tokenizer is None:
        raise UnresolvedWord(f"{table.label} has no tokenizer", "address rows by id, as #123")

    forms = _forms(table, query)
    for form, pieces in forms:
        if len(pieces) == 1 and pieces[0] != table.meta.unk_id and pieces[0] < rows:
            return Resolved(query, (pieces[0],), form)
    word_pieces = forms[0][1]
    unk = table.meta.unk_id
    if not word_pieces or (unk is not None and unk in word_pieces):
        raise UnresolvedWord(
            f"{query!r} is not in the vocabulary (the tokenizer maps it to its unknown token)"
        )
    for piece in word_pieces:
        _within(table, query, piece)
    if pool:
        return Resolved(query, tuple(word_pieces), "pooled")
    split = "|".join(visible(table.tokens[i]) for i in word_pieces)  # " Paris": "␣Paris"
    raise UnresolvedWord(
        f"{query!r} is not a single token: {query} -> {split}",
        "use --pool mean to average its sub-tokens",
    )


def _within(table: EmbeddingTable, query: str, token: int) -> int:
    """``token``, if this table has a row for it: a tensor of fewer rows than the tokenizer
    has ids (``--tensor`` naming a position table) has none for most words."""
    rows = table.shape[0]
    if token >= rows:
        raise UnresolvedWord(
            f"{query!r} is token {token:,}, and this table has {rows:,} rows "
            "(are its rows the tokenizer's ids?)",
            "address rows by id, as #12",
        )
    return token


def rows_of_words(table: EmbeddingTable, words: Sequence[str]) -> tuple[np.ndarray, list[str]]:
    """The rows standing for ``words`` (each resolved as a query is), and the words not found.

    Rows are unique, in the order of the words that first named them (int64 ids); a word that
    does not resolve to one token (exit 3 as a query) is reported as missing instead, because a
    word list from a file is expected to hold a few words the table lacks.
    """
    seen: dict[int, None] = {}
    missing: list[str] = []
    for w in words:
        try:
            seen.setdefault(resolve(table, w).ids[0], None)
        except UnresolvedWord:
            missing.append(w)
    return np.fromiter(seen, dtype=np.int64, count=len(seen)), missing


def _resolve_word(table: EmbeddingTable, query: str) -> Resolved:
    """A word of a word-vector file: as written, else lower-cased, else any case."""
    for form, word in (("word", query), ("lower", query.lower())):
        row = table.token_id(word)
        if row is not None:
            return Resolved(query, (row,), form)
    rows = table.variants_of(query)
    if rows:
        return Resolved(query, (min(rows),), "case")
    raise UnresolvedWord(f"{query!r} is not in the vocabulary of {table.label}")


def _forms(table: EmbeddingTable, word: str) -> list[tuple[str, list[int]]]:
    """Candidate encodings, word-inside-text form first, then bare."""
    tok = table.tokenizer

    def ids(text: str) -> list[int]:
        return list(tok.encode(text, add_special_tokens=False).ids)

    if table.style == "byte_level":
        return [("word", ids(" " + word)), ("bare", ids(word))]
    if table.style == "metaspace":
        bare = tok.token_to_id(word)
        return [("word", ids(word))] + ([("bare", [bare])] if bare is not None else [])
    return [("word", ids(word))]


def exclusions(table: EmbeddingTable, resolved: Resolved, all_tokens: bool) -> list[int]:
    """Rows to leave out of a query's results: the query itself, and its case/space variants."""
    if all_tokens:
        return list(resolved.ids)
    out = set(resolved.ids)
    for i in resolved.ids:
        out.update(table.variants(i))
    return sorted(out)


class Resolver:
    """The words of a batch, each resolved once; those that do not resolve kept as data.

    ``failed`` holds their exceptions (what a query batch reports, exit 3 at the end) and
    ``missing`` the words; with ``single`` (the one word of a single question) the exception is
    raised instead. :meth:`vector` is a resolved word's float64 unit vector in ``space`` (an
    axis's and WEAT's words); :attr:`split` the missing words that ``pool`` would have kept.
    """

    def __init__(
        self,
        table: EmbeddingTable,
        *,
        pool: bool = False,
        ids: bool = False,
        single: bool = False,
        space: Space | None = None,
    ) -> None:
        self.table, self.pool, self.ids, self.single = table, pool, ids, single
        self._space = space
        self.failed: list[UnresolvedWord] = []
        self.missing: list[str] = []
        self.pooled: list[str] = []
        self._seen: dict[str, Resolved | None] = {}
        self._splits: dict[str, bool] = {}

    def __call__(self, word: str) -> Resolved | None:
        if word in self._seen:
            return self._seen[word]
        got: Resolved | None
        try:
            got = resolve(self.table, word, pool=self.pool, ids=self.ids)
            if got.pooled:
                self.pooled.append(word)
        except UnresolvedWord as exc:
            if self.single:
                raise
            self.failed.append(exc)
            self.missing.append(word)
            got = None
        self._seen[word] = got
        return got

    @property
    def resolved(self) -> dict[str, Resolved]:
        """Every word that resolved, in the order first asked."""
        return {w: r for w, r in self._seen.items() if r is not None}

    @property
    def split(self) -> list[str]:
        """The missing words that split into several tokens (kept by ``pool``)."""
        if self.pool:
            return []
        for w in self.missing:
            if w not in self._splits:
                try:
                    self._splits[w] = resolve(self.table, w, pool=True).pooled
                except UnresolvedWord:
                    self._splits[w] = False
        return [w for w in self.missing if self._splits[w]]

    @property
    def space(self) -> Space:
        """The space :meth:`vector` is taken in (the table's own rows when none was given)."""
        if self._space is None:
            self._space = self.table.space()
        return self._space

    def vector(self, r: Resolved) -> np.ndarray:
        """The float64 unit vector of a resolved word (its row, or its pooled sub-tokens) in
        the space (:meth:`Space.query`)."""
        return self.space.query(r.raw(self.table))

    def vectors(self, words: Sequence[str]) -> tuple[list[str], list[Resolved], np.ndarray]:
        """The words that resolve, their resolutions and unit vectors (n x dim, float64)."""
        kept = [(w, r) for w in words if (r := self(w)) is not None]
        dim = self.table.shape[1]
        vecs = np.array([self.vector(r) for _, r in kept]).reshape(len(kept), dim)
        return [w for w, _ in kept], [r for _, r in kept], vecs

    def notes(self) -> list[str]:
        """What to say once about words and tokens: the words that split, the words pooled."""
        out = []
        split = self.split
        if split:
            out.append(f"Split into several tokens and left out: {shortlist(split)} "
                       "(--pool mean averages their sub-tokens)")  # fmt: skip
        if self.pooled:
            out.append(f"The mean of their sub-token rows: {shortlist(self.pooled)}")
        return out


def shortlist(words: Sequence[str], limit: int = 8) -> str:
    """``a, b, c and 5 more``: a list of words said in one line."""
    shown = ", ".join(words[:limit])
    return shown + (f" and {len(words) - limit} more" if len(words) > limit else "")
