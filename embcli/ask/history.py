"""``embcli history``: how a table learns, checkpoint by checkpoint.

At step 0 a table is random noise; training pulls words that share contexts together. Given a
run's checkpoints in order, this reports for each one:

- its statistics, with the definitions ``stats`` uses (:mod:`embcli.ask.anatomy`, the same
  functions): mean row norm, anisotropy (mean cosine of seeded random pairs of word-like rows,
  raw), effective rank and isotropy I(W) of the used rows;
- its drift from the previous checkpoint and to the last one, as ``compare`` measures two
  tables (:mod:`embcli.ask.compare`, :mod:`embcli.linalg`): linear CKA over all rows, on unit
  rows column-centred; the mean cosine of each row with its counterpart after an orthogonal
  Procrustes map fitted on all rows (centred unit rows made unit again, as ``compare`` aligns);
  and the mean Jaccard@10 of the neighbour lists of a seeded sample of word-like tokens;
- when a word *settles*: the first checkpoint from which its top-10 list (all rows but itself,
  unit rows, cosine) keeps Jaccard >= 0.5 with its list at the last checkpoint, through to the
  end. For ``--words``, and for the sample, grouped by quartile of row id (BPE vocabularies are
  ordered roughly by frequency: Pythia and OLMo studies see frequent words settle first).

The last checkpoint that could be read is the reference: its word-like rows give the sample,
its tokenizer resolves the words, and a checkpoint whose table has another shape is named and
left out of drift and settling (its statistics are still reported). Each checkpoint's results
are kept beside its cache entry (:mod:`embcli.store.memo`), so a rerun computes only what is new.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from embcli import linalg
from embcli.ask.anatomy import effective_rank, pair_sample, spectrum, used_rows
from embcli.ask.compare import jaccard, neighbor_lists
from embcli.ask.queries import top_k
from embcli.ask.words import resolve
from embcli.errors import EmbcliError
from embcli.store.memo import read_memo, write_memo
from embcli.store.table import EmbeddingTable
from embcli.view import Result, View

SETTLE_K = 10  # the neighbour lists that decide settling and the Jaccard drift
SETTLE_JACCARD = 0.5
DEFAULT_SAMPLE = 1000
STATS_PAIRS = 10_000  # random pairs for the anisotropy, as ``stats`` draws them
SEED = 0
MEMO = "history"
MEMO_VERSION = 1  # bump when a kept figure's definition changes: older memos are then ignored
SHOWN_NEIGHBORS = 3  # per word and checkpoint in the terminal table


# -- plain functions over arrays -----------------------------------------------------------------


def checkpoint_stats(
    table: EmbeddingTable, pairs: int = STATS_PAIRS, seed: int = SEED
) -> dict[str, Any]:
    """Mean row norm (all rows, as ``stats`` summarises norms), anisotropy (mean raw cosine of
    ``pairs`` seeded pairs of word-like rows), effective rank and isotropy (used rows)."""
    unit, norms = table.unit, np.asarray(table.norms)
    used = used_rows(table)
    spec = spectrum(unit, norms, used, 1, seed)
    ra, rb = pair_sample(table, used, pairs, seed)
    rows, dim = table.shape
    return {
        "rows": rows,
        "dim": dim,
        "mean_norm": float(np.mean(norms, dtype=np.float64)),
        "anisotropy": float(linalg.pair_cosines(ra, rb).mean()),
        "effective_rank": effective_rank(np.sqrt(spec.eigenvalues)),
        "isotropy": spec.isotropy,
    }


def drift(a: linalg.UnitSpace, others: list[linalg.UnitSpace]) -> list[dict[str, float]]:
    """CKA and the mean Procrustes cosine of ``a`` with each of ``others`` (all rows), in one
    pass over the rows; ``a.scatter_norm`` is found on the way when unknown."""
    found = linalg.paired_products(a, others)
    return [
        {
            "cka": linalg.space_cka(a, b, cross),
            "procrustes_cos": linalg.aligned_cosine(cross_p, a.unit.shape[0]),
        }
        for b, (cross, cross_p) in zip(others, found, strict=True)
    ]


def settle_index(scores: np.ndarray, threshold: float = SETTLE_JACCARD) -> np.ndarray:
    """Per row of ``scores`` ([words, checkpoints]: Jaccard with the last checkpoint's list),
    the first checkpoint from which every score through to the end is at least ``threshold``.

    The last column compares the last list with itself (1.0), so every word settles by then.
    """
    below = np.asarray(scores) < threshold
    later = below.shape[1] - 1 - np.argmax(below[:, ::-1], axis=1)  # last column below
    return np.where(below.any(axis=1), later + 1, 0)


def quartiles(rows: np.ndarray, pool: np.ndarray) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """Each of ``rows``' quartile (0..3) of row id within ``pool`` (the word-like rows), and the
    first and last pool row of each quartile: a quarter of the pool each, low ids first."""
    pool = np.asarray(pool)
    edges = np.quantile(pool, [0.25, 0.5, 0.75])
    in_pool = np.searchsorted(edges, pool, side="right")
    ranges = [
        (int(pool[in_pool == q].min()), int(pool[in_pool == q].max()))
        if (in_pool == q).any()
        else (-1, -1)
        for q in range(4)
    ]
    return np.searchsorted(edges, np.asarray(rows), side="right"), ranges


def sample_rows(
    table: EmbeddingTable, size: int, seed: int = SEED
) -> tuple[np.ndarray, np.ndarray]:
    """A seeded sample of ``size`` word-like, non-zero rows (sorted), and the pool it came from."""
    norms = np.asarray(table.norms)
    pool = np.flatnonzero(np.asarray(table.wordlike) & (norms > 0))
    if size <= 0 or len(pool) == 0:
        return np.empty(0, np.int64), pool
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(pool, size=min(size, len(pool)), replace=False)), pool


# -- the result ----------------------------------------------------------------------------------


@dataclass
class CheckpointRecord:
    revision: str  # the Hub revision, or a local checkpoint's directory name
    step: int | None
    stats: dict[str, Any]
    drift_prev: dict[str, float | None] | None = None
    drift_last: dict[str, float | None] | None = None
    excluded: str | None = None  # why it is left out of drift and settling
    fetched: int = 0  # bytes of the table fetched for it in this run (0: it was cached)

    def to_dict(self) -> dict[str, Any]:
        return {
            "revision": self.revision,
            "step": self.step,
            "stats": self.stats,
            "drift_prev": self.drift_prev,
            "drift_last": self.drift_last,
        }


@dataclass
class WordRecord:
    word: str
    id: int
    token: str
    settle: int | None  # index into the included checkpoints
    settle_step: int | None
    settle_revision: str | None
    steps: list[dict[str, Any]]  # {"revision", "step", "neighbors": [{id, token, cosine}]}

    def to_dict(self) -> dict[str, Any]:
        return {
            "word": self.word,
            "id": self.id,
            "token": self.token,
            "settle_step": self.settle_step,
            "settle_revision": self.settle_revision,
            "steps": self.steps,
        }


@dataclass
class HistoryResult(Result):
    """``embcli history``: every checkpoint's statistics and drift, and when words settle."""

    model: str
    table: str
    checkpoints: list[CheckpointRecord]
    words: list[WordRecord]
    sample: dict[str, Any]
    failed: list[dict[str, Any]] = field(default_factory=list)  # {"revision", "step", "error"}
    # for the picture, not in JSON
    sample_ids: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0, np.int64))
    sample_settle: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0, np.int64))
    sample_quartile: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0, np.int64))

    @property
    def included(self) -> list[CheckpointRecord]:
        """The checkpoints drift and settling are measured over, in order."""
        return [c for c in self.checkpoints if c.excluded is None]

    @property
    def fetched(self) -> int:
        return sum(c.fetched for c in self.checkpoints)

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "table": self.table,
            "checkpoints": [c.to_dict() for c in self.checkpoints],
            "words": [w.to_dict() for w in self.words],
            "sample": self.sample,
            "excluded": [
                {"revision": c.revision, "step": c.step, "reason": c.excluded}
                for c in self.checkpoints
                if c.excluded
            ],
            "failed": self.failed,
        }

    def view(self) -> View:
        columns = [
            "checkpoint",
            "step",
            "norm",
            "anisotropy",
            "eff. rank",
            "isotropy",
            "CKA prev",
            "cos prev",
            "J prev",
            "CKA last",
            "cos last",
            "J last",
        ]
        columns += [w.word for w in self.words]
        by_name = {w.word: {s["revision"]: s for s in w.steps} for w in self.words}
        rows = []
        for c in self.checkpoints:
            s, p, last = c.stats, c.drift_prev or {}, c.drift_last or {}
            row: list[Any] = [
                c.revision + (" (excluded)" if c.excluded else ""),
                "" if c.step is None else c.step,
                s["mean_norm"],
                s["anisotropy"],
                s["effective_rank"],
                s["isotropy"],
                p.get("cka"),
                p.get("procrustes_cos"),
                p.get("jaccard"),
                last.get("cka"),
                last.get("procrustes_cos"),
                last.get("jaccard"),
            ]
            for w in self.words:
                step = by_name[w.word].get(c.revision)
                shown = step["neighbors"][:SHOWN_NEIGHBORS] if step else []
                row.append(", ".join(n["token"].strip() or repr(n["token"]) for n in shown))
            rows.append(row)
        return View(columns, rows, caption=self._caption())

    def _caption(self) -> str:
        parts = [f"{self.model} ({self.table} table), {len(self.checkpoints)} checkpoints"]
        if self.fetched:
            fresh = sum(1 for c in self.checkpoints if c.fetched)
            parts[0] += f" ({self.fetched / 1e6:,.1f} MB of tables fetched for {fresh})"
        if self.words:
            settled = ", ".join(
                f"{w.word} at {_when(w.settle_step, w.settle_revision)}" for w in self.words
            )
            parts.append(
                f"settled (top-{SETTLE_K} Jaccard >= {SETTLE_JACCARD} with the last "
                f"through to the end): {settled}"
            )
        quarters = self.sample.get("settle_by_quartile") or []
        if quarters:
            med = ", ".join(
                f"Q{q['quartile']} (ids {q['ids'][0]:,}-{q['ids'][1]:,}) "
                f"{_when(q['median_settle_step'], None)}"
                for q in quarters
            )
            parts.append(
                f"median settle step of {self.sample['size']:,} sampled word-like "
                f"tokens by quartile of row id: {med}"
            )
        parts.append(
            "drift: linear CKA and Procrustes-aligned cosine over all rows (unit, "
            f"centred); J = mean Jaccard@{SETTLE_K} of the sample's neighbours"
        )
        for c in self.checkpoints:
            if c.excluded:
                parts.append(f"{c.revision} left out of drift: {c.excluded}")
        if self.failed:
            parts.append(
                "failed: " + "; ".join(f"{f['revision']} ({f['error']})" for f in self.failed)
            )
        return ". ".join(parts)


