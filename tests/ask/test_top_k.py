"""``queries.top_k`` itself, against a full float64 sort written here: the ranking, the scores it
reports, the allowed mask, per-query exclusions and the padding when candidates run out.

The CLI tests of neighbours go through words, filters and rendering; these call the function
on planted random unit rows, so a fault in the two-stage selection fails here first.
"""

from __future__ import annotations

import numpy as np
import pytest

from embcli.ask.queries import GROUP, QUERY_BLOCK, top_k


def unit_rows(n: int, dim: int, seed: int) -> np.ndarray:
    rows = np.random.default_rng(seed).normal(size=(n, dim)).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def reference(unit: np.ndarray, q: np.ndarray, k: int, blocked: np.ndarray) -> list:
    """Per query: (ids, scores, margin) from a float64 sort of every row; ``blocked[i]`` marks
    rows query ``i`` may not return. The margin is the gap between the k-th and next score."""
    scores = unit.astype(np.float64) @ q.astype(np.float64).T  # [V, Q]
    out = []
    for i in range(q.shape[0]):
        col = np.where(blocked[i], -np.inf, scores[:, i])
        order = np.lexsort((np.arange(len(col)), -col))
        ids = order[:k][np.isfinite(col[order[:k]])]
        nxt = col[order[k]] if k < len(col) else -np.inf
        out.append((ids, col[ids], col[order[k - 1]] - nxt))
    return out


def test_ranking_and_scores_equal_a_float64_sort():
    # 5,000 rows: wider than GROUP * k * 4, so the grouped selection runs, with a ragged tail;
    # 300 queries: more than one block of QUERY_BLOCK.
    n, k = 5000, 12
    assert n > GROUP * k * 4 and n % GROUP and QUERY_BLOCK < 300
    unit = unit_rows(n, 24, seed=3)
    q = unit_rows(300, 24, seed=4)
    ids, scores = top_k(unit, q, k)
    assert ids.shape == scores.shape == (300, k) and scores.dtype == np.float64
    clear = 0
    for i, (ref_ids, ref_scores, margin) in enumerate(
        reference(unit, q, k, np.zeros((300, n), bool))
    ):
        # The reported scores are the float64 cosines of the rows returned, sorted.
        np.testing.assert_allclose(scores[i], unit[ids[i]].astype(np.float64) @ q[i], rtol=1e-12)
        assert np.all(np.diff(scores[i]) <= 0)
        if margin > 1e-5:  # float32 scoring cannot swap the k-th winner with the next
            clear += 1
            assert ids[i].tolist() == ref_ids.tolist()
            np.testing.assert_allclose(scores[i], ref_scores, rtol=1e-12)
    assert clear >= 290


def test_allowed_mask_and_exclusions_are_never_returned():
    n, k = 3000, 8
    unit = unit_rows(n, 16, seed=5)
    q = unit[:40]  # each query's best row is itself, unless excluded
    allowed = np.random.default_rng(6).random(n) < 0.7
    exclude = [[i, (i + 1) % n] for i in range(40)]
    ids, scores = top_k(unit, q, k, allowed=allowed, exclude=exclude)
    blocked = np.tile(~allowed, (40, 1))
    for i, left_out in enumerate(exclude):
        blocked[i, left_out] = True
    for i, (ref_ids, ref_scores, margin) in enumerate(reference(unit, q, k, blocked)):
        assert allowed[ids[i]].all() and not set(exclude[i]) & set(ids[i].tolist())
        if margin > 1e-5:
            assert ids[i].tolist() == ref_ids.tolist()
            np.testing.assert_allclose(scores[i], ref_scores, rtol=1e-12)


@pytest.mark.parametrize("k", [0, 5, 9, 50])
def test_k_beyond_the_candidates_is_padded_with_minus_one(k):
    unit = unit_rows(40, 8, seed=7)
    allowed = np.zeros(40, bool)
    allowed[[3, 11, 17, 29]] = True
    q = unit_rows(2, 8, seed=8)
    exclude = [[], [11]]
    ids, scores = top_k(unit, q, k, allowed=allowed, exclude=exclude)
    assert ids.shape == (2, min(k, 40))
    for i in range(2):
        cand = [r for r in (3, 11, 17, 29) if r not in exclude[i]]
        ref = sorted(cand, key=lambda r: (-float(unit[r].astype(np.float64) @ q[i]), r))[:k]
        got = ids[i].tolist()
        assert got[: len(ref)] == ref and got[len(ref) :] == [-1] * (len(got) - len(ref))
        assert np.all(np.isneginf(scores[i, len(ref) :]))


def test_exact_ties_are_broken_by_the_lower_id():
    unit = unit_rows(500, 8, seed=9)
    unit[[40, 90, 200]] = unit[7]  # four identical rows
    ids, scores = top_k(unit, unit[7], 4)
    assert ids[0].tolist() == [7, 40, 90, 200]
    np.testing.assert_allclose(scores[0], 1.0, rtol=1e-6)
