"""The math of the three questions, as plain functions over arrays.

Everything here scores queries against ``rows``: a unit-normalised float32 matrix (rows of
``EmbeddingTable.unit``), or a :class:`~embcli.store.space.Space` (the rows through
``--center``, ``--remove-pcs`` or ``--remove-axis``, scored without a transformed copy), so
tests call it directly against a float64 reference. The CLI layer only resolves words to ids
and renders results.

Top-k over a large vocabulary is done in blocks of queries: one matrix product per block, then
``argpartition`` on each row to keep k candidates, then a sort of those k. Exclusions (the query's
own token and its variants, special tokens, fragments) are applied as ``-inf`` before selection,
so a result list never contains them and never comes up short while candidates remain.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from embcli.linalg import unit_rows
from embcli.store.space import Space

Rows = np.ndarray | Space

QUERY_BLOCK = 256  # queries per matrix product: 256 x 50,257 float32 scores is 51 MB
GROUP = 64  # columns per group in the two-stage top-k selection
COSMUL_EPS = 1e-3  # Levy and Goldberg (2014); gensim uses the same value


def as_space(rows: Rows) -> Space:
    """A unit matrix as the identity space; a space as it is."""
    return rows if isinstance(rows, Space) else Space(rows, np.ones(rows.shape[0], np.float32))


def top_k(
    rows: Rows,
    queries: np.ndarray,
    k: int,
    allowed: np.ndarray | None = None,
    exclude: Sequence[Sequence[int]] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Indices and cosines of the ``k`` rows of ``rows`` most similar to each query.

    ``queries`` is ``[Q, D]`` (unit vectors); ``allowed`` a boolean mask over rows (False rows are
    never returned); ``exclude[q]`` lists rows to leave out for query ``q`` only. Returns
    ``(ids [Q, k'], scores [Q, k'])`` sorted by decreasing score, ties by increasing id, where
    ``k' = min(k, candidates)``; rows with no candidate left are padded with id -1.
    """
    space = as_space(rows)
    q = np.atleast_2d(np.asarray(queries, dtype=np.float32))
    n_rows = space.shape[0]
    k = max(0, min(k, n_rows))
    ids = np.full((q.shape[0], k), -1, dtype=np.int64)
    scores = np.full((q.shape[0], k), -np.inf, dtype=np.float32)
    if k == 0:
        return ids, scores
    blocked = None if allowed is None else ~np.asarray(allowed, dtype=bool)
    for lo in range(0, q.shape[0], QUERY_BLOCK):
        block = space.cosines(q[lo : lo + QUERY_BLOCK])  # [B, V] float32
        if blocked is not None:
            block[:, blocked] = -np.inf
        if exclude is not None:
            for r, left_out in enumerate(exclude[lo : lo + QUERY_BLOCK]):
                if len(left_out):
                    block[r, list(left_out)] = -np.inf
        ids[lo : lo + len(block)], scores[lo : lo + len(block)] = _select(block, k)
    ids[~np.isfinite(scores)] = -1
    return _refine(space, q, ids, scores)


def _refine(
    space: Space, q: np.ndarray, ids: np.ndarray, scores: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Recompute the k winners' cosines in float64 and re-sort them.

    A float32 matrix product gives slightly different last bits for a batch than for a single
    query (BLAS blocks the sums differently); recomputing the few winners exactly makes batched
    and one-at-a-time answers identical, and as close to a float64 reference as the cache allows.
    """
    out_ids, out_scores = ids.copy(), scores.astype(np.float64)
    for r in range(ids.shape[0]):
        valid = ids[r] >= 0
        sel = ids[r][valid]
        if len(sel) == 0:
            continue
        exact = space.exact(sel, q[r].astype(np.float64))
        order = np.lexsort((sel, -exact))
        out_ids[r, : len(sel)] = sel[order]
        out_scores[r, : len(sel)] = exact[order]
    return out_ids, out_scores


def _select(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Top ``k`` per row of a score block, sorted by score (desc), then id (asc).

    A full ``argpartition`` over 50,257 columns costs as much as the matrix product itself, so
    rows are first cut into groups of ``GROUP`` columns: the k winners all lie in the k groups
    with the largest maxima (any group holding a winner has a maximum at least as large), and
    only those k x GROUP candidates are partitioned. A max-reduce is far cheaper than a select.
    """
    rows, width = scores.shape
    if width <= GROUP * k * 4:
        cand = np.broadcast_to(np.arange(width), scores.shape)
    else:
        full = width - width % GROUP
        gmax = scores[:, :full].reshape(rows, full // GROUP, GROUP).max(axis=2)
        groups = np.argpartition(gmax, gmax.shape[1] - k, axis=1)[:, -k:]
        cand = (groups[:, :, None] * GROUP + np.arange(GROUP)).reshape(rows, -1)
        if full < width:  # the ragged tail is always a candidate
            tail = np.broadcast_to(np.arange(full, width), (rows, width - full))
            cand = np.concatenate([cand, tail], axis=1)
    vals = np.take_along_axis(scores, cand, axis=1)
    if k < cand.shape[1]:
        part = np.argpartition(vals, cand.shape[1] - k, axis=1)[:, -k:]
        cand = np.take_along_axis(cand, part, axis=1)
        vals = np.take_along_axis(vals, part, axis=1)
    order = np.lexsort((cand, -vals), axis=1)
    return np.take_along_axis(cand, order, axis=1), np.take_along_axis(vals, order, axis=1)


def analogy_target(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Unit vector of ``a - b + c`` over unit inputs (3CosAdd's query, as gensim forms it)."""
    return unit_rows(np.asarray(a) - np.asarray(b) + np.asarray(c)).astype(np.float32)


def cosmul_scores(rows: Rows, a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """3CosMul scores of every row for ``a - b + c`` (Levy and Goldberg, 2014).

    ``cos(x, a) * cos(x, c) / (cos(x, b) + eps)`` with cosines shifted to [0, 1], which keeps one
    large similarity from dominating as it can in the additive form.
    """
    sims = (as_space(rows).cosines(np.stack([a, b, c])) + 1.0) / 2.0  # [3, V]
    scores: np.ndarray = sims[0] * sims[2] / (sims[1] + COSMUL_EPS)
    return scores


def top_k_scores(
    scores: np.ndarray, k: int, allowed: np.ndarray | None, exclude: Sequence[int] = ()
) -> tuple[np.ndarray, np.ndarray]:
    """Top ``k`` of one precomputed score vector, with the same masking rules as :func:`top_k`."""
    s = np.array(scores, dtype=np.float32)
    if allowed is not None:
        s[~np.asarray(allowed, dtype=bool)] = -np.inf
    if len(exclude):
        s[list(exclude)] = -np.inf
    k = max(0, min(k, s.shape[0]))
    if k == 0:
        return np.empty(0, np.int64), np.empty(0, np.float32)
    ids, vals = _select(s[None, :], k)
    keep = np.isfinite(vals[0])
    return ids[0][keep], vals[0][keep]