def _when(step: float | None, revision: str | None) -> str:
    if step is not None:
        return f"step {step:,.0f}" if float(step).is_integer() else f"step {step:,.1f}"
    return revision or "?"


# -- the run: a map over checkpoints, a reduce over pairs ---------------------------------------
#
# Each checkpoint is read and measured by itself (``read_checkpoint``: statistics, its space's
# mean and scatter norm); the last that could be read is the reference (``reference``: the
# sample, the words' rows); then each checkpoint of the reference's shape is compared with the
# one before it and with the last (``compare_checkpoint``: the sample's neighbour lists, the
# words' neighbours, CKA and Procrustes over all rows, which need both tables whole and so run
# where the tables are). Each returns a small dict; ``assemble`` makes the report from them in
# the calling process. Every step keeps what it computed in the checkpoint's memo.


def read_checkpoint(table: EmbeddingTable, seed: int = SEED) -> dict[str, Any]:
    """One checkpoint alone: its shape, its statistics, and its space's mean and scatter norm
    (kept in its memo, for the comparisons)."""
    memos = _Memos()
    try:
        stats = _stats(memos, table, seed)
        _drifts(memos, table, _space(memos, table), [])  # its scatter norm: one pass
    finally:
        memos.flush()
    return {"shape": [int(n) for n in table.shape], "stats": stats}


