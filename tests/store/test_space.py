"""Transforms scored without a transformed copy (``embcli.store.space``), against float64 numpy.

The reference builds what the old store wrote to disk: every raw row transformed in float64 and
re-normalised, then cosines as dot products. The space must rank and score the same from the
cached unit rows, their norms, and one length per row.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from embcli.ask.queries import cosmul_scores, top_k
from embcli.store.load import open_table
from embcli.store.space import Space, Transform


def _table(seed: int = 0, rows: int = 3000, dim: int = 48) -> tuple[np.ndarray, np.ndarray]:
    """Unit rows and norms of an anisotropic table: a large shared direction (mean cosine
    about 0.8, as in many language-model tables), row norms spread over 10x, two zero rows."""
    rng = np.random.default_rng(seed)
    shared = rng.standard_normal(dim) * 3
    raw = shared + rng.standard_normal((rows, dim)) * rng.uniform(0.5, 2.0, (rows, 1))
    raw *= rng.uniform(0.3, 3.0, (rows, 1))
    raw[[5, 77]] = 0.0
    norms = np.linalg.norm(raw, axis=1)
    unit = np.divide(raw, norms[:, None], out=np.zeros_like(raw), where=norms[:, None] > 0)
    return unit.astype(np.float32), norms.astype(np.float32)


def _reference(unit: np.ndarray, norms: np.ndarray, transform: Transform) -> np.ndarray:
    """Every row transformed in float64 and re-normalised (zero rows stay zero)."""
    raw = unit.astype(np.float64) * norms.astype(np.float64)[:, None]
    x = raw if transform.mean is None else raw - transform.mean
    if transform.components is not None:
        c = transform.components
        x = x - (x @ c.T) @ c
    x[norms == 0] = 0.0
    n = np.linalg.norm(x, axis=1, keepdims=True)
    return np.divide(x, n, out=np.zeros_like(x), where=n > 0)


def _transforms(unit: np.ndarray, norms: np.ndarray) -> dict[str, Transform]:
    raw = unit.astype(np.float64) * norms.astype(np.float64)[:, None]
    used = norms > 0
    mean = raw[used].mean(axis=0)
    _, _, vt = np.linalg.svd(raw[used] - mean, full_matrices=False)
    axis = unit[10].astype(np.float64) - unit[20]
    axis /= np.linalg.norm(axis)
    return {
        "centre": Transform(mean, None, "centred"),
        "abtt": Transform(mean, vt[:3], "centred, top 3 PCs removed"),
        "axis": Transform().removing(axis, "axis removed"),  # no mean, one unit axis
        "centre+axis": Transform(mean, None, "centred").removing(axis, "axis removed"),
        "abtt+axis": Transform(mean, vt[:3]).removing(axis, "axis removed"),
    }


@pytest.mark.parametrize("which", ["centre", "abtt", "axis", "centre+axis", "abtt+axis"])
def test_space_scores_equal_the_transformed_copy(which):
    unit, norms = _table()
    transform = _transforms(unit, norms)[which]
    want_rows = _reference(unit, norms, transform)
    space = Space(unit, norms, transform)
    queries = np.stack([space.query(unit[i].astype(np.float64) * norms[i]) for i in (1, 2, 3)])
    np.testing.assert_allclose(queries, want_rows[[1, 2, 3]], atol=1e-12)
    want = queries @ want_rows.T
    np.testing.assert_allclose(space.cosines(queries.astype(np.float32)), want, atol=2e-6)
    # top-k: the same rows in the same order, the cosines exact (float64 winners)
    ids, scores = top_k(space, queries, 25, exclude=[[1], [2], [3]])
    for r in range(3):
        ref = want[r].copy()
        ref[[1, 2, 3][r]] = -np.inf
        order = np.lexsort((np.arange(len(ref)), -ref))[:25]
        assert ids[r].tolist() == order.tolist()
        np.testing.assert_allclose(scores[r], ref[order], atol=1e-12)
    np.testing.assert_allclose(space.rows(np.arange(10)), want_rows[:10], atol=1e-12)


def test_cosmul_over_a_space_equals_the_copy():
    unit, norms = _table(1)
    transform = _transforms(unit, norms)["abtt"]
    copy = _reference(unit, norms, transform)
    space = Space(unit, norms, transform)
    a, b, c = (copy[i] for i in (4, 8, 15))
    sims = (np.stack([a, b, c]) @ copy.T + 1) / 2
    want = sims[0] * sims[2] / (sims[1] + 1e-3)
    np.testing.assert_allclose(cosmul_scores(space, a, b, c), want, rtol=1e-5, atol=1e-6)


def test_a_row_with_nothing_left_scores_zero():
    """Removing a row's own direction leaves float32 rounding, not a direction: cosine 0."""
    unit, norms = _table(2)
    axis = unit[30].astype(np.float64)
    space = Space(unit, norms, Transform().removing(axis, "axis removed"))
    assert space.inverse_lengths[30] == 0 and space.inverse_lengths[5] == 0  # and a zero row
    q = space.query(unit[31].astype(np.float64))
    assert space.cosines(q)[0, 30] == 0 and space.exact(np.array([30]), q)[0] == 0
    assert not space.query(unit[30].astype(np.float64)).any()  # a query with nothing left


