"""Every row's top-k neighbours for ``embcli map``: exact where that fits in about a minute,
from an approximate (HNSW) index beyond it.

**Exact** lists (:func:`exact_lists`; ``tokenmap.all_neighbors`` answers with it) are one
:func:`queries.top_k` per block of rows over the full table, so a row's list equals ``embcli
neighbors #id``. Their cost is ``rows x rows x dim`` multiply-adds; :data:`EXACT_MAX_WORK` is
what about a minute buys on the 2-core CI machine (``queries.top_k`` of 1,024 rows ran at
24-26 billion multiply-adds a second there: 30,522 x 384 and 20,000 x 2,304 tables, load 0.3),
so MiniLM (3.6e11) is exact and a Gemma-shaped 262,144 x 2,304 table (1.6e14: over an hour) is not.

**Approximate** lists come from an HNSW graph (usearch, in the ``map`` and ``ann`` extras,
imported only here) over the rows ``neighbors`` ranks (the word-like rows; every row when none
is). A table wider than :data:`GRAPH_DIMS` is indexed by its rows' coordinates on the top
``GRAPH_DIMS`` axes of the unit rows' second moment (fitted on :data:`FIT_SAMPLE` rows): inner
products there approximate the cosines, and each distance costs a ninth of a 2,304-wide one (on
2 busy cores a graph of 8,192 full 2,304-wide rows took 30 s to build). Each row asks the graph
for ``CANDIDATES x k`` rows; the row itself and its variants (case, surrounding space) are left
out as ``neighbors`` leaves them out; the rest are ranked by their float32 cosines on the full
rows and the best ``k`` re-scored in float64 and ordered by (score, id), exactly as
``queries.top_k`` orders its winners. A row left with fewer than ``k`` candidates is ranked
exactly. The graph's search breadth is the smallest of :data:`EXPANSIONS` whose recall@10 on a
sample of :data:`RECALL_SAMPLE` rows (their exact lists computed for the purpose) reaches
:data:`TARGET_RECALL`; the recall of the final lists on that sample is kept with them and shown
on the page.

The lists are kept as a derived file of the table whose name says how they were made
(``map-neighbors-10.npz`` exact; ``map-neighbors-10-ann-usearch-...npz`` approximate).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from embcli.errors import EmbcliError, UsageProblem

if TYPE_CHECKING:
    from embcli.store.table import EmbeddingTable

#: ``neighbors=`` choices: ``auto`` is exact up to :data:`EXACT_MAX_WORK`, approximate beyond.
HOW = ("auto", "exact", "ann")
#: Multiply-adds an exact build may cost (rows x rows x dim): 60 s at 25e9 a second.
EXACT_MAX_WORK = 60 * 25e9
ANN_LIBRARY = "usearch"
CONNECTIVITY, EXPANSION_ADD = 16, 128
#: Search breadths tried, smallest first, until the sample's recall@10 reaches the target.
EXPANSIONS = (64, 128, 256, 512)
TARGET_RECALL = 0.97
CANDIDATES = 4  # the graph is asked for CANDIDATES x k rows per row
GRAPH_DIMS = 256  # the graph's width for wider tables (top axes of the rows' second moment)
FIT_SAMPLE = 16384  # rows the axes are fitted on
RECALL_SAMPLE = 1000
RECALL_K = 10
ADD_BLOCK = 16384  # rows handed to the graph at once (float32: 151 MB at 2,304 wide)
SEARCH_BLOCK = 256  # rows searched and re-ranked at once
EXACT_BLOCK = 1024  # rows per top-k call of the exact lists


@dataclass
class NeighborLists:
    """Top-``k`` ids ``[n, k]`` (-1: none) and float32 cosines of every row of a table, and
    how they were made: ``how`` is "exact" or "ann"; for "ann", ``recall`` (recall@10 against
    the exact lists on ``sample`` rows) and the graph's ``expansion``."""

    ids: np.ndarray
    scores: np.ndarray
    how: str
    recall: float | None = None
    sample: int = 0
    expansion: int = 0
    dims: int = 0  # the graph's width (0: the rows themselves)

    @property
    def graph(self) -> str:
        return f" on the top {self.dims} axes" if self.dims else ""

    def caption(self, k: int) -> str:
        """What the page says of the lists (its ``neighbours`` parameter)."""
        if self.how == "exact":
            return f"exact top-{k} by cosine among word-like rows"
        return (
            f"approximate top-{k} by cosine among word-like rows ({ANN_LIBRARY} HNSW"
            f"{self.graph}, "
            f"recall@{min(k, RECALL_K)} {self.recall:.3f} on {self.sample:,} sampled rows; "
            f"candidates re-ranked exactly)"
        )

    def note(self, k: int) -> str | None:
        """The page's note on approximate lists (None for exact ones)."""
        if self.how == "exact":
            return None
        return (
            f"neighbours: approximate ({ANN_LIBRARY} HNSW, recall@{min(k, RECALL_K)} "
            f"{self.recall:.3f} on {self.sample:,} sampled rows); --neighbors exact for exact "
            "lists"
        )


