"""``embcli map``'s numbers (ask/tokenmap.py): kinds of hand-made tokens, the PCA layout and
every row's neighbour list against float64 numpy, the search table as embcli resolves words,
and the derived files a second map reuses."""

from __future__ import annotations

import numpy as np
import pytest

import embcli
from embcli.ask import tokenmap
from embcli.ask.tokenmap import KINDS, token_kinds, token_map
from embcli.ask.words import resolve
from embcli.read.tokens import visible


@pytest.fixture
def gpt2_table(model_dirs, tmp_path):
    return embcli.Model(str(model_dirs["gpt2"]), cache_dir=tmp_path / "cache").table().embeddings


def test_kinds_of_hand_made_tokens():
    tokens = [" Paris", "aris", "\\xe2\\x80", "<|endoftext|>", " 1990", ",", "##ing", "a",
              "[unused3]", "<row 9>"]  # fmt: skip
    wordlike = np.array([True, False, False, False, True, False, False, False, False, False])
    got = token_kinds(tokens, wordlike, frozenset({3}), {7}, size=9, unused={8})
    assert [KINDS[c] for c in got] == ["word", "piece", "byte", "special", "number/punct",
                                       "number/punct", "piece", "byte", "unused",
                                       "padding"]  # fmt: skip


def test_layout_is_the_float64_pca_of_the_unit_rows(gpt2_table):
    found = token_map(gpt2_table, "input", clusters=4, k=5)
    u = np.asarray(gpt2_table.unit, np.float64)
    uc = u - u.mean(axis=0)
    vals, vecs = np.linalg.eigh(uc.T @ uc)
    ref = uc @ vecs[:, ::-1][:, :2]
    for axis in range(2):  # an eigenvector's sign is a convention
        sign = np.sign(ref[:, axis] @ found.coords[:, axis])
        np.testing.assert_allclose(found.coords[:, axis], sign * ref[:, axis], atol=1e-5)
    assert found.parameters["explained variance"] == pytest.approx(
        list(vals[::-1][:2] / vals.sum()), abs=1e-4
    )
    assert np.array_equal(found.rows, np.arange(gpt2_table.shape[0]))


def test_every_rows_neighbors_equal_a_float64_reference(gpt2_table):
    k = 6
    found = token_map(gpt2_table, "input", clusters=4, k=k)
    u = np.asarray(gpt2_table.unit, np.float64)
    tokens = list(gpt2_table.tokens)
    wordlike = np.asarray(gpt2_table.wordlike, bool)
    spelled = np.array([t.strip().casefold() for t in tokens])
    assert wordlike.sum() > k
    for i in range(len(tokens)):
        cos = u @ u[i]
        cos[~wordlike] = -np.inf
        cos[spelled == spelled[i]] = -np.inf  # the row itself and its variants
        cos[i] = -np.inf
        order = np.lexsort((np.arange(len(cos)), -cos))[:k]
        order = order[np.isfinite(cos[order])]
        assert found.neighbors[i, : len(order)].tolist() == order.tolist(), i
        np.testing.assert_allclose(found.scores[i, : len(order)], cos[order], atol=1e-6)


def test_a_row_lists_what_embcli_neighbors_lists(model_dirs, tmp_path):
    table = embcli.Model(str(model_dirs["gpt2"]), cache_dir=tmp_path / "cache").table()
    found = token_map(table.embeddings, "input", clusters=3, k=5)
    for i in (0, 7, 100):
        got = table.neighbors(f"#{i}", k=5)
        assert found.neighbors[i].tolist() == [n.id for n in got.neighbors]


def test_the_search_table_resolves_words_as_embcli_does(gpt2_table):
    found = token_map(gpt2_table, "input", clusters=3, k=3)
    tokens = list(gpt2_table.tokens)
    spaced = [i for i, t in enumerate(tokens) if t.startswith(" ") and t[1:].isalpha()]
    assert spaced
    for i in spaced:
        assert found.search[tokens[i][1:]] == i  # GPT-2's Paris -> " Paris"
    for key, row in list(found.search.items())[:200]:
        assert resolve(gpt2_table, key).ids == (row,)
    assert found.lowercase is False


def test_a_second_map_reuses_the_kept_layout_clusters_and_neighbors(gpt2_table, monkeypatch):
    first = token_map(gpt2_table, "input", clusters=3, k=4, seed=2)
    kept = sorted(p.name for p in (gpt2_table.path / "derived").iterdir())
    assert {"map-pca.npz", "map-kmeans-3-2.npy", "map-neighbors-4.npz"} <= set(kept)

    def fails(*args, **kwargs):
        raise AssertionError("computed again")

    for name in ("pca_coords", "kmeans_labels", "all_neighbors"):
        monkeypatch.setattr(tokenmap, name, fails)
    second = token_map(gpt2_table, "input", clusters=3, k=4, seed=2)
    assert np.array_equal(first.coords, second.coords)
    assert np.array_equal(first.clusters, second.clusters)
    assert np.array_equal(first.neighbors, second.neighbors)


def test_a_sample_shows_that_many_rows_and_lists_neighbors_from_the_full_table(gpt2_table):
    full = token_map(gpt2_table, "input", clusters=3, k=4)
    some = token_map(gpt2_table, "input", clusters=3, k=4, sample=50, seed=1)
    assert len(some.rows) == 50 and np.all(np.diff(some.rows) > 0)
    assert np.array_equal(some.neighbors, full.neighbors[some.rows])
    assert np.array_equal(some.coords, full.coords[some.rows])
    off_page = set(some.neighbors.ravel().tolist()) - set(some.rows.tolist()) - {-1}
    assert off_page == set(some.extra_tokens)


def test_clusters_are_named_by_their_most_central_tokens(gpt2_table):
    found = token_map(gpt2_table, "input", clusters=4, k=3)
    assert len(found.cluster_names) == 4
    u = np.asarray(gpt2_table.unit, np.float64)
    wordlike = np.asarray(gpt2_table.wordlike, bool)
    labels = found.clusters
    for c, name in enumerate(found.cluster_names):
        members = np.flatnonzero(labels == c)
        pool = members[wordlike[members]] if wordlike[members].sum() >= 3 else members
        centre = u[members].mean(axis=0)
        best = pool[np.argsort(-(u[pool] @ centre), kind="stable")[0]]
        assert name.split(" ")[1] == visible(gpt2_table.tokens[best])