def test_removing_keeps_one_orthonormal_projection():
    rng = np.random.default_rng(3)
    dim = 20
    base = Transform(rng.standard_normal(dim), np.linalg.qr(rng.standard_normal((dim, 3)))[0].T)
    extra = rng.standard_normal((2, dim)) * 5
    both = base.removing(extra, "two axes removed")
    c = both.components
    assert c.shape == (5, dim) and both.mean is base.mean
    np.testing.assert_allclose(c @ c.T, np.eye(5), atol=1e-12)
    # the span removed is the span of the old components and the new directions
    span = np.vstack([base.components, extra])
    proj = span.T @ np.linalg.pinv(span.T)
    np.testing.assert_allclose(c.T @ c, proj, atol=1e-10)
    # a direction already removed adds nothing; the caption says what was removed
    again = both.removing(base.components[0] * 2 + extra[1], "again")
    assert again.removed == 5 and again.caption() == "two axes removed, again"
    assert Transform(None, None).identity and not both.identity
    assert base.key != both.key and both.key == both.removing(extra[0], "").key


def test_table_space_keeps_lengths_only(model_dirs, cli):
    """``EmbeddingTable.space``: the lengths are kept under the transform's key and read back."""
    table = open_table(str(model_dirs["gpt2"]))
    rows, dim = table.shape
    transform = table.transform(center=True)
    space = table.space(transform)
    unit, norms = np.asarray(table.unit), np.asarray(table.norms)
    want = _reference(unit, norms, transform)
    np.testing.assert_allclose(space.rows(np.arange(rows)), want, atol=1e-12)
    derived = table.path / "derived"
    assert sorted(p.name for p in derived.iterdir()) == [f"lengths-{transform.key}.npy",
                                                         "mean.npy"]  # fmt: skip
    again = open_table(str(model_dirs["gpt2"])).space(transform)
    np.testing.assert_array_equal(again.lengths, space.lengths)
    assert sum(p.stat().st_size for p in derived.iterdir()) < rows * 8 + dim * 8 + 512
    # a kept file of the wrong shape is computed again, not trusted
    np.save(derived / "mean.npy", np.zeros(dim + 1))
    np.testing.assert_array_equal(open_table(str(model_dirs["gpt2"])).transform(True).mean,
                                  transform.mean)  # fmt: skip
    res = cli("neighbors", "#9", "--center", "-k", "3", "--all-tokens", "-m", model_dirs["gpt2"],
              "-f", "json")  # fmt: skip
    got = json.loads(res.out)["neighbors"]
    ref = want @ want[9]
    ref[9] = -np.inf
    assert [n["id"] for n in got] == np.argsort(-ref, kind="stable")[:3].tolist()