def work(rows: int, dim: int) -> float:
    """Multiply-adds of exact lists for every row of a ``rows x dim`` table."""
    return float(rows) * float(rows) * float(dim)


def choose(rows: int, dim: int, how: str) -> str:
    """``exact`` or ``ann``: as asked, or by the size for ``auto``."""
    if how not in HOW:
        raise UsageProblem(
            f"neighbors must be one of {', '.join(HOW)}, not {how!r}", param="neighbors"
        )
    if how != "auto":
        return how
    return "exact" if work(rows, dim) <= EXACT_MAX_WORK else "ann"


def cache_name(k: int, how: str, seed: int) -> str:
    """The derived file of the lists: exact keeps its first name; approximate says the
    library and every parameter that shapes the answer."""
    if how == "exact":
        return f"map-neighbors-{k}.npz"
    expansions = "-".join(str(e) for e in EXPANSIONS)
    return (
        f"map-neighbors-{k}-ann-{ANN_LIBRARY}-m{CONNECTIVITY}-efc{EXPANSION_ADD}"
        f"-ef{expansions}-r{TARGET_RECALL:g}-c{CANDIDATES}-d{GRAPH_DIMS}-f{FIT_SAMPLE}"
        f"-s{RECALL_SAMPLE}-seed{seed}.npz"
    )


def neighbor_lists(
    table: EmbeddingTable, k: int, how: str = "auto", seed: int = 0, progress: Any = None
) -> NeighborLists:
    """Every row's top-``k`` (see the module docstring), kept as a derived file of ``table``."""
    n, dim = table.shape
    chosen = choose(n, dim, how)
    if chosen == "exact":
        kept = table.derived.arrays(
            cache_name(k, "exact", seed),
            lambda: dict(
                zip(("ids", "scores"), exact_lists(table, np.arange(n), k, progress), strict=True)
            ),
            {"ids": (n, k), "scores": (n, k)},
        )
        return NeighborLists(kept["ids"], kept["scores"], "exact")

    def compute() -> dict[str, np.ndarray]:
        found = ann_lists(table, k, seed, progress)
        facts = np.array([found.recall, found.sample, found.expansion, found.dims], np.float64)
        return {"ids": found.ids, "scores": found.scores, "facts": facts}

    kept = table.derived.arrays(
        cache_name(k, "ann", seed), compute, {"ids": (n, k), "scores": (n, k), "facts": (4,)}
    )
    recall, sample, expansion, dims = (float(v) for v in kept["facts"])
    return NeighborLists(
        kept["ids"], kept["scores"], "ann", recall, int(sample), int(expansion), int(dims)
    )


