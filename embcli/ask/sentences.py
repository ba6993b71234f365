"""Sentence vectors compared: the cosine matrix of a few, a corpus ranked against a query.

Whatever makes the vectors (a transformer run by :mod:`embcli.run.sentences`, or a
static-embedding model's table read by :mod:`embcli.ask.static_sentences`) gives them to the
same functions here, so both kinds of model answer with the same results and the same JSON.
Nothing here imports torch: a static model's ``sentences`` runs on numpy and tokenizers alone.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from embcli.errors import EmbcliError, UsageProblem
from embcli.view import Result, View, clip

Progress = Callable[[int, int], None]


class SentenceEncoder(Protocol):
    """What turns texts into sentence vectors, and what the results say about it."""

    notes: list[str]  # what the user should know (texts truncated...), filled by encode

    @property
    def label(self) -> str:
        """The model, as shown."""

    @property
    def pooling_name(self) -> str:
        """``mean``, ``cls``, ``mean+max``..."""

    @property
    def normalize(self) -> bool:
        """The vectors are scaled to unit length."""

    @property
    def max_length(self) -> int | None:
        """Tokens a text is cut to (None: no limit)."""

    def encode(
        self, texts: Sequence[str], batch_size: int = ..., progress: Progress | None = None
    ) -> np.ndarray: ...


def cosine_matrix(vectors: np.ndarray) -> np.ndarray:
    """All-pairs cosine, computed in float64."""
    v = np.asarray(vectors, dtype=np.float64)
    n = np.linalg.norm(v, axis=1, keepdims=True)
    u = np.divide(v, n, out=np.zeros_like(v), where=n > 0)
    cosines: np.ndarray = u @ u.T
    return cosines


# -- input checks: the CLI and the API get the same one-line errors before a model loads ------


#: Sentences compared all against all, at most: the cosine table of N sentences has N^2 cells
#: (200,000 lines would make 40 billion). More are encoded only to be written (``-o``).
MATRIX_LIMIT = 1000


def check_matrix(count: int, writes_vectors: bool) -> bool:
    """Whether ``count`` sentences get their cosine table; refused when they would get nothing
    else (no ``-o``), so a long file is said before the model runs, not after."""
    if count <= MATRIX_LIMIT:
        return True
    if not writes_vectors:
        raise UsageProblem(
            f"{count:,} sentences make a {count:,} x {count:,} cosine table (at most "
            f"{MATRIX_LIMIT:,} are compared all against all)",
            "write their vectors with -o FILE.npy, or search them with --query TEXT --corpus FILE",
        )
    return False


def check_sentences(texts: Sequence[str]) -> None:
    """One or more sentences, none blank (a blank one has no tokens to pool)."""
    if isinstance(texts, str):
        raise UsageProblem("give a list of sentences, not one string")
    if not texts:
        raise UsageProblem("name one or more sentences, --file FILE, or --query/--corpus")
    for i, t in enumerate(texts):
        if not str(t).strip():
            raise UsageProblem(f"sentence {i} is empty")


def check_search(query: str, lines: Sequence[tuple[int, str]], corpus: str = "the corpus") -> None:
    """A non-blank query and a corpus with at least one line, none of them blank."""
    if not query.strip():
        raise UsageProblem("the query is empty")
    if not lines:
        raise UsageProblem(f"{corpus} has no non-blank lines")
    for n, t in lines:
        if not str(t).strip():
            raise UsageProblem(f"{corpus} line {n} is empty")


# -- results -------------------------------------------------------------------------------------


@dataclass
class SentencesResult(Result):
    """The cosine matrix of a few sentences."""

    model: str
    pooling: str
    normalized: bool
    max_length: int | None  # tokens; None: no limit
    sentences: list[str]
    similarity: np.ndarray | None  # None above MATRIX_LIMIT sentences (vectors written only)
    notes: list[str] = field(default_factory=list)
    #: The sentence vectors themselves ``[n, dim]`` (what ``-o`` writes); not part of the JSON.
    vectors: np.ndarray | None = field(default=None, repr=False)

    def to_dict(self) -> dict[str, Any]:
        table = self.similarity
        return {
            "model": self.model,
            "pooling": self.pooling,
            "normalized": self.normalized,
            "max_length": self.max_length,
            "sentences": self.sentences,
            "similarity": None if table is None else [[float(x) for x in row] for row in table],
        }

    def view(self) -> View:
        if self.similarity is None:
            summary = [["sentences", f"{len(self.sentences):,}"],
                       ["cosine table", f"none above {MATRIX_LIMIT:,} sentences"]]  # fmt: skip
            return View(["field", "value"], summary, caption=_caption(self), key_value=True)
        cols = ["#", "sentence", *(str(i) for i in range(len(self.sentences)))]
        rows = [
            [i, clip(s, 48), *(float(x) for x in self.similarity[i])]
            for i, s in enumerate(self.sentences)
        ]
        return View(cols, rows, caption=_caption(self), no_wrap={"sentence"})


@dataclass
class SearchResult(Result):
    """Corpus lines ranked by cosine to a query."""

    model: str
    pooling: str
    normalized: bool
    max_length: int | None  # tokens; None: no limit
    query: str
    results: list[dict[str, Any]]
    corpus_size: int
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "pooling": self.pooling,
            "normalized": self.normalized,
            "max_length": self.max_length,
            "query": self.query,
            "results": self.results,
        }

    def view(self) -> View:
        rows = [[r["rank"], r["line"], r["score"], r["text"]] for r in self.results]
        return View(
            ["rank", "line", "score", "text"],
            rows,
            title=f"query: {self.query}",
            caption=f"{_caption(self)}; {self.corpus_size} corpus lines",
        )


def similarity(
    enc: SentenceEncoder, texts: Sequence[str], batch_size: int = 32, matrix: bool = True
) -> tuple[SentencesResult, np.ndarray]:
    """The cosine matrix of ``texts`` (without ``matrix``: none) and their vectors."""
    check_sentences(texts)
    vecs = enc.encode(texts, batch_size)
    res = SentencesResult(
        enc.label,
        enc.pooling_name,
        enc.normalize,
        enc.max_length,
        list(texts),
        cosine_matrix(vecs) if matrix else None,
        enc.notes,
        np.asarray(vecs, np.float32),
    )
    return res, vecs


def search(
    enc: SentenceEncoder,
    query: str,
    lines: Sequence[tuple[int, str]],
    k: int,
    batch_size: int = 32,
    progress: Progress | None = None,
) -> tuple[SearchResult, np.ndarray]:
    """The ``k`` lines (``(line number, text)``) most similar to ``query``, and their vectors."""
    check_search(query, lines)
    corpus = enc.encode([t for _, t in lines], batch_size, progress)
    q = enc.encode([query], 1)[0].astype(np.float64)
    c = corpus.astype(np.float64)
    scores = (c @ q) / np.maximum(np.linalg.norm(c, axis=1) * np.linalg.norm(q), 1e-30)
    top = np.lexsort((np.arange(len(scores)), -scores))[: max(0, k)]
    results = [
        {"rank": r + 1, "line": lines[i][0], "text": lines[i][1], "score": float(scores[i])}
        for r, i in enumerate(top)
    ]
    res = SearchResult(
        enc.label,
        enc.pooling_name,
        enc.normalize,
        enc.max_length,
        query,
        results,
        len(lines),
        enc.notes,
    )
    return res, corpus


def _caption(r: SentencesResult | SearchResult) -> str:
    limit = f"max {r.max_length} tokens" if r.max_length else "no length limit"
    how = f"{r.pooling} pooling{', normalised' if r.normalized else ''}, {limit}"
    return f"{r.model}: {how}; cosine similarity"


def save_npy(path: Path, vectors: np.ndarray) -> Path:
    """Write ``vectors`` as ``.npy`` atomically (``embcli.atomic``: a temp file, then a rename)."""
    from embcli.atomic import atomic_write

    def write(tmp: Path) -> None:
        with tmp.open("wb") as fh:
            np.save(fh, np.asarray(vectors, dtype=np.float32))

    try:
        return atomic_write(path, write)
    except OSError as exc:
        raise EmbcliError(f"cannot write {path}: {exc.strerror or exc}") from None
