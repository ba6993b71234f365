"""A corpus embedded once and searched many times: building an index and answering from it.

Whatever makes the sentence vectors (a static model's table, :mod:`embcli.ask.static_sentences`;
a transformer, :mod:`embcli.run.sentences`) is handed in as a
:class:`~embcli.ask.sentences.SentenceEncoder`, so an index holds exactly the vectors
``embcli sentences`` makes, scaled to unit length and stored as float16 (or float32).

**Exact** search (the default) is a blocked matrix product over the memory-mapped vectors:
``ROW_BLOCK`` rows at a time are converted to float32 and ranked with :func:`queries.top_k`
(the code ``neighbors`` uses: two-stage selection, the winners re-scored in float64), and the
blocks' winners are merged by (score, row). It equals a float64 brute force over the stored
vectors. **Approximate** search asks an HNSW graph (usearch, built beside the vectors), then
re-scores its candidates in float64 the same way; its recall@10 is measured at build on a
held-back sample (rows left out of the graph until they have been searched for) against the
exact answer, and reported with every search. usearch is imported only for an index that has
a graph.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from embcli.ask.queries import top_k
from embcli.ask.sentences import SearchResult, SentenceEncoder
from embcli.errors import EmbcliError
from embcli.store import index as store
from embcli.view import Result, View, clip

Progress = Callable[[int, int], None]
Notice = Callable[[str], None]

#: Rows per matrix product: 65,536 x 256 float32 is 64 MB. For float16 rows the cast to float32
#: (numpy's, scalar: ~7 ns a value on the 2-core CI machine) costs 5-10x the product itself;
#: ``--dtype float32`` trades twice the disk for that time (bench/index_search.py).
ROW_BLOCK = 65536
#: Build an HNSW graph by itself from this many rows (``--ann``/``--no-ann`` decide otherwise):
#: where an exact search of a warm index passes ~0.4 s on the 2-core CI machine. float16 rows
#: cost ~1.9 us each (numpy's float16 -> float32 cast is scalar), float32 rows ~0.2 us
#: (bench/index_search.py: 1,856 and 194 ms a query over a million 256-wide rows).
ANN_AUTO_ROWS = {"float16": 200_000, "float32": 2_000_000}
ANN_LIBRARY = "usearch"
ANN_FILE = "ann.usearch"
CONNECTIVITY, EXPANSION_ADD, EXPANSION_SEARCH = 16, 128, 64
RECALL_SAMPLE = 200  # held-back rows whose exact top-10 the graph's answers are checked against
RECALL_K = 10
#: Search breadths tried at build, smallest first, until the sample's recall@10 reaches
#: ``TARGET_RECALL``; the index keeps the one chosen (and the recall it gave).
EXPANSIONS = (64, 128, 256, 512, 1024)
TARGET_RECALL = 0.95


# -- exact search -----------------------------------------------------------------------------


def exact_top_k(
    vectors: np.ndarray, queries: np.ndarray, k: int, allowed: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Rows and float64 scores of the ``k`` stored vectors with the largest dot product with
    each unit query ``[Q, D]``; ties by row; -1 pads a query with fewer candidates."""
    q = np.atleast_2d(np.asarray(queries, np.float32))
    n = vectors.shape[0]
    k = max(0, min(k, n))
    best_ids = np.full((q.shape[0], 0), -1, np.int64)
    best = np.full((q.shape[0], 0), -np.inf, np.float64)
    wide = vectors.dtype == np.float32
    buffer = None if wide else np.empty((min(n, ROW_BLOCK), vectors.shape[1]), np.float32)
    for lo in range(0, n, ROW_BLOCK):
        if buffer is None:
            block = np.asarray(vectors[lo : lo + ROW_BLOCK])
        else:  # float16 rows cast into one reused buffer
            block = buffer[: min(ROW_BLOCK, n - lo)]
            np.copyto(block, vectors[lo : lo + ROW_BLOCK])
        mask = None if allowed is None else allowed[lo : lo + ROW_BLOCK]
        ids, scores = top_k(block, q, k, allowed=mask)
        scores = np.where(ids >= 0, scores, -np.inf)
        ids = np.where(ids >= 0, ids + lo, -1)
        cand_ids = np.concatenate([best_ids, ids], axis=1)
        cand = np.concatenate([best, scores], axis=1)
        order = np.lexsort((np.where(cand_ids >= 0, cand_ids, n), -cand), axis=1)[:, :k]
        best_ids = np.take_along_axis(cand_ids, order, axis=1)
        best = np.take_along_axis(cand, order, axis=1)
    return best_ids, best