def reference(
    table: EmbeddingTable, words: Sequence[str], sample: int, seed: int = SEED
) -> dict[str, Any]:
    """What the reference (the last checkpoint read) fixes for the run: the seeded sample of
    word-like rows, each one's quartile of row id and the quartiles' ranges, and each word's row
    and token (an unknown word raises :class:`~embcli.errors.UnresolvedWord`)."""
    resolved = [resolve(table, w) for w in words]
    queries, pool = sample_rows(table, sample, seed)
    which, ranges = quartiles(queries, pool) if len(queries) else (np.zeros(0, np.int64), [])
    return {
        "queries": [int(q) for q in queries],
        "quartile": [int(q) for q in which],
        "ranges": [[int(lo), int(hi)] for lo, hi in ranges],
        "words": [[r.query, int(r.ids[0]), table.tokens[int(r.ids[0])]] for r in resolved],
    }


def compare_checkpoint(
    table: EmbeddingTable,
    prev: EmbeddingTable | None,
    last: EmbeddingTable,
    queries: Sequence[int],
    word_rows: Sequence[int],
    k: int,
) -> dict[str, Any]:
    """One checkpoint against the one before it (``prev``, None for the first) and the last:
    the sample's top-10 lists, the words' top-``max(k, 10)`` neighbours (ids, cosines, and the
    tokens the last checkpoint gives those ids), and the drift (CKA, Procrustes cosine) from
    ``prev`` and to ``last``, in that order. ``table`` may be ``last`` itself."""
    memos, others = _Memos(), _Memos()  # the others' memos are read, never written here
    rows = np.asarray(queries, np.int64)
    key = hashlib.sha256(rows.tobytes()).hexdigest()[:16]
    try:
        space = _space(memos, table)
        pairs = [] if prev is None else [(prev, _known_space(others, prev))]
        pairs.append((last, space if last is table else _known_space(others, last)))
        found = _drifts(memos, table, space, pairs)
        lists = _sample_lists(memos, table, rows, key)
        ids, cos = _word_neighbors(memos, table, np.asarray(word_rows, np.int64), max(k, SETTLE_K))
    finally:
        memos.flush()
    shown = sorted({int(i) for i in ids[:, :k].ravel() if i >= 0})
    return {
        "drift": found,
        "lists": lists.tolist(),
        "ids": ids.tolist(),
        "cos": cos.tolist(),
        "tokens": {i: last.tokens[i] for i in shown},
    }