@pytest.mark.parametrize("center", [False, True])
def test_a_removed_axis_is_scored_without_a_copy(model_dirs, monkeypatch, center):
    """``--remove-axis`` (``ask.space.space_of``): the axis projected out of every (centred)
    row equals a float64 reference; on a cache that cannot be written nothing is kept and the
    answer is the same; afterwards only the lengths are kept, under the transform's key, and a
    rebuilt axis that differs in its last bits finds them."""
    import os

    from embcli.ask.space import space_of
    from embcli.errors import UsageProblem

    table = open_table(str(model_dirs["llama"]))
    rows, dim = table.shape
    axis = np.random.default_rng(1).normal(size=dim)
    unit, norms = np.asarray(table.unit), np.asarray(table.norms)
    raw = unit.astype(np.float64) * norms.astype(np.float64)[:, None]
    x = raw - raw[table.mean_rows()].mean(axis=0) if center else raw
    g = (axis / np.linalg.norm(axis)).astype(np.float32).astype(np.float64)
    g /= np.linalg.norm(g)
    want = x - np.outer(x @ g, g)
    want[norms == 0] = 0.0
    n = np.linalg.norm(want, axis=1, keepdims=True)
    want = np.divide(want, n, out=np.zeros_like(want), where=n > 0)

    table.transform(center)  # the mean is kept already; the axis's lengths are not
    derived = table.path / "derived"
    before = sorted(p.name for p in derived.iterdir()) if derived.exists() else []

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Read-only file system")

    with monkeypatch.context() as patched:  # (not undo(): that would drop the test's cache too)
        patched.setattr(os, "replace", refuse)
        space, _ = space_of(table, center, 0, axis)
        rows_seen = space.rows(np.arange(rows))  # the lengths, made on the first score
    now = sorted(p.name for p in derived.iterdir()) if derived.exists() else []
    assert now == before
    np.testing.assert_allclose(rows_seen, want, atol=1e-9)
    assert space.transform.caption().endswith("axis removed (a given vector)")

    nudged = axis * (1 + 1e-12)
    again, _ = space_of(open_table(str(model_dirs["llama"])), center, 0, nudged)
    assert again.transform.key == space.transform.key
    assert again.lengths is not None  # computed now: the read-only run kept nothing
    assert f"lengths-{space.transform.key}.npy" in {p.name for p in derived.iterdir()}
    np.testing.assert_allclose(again.lengths, space.lengths, rtol=1e-12)

    with pytest.raises(UsageProblem, match="no direction left"):
        space_of(table, False, 0, np.zeros(dim))
    top = table.transform(False, 2).components[0]
    with pytest.raises(UsageProblem, match="no direction left"):
        space_of(table, False, 2, top)


def test_a_zero_query_stays_zero_under_every_transform():
    """A zero row used as a query (a word whose row is all zeros) scores 0 with everything, as
    the same row does as a candidate: centring must not turn it into the direction of -mean."""
    unit, norms = _table()
    for name, transform in _transforms(unit, norms).items():
        space = Space(unit, norms, transform)
        q = space.query(np.zeros(unit.shape[1]))
        assert not q.any(), name
        assert not space.cosines(q).any(), name
        both = transform.unit(np.stack([np.zeros(unit.shape[1]), unit[3] * norms[3]]))
        assert not both[0].any() and np.isclose(np.linalg.norm(both[1]), 1.0), name


def test_a_tables_transforms_are_computed_once(model_dirs, monkeypatch):
    """``EmbeddingTable.transform`` keeps what it computed: a question that builds an axis in
    the transformed table, then removes it, asks twice, and a read-only cache keeps nothing."""
    from embcli import linalg

    table = open_table(str(model_dirs["llama"]))
    calls = []
    top = linalg.top_components
    monkeypatch.setattr(linalg, "top_components", lambda *a: calls.append(1) or top(*a))
    first = table.transform(False, 2)
    assert table.transform(True, 2) is first and table.transform(remove_pcs=2) is first
    assert table.transform(True) is table.transform(True) and calls == [1]


# -- the API's space: resolved once, the same answer in both forms --------------------------------


def _space_reference(table, center: bool, d: int, axis: np.ndarray | None) -> np.ndarray:
    """Every row of ``table`` through the options, in float64 numpy written from their
    definitions: the mean and the top ``d`` principal components of the tokenizer's non-zero
    rows, then the axis (normalised, rounded to float32 as the library keys it) projected out,
    each row normalised again (zero rows stay zero)."""
    unit, norms = np.asarray(table.unit, np.float64), np.asarray(table.norms, np.float64)
    raw = unit * norms[:, None]
    used = table.mean_rows()
    x = raw - raw[used].mean(axis=0) if (center or d) else raw.copy()
    basis = np.zeros((0, raw.shape[1]))
    if d:
        basis = np.linalg.svd(x[used], full_matrices=False)[2][:d]
    if axis is not None:
        g = (axis / np.linalg.norm(axis)).astype(np.float32).astype(np.float64)
        g = g - basis.T @ (basis @ g)
        basis = np.vstack([basis, g / np.linalg.norm(g)])
    x = x - (x @ basis.T) @ basis
    x[norms == 0] = 0.0
    n = np.linalg.norm(x, axis=1, keepdims=True)
    return np.divide(x, n, out=np.zeros_like(x), where=n > 0)