def _rescore(vectors: np.ndarray, q: np.ndarray, ids: np.ndarray, k: int) -> tuple[Any, Any]:
    """Candidates ``ids`` of one query re-scored in float64, best ``k`` by (score, row)."""
    ids = np.unique(ids[ids >= 0])
    scores = np.asarray(vectors[ids], np.float64) @ np.asarray(q, np.float64)
    order = np.lexsort((ids, -scores))[:k]
    return ids[order], scores[order]


# -- the HNSW graph -----------------------------------------------------------------------------


def build_ann(
    folder: Path, vectors: np.ndarray, threads: int | None = None, seed: int = 0
) -> dict[str, Any]:
    """Write ``folder/ann.usearch`` over ``vectors``; return what ``index.json`` says of it.

    The recall sample is held back: those rows join the graph only after each has been
    searched for, and its answer compared with the exact top-10 of the other rows; the search
    breadth grows (``EXPANSIONS``) until that recall reaches ``TARGET_RECALL`` or the last.
    """
    try:
        import usearch
        from usearch.index import Index
    except ImportError:
        raise EmbcliError(
            "approximate search needs usearch", 'pip install "embcli[ann]", or build without --ann'
        ) from None
    n, dim = vectors.shape
    threads = threads or min(2, os.cpu_count() or 1)
    rng = np.random.default_rng(seed)
    sample = np.sort(rng.choice(n, min(RECALL_SAMPLE, max(0, n - RECALL_K)), replace=False))
    held = np.zeros(n, bool)
    held[sample] = True
    graph = Index(ndim=dim, metric="cos", dtype="f16", connectivity=CONNECTIVITY,
                  expansion_add=EXPANSION_ADD, expansion_search=EXPANSION_SEARCH)  # fmt: skip
    started = time.perf_counter()
    for lo in range(0, n, ROW_BLOCK):
        keys = np.arange(lo, min(n, lo + ROW_BLOCK))
        keys = keys[~held[keys]]
        if len(keys):
            graph.add(keys, np.asarray(vectors[keys], np.float16), threads=threads)
    recall, expansion = None, EXPANSION_SEARCH
    if len(sample):
        queries = np.asarray(vectors[sample], np.float32)
        truth, _ = exact_top_k(vectors, queries, RECALL_K, allowed=~held)
        for expansion in EXPANSIONS:  # the smallest search breadth that reaches the target
            graph.expansion_search = expansion  # type: ignore[misc]
            found = graph.search(queries, RECALL_K, threads=threads).keys
            hits = sum(
                len(set(f.tolist()) & set(t.tolist())) for f, t in zip(found, truth, strict=True)
            )
            recall = hits / truth.size
            if recall >= TARGET_RECALL:
                break
        graph.add(sample, np.asarray(vectors[sample], np.float16), threads=threads)
    graph.save(str(folder / ANN_FILE))
    return {"library": ANN_LIBRARY, "version": usearch.__version__, "file": ANN_FILE,
            "metric": "cos", "connectivity": CONNECTIVITY, "expansion_search": expansion,
            "recall_at_10": recall, "recall_sample": len(sample),
            "build_seconds": round(time.perf_counter() - started, 3)}  # fmt: skip


def ann_top_k(stored: store.StoredIndex, queries: np.ndarray, k: int) -> list[tuple[Any, Any]]:
    """Each query's ``k`` rows from the graph (memory-mapped), re-scored in float64."""
    from usearch.index import BatchMatches, Index

    path = stored.ann_path()
    assert path is not None
    graph = Index.restore(str(path), view=True)
    if graph is None:
        raise store.IndexProblem(f"index {stored.name}: its graph {path.name} is unreadable")
    chosen = int((stored.meta.ann or {}).get("expansion_search", EXPANSION_SEARCH))
    graph.expansion_search = max(chosen, 2 * k)  # type: ignore[misc]
    found = graph.search(np.atleast_2d(np.asarray(queries, np.float32)), k)
    if isinstance(found, BatchMatches):
        keys, counts = np.asarray(found.keys, np.int64), np.asarray(found.counts)
    else:  # one query: usearch answers with a flat Matches
        keys = np.asarray(found.keys, np.int64)[None, :]
        counts = np.array([keys.shape[1]])
    return [_rescore(stored.vectors, q, keys[i, : counts[i]], k) for i, q in enumerate(queries)]


# -- building -----------------------------------------------------------------------------------


@dataclass
class ModelFacts:
    """What an index records of the model that made its vectors."""

    spec: str
    revision: str | None
    static: bool