@dataclass
class Measured:
    """A checkpoint's part of the run, as the caller gathers it: its ``read_checkpoint`` dict
    (or why it could not be read), and its ``compare_checkpoint`` dict (or why not)."""

    name: str
    step: int | None
    read: dict[str, Any] | None = None
    error: str | None = None
    compared: dict[str, Any] | None = None
    compare_error: str | None = None
    fetched: int = 0


def assemble(
    measured: Sequence[Measured],
    ref: int,
    found: dict[str, Any],
    *,
    model: str,
    role: str,
    k: int,
    seed: int,
    notice: Callable[[str], None] | None = None,
) -> HistoryResult:
    """The report, from each checkpoint's results (``measured``, in order), the reference's
    index ``ref`` and what ``reference`` found for it: Jaccard drift from the sample's lists,
    when words and the sample settle. Pure: no table is read."""
    say = notice or (lambda message: None)
    ref_read = measured[ref].read
    if ref_read is None:
        raise EmbcliError(f"the reference checkpoint ({measured[ref].name}) was not read")
    shape = ref_read["shape"]
    last = measured[ref].compared
    if last is None:
        raise EmbcliError(
            f"the last checkpoint read ({measured[ref].name}) could not be compared with "
            f"itself: {measured[ref].compare_error}"
        )
    ref_lists = np.array(last["lists"], np.int64).reshape(-1, SETTLE_K)
    records: list[CheckpointRecord] = []
    lists: list[np.ndarray] = []
    word_lists: list[tuple[np.ndarray, np.ndarray]] = []
    tokens: dict[int, str] = {}
    prev: np.ndarray | None = None  # the previous included checkpoint's lists (None: unknown)
    for m in measured:
        if m.read is None:
            continue
        record = CheckpointRecord(m.name, m.step, dict(m.read["stats"]), fetched=m.fetched)
        records.append(record)
        if m.read["shape"] != shape:
            rows, dim = m.read["shape"]
            record.excluded = (
                f"its table is {rows:,} x {dim:,}, the last checkpoint's {shape[0]:,} x "
                f"{shape[1]:,}"
            )
            say(f"{m.name}: {record.excluded}; left out of drift")
            continue
        if m.compared is None:
            record.excluded = f"it could not be compared: {m.compare_error}"
            prev = None  # the next one's drift_prev is from this one: its Jaccard is unknown
            continue
        mine = np.array(m.compared["lists"], np.int64).reshape(-1, SETTLE_K)
        found_drift = m.compared["drift"]
        record.drift_last = {**found_drift[-1], "jaccard": _mean_jaccard(mine, ref_lists)}
        if len(found_drift) == 2:
            jac = _mean_jaccard(mine, prev) if prev is not None else None
            record.drift_prev = {**found_drift[0], "jaccard": jac}
        lists.append(mine)
        word_lists.append((_matrix(m.compared["ids"], np.int64),
                           _matrix(m.compared["cos"], np.float64)))  # fmt: skip
        tokens.update({int(i): t for i, t in m.compared["tokens"].items()})
        prev = mine
    inside = [r for r in records if r.excluded is None]
    queries = np.array(found["queries"], np.int64)
    which = np.array(found["quartile"], np.int64)
    ranges = [(int(lo), int(hi)) for lo, hi in found["ranges"]]
    word_records = _words(found["words"], inside, word_lists, k, tokens)
    sample_info, settle = _sample_settle(queries, which, ranges, lists, inside, seed)
    return HistoryResult(
        model=model,
        table=role,
        checkpoints=records,
        words=word_records,
        sample=sample_info,
        failed=[
            {"revision": m.name, "step": m.step, "error": m.error or f"compare: {m.compare_error}"}
            for m in measured
            if m.error is not None or m.compare_error is not None
        ],
        sample_ids=queries,
        sample_settle=settle,
        sample_quartile=which,
    )


