"""Directions in a table: an axis from word pairs or two poles, and the ends of a table along it.

Three ways to build the direction, all on unit rows (float64):

- ``pca`` (Bolukbasi et al., 2016, the gender direction): for each pair ``(a, b)`` with centre
  ``c = (a + b) / 2`` the rows ``a - c`` and ``b - c``; the axis is the first right singular
  vector of that matrix, signed so that the mean of ``b - a`` along it is positive. The share of
  variance that component explains says how one-dimensional the pairs' differences are.
- ``mean``: the normalised mean of ``b - a`` (the direction ``analogy`` uses, averaged).
- poles (SemAxis, An et al., 2018): the normalised difference of the mean unit rows of the
  ``to`` pole and the ``from`` pole.

For pairs, a leave-one-out check says whether the direction generalises: each pair in turn is
left out, the axis is rebuilt from the others, and the left-out pair's ``b - a`` is compared
with it (the share pointing the axis's way, and the mean cosine).

:func:`build` makes a :class:`Direction` in a table (its words through a
:class:`~embcli.ask.words.Resolver`, in the question's space); :func:`extremes` finds the rows
furthest at each end of the whole table with one mat-vec (through the question's ``Space``: no
transformed copy) and an ``argpartition`` (the winners re-scored in float64, as
``queries.top_k`` does). The question, words along an axis, is :mod:`embcli.ask.axis`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from embcli import linalg
from embcli.ask import queries
from embcli.ask.pairs import Pair, check_pairs, pairs_from
from embcli.ask.words import Resolver, shortlist
from embcli.errors import UnresolvedWord, UsageProblem
from embcli.store.space import Space
from embcli.store.table import EmbeddingTable

METHODS = ("pca", "mean")


# -- the math, over arrays -------------------------------------------------------------------------


@dataclass(frozen=True)
class Spectrum:
    """The pairs' differences ``D = b - a`` (n x dim) in an orthonormal basis of their span.

    ``D = coords @ basis.T`` with ``basis`` (dim x r) the right singular vectors and
    ``values`` the eigenvalues of ``D^T D`` (descending). Found from the smaller of the Gram
    matrix ``D D^T`` and the scatter ``D^T D``, so a few pairs in 5,120 dimensions cost an
    ``n x n`` eigenproblem. Not :func:`embcli.linalg.pca`: that centres the rows (``b - a`` is
    not centred: its mean is the direction itself), keeps a few axes where the leave-one-out
    needs the whole span, and fixes signs by the largest loading where an axis is signed by
    the mean of ``b - a``.
    """

    coords: np.ndarray  # n x r
    basis: np.ndarray  # dim x r
    values: np.ndarray  # r

    @classmethod
    def of(cls, diffs: np.ndarray) -> Spectrum:
        d = np.asarray(diffs, np.float64)
        n, dim = d.shape
        if n <= dim:
            vals, u = linalg.descending_eigh(d @ d.T)
            keep = vals > vals[0] * 1e-12 if vals[0] > 0 else np.zeros(len(vals), bool)
            vals, u = vals[keep], u[:, keep]
            coords = u * np.sqrt(vals)
            basis = d.T @ u / np.sqrt(vals)
        else:
            vals, v = linalg.descending_eigh(d.T @ d)
            keep = vals > vals[0] * 1e-12 if vals[0] > 0 else np.zeros(len(vals), bool)
            vals, basis = vals[keep], v[:, keep]
            coords = d @ basis
        return cls(coords, basis, vals)


def pca_axis(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, float]:
    """The ``pca`` axis of pairs of unit rows ``a``, ``b`` (n x dim), and the share of variance
    its component explains.

    The rows ``a - c`` and ``b - c`` are ``-(b - a) / 2`` and ``(b - a) / 2``, so the matrix's
    column mean is zero (sklearn's PCA, which Bolukbasi et al. used, centres nothing away) and
    its right singular vectors are those of ``D = b - a``; the first is the top eigenvector of
    ``D^T D`` and the share is its eigenvalue over the trace.
    """
    spec = Spectrum.of(np.asarray(b, np.float64) - np.asarray(a, np.float64))
    if not len(spec.values):
        raise UsageProblem("every pair's two words have the same vector: the axis has no direction")
    sign = 1.0 if spec.coords[:, 0].sum() >= 0 else -1.0
    return sign * spec.basis[:, 0], float(spec.values[0] / spec.values.sum())


def mean_axis(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The ``mean`` axis: the normalised mean of ``b - a``."""
    return _direction(np.mean(np.asarray(b, np.float64) - np.asarray(a, np.float64), axis=0),
                      "the pairs' differences cancel out")  # fmt: skip


def pole_axis(start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """SemAxis: the normalised difference of the mean unit rows of ``end`` and ``start``."""
    diff = np.mean(np.asarray(end, np.float64), 0) - np.mean(np.asarray(start, np.float64), 0)
    return _direction(diff, "the two poles have the same mean")


def _direction(v: np.ndarray, why: str) -> np.ndarray:
    n = float(np.linalg.norm(v))
    if not n > 1e-12:
        raise UsageProblem(f"{why}: the axis has no direction")
    return v / n


@dataclass
class LeaveOneOut:
    """Each pair left out in turn: the share whose ``b - a`` points the rebuilt axis's way, and
    the mean cosine of ``b - a`` with it."""

    share: float
    mean_cosine: float
    cosines: np.ndarray  # one per pair, in pair order

    def to_dict(self) -> dict[str, float]:
        return {"share": self.share, "mean_cosine": self.mean_cosine}


def leave_one_out(a: np.ndarray, b: np.ndarray, method: str) -> LeaveOneOut | None:
    """Leave-one-out of :func:`pca_axis` or :func:`mean_axis` over pairs (None under two)."""
    d = np.asarray(b, np.float64) - np.asarray(a, np.float64)
    n = d.shape[0]
    if n < 2:
        return None
    norms = np.linalg.norm(d, axis=1)
    if method == "mean":
        rest = d.sum(axis=0) - d  # row i: the sum of every other pair's b - a
        along = np.einsum("ij,ij->i", d, rest)
        cos = along / (norms * np.linalg.norm(rest, axis=1) + 1e-300)
    else:
        cos = _pca_leave_one_out(Spectrum.of(d), norms)
    return LeaveOneOut(float(np.mean(cos > 0)), float(np.mean(cos)), cos)


def _pca_leave_one_out(spec: Spectrum, norms: np.ndarray) -> np.ndarray:
    """Cosine of each ``d_i`` with the ``pca`` axis of the other pairs, all at once.

    Leaving pair ``i`` out turns ``D^T D = V diag(lam) V^T`` into ``V (diag(lam) - z z^T) V^T``
    with ``z = V^T d_i`` (row ``i`` of ``coords``): a rank-one downdate whose top eigenvalue
    ``mu`` is the root of the secular equation ``1 = sum_j z_j^2 / (lam_j - mu)`` in
    ``[max(lam_2, lam_1 - |z|^2), lam_1]`` (where it is decreasing, so bisection finds it) and
    whose eigenvector is ``(diag(lam) - mu)^-1 z``. That is O(n r) per bisection step for all
    pairs together, instead of one eigenproblem per pair. A pair whose root sits on ``lam_1``
    (it barely moves the top direction, or the top eigenvalue is tied) is redone directly.
    """
    z, lam = spec.coords, spec.values
    n, r = z.shape
    if r == 1:  # every difference is parallel: the others' axis is the same line
        w = np.ones((n, 1))
    else:
        z2 = z * z
        lo = np.maximum(lam[1], lam[0] - z2.sum(axis=1))
        hi = np.full(n, lam[0])
        for _ in range(200):
            mid = (lo + hi) / 2
            with np.errstate(divide="ignore", invalid="ignore"):
                f = 1.0 - (z2 / (lam[None, :] - mid[:, None])).sum(axis=1)
            above = f > 0  # f decreases on the interval: a positive value means the root is above
            lo = np.where(above, mid, lo)
            hi = np.where(above, hi, mid)
            if np.all(hi - lo <= 4 * np.finfo(float).eps * lam[0]):
                break
        mu = (lo + hi) / 2
        with np.errstate(divide="ignore", invalid="ignore"):
            w = z / (lam[None, :] - mu[:, None])
        bad = ~np.all(np.isfinite(w), axis=1) | (lam[0] - mu <= 1e-9 * lam[0])
        for i in np.flatnonzero(bad):
            w[i] = _top_without(z, lam, int(i))
    w /= np.linalg.norm(w, axis=1, keepdims=True)
    # sign each axis so that the mean b - a of the pairs it was built from points along it
    rest = z.sum(axis=0)[None, :] - z
    w *= np.where(np.einsum("ij,ij->i", rest, w) >= 0, 1.0, -1.0)[:, None]
    return np.asarray(np.einsum("ij,ij->i", z, w) / norms)


def _top_without(z: np.ndarray, lam: np.ndarray, i: int) -> np.ndarray:
    """The top eigenvector of ``diag(lam) - z_i z_i^T`` by a direct eigensolve (the fallback)."""
    m = np.diag(lam) - np.outer(z[i], z[i])
    _, vecs = np.linalg.eigh(m)
    return np.asarray(vecs[:, -1])


def extremes(
    rows: np.ndarray | Space,
    axis: np.ndarray,
    k: int,
    allowed: np.ndarray | None = None,
    exclude: Sequence[int] = (),
) -> tuple[np.ndarray, np.ndarray]:
    """Ids and float64 scores of the ``k`` rows highest and the ``k`` lowest along the unit
    vector ``axis``, one list sorted by decreasing score (ties by id).

    ``rows`` is a unit matrix or a :class:`~embcli.store.space.Space` (the rows through
    ``--center`` / ``--remove-pcs`` / ``--remove-axis``): a row's score is its cosine with the
    axis. One pass over the table: one float32 mat-vec (the matrix may be a memory-mapped file:
    a mat-vec reads it in place, so blocks of rows would save no memory, and on 202,048 x 5,120
    blocks of 8,192 rows took 1.5x as long), then ``argpartition`` for each end over the
    allowed rows, then the few winners re-scored in float64.
    """
    space = queries.as_space(rows)
    scores = space.cosines(np.asarray(axis, np.float64))[0]
    ok = np.ones(len(space), bool) if allowed is None else np.array(allowed, dtype=bool)
    if len(exclude):
        ok[np.asarray(exclude, np.int64)] = False
    cand = np.flatnonzero(ok)
    k = max(0, min(k, len(cand)))
    if k == 0:
        return np.empty(0, np.int64), np.empty(0, np.float64)
    s = scores[cand]
    top = cand[np.argpartition(-s, k - 1)[:k]]
    bottom = cand[np.argpartition(s, k - 1)[:k]]
    # the few winners, each once (not np.union1d: np.unique imports numpy.ma, 30-60 ms)
    ids = np.array(sorted({*top.tolist(), *bottom.tolist()}), dtype=np.int64)
    exact = space.exact(ids, np.asarray(axis, np.float64))
    order = np.lexsort((ids, -exact))
    return ids[order], exact[order]


# -- a direction in a table ------------------------------------------------------------------------


@dataclass
class Direction:
    """An axis built in a table: the unit vector and how it was made.

    ``pairs`` (the pairs used) or ``poles`` (``{"from": [...], "to": [...]}``, the words used)
    say what it was built from; ``rows`` are the table rows of those words (left out of the
    ends of a ranking); ``missing`` the words that were not in the table.
    """

    vector: np.ndarray
    method: str  # "pca", "mean", "poles" or "vector" (given, not built)
    pairs: list[Pair] | None = None
    poles: dict[str, list[str]] | None = None
    variance_explained: float | None = None
    leave_one_out: LeaveOneOut | None = None
    rows: list[int] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"method": self.method}
        if self.pairs is not None:
            out["pairs"] = [list(p) for p in self.pairs]
        if self.poles is not None:
            out["poles"] = self.poles
        out["variance_explained"] = self.variance_explained
        out["leave_one_out"] = self.leave_one_out.to_dict() if self.leave_one_out else None
        return out

    def label(self) -> str:
        """What the axis was built from, short: ``man:woman, he:she and 8 more``."""
        if self.pairs is not None:
            return shortlist([f"{a}:{b}" for a, b in self.pairs], 3)
        if self.poles is not None:
            return f"{shortlist(self.poles['from'], 3)} → {shortlist(self.poles['to'], 3)}"
        return "a given vector"

    def caption(self) -> str:
        """The axis in words, for a caption."""
        if self.pairs is not None:
            ends = ", ".join(f"{a}→{b}" for a, b in self.pairs[:4])
            more = f" and {len(self.pairs) - 4} more" if len(self.pairs) > 4 else ""
            text = f"{self.method} over {len(self.pairs)} pairs ({ends}{more})"
            if self.variance_explained is not None:
                text += f", first component {self.variance_explained:.1%} of their variance"
            if self.leave_one_out is not None:
                loo = self.leave_one_out
                text += (f"; left out in turn, {loo.share:.0%} of pairs point the axis's way "
                         f"(mean cosine {loo.mean_cosine:.3f})")  # fmt: skip
            return text
        if self.poles is not None:
            return f"poles {shortlist(self.poles['from'], 4)} → {shortlist(self.poles['to'], 4)}"
        return "a given vector"


def check_axis_options(pairs: Any, poles: Any) -> None:
    """Raise :class:`UsageProblem` unless exactly one of pairs and poles is given (so the CLI
    can check before it opens a table)."""
    if (pairs is None) == (poles is None):
        raise UsageProblem("an axis is built from pairs or from two poles (from/to), one of them")


def build(
    table: EmbeddingTable,
    pairs: str | Sequence[str] | Sequence[Pair] | None = None,
    poles: tuple[Sequence[str], Sequence[str]] | None = None,
    *,
    method: str = "pca",
    rows: Resolver | None = None,
    pool: bool = False,
    space: Space | None = None,
) -> Direction:
    """Build an axis in ``table`` from ``pairs`` (see :func:`~embcli.ask.pairs.pairs_from`) or
    ``poles`` (``(from_words, to_words)``), its words' vectors taken in ``space`` (the table's
    own rows when None) by ``rows``, a resolver a question may share. Missing words are skipped
    and listed in ``missing`` (a pair with a word not in the table is left out whole); a pole
    left empty, or fewer than two pairs left (as one pair given is refused), raises
    :class:`UnresolvedWord` (exit 3)."""
    check_axis_options(pairs, poles)
    if method not in METHODS:
        raise UsageProblem(f"method must be pca or mean, not {method!r}")
    rows = rows or Resolver(table, pool=pool, space=space)
    before = len(rows.missing)
    if poles is not None:
        return _from_poles(table, poles, rows, before)
    wanted = check_pairs(pairs_from(pairs))  # type: ignore[arg-type]
    kept: list[Pair] = []
    a_vecs, b_vecs, ids = [], [], []
    for a, b in wanted:
        ra, rb = rows(a), rows(b)
        if ra is None or rb is None:
            continue
        if ra.ids == rb.ids:
            raise UsageProblem(f"{a} and {b} are the same row of {table.label}: the pair has "
                               "no direction")  # fmt: skip
        kept.append((a, b))
        a_vecs.append(rows.vector(ra))
        b_vecs.append(rows.vector(rb))
        ids += [*ra.ids, *rb.ids]
    missing = list(dict.fromkeys(rows.missing[before:]))
    if len(kept) < 2:  # as for pairs given: one pair is no axis (check_pairs)
        lacking = f" (missing: {shortlist(missing)})" if missing else ""
        some = f"only {len(kept)}" if kept else "none"
        raise UnresolvedWord(
            f"{some} of the {len(wanted)} pairs has both words in {table.label}{lacking}: "
            "an axis needs two or more"
        )
    a_arr, b_arr = np.array(a_vecs), np.array(b_vecs)
    if method == "pca":
        vector, share = pca_axis(a_arr, b_arr)
    else:
        vector, share = mean_axis(a_arr, b_arr), None
    return Direction(vector, method, kept, None, share, leave_one_out(a_arr, b_arr, method),
                     sorted(set(ids)), missing)  # fmt: skip


def _from_poles(
    table: EmbeddingTable, poles: tuple[Sequence[str], Sequence[str]], rows: Resolver, before: int
) -> Direction:
    start, end = (list(dict.fromkeys(w.strip() for w in p if w.strip())) for p in poles)
    for name, words in (("from", start), ("to", end)):
        if not words:
            raise UsageProblem(f"the {name} pole is empty: give it one or more words")
    used: dict[str, list[str]] = {}
    vecs: dict[str, np.ndarray] = {}
    ids: list[int] = []
    for name, words in (("from", start), ("to", end)):
        kept, res, v = rows.vectors(words)
        if not kept:
            raise UnresolvedWord(f"none of the words of the {name} pole is in {table.label} "
                                 f"({shortlist(words)})")  # fmt: skip
        used[name], vecs[name] = kept, v
        ids += [i for r in res for i in r.ids]
    vector = pole_axis(vecs["from"], vecs["to"])
    missing = list(dict.fromkeys(rows.missing[before:]))
    return Direction(vector, "poles", None, used, None, None, sorted(set(ids)), missing)