def build(
    cache: Path,
    name: str,
    corpus: store.Corpus,
    enc: SentenceEncoder,
    facts: ModelFacts,
    *,
    dtype: str = "float16",
    chunk_rows: int = 4096,
    batch_size: int = 32,
    ann: bool | None = None,
    add: bool = False,
    progress: Progress | None = None,
    notice: Notice | None = None,
) -> store.IndexMeta:
    """Embed ``corpus`` into index ``name`` (``add``: after its rows), chunk by chunk,
    resuming from the chunks a previous, interrupted run finished."""
    say = notice or (lambda _: None)
    with store.locked(cache, name) as folder:
        base = store.StoredIndex(folder, store.read_meta(folder)) if add else None
        if base is not None:
            dtype = base.meta.dtype
        texts, n = corpus.texts, len(corpus.texts)
        key = store.work_key(facts.spec, facts.revision, enc.pooling_name, enc.normalize,
                             enc.max_length, dtype, corpus.sha256,
                             base.meta.generation if base else 0)  # fmt: skip
        chunks = store.Chunks(cache, name, key, chunk_rows)
        dim = base.meta.dim if base is not None else None
        spans = [(lo, min(n, lo + chunk_rows)) for lo in range(0, n, chunk_rows)]
        kept = 0
        for i, (lo, hi) in enumerate(spans):
            if chunks.done(i, hi - lo, dim):
                kept += hi - lo
            else:
                break
        if kept:
            say(f"resuming the build of index {name}: {kept:,} of {n:,} lines were embedded")
        notes: list[str] = []
        try:
            for i, (lo, hi) in enumerate(spans):
                if chunks.done(i, hi - lo, dim):
                    if dim is None:
                        dim = int(chunks.read(i).shape[1])
                    continue
                report = (lambda d, _t, lo=lo: progress(lo + d, n)) if progress else None
                vectors = enc.encode(texts[lo:hi], batch_size, report)
                notes += [f"lines {lo + 1:,}-{hi:,}: {note}" for note in enc.notes]
                enc.notes.clear()
                if dim is None:
                    dim = int(vectors.shape[1])
                elif vectors.shape[1] != dim:
                    raise store.IndexProblem(
                        f"{enc.label} makes {vectors.shape[1]}-dimensional vectors; index "
                        f"{name} holds {dim}-dimensional ones"
                    )
                chunks.write(i, store.unit_rows(vectors, dtype))
                if progress is not None and hi < n:  # the encoder reported the last line
                    progress(hi, n)
        except KeyboardInterrupt:
            done = sum(hi - lo for i, (lo, hi) in enumerate(spans) if chunks.done(i, hi - lo, dim))
            from embcli.errors import Interrupted

            raise Interrupted(
                f"index build interrupted: {done:,} of {n:,} lines are embedded and kept; "
                "the same command continues from there"
            ) from None
        assert dim is not None
        parts = [chunks.read(i) for i in range(len(spans))]
        rows = (base.meta.rows if base else 0) + n
        sources = list(base.meta.sources) if base is not None else []
        same = [i for i, s in enumerate(sources) if s["path"] == corpus.path]
        if same:  # lines appended to a file already indexed: one source, grown
            source_id = same[0]
            sources[source_id] = corpus.source(int(sources[source_id]["rows"]))
        else:
            source_id = len(sources)
            sources.append(corpus.source())
        meta = store.IndexMeta(
            name=name, model=facts.spec, revision=facts.revision, label=enc.label,
            static=facts.static, pooling=enc.pooling_name, normalized=enc.normalize,
            max_length=enc.max_length, dim=dim, dtype=dtype, rows=rows, sources=sources,
            generation=(base.meta.generation + 1) if base else 1, created=time.time(),
            notes=[*(base.meta.notes if base else []), *notes[:20]],
        )  # fmt: skip
        wants_ann = ann if ann is not None else (
            bool(base.meta.ann) if base is not None else rows >= ANN_AUTO_ROWS[dtype]
        )  # fmt: skip
        if wants_ann:
            say(f"building the {ANN_LIBRARY} graph over {rows:,} rows")
        extra = build_ann if wants_ann else None
        line_numbers = np.asarray(corpus.lines, np.int64)
        source_ids = np.full(n, source_id, np.int32)
        meta = store.write_generation(folder, meta, parts, line_numbers, source_ids, texts,
                                      extra, base)  # fmt: skip
        recall = (meta.ann or {}).get("recall_at_10")
        if recall is not None and recall < TARGET_RECALL:
            say(f"the graph's recall@10 is {recall:.3f} at the widest search breadth tried "
                f"({EXPANSIONS[-1]:,}): search --exact gives exact answers")  # fmt: skip
        del parts
        chunks.remove()
        for note in notes[:3]:
            say(note)
        if len(notes) > 3:
            say(f"... and {len(notes) - 3} more notes of the encoder")
        return meta


# -- results --------------------------------------------------------------------------------------