class _Memos:
    """Each checkpoint's kept results (:mod:`embcli.store.memo`), read once, written when new."""

    def __init__(self) -> None:
        self.data: dict[str, dict[str, Any]] = {}
        self.tables: dict[str, EmbeddingTable] = {}
        self.dirty: set[str] = set()

    def _memo(self, table: EmbeddingTable) -> dict[str, Any]:
        path = str(table.path)
        if path not in self.data:
            kept = read_memo(table.derived, MEMO)
            self.data[path] = kept if kept.get("version", MEMO_VERSION) == MEMO_VERSION else {}
            self.data[path]["version"] = MEMO_VERSION
            self.tables[path] = table
        return self.data[path]

    def find(self, table: EmbeddingTable, key: str) -> Any:
        """The kept value of ``key``, or None."""
        return self._memo(table).get(key)

    def get(self, table: EmbeddingTable, key: str, compute: Callable[[], Any]) -> Any:
        """The kept value of ``key``, computed (and kept) if there is none."""
        memo = self._memo(table)
        if key not in memo:
            self.put(table, key, compute())
        return memo[key]

    def put(self, table: EmbeddingTable, key: str, value: Any) -> None:
        memo = self._memo(table)
        if memo.get(key) != value:
            memo[key] = value
            self.dirty.add(str(table.path))

    def flush(self, table: EmbeddingTable | None = None) -> None:
        for path in [str(table.path)] if table is not None else list(self.dirty):
            if path in self.dirty:
                write_memo(self.tables[path].derived, MEMO, self.data[path])
                self.dirty.discard(path)
            self.data.pop(path, None)
            self.tables.pop(path, None)


def _stats(memos: _Memos, table: EmbeddingTable, seed: int) -> dict[str, Any]:
    key = f"stats/{STATS_PAIRS}/{seed}"
    return dict(memos.get(table, key, lambda: checkpoint_stats(table, STATS_PAIRS, seed)))


def _space(memos: _Memos, table: EmbeddingTable) -> linalg.UnitSpace:
    """The table's :class:`~embcli.linalg.UnitSpace`: its mean (and scatter norm, once known)
    kept in the memo."""

    def compute() -> dict[str, Any]:
        return {"mean": linalg.UnitSpace.of(table.unit).mean.tolist(), "scatter_norm": None}

    kept = memos.get(table, "space", compute)
    return linalg.UnitSpace(table.unit, np.array(kept["mean"], np.float64), kept["scatter_norm"])


def _matrix(rows: list[list[Any]], dtype: type) -> np.ndarray:
    """Rows of equal length as a matrix (no rows: 0 x 0)."""
    return np.array(rows, dtype).reshape(len(rows), -1) if rows else np.empty((0, 0), dtype)


def _known_space(memos: _Memos, table: EmbeddingTable) -> linalg.UnitSpace:
    """The table's space with its scatter norm (from its memo, else computed here)."""
    space = _space(memos, table)
    if space.scatter_norm is None:
        linalg.paired_products(space, [])
    return space


def _drifts(
    memos: _Memos,
    table: EmbeddingTable,
    space: linalg.UnitSpace,
    others: list[tuple[EmbeddingTable, linalg.UnitSpace]],
) -> list[dict[str, float]]:
    """Drift of ``table`` from each of ``others``: kept ones from the memo, the rest (and the
    table's scatter norm, if unknown) from one pass over the rows."""
    keys = [f"drift/{other.path.name}" for other, _ in others]
    kept = [memos.find(table, key) for key in keys]
    missing = [i for i, found in enumerate(kept) if found is None]
    if missing or space.scatter_norm is None:
        computed = drift(space, [others[i][1] for i in missing])
        memos.put(table, "space", {"mean": space.mean.tolist(),
                                   "scatter_norm": space.scatter_norm})  # fmt: skip
        for i, found in zip(missing, computed, strict=True):
            kept[i] = found
            memos.put(table, keys[i], found)
    return [dict(found) for found in kept]