def exact_lists(
    table: EmbeddingTable, rows: np.ndarray, k: int, progress: Any = None
) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-``k`` of every row of ``rows`` over the full table, as ``embcli neighbors
    #id`` ranks them: among the word-like rows (every row when none is), the row itself and its
    variants (case, surrounding space) left out."""
    from embcli.ask import queries

    unit = np.asarray(table.unit)
    wordlike = np.asarray(table.wordlike, bool)
    allowed = wordlike if wordlike.any() else None
    groups = np.asarray(table.variant_groups) if allowed is not None else None
    members: dict[int, np.ndarray] = {}
    if groups is not None:
        order = np.argsort(groups, kind="stable")
        cuts = np.flatnonzero(np.diff(groups[order])) + 1
        for part in np.split(order, cuts):
            if len(part):
                members[int(groups[part[0]])] = part
    ids = np.full((len(rows), k), -1, np.int64)
    scores = np.zeros((len(rows), k), np.float32)
    for lo in range(0, len(rows), EXACT_BLOCK):
        block = rows[lo : lo + EXACT_BLOCK]
        if groups is None:
            exclude = [[int(i)] for i in block]
        else:
            exclude = [sorted({int(i), *members[int(groups[i])].tolist()}) for i in block]
        got_ids, got_scores = queries.top_k(unit, unit[block], k, allowed, exclude)
        width = got_ids.shape[1]
        ids[lo : lo + len(block), :width] = got_ids
        scores[lo : lo + len(block), :width] = got_scores
        if progress is not None:
            progress(min(lo + EXACT_BLOCK, len(rows)), len(rows))
    return ids, scores


def _rules(table: EmbeddingTable) -> tuple[np.ndarray | None, np.ndarray | None]:
    """``neighbors``' rules as arrays: the candidate mask (None: every row) and each row's
    variant group (None: only the row itself is left out), as :func:`exact_lists` reads them."""
    wordlike = np.asarray(table.wordlike, bool)
    if not wordlike.any():
        return None, None
    return wordlike, np.asarray(table.variant_groups)


def recall_at(found: np.ndarray, truth: np.ndarray) -> float:
    """Share of the exact lists' ids (``truth``, -1 padded) that ``found`` lists too."""
    hits = total = 0
    for f, t in zip(found, truth, strict=True):
        t = t[t >= 0]
        total += len(t)
        hits += len(np.intersect1d(f[f >= 0], t))
    return hits / total if total else 1.0


def ann_lists(
    table: EmbeddingTable, k: int, seed: int = 0, progress: Any = None, threads: int | None = None
) -> NeighborLists:
    """Approximate top-``k`` of every row (see the module docstring)."""
    try:
        from usearch.index import Index
    except ImportError:
        raise EmbcliError(
            "approximate neighbour lists need usearch",
            "pip install 'embcli[map]', or pass --neighbors exact",
        ) from None
    unit = np.asarray(table.unit)
    n, dim = unit.shape
    threads = threads or min(2, os.cpu_count() or 1)
    allowed, groups = _rules(table)
    pool = np.arange(n) if allowed is None else np.flatnonzero(allowed)
    rng = np.random.default_rng(seed)
    axes = graph_axes(unit, pool, rng)
    graph = Index(ndim=dim if axes is None else axes.shape[1], metric="ip", dtype="f16",
                  connectivity=CONNECTIVITY, expansion_add=EXPANSION_ADD)  # fmt: skip
    steps = len(pool) + n
    for lo in range(0, len(pool), ADD_BLOCK):
        keys = pool[lo : lo + ADD_BLOCK]
        graph.add(keys, _graph_rows(unit[keys], axes), threads=threads)
        if progress is not None:
            progress(lo + len(keys), steps)
    sample = np.sort(rng.choice(n, size=min(RECALL_SAMPLE, n), replace=False))
    recall_k = min(k, RECALL_K)
    truth = exact_lists(table, sample, recall_k)[0]
    expansion = EXPANSIONS[-1]
    for expansion in EXPANSIONS:  # the smallest breadth that reaches the target
        graph.expansion_search = expansion  # type: ignore[misc]
        got = _search(graph, axes, unit, sample, k, allowed, groups, threads)[0]
        if recall_at(got[:, :recall_k], truth) >= TARGET_RECALL:
            break
    ids = np.full((n, k), -1, np.int64)
    scores = np.zeros((n, k), np.float32)
    for lo in range(0, n, SEARCH_BLOCK * 16):
        block = np.arange(lo, min(n, lo + SEARCH_BLOCK * 16))
        ids[block], scores[block] = _search(graph, axes, unit, block, k, allowed, groups, threads)
        if progress is not None:
            progress(len(pool) + block[-1] + 1, steps)
    del graph
    recall = recall_at(ids[sample, :recall_k], truth)
    dims = 0 if axes is None else axes.shape[1]
    return NeighborLists(ids, scores, "ann", recall, len(sample), expansion, dims)


