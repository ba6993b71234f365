"""Two embedding tables side by side: shared words, neighbour agreement, CKA, alignment.

The questions, as plain functions over arrays so that tests check each against a float64
reference written from the papers' formulas:

- :func:`shared_vocabulary` matches the word-like tokens of two vocabularies by their text
  (``" Paris"``, ``"▁Paris"``, ``"paris"`` and a word file's ``paris`` are one word once the
  word-start mark is stripped and case is folded). Each side keeps one row per word: the
  **lowest id wins** (the most frequent spelling in a word file, usually the earliest merge in
  a tokenizer), so ``" Paris"`` is used and a later ``" PARIS"`` is not.
- :func:`neighbor_lists` / :func:`jaccard`: each word's top-k neighbours among the shared words
  in A and in B (one blocked matrix product per side, through :func:`queries.top_k`), and the
  Jaccard index of the two lists. This is what a user sees when neighbour lists "look different".
- linear CKA (Kornblith et al., 2019; :func:`embcli.linalg.linear_cka`) with a shuffled-rows
  baseline: CKA is invariant to rotation and isotropic scale and works across widths, but is
  biased upwards for few rows or many dimensions, so the same number for randomly paired rows
  says what "no agreement" reads.
- :func:`align`: orthogonal Procrustes (Schönemann 1966; :func:`embcli.linalg.procrustes`)
  from A to B on a training split, and word translation precision@1/@10 on the held-out words
  by cosine and by CSLS (Conneau et al., 2018, k = 10). When widths differ, the wider side is
  first reduced to the narrower width with PCA (:func:`embcli.linalg.pca`).

- :func:`row_cosines`: when the two tables share one vocabulary row for row (the same tokens
  in the same rows, the same width: a float table and a GGUF quantisation of it, or two
  checkpoints of one model), the cosine between each token's two rows says what quantisation
  or training did to each row, beside what neighbour overlap says of the geometry.

The linear algebra lives in :mod:`embcli.linalg`; this module holds the report: which words are
compared, how neighbour lists agree, how well a map translates, and :class:`CompareResult`.

What goes in: **unit rows** (``table.unit``) everywhere, CKA included. Everything embcli shows
is a cosine; a token table's row norms track frequency, and on raw vectors a few long rows
dominate CKA's Frobenius norms, so raw-vector CKA would describe the norms more than the
geometry a user compares. Alignment follows Artetxe et al. (2018): unit rows, centred, (PCA),
unit rows again; centring lets an orthogonal map absorb the offset between two spaces' means.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from embcli.ask.queries import top_k
from embcli.errors import EmbcliError, UnresolvedWord
from embcli.linalg import Centred, linear_cka, pca, procrustes, shuffled_cka, unit_rows
from embcli.store.table import EmbeddingTable
from embcli.view import Result, View

SEED = 0  # every random choice here (query sample, shuffles, split, plot sample) uses it
DEFAULT_SAMPLE = 5000  # query words for neighbour agreement (0 or >= shared: all)
SHUFFLES = 5  # permutations averaged for the shuffled CKA baseline
TEST_FRACTION = 0.2  # held-out words for translation precision
CSLS_K = 10  # Conneau et al. (2018)
QUANTILES = (0.1, 0.25, 0.5, 0.75, 0.9)
ROW_QUANTILES = (0.001, 0.01, 0.1, 0.5, 0.9)  # the low tail is where damaged rows show
BLOCK = 16384
EXAMPLES = 8
WORD_MARKS = (" ", "\u2581")  # word-start marks of byte-level and SentencePiece tokens


# -- shared vocabulary ---------------------------------------------------------------------------
def word_key(token: str, style: str, case_sensitive: bool = False) -> str | None:
    """The word a word-initial token stands for, or None for a fragment.

    ``" Paris"`` / ``"▁Paris"`` (byte_level, metaspace) -> ``"paris"``; WordPiece ``"##ing"``
    is a fragment; a word file's entries are words already. Case is lowered unless asked not to
    (``str.lower``, not ``casefold``, which would make ``ß`` the word ``ss``).
    """
    if style in ("byte_level", "metaspace"):
        if not token.startswith(WORD_MARKS):
            return None
        token = token[1:]
    elif style not in ("words", "none") and token.startswith("##"):
        return None
    if not token.strip():
        return None
    return token if case_sensitive else token.lower()


def word_rows(
    tokens: Sequence[str], mask: np.ndarray, style: str, case_sensitive: bool = False
) -> dict[str, int]:
    """word -> row over the rows in ``mask``; the lowest id wins (dicts keep the first insert)."""
    out: dict[str, int] = {}
    for i in np.flatnonzero(np.asarray(mask, dtype=bool)).tolist():
        key = word_key(tokens[i], style, case_sensitive)
        if key is not None and key not in out:
            out[key] = i
    return out


@dataclass
class SharedVocabulary:
    """The words both tables know, in A's row order (or the word list's order)."""

    words: list[str]
    ids_a: np.ndarray
    ids_b: np.ndarray
    words_a: int  # distinct words on each side (after the word list, if any)
    words_b: int
    own_a: list[str]  # examples of words only A has, in row order
    own_b: list[str]
    missing_a: list[str] = field(default_factory=list)  # word-list entries A lacks
    missing_b: list[str] = field(default_factory=list)
    listed: int | None = None  # size of the word list, if one was given


def shared_vocabulary(
    rows_a: dict[str, int],
    rows_b: dict[str, int],
    words: Sequence[str] | None = None,
    case_sensitive: bool = False,
) -> SharedVocabulary:
    """Match two ``word -> row`` maps (from :func:`word_rows`), optionally through a word list."""
    if words is not None:
        listed = list(dict.fromkeys(w if case_sensitive else w.lower() for w in words))
        missing_a = [w for w in listed if w not in rows_a]
        missing_b = [w for w in listed if w not in rows_b]
        rows_a = {w: rows_a[w] for w in listed if w in rows_a}
        rows_b = {w: rows_b[w] for w in listed if w in rows_b}
        order = [w for w in listed if w in rows_a and w in rows_b]
    else:
        listed, missing_a, missing_b = [], [], []
        order = sorted((w for w in rows_a if w in rows_b), key=rows_a.__getitem__)
    own_a = sorted((w for w in rows_a if w not in rows_b), key=rows_a.__getitem__)
    own_b = sorted((w for w in rows_b if w not in rows_a), key=rows_b.__getitem__)
    return SharedVocabulary(
        words=order,
        ids_a=np.array([rows_a[w] for w in order], dtype=np.int64),
        ids_b=np.array([rows_b[w] for w in order], dtype=np.int64),
        words_a=len(rows_a),
        words_b=len(rows_b),
        own_a=own_a,
        own_b=own_b,
        missing_a=missing_a,
        missing_b=missing_b,
        listed=len(listed) if words is not None else None,
    )


# -- neighbour agreement -------------------------------------------------------------------------
def neighbor_lists(unit: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    """Top-k rows of ``unit`` (the shared words' unit rows) for each query row, self left out."""
    mat = np.ascontiguousarray(unit, dtype=np.float32)
    q = np.asarray(queries, dtype=np.int64)
    ids, _ = top_k(mat, mat[q], k, exclude=[[int(i)] for i in q])
    return ids


def jaccard(lists_a: np.ndarray, lists_b: np.ndarray) -> np.ndarray:
    """Per row, |A ∩ B| / |A ∪ B| of two equally long id lists (no repeats within a list)."""
    inter = (lists_a[:, :, None] == lists_b[:, None, :]).any(axis=2).sum(axis=1)
    union = lists_a.shape[1] + lists_b.shape[1] - inter
    shares: np.ndarray = inter / np.maximum(union, 1)
    return shares


def random_jaccard(candidates: int, k: int) -> float:
    """Expected Jaccard@k of two independent random k-subsets of ``candidates`` items.

    The overlap m is hypergeometric (draw k from ``candidates`` of which k are marked), and
    Jaccard is m / (2k - m): the value an unrelated pair of spaces would show.
    """
    if k <= 0 or candidates < k:
        return float("nan")
    total = math.comb(candidates, k)
    return sum(
        math.comb(k, m) * math.comb(candidates - k, k - m) / total * m / (2 * k - m)
        for m in range(0, k + 1)
    )


# -- alignment -----------------------------------------------------------------------------------
def prepare(x: np.ndarray | Centred, dim: int | None = None) -> tuple[np.ndarray, float | None]:
    """Centred unit rows (give a :class:`Centred` of unit rows, or raw rows to normalise),
    reduced by PCA to ``dim`` if given, then unit rows again (float64)."""
    xc = x if isinstance(x, Centred) else Centred.of(unit_rows(x))
    if dim is not None and dim < xc.rows.shape[1]:
        reduced = pca(xc, dim)
        return unit_rows(reduced.coords), reduced.kept
    return unit_rows(xc.rows), None


def split(n: int, seed: int = SEED, fraction: float = TEST_FRACTION) -> tuple[np.ndarray, ...]:
    """Train and test indices: a seeded permutation, the first ``round(fraction n)`` held out."""
    perm = np.random.default_rng(seed).permutation(n)
    n_test = min(n - 1, max(1, round(fraction * n)))
    return np.sort(perm[n_test:]), np.sort(perm[:n_test])


def csls_penalty(mapped: np.ndarray, targets: np.ndarray, k: int = CSLS_K) -> np.ndarray:
    """``r_S(y)``: each target's mean cosine with its ``k`` nearest mapped source words."""
    _, scores = top_k(
        np.ascontiguousarray(mapped, dtype=np.float32), np.asarray(targets, np.float32), k
    )
    penalty: np.ndarray = scores.mean(axis=1)
    return penalty


def translate(
    mapped_queries: np.ndarray, targets: np.ndarray, penalty: np.ndarray, k: int = 10
) -> tuple[np.ndarray, np.ndarray]:
    """Top-k target rows for each mapped query, by cosine and by CSLS.

    CSLS(x, y) = 2 cos(Wx, y) - r_T(Wx) - r_S(y); for one query r_T is a constant, so the ranking
    is that of ``[2Wx, -1] . [y, r_S(y)]``: one more column makes it a plain blocked top-k.
    """
    t32 = np.ascontiguousarray(targets, dtype=np.float32)
    q32 = np.asarray(mapped_queries, dtype=np.float32)
    by_cos, _ = top_k(t32, q32, k)
    t_aug = np.hstack([t32, np.asarray(penalty, np.float32)[:, None]])
    q_aug = np.hstack([2 * q32, -np.ones((len(q32), 1), np.float32)])
    by_csls, _ = top_k(np.ascontiguousarray(t_aug), q_aug, k)
    return by_cos, by_csls


def hit_rate(found: np.ndarray, truth: np.ndarray, k: int) -> float:
    """Fraction of rows whose true target is among the first ``k`` found."""
    return float((found[:, :k] == np.asarray(truth)[:, None]).any(axis=1).mean())


@dataclass
class Alignment:
    method: str  # "procrustes" or "pca+procrustes"
    dim: int
    reduced: str | None  # "a" or "b": the side PCA reduced
    variance_kept: float | None  # share of the reduced side's variance its PCA axes keep
    train: np.ndarray
    test: np.ndarray
    rotation: np.ndarray  # [dim, dim], A's (prepared) rows times it approximate B's
    by_cosine: np.ndarray  # [test, 10] shared-word indices in B
    by_csls: np.ndarray

    def precision(self, k: int, csls: bool = False) -> float:
        return hit_rate(self.by_csls if csls else self.by_cosine, self.test, k)


def align(ua: np.ndarray | Centred, ub: np.ndarray | Centred, seed: int = SEED) -> Alignment:
    """Procrustes from A to B on a seeded training split, scored on the held-out words.

    Takes unit rows, or :class:`Centred` unit rows already computed for CKA.
    """
    da = (ua.rows if isinstance(ua, Centred) else ua).shape[1]
    db = (ub.rows if isinstance(ub, Centred) else ub).shape[1]
    dim = min(da, db)
    xa, kept_a = prepare(ua, dim if da > db else None)
    xb, kept_b = prepare(ub, dim if db > da else None)
    train, test = split(len(xa), seed)
    rotation = procrustes(xa[train], xb[train])
    mapped = xa @ rotation
    penalty = csls_penalty(mapped, xb)
    by_cos, by_csls = translate(mapped[test], xb, penalty, 10)
    reduced = "a" if da > db else "b" if db > da else None
    return Alignment(
        method="pca+procrustes" if reduced else "procrustes",
        dim=dim,
        reduced=reduced,
        variance_kept=kept_a if reduced == "a" else kept_b,
        train=train,
        test=test,
        rotation=rotation,
        by_cosine=by_cos,
        by_csls=by_csls,
    )


# -- ranks for the plot --------------------------------------------------------------------------
def rank_pairs(
    ua: np.ndarray, ub: np.ndarray, queries: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """Similarity ranks in A and in B of each query's top-k neighbours in either space.

    Rank 1 is the nearest other shared word. Points on the diagonal agree; a neighbour that is
    1st in A and 500th in B is what makes a list look different.
    """
    ra: list[np.ndarray] = []
    rb: list[np.ndarray] = []
    for lo in range(0, len(queries), 64):
        q = np.asarray(queries[lo : lo + 64])
        ranks = []
        for u in (ua, ub):
            sims = np.asarray(u[q], np.float32) @ np.asarray(u, np.float32).T
            sims[np.arange(len(q)), q] = -np.inf
            order = np.argsort(-sims, axis=1, kind="stable")
            rank = np.empty_like(order)
            np.put_along_axis(rank, order, np.arange(1, order.shape[1] + 1), axis=1)
            ranks.append((rank, order[:, :k]))
        (rank_a, top_a), (rank_b, top_b) = ranks
        for r in range(len(q)):
            cols = np.union1d(top_a[r], top_b[r])
            ra.append(rank_a[r, cols])
            rb.append(rank_b[r, cols])
    if not ra:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    return np.concatenate(ra), np.concatenate(rb)


# -- the same rows in both tables ----------------------------------------------------------------
def same_rows(table_a: EmbeddingTable, table_b: EmbeddingTable) -> int | None:
    """How many leading rows hold the same tokens in both tables, when their vocabularies match
    row for row (same tokenizer size, same token in every row below it) and their widths agree;
    None otherwise."""
    if table_a.shape[1] != table_b.shape[1] or table_a.tokenizer_size != table_b.tokenizer_size:
        return None
    n = min(table_a.shape[0], table_b.shape[0], table_a.tokenizer_size or table_a.shape[0])
    if n < 1 or list(table_a.tokens[:n]) != list(table_b.tokens[:n]):
        return None
    return n


def row_cosines(
    unit_a: np.ndarray, norms_a: np.ndarray, unit_b: np.ndarray, norms_b: np.ndarray, n: int
) -> tuple[np.ndarray, np.ndarray]:
    """``(rows, cosines)``: the cosine between row i of A and row i of B for the first ``n``
    rows that are non-zero on both sides (float64, by blocks of unit rows)."""
    keep = (np.asarray(norms_a[:n]) > 0) & (np.asarray(norms_b[:n]) > 0)
    out = np.empty(n, np.float64)
    for lo in range(0, n, BLOCK):
        hi = min(n, lo + BLOCK)
        a = np.asarray(unit_a[lo:hi], np.float64)
        b = np.asarray(unit_b[lo:hi], np.float64)
        dots = np.einsum("ij,ij->i", a, b)
        lengths = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
        out[lo:hi] = dots / np.where(lengths > 0, lengths, 1.0)
    rows = np.flatnonzero(keep)
    return rows, out[rows]


def row_cosine_summary(table_a: EmbeddingTable, table_b: EmbeddingTable) -> dict[str, Any] | None:
    """min (with its row), mean and low quantiles of the per-row cosines, or None when the
    tables do not share their rows (:func:`same_rows`)."""
    n = same_rows(table_a, table_b)
    if n is None:
        return None
    rows, cos = row_cosines(table_a.unit, table_a.norms, table_b.unit, table_b.norms, n)
    if not len(rows):
        return None
    worst = int(rows[int(np.argmin(cos))])
    return {
        "rows": len(rows),
        "zero_rows": n - len(rows),
        "min": float(cos.min()),
        "argmin": worst,
        "token": table_a.tokens[worst],
        "mean": float(cos.mean()),
        "quantiles": {str(q): float(np.quantile(cos, q)) for q in ROW_QUANTILES},
    }


# -- the whole report ----------------------------------------------------------------------------
@dataclass
class CompareResult(Result):
    """``embcli compare``: everything the report says, with the arrays behind it."""

    a: dict[str, Any]
    b: dict[str, Any]
    vocab: SharedVocabulary
    k: int
    queries: np.ndarray  # shared-word indices whose neighbour lists were compared
    lists_a: np.ndarray
    lists_b: np.ndarray
    scores: np.ndarray  # Jaccard@k per query
    cka: float
    cka_shuffled: float
    alignment: Alignment | None
    alignment_note: str | None = None
    show: int = 0
    ranks: tuple[np.ndarray, np.ndarray] | None = None
    #: Per-row cosines when A and B share their vocabulary row for row (None otherwise).
    rows: dict[str, Any] | None = None

    @property
    def shared(self) -> int:
        return len(self.vocab.words)

    def _words(self, idx: Sequence[int] | np.ndarray) -> list[str]:
        return [self.vocab.words[int(i)] for i in idx]

    def agreement(self, most: bool) -> list[dict[str, Any]]:
        """The ``show`` queries whose lists agree most (or least); ties in shared order."""
        order = np.lexsort((self.queries, self.scores if not most else -self.scores))
        out = []
        for r in order[: self.show]:
            out.append(
                {
                    "word": self.vocab.words[int(self.queries[r])],
                    "jaccard": float(self.scores[r]),
                    "a_neighbors": self._words(self.lists_a[r]),
                    "b_neighbors": self._words(self.lists_b[r]),
                }
            )
        return out

    def translations(self) -> list[dict[str, Any]]:
        """``show`` held-out words, evenly spaced from frequent to rare, with their B words."""
        al = self.alignment
        if al is None or not self.show:
            return []
        picks = np.unique(np.linspace(0, len(al.test) - 1, min(self.show, len(al.test))).round())
        out = []
        for r in picks.astype(int).tolist():
            out.append(
                {
                    "word": self.vocab.words[int(al.test[r])],
                    "correct": bool(al.by_cosine[r, 0] == al.test[r]),
                    "b_neighbors": self._words(al.by_cosine[r, :5]),
                    "csls_neighbors": self._words(al.by_csls[r, :5]),
                }
            )
        return out

    def overlap(self) -> dict[str, Any]:
        s = self.scores
        return {
            "mean": float(s.mean()),
            "median": float(np.median(s)),
            "quantiles": {str(q): float(np.quantile(s, q)) for q in QUANTILES},
            "words": len(s),
            "sampled": bool(len(s) < self.shared),
            "random": random_jaccard(self.shared - 1, self.k),
        }

    def alignment_dict(self) -> dict[str, Any]:
        al = self.alignment
        if al is None:
            none = ("dim", "reduced", "variance_kept", "p_at_1", "p_at_10", "csls_p_at_1")
            return {"method": "none", **dict.fromkeys(none), "csls_p_at_10": None,
                    "train": 0, "test": 0, "note": self.alignment_note}  # fmt: skip
        return {
            "method": al.method,
            "dim": al.dim,
            "reduced": al.reduced,
            "variance_kept": al.variance_kept,
            "train": len(al.train),
            "test": len(al.test),
            "p_at_1": al.precision(1),
            "p_at_10": al.precision(10),
            "csls_p_at_1": al.precision(1, csls=True),
            "csls_p_at_10": al.precision(10, csls=True),
            "note": self.alignment_note,
        }

    def to_dict(self) -> dict[str, Any]:
        v = self.vocab
        out: dict[str, Any] = {
            "a": {**self.a, "words": v.words_a, "own": len(v.own_a),
                  "own_examples": v.own_a[:EXAMPLES]},
            "b": {**self.b, "words": v.words_b, "own": len(v.own_b),
                  "own_examples": v.own_b[:EXAMPLES]},
            "shared": self.shared,
            "shared_examples": v.words[:EXAMPLES],
            "k": self.k,
            "neighbor_overlap": self.overlap(),
            "cka": self.cka,
            "cka_shuffled": self.cka_shuffled,
            "alignment": self.alignment_dict(),
            "row_cosine": self.rows,
        }  # fmt: skip
        if v.listed is not None:
            out["word_list"] = {"words": v.listed, "missing_a": v.missing_a,
                                "missing_b": v.missing_b}  # fmt: skip
        if self.show:
            out["agree_most"] = self.agreement(most=True)
            out["agree_least"] = self.agreement(most=False)
            out["translations"] = self.translations()
        return out

    def view(self) -> View:
        d = self.to_dict()
        a, b, ov, al = d["a"], d["b"], d["neighbor_overlap"], d["alignment"]
        q = ov["quantiles"]
        rows: list[tuple[str, str]] = [
            ("A", _side(a)),
            ("B", _side(b)),
            ("shared words", f"{self.shared:,}  e.g. {', '.join(d['shared_examples'][:6])}"),
            ("only in A", _own(a)),
            ("only in B", _own(b)),
            (
                f"Jaccard@{self.k}",
                f"mean {ov['mean']:.3f}, median {ov['median']:.3f} "
                f"(10% {q['0.1']:.3f}, 90% {q['0.9']:.3f}); random lists {ov['random']:.4f}",
            ),
            ("linear CKA", f"{self.cka:.4f} (rows shuffled: {self.cka_shuffled:.4f})"),
        ]
        if self.rows is not None:
            r, rq = self.rows, self.rows["quantiles"]
            rows.append((
                "row cosine",
                f"min {r['min']:.4f} (#{r['argmin']} {r['token']!r}), 0.1% {rq['0.001']:.4f}, "
                f"1% {rq['0.01']:.4f}, median {rq['0.5']:.4f}, mean {r['mean']:.4f} "
                f"over {r['rows']:,} rows",
            ))  # fmt: skip
        if self.alignment is None:
            rows.append(("alignment", self.alignment_note or "none"))
        else:
            rows += [
                ("alignment", _method(al)),
                (
                    "translation",
                    f"P@1 {al['p_at_1']:.3f}, P@10 {al['p_at_10']:.3f}; CSLS P@1 "
                    f"{al['csls_p_at_1']:.3f}, P@10 {al['csls_p_at_10']:.3f} "
                    f"({al['test']:,} held-out words, {al['train']:,} to fit)",
                ),
            ]
        for key, label in (("agree_most", "agrees most"), ("agree_least", "agrees least")):
            for rec in d.get(key, []):
                rows.append(
                    (
                        f"{label}: {rec['word']}",
                        f"J={rec['jaccard']:.2f}  A: {', '.join(rec['a_neighbors'][:5])}  "
                        f"| B: {', '.join(rec['b_neighbors'][:5])}",
                    )
                )
        for rec in d.get("translations", []):
            mark = "ok" if rec["correct"] else "--"
            rows.append(
                (
                    f"A->B: {rec['word']}",
                    f"{mark}  {', '.join(rec['b_neighbors'])}  "
                    f"(CSLS: {', '.join(rec['csls_neighbors'][:3])})",
                )
            )
        sample = (
            f"{ov['words']:,} of {self.shared:,} shared words"
            if ov["sampled"]
            else (f"all {self.shared:,} shared words")
        )
        caption = (
            f"neighbours among the shared words only; Jaccard@{self.k} over {sample}"
            + (" (a seeded sample; --sample 0 for all)" if ov["sampled"] else "")
            + "; cosine on unit rows"
            + (f"; {self.alignment_note}" if self.alignment_note else "")
            + (
                "; row cosine: each token's row in A against its row in B (the two vocabularies "
                "match row for row)"
                if self.rows is not None
                else ""
            )
        )
        return View(["field", "value"], rows, caption=caption, key_value=True)


def _side(s: dict[str, Any]) -> str:
    tensor = f" [{s['tensor']}]" if s.get("tensor") else ""
    return f"{s['model']}{tensor}: {s['rows']:,} x {s['dim']}, {s['words']:,} words"


def _own(s: dict[str, Any]) -> str:
    ex = ", ".join(s["own_examples"][:6])
    return f"{s['own']:,}" + (f"  e.g. {ex}" if ex else "")


def _method(al: dict[str, Any]) -> str:
    if al["method"] == "pca+procrustes":
        side = al["reduced"].upper()
        return (
            f"PCA reduced {side} to {al['dim']} dims (keeps {al['variance_kept']:.1%} of its "
            f"variance), then orthogonal Procrustes A->B"
        )
    return f"orthogonal Procrustes A->B in {al['dim']} dims"


def side_summary(table: EmbeddingTable) -> dict[str, Any]:
    """What the report says of each side: model, tensor, shape."""
    rows, dim = table.shape
    return {"model": table.label, "tensor": table.meta.tensor, "rows": rows, "dim": dim}


def compare(
    table_a: EmbeddingTable,
    table_b: EmbeddingTable,
    k: int = 10,
    *,
    case_sensitive: bool = False,
    words: Sequence[str] | None = None,
    sample: int = DEFAULT_SAMPLE,
    show: int = 0,
    plot_sample: int = 0,
    seed: int = SEED,
) -> CompareResult:
    """Compare two tables over the words they share (see the module docstring).

    ``sample`` bounds how many shared words' neighbour lists are compared (a seeded sample;
    0 means all): each list is exact, over all shared words, and the mean's standard error
    at 5,000 words is about 0.003. ``plot_sample`` query words feed :func:`rank_pairs`.
    """
    rows_a = word_rows(table_a.tokens, table_a.wordlike, table_a.style, case_sensitive)
    rows_b = word_rows(table_b.tokens, table_b.wordlike, table_b.style, case_sensitive)
    vocab = shared_vocabulary(rows_a, rows_b, words, case_sensitive)
    n = len(vocab.words)
    if n < 2 and words is not None:
        sides = (("A", vocab.missing_a), ("B", vocab.missing_b))
        gone = [f"from {side}: {', '.join(m[:3])}" for side, m in sides if m]
        raise UnresolvedWord(
            f"{n} of the {vocab.listed} listed words are word-like tokens of both tables "
            f"(need at least 2); missing {'; '.join(gone)}"
        )
    if n < 2:
        raise EmbcliError(
            f"{table_a.label} and {table_b.label} share {n} word-like tokens (need at least 2)"
        )
    ua = np.asarray(table_a.unit[vocab.ids_a], dtype=np.float32)
    ub = np.asarray(table_b.unit[vocab.ids_b], dtype=np.float32)
    k_eff = max(1, min(k, n - 1))
    rng = np.random.default_rng(seed)
    if sample and sample < n:
        queries = np.sort(rng.choice(n, size=sample, replace=False))
    else:
        queries = np.arange(n)
    lists_a = neighbor_lists(ua, queries, k_eff)
    lists_b = neighbor_lists(ub, queries, k_eff)
    ca, cb = Centred.of(unit_rows(ua)), Centred.of(unit_rows(ub))  # shared by CKA and alignment
    alignment, note = None, None
    if n >= 3:
        alignment = align(ca, cb, seed)
        if alignment.reduced is not None:
            note = (
                f"widths differ ({ua.shape[1]} vs {ub.shape[1]}): "
                f"{alignment.reduced.upper()} reduced by PCA to {alignment.dim} dims"
            )
    else:
        note = "too few shared words to fit and test an alignment (need 3)"
    ranks = None
    if plot_sample:
        pq = np.sort(rng.choice(n, size=min(plot_sample, n), replace=False))
        ranks = rank_pairs(ua, ub, pq, k_eff)
    return CompareResult(
        a=side_summary(table_a),
        b=side_summary(table_b),
        vocab=vocab,
        k=k_eff,
        queries=queries,
        lists_a=lists_a,
        lists_b=lists_b,
        scores=jaccard(lists_a, lists_b),
        cka=linear_cka(ca, cb),
        cka_shuffled=shuffled_cka(ca, cb, seed, SHUFFLES),
        alignment=alignment,
        alignment_note=note,
        show=show,
        ranks=ranks,
        rows=row_cosine_summary(table_a, table_b),
    )