@dataclass
class IndexSearchResult(Result):
    """The ``k`` closest rows of an index for each query."""

    index: str
    model: str
    pooling: str
    normalized: bool
    max_length: int | None
    rows: int
    method: str  # "exact" or "usearch"
    recall: float | None  # the graph's recall@10 measured at build (ANN only)
    searches: list[dict[str, Any]]  # {"query", "results": [{"rank","line","score","text"}]}
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "model": self.model,
            "pooling": self.pooling,
            "normalized": self.normalized,
            "max_length": self.max_length,
            "rows": self.rows,
            "method": self.method,
            "ann_recall_at_10": self.recall,
            "searches": self.searches,
        }

    @property
    def how(self) -> str:
        if self.method == "exact":
            return "exact search"
        recall = f"recall@10 {self.recall:.3f} at build" if self.recall is not None else "recall ?"
        return f"approximate search ({self.method} HNSW, {recall})"

    def view(self) -> View:
        many = len(self.searches) > 1
        rows = [
            [*([s["query"]] if many else []), r["rank"], r["line"], r["score"], r["text"]]
            for s in self.searches
            for r in s["results"]
        ]
        cols = [*(["query"] if many else []), "rank", "line", "score", "text"]
        title = None if many else f"query: {clip(self.searches[0]['query'], 80)}"
        caption = (f"index {self.index}: {self.model}, {self.pooling} pooling, "
                   f"{self.rows:,} rows; {self.how}; cosine similarity")  # fmt: skip
        return View(cols, rows, title=title, caption=caption)


@dataclass
class IndexList(Result):
    """The indexes of a cache."""

    indexes: list[dict[str, Any]]

    def to_dict(self) -> list[dict[str, Any]]:
        return self.indexes

    def view(self) -> View:
        rows = [[i["name"], i["model"], i["rows"], i["dim"], i["dtype"],
                 i["ann"] or "exact", f"{i['bytes'] / 1e6:,.1f}", i["corpus"]]
                for i in self.indexes]  # fmt: skip
        cols = ["name", "model", "rows", "dim", "dtype", "search", "MB", "corpus"]
        return View(cols, rows, caption=f"{len(rows)} index(es)")


def describe(cache: Path, meta: store.IndexMeta) -> dict[str, Any]:
    """One row of ``index list``."""
    ann = meta.ann
    recall = ann.get("recall_at_10") if ann else None
    return {
        "name": meta.name,
        "model": meta.model,
        "rows": meta.rows,
        "dim": meta.dim,
        "dtype": meta.dtype,
        "ann": None if not ann else f"{ann['library']} (recall@10 {recall})",
        "bytes": store.size_bytes(cache, meta.name),
        "corpus": ", ".join(str(s["path"]) for s in meta.sources),
        "path": str(store.index_root(cache) / meta.name),
    }


def search(
    stored: store.StoredIndex,
    enc: SentenceEncoder,
    queries: Sequence[str],
    k: int,
    exact: bool = False,
) -> IndexSearchResult:
    """Each query's ``k`` closest rows: from the graph when the index has one (unless
    ``exact``), else by the exact blocked product."""
    meta = stored.meta
    raw = enc.encode(list(queries), 32)
    if raw.shape[1] != meta.dim:
        raise store.IndexProblem(
            f"{enc.label} makes {raw.shape[1]}-dimensional vectors; index {meta.name} holds "
            f"{meta.dim}-dimensional ones"
        )
    q = store.unit_rows(raw, "float32")
    use_ann = meta.ann is not None and not exact
    if use_ann:
        answers = ann_top_k(stored, q, k)
    else:
        ids, scores = exact_top_k(stored.vectors, q, k)
        answers = [(i[i >= 0], s[i >= 0]) for i, s in zip(ids, scores, strict=True)]
    searches = [
        {"query": text, "results": records(stored, ids, scores)}
        for text, (ids, scores) in zip(queries, answers, strict=True)
    ]
    return IndexSearchResult(
        meta.name, meta.label, meta.pooling, meta.normalized, meta.max_length, meta.rows,
        meta.ann["library"] if use_ann and meta.ann else "exact",
        meta.ann.get("recall_at_10") if use_ann and meta.ann else None,
        searches, list(enc.notes),
    )  # fmt: skip


def records(stored: store.StoredIndex, ids: np.ndarray, scores: np.ndarray) -> list[dict[str, Any]]:
    """What a search prints for each row, as ``sentences --query --corpus`` prints it."""
    return [
        {"rank": r + 1, "line": stored.line(int(i)), "text": stored.text(int(i)),
         "score": float(s)}
        for r, (i, s) in enumerate(zip(ids, scores, strict=True))
    ]  # fmt: skip


def as_sentence_search(result: IndexSearchResult) -> SearchResult:
    """One query's answer as ``sentences --query --corpus`` gives it (the same JSON)."""
    only = result.searches[0]
    notes = [*result.notes, f"answered from index {result.index} ({result.how})"]
    return SearchResult(result.model, result.pooling, result.normalized, result.max_length,
                        only["query"], only["results"], result.rows, notes)  # fmt: skip