@pytest.mark.parametrize(
    ("center", "d", "with_axis"),
    [(True, 0, False), (False, 3, False), (True, 2, True), (False, 0, True)],
)
def test_the_space_form_and_the_keyword_form_equal_numpy(model_dirs, center, d, with_axis):
    """``t.space(...).neighbors(...)`` and ``t.neighbors(..., center=..., ...)`` give one
    answer, and it is the float64 reference's: the same rows in the same order, the same
    cosines; so do similarity and a 3CosAdd analogy."""
    import embcli

    t = embcli.load(model_dirs["llama"])
    dim = t.shape[1]
    axis = np.random.default_rng(7).normal(size=dim) if with_axis else None
    options = {"center": center, "remove_pcs": d, "remove_axis": axis}
    want = _space_reference(t.embeddings, center, d, axis)
    space = t.space(**options)
    queries = ["#9", "#17", "#40"]
    got = space.neighbors(queries, k=6, all_tokens=True)
    assert got.to_dict() == t.neighbors(queries, k=6, all_tokens=True, **options).to_dict()
    for word, found in zip(queries, got, strict=True):
        i = int(word[1:])
        ref = want @ want[i]
        ref[i] = -np.inf
        order = np.argsort(-ref, kind="stable")[:6]
        assert [n.id for n in found] == order.tolist()
        np.testing.assert_allclose([n.cosine for n in found], ref[order], atol=1e-6)
    pair = space.similarity("#3", "#5")
    assert pair.to_dict() == t.similarity("#3", "#5", **options).to_dict()
    assert pair.cosine == pytest.approx(float(want[3] @ want[5]), abs=1e-6)
    answer = space.analogy("#11", "#12", "#13", k=3, all_tokens=True)
    assert answer.to_dict() == t.analogy("#11", "#12", "#13", k=3, all_tokens=True,
                                         **options).to_dict()  # fmt: skip
    target = want[11] - want[12] + want[13]
    ref = want @ (target / np.linalg.norm(target))
    ref[[11, 12, 13]] = -np.inf
    assert [s.id for s in answer] == np.argsort(-ref, kind="stable")[:3].tolist()
    assert space.caption == got.space  # what the result says was done


def test_the_transform_is_made_once_per_question(model_dirs, monkeypatch):
    """A question asks the table for its transform once (``Table.neighbors`` used to build the
    removed axis in one place and the transform again in another); the questions of one
    ``Space`` share it."""
    import embcli
    from embcli.store.table import EmbeddingTable

    asked: list[tuple[object, ...]] = []
    made = EmbeddingTable.transform

    def counted(self, *args, **kwargs):
        asked.append(args)
        return made(self, *args, **kwargs)

    monkeypatch.setattr(EmbeddingTable, "transform", counted)
    t = embcli.load(model_dirs["llama"])
    pairs = "#1:#2,#3:#4,#5:#6"
    t.neighbors("#9", k=3, center=True, remove_axis=pairs)
    assert len(asked) == 1
    asked.clear()
    t.similarity("#3", "#5", remove_pcs=2)
    assert len(asked) == 1
    asked.clear()
    space = t.space(remove_pcs=2, remove_axis=pairs)
    assert asked == []  # checked, not made: nothing is computed until a question is asked
    space.neighbors("#9", k=3)
    space.similarity("#3", "#5")
    space.analogy("#11", "#12", "#13")
    space.axis("#20:#21,#22:#23", words=["#9", "#10"])
    assert len(asked) == 1


def test_a_space_checks_its_arguments_before_the_table_opens(model_dirs):
    import embcli
    from embcli.errors import UsageProblem

    t = embcli.Model(model_dirs["llama"]).table()
    refused = [({"remove_pcs": -1}, "remove_pcs must be 0 or more, not -1"),
               ({"remove_axis": "a:b"}, "remove_axis needs two or more pairs, got 1"),
               ({"remove_axis": np.zeros(3)}, "remove_axis: the vector is zero")]  # fmt: skip
    for bad, says in refused:
        with pytest.raises(UsageProblem) as err:
            t.space(**bad)
        assert err.value.one_line().startswith(says) and err.value.param in bad
    assert "not made yet" in repr(t.space(center=True))
    assert t._embeddings is None