def graph_axes(unit: np.ndarray, pool: np.ndarray, rng: np.random.Generator) -> Any:
    """``[dim, GRAPH_DIMS]``: the top axes of the second moment of ``FIT_SAMPLE`` rows of
    ``pool`` (float32), or None for a table no wider than ``GRAPH_DIMS``."""
    dim = unit.shape[1]
    if dim <= GRAPH_DIMS:
        return None
    fit = np.sort(rng.choice(pool, size=min(FIT_SAMPLE, len(pool)), replace=False))
    rows = np.asarray(unit[fit], np.float64)
    _, vecs = np.linalg.eigh(rows.T @ rows)
    return np.ascontiguousarray(vecs[:, ::-1][:, :GRAPH_DIMS], np.float32)


def _graph_rows(rows: np.ndarray, axes: np.ndarray | None) -> np.ndarray:
    rows = np.asarray(rows, np.float32)
    return rows if axes is None else rows @ axes


def _search(
    graph: Any,
    axes: np.ndarray | None,
    unit: np.ndarray,
    rows: np.ndarray,
    k: int,
    allowed: np.ndarray | None,
    groups: np.ndarray | None,
    threads: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Top-``k`` of ``rows`` from the graph's candidates, ranked as ``queries.top_k`` ranks."""
    from embcli.ask import queries

    count = min(CANDIDATES * k, len(graph))
    ids = np.full((len(rows), k), -1, np.int64)
    scores = np.zeros((len(rows), k), np.float32)
    short: list[int] = []
    for lo in range(0, len(rows), SEARCH_BLOCK):
        block = rows[lo : lo + SEARCH_BLOCK]
        q = np.asarray(unit[block], np.float32)
        found = graph.search(_graph_rows(q, axes), count, threads=threads)
        keys = np.asarray(found.keys).astype(np.int64).reshape(len(block), -1)
        valid = np.arange(keys.shape[1])[None, :] < np.asarray(found.counts)[:, None]
        keys = np.where(valid, keys, 0)
        valid &= keys != block[:, None]
        if groups is not None:
            valid &= groups[keys] != groups[block][:, None]
        cand = np.asarray(unit[keys.ravel()]).reshape(*keys.shape, -1)
        cos = np.einsum("bcd,bd->bc", cand, q)
        cos = np.where(valid, cos, -np.inf)
        order = np.lexsort((keys, -cos), axis=1)[:, :k]
        best = np.take_along_axis(keys, order, axis=1)
        ok = np.isfinite(np.take_along_axis(cos, order, axis=1))
        for r in range(len(block)):
            sel = best[r][ok[r]]
            if len(sel) < k:
                short.append(lo + r)
                continue
            exact = np.asarray(unit[sel], np.float64) @ q[r].astype(np.float64)
            o = np.lexsort((sel, -exact))  # as queries._refine orders the winners
            ids[lo + r], scores[lo + r] = sel[o], exact[o]
    if short:  # rows the graph left short: ranked exactly (the few there are)
        at = np.asarray(short)
        exclude = [
            [int(rows[i])] if groups is None else np.flatnonzero(groups == groups[rows[i]]).tolist()
            for i in at
        ]
        got_ids, got_scores = queries.top_k(unit, unit[rows[at]], k, allowed, exclude)
        ids[at, : got_ids.shape[1]] = got_ids
        scores[at, : got_ids.shape[1]] = got_scores
    return ids, scores