def _sample_lists(
    memos: _Memos, table: EmbeddingTable, queries: np.ndarray, key: str
) -> np.ndarray:
    """The sample's top-10 lists (all rows but the query, cosine on unit rows)."""

    def compute() -> list[list[int]]:
        if not len(queries):
            return []
        found: list[list[int]] = neighbor_lists(table.unit, queries, SETTLE_K).tolist()
        return found

    kept = memos.get(table, f"lists/{SETTLE_K}/{key}", compute)
    return np.array(kept, np.int64).reshape(len(queries), SETTLE_K)


def _mean_jaccard(a: np.ndarray, b: np.ndarray) -> float | None:
    return float(jaccard(a, b).mean()) if len(a) else None


def _word_neighbors(
    memos: _Memos, table: EmbeddingTable, rows: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """Each word row's top-``k`` (ids, cosines), all rows but itself; kept per row and ``k``, so
    a rerun reads no matrix."""
    keys = [f"neighbors/{k}/{int(r)}" for r in rows]
    kept = [memos.find(table, key) for key in keys]
    missing = [i for i, found in enumerate(kept) if found is None]
    if missing:
        unit = np.ascontiguousarray(table.unit, dtype=np.float32)
        want = rows[missing]
        ids, cos = top_k(unit, unit[want], k, exclude=[[int(r)] for r in want])
        for j, i in enumerate(missing):
            kept[i] = {"ids": ids[j].tolist(), "cos": cos[j].tolist()}
            memos.put(table, keys[i], kept[i])
    if not len(rows):
        return np.empty((0, k), np.int64), np.empty((0, k))
    return (np.array([found["ids"] for found in kept], np.int64),
            np.array([found["cos"] for found in kept], np.float64))  # fmt: skip


def _words(
    words: Sequence[Sequence[Any]],
    included: list[CheckpointRecord],
    found: list[tuple[np.ndarray, np.ndarray]],
    k: int,
    tokens: dict[int, str],
) -> list[WordRecord]:
    """Each word (``[query, row, token]``) through the included checkpoints: its neighbours
    (spelt as the last checkpoint spells them, ``tokens``) and its settle step."""
    if not len(words) or not included:
        return []
    last = found[-1][0][:, :SETTLE_K]
    scores = np.stack([jaccard(ids[:, :SETTLE_K], last) for ids, _ in found], axis=1)
    settle = settle_index(scores)
    out = []
    for w, (query, row, token) in enumerate(words):
        steps = []
        for c, (ids, cos) in zip(included, found, strict=True):
            steps.append(
                {
                    "revision": c.revision,
                    "step": c.step,
                    "neighbors": [
                        {"id": int(i), "token": tokens[int(i)], "cosine": float(s)}
                        for i, s in zip(ids[w, :k], cos[w, :k], strict=True)
                        if i >= 0
                    ],
                }
            )
        at = included[int(settle[w])]
        at_step = (int(settle[w]), at.step, at.revision)
        out.append(WordRecord(str(query), int(row), str(token), *at_step, steps))
    return out


def _sample_settle(
    queries: np.ndarray,
    which: np.ndarray,
    ranges: list[tuple[int, int]],
    lists: list[np.ndarray],
    included: list[CheckpointRecord],
    seed: int,
) -> tuple[dict[str, Any], np.ndarray]:
    info: dict[str, Any] = {
        "size": len(queries),
        "seed": seed,
        "k": SETTLE_K,
        "threshold": SETTLE_JACCARD,
        "settle_by_quartile": [],
    }
    if not len(queries) or not lists:
        return info, np.zeros(0, np.int64)
    scores = np.stack([jaccard(mine, lists[-1]) for mine in lists], axis=1)
    settle = settle_index(scores)
    steps = [c.step for c in included]
    known = all(s is not None for s in steps)
    last = len(included) - 1
    for q, (lo, hi) in enumerate(ranges):
        mine = settle[which == q]
        median = None
        if len(mine) and known:
            median = float(np.median(np.array(steps, np.float64)[mine]))
        info["settle_by_quartile"].append(
            {
                "quartile": q + 1,
                "ids": [lo, hi],
                "words": len(mine),
                "median_settle_step": median,
                "settled_before_last": float((mine < last).mean()) if len(mine) else None,
            }
        )
    return info, settle
