"""``embcli map``'s approximate neighbour lists (ask/neighbor_lists.py): on a planted table the
HNSW lists equal the exact ones (``neighbors``' rules: word-like candidates, the row and its
case variants left out), the recall on the page is the recall of the lists against a float64
reference, ``auto`` picks by size, and the two kinds of lists are kept under different names."""

from __future__ import annotations

import numpy as np
import pytest

import embcli
from embcli.ask import neighbor_lists as nl
from embcli.ask.neighbor_lists import neighbor_lists
from embcli.ask.tokenmap import token_map
from tests import models

pytest.importorskip("usearch")

LETTERS = "abcdefghijklmnopqrstuvwxyz"


def _word(i: int) -> str:
    out = ""
    for _ in range(3):
        out += LETTERS[i % 26]
        i //= 26
    return "w" + out


def planted_words(clusters: int = 30, size: int = 8, dim: int = 24, seed: int = 0):
    """Tight, well-separated clusters of word rows, with a capitalised variant of some words
    (``neighbors`` leaves a word's variants out) and a few rows that are not word-like."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(clusters, dim))
    words, rows = ["<unk>"], [rng.normal(size=dim)]
    for c in range(clusters):
        for j in range(size):
            w = _word(c * size + j)
            words.append(w)
            rows.append(centres[c] + 0.15 * rng.normal(size=dim))
            if j == 0:  # its variant, next to it
                words.append(w.capitalize())
                rows.append(rows[-1] + 0.01 * rng.normal(size=dim))
    for i in range(5):  # not word-like: punctuation and numbers
        words.append(",.;:!"[i] + str(i))
        rows.append(centres[i] + 0.15 * rng.normal(size=dim))
    return words, np.stack(rows)


@pytest.fixture
def planted(tmp_path):
    words, vectors = planted_words()
    path = models.planted(tmp_path / "planted", words, vectors)
    return embcli.Model(str(path), cache_dir=tmp_path / "cache").table().embeddings


def reference(table, k: int) -> np.ndarray:
    """Every row's top-``k`` by float64 cosine under ``neighbors``' rules, -1 padded."""
    u = np.asarray(table.unit, np.float64)
    wordlike = np.asarray(table.wordlike, bool)
    spelled = np.array([t.strip().casefold() for t in table.tokens])
    out = np.full((len(u), k), -1)
    for i in range(len(u)):
        cos = u @ u[i]
        cos[~wordlike] = -np.inf
        cos[spelled == spelled[i]] = -np.inf
        cos[i] = -np.inf
        order = np.lexsort((np.arange(len(cos)), -cos))[:k]
        order = order[np.isfinite(cos[order])]
        out[i, : len(order)] = order
    return out


def test_the_planted_table_has_what_the_rules_leave_out(planted):
    wordlike = np.asarray(planted.wordlike, bool)
    assert 0 < (~wordlike).sum() < len(wordlike)
    assert any(len(planted.variants(i)) > 1 for i in range(planted.shape[0]))


def test_forced_ann_lists_equal_exact_lists_and_a_float64_reference(planted):
    """Where the graph found a row's true neighbours its list and scores are exactly the exact
    list's (re-ranked on the full rows); the recall the page shows is the lists' own recall
    against a float64 reference (the graph is built on threads, so which rows it misses may
    vary from run to run: the recall said must follow)."""
    k = 5
    ann = neighbor_lists(planted, k, "ann")
    exact = neighbor_lists(planted, k, "exact")
    ref = reference(planted, k)
    assert ann.how == "ann" and exact.how == "exact"
    assert np.array_equal(exact.ids, ref)
    found = [set(a[a >= 0]) == set(r[r >= 0]) for a, r in zip(ann.ids, ref, strict=True)]
    assert np.mean(found) >= 0.8
    assert np.array_equal(ann.ids[found], ref[found])
    np.testing.assert_array_equal(ann.scores[found], exact.scores[found])
    hits = sum(len(set(a[a >= 0]) & set(r[r >= 0])) for a, r in zip(ann.ids, ref, strict=True))
    assert ann.recall == pytest.approx(hits / (ref >= 0).sum(), abs=1e-12)
    assert ann.recall >= 0.9  # the target (0.97) is sought, not promised: the page says it
    assert ann.sample == planted.shape[0]  # fewer rows than the sample: every row


def test_a_graph_on_fewer_axes_than_the_rows_still_lists_the_exact_neighbours(planted, monkeypatch):
    """A table wider than GRAPH_DIMS is indexed on its top axes; the candidates are re-ranked
    on the full rows, and the recall reported is the lists' recall against the reference."""
    monkeypatch.setattr(nl, "GRAPH_DIMS", 8)
    found = nl.ann_lists(planted, 5)
    ref = reference(planted, 5)
    assert found.dims == 8
    assert found.recall >= 0.9  # sought (TARGET_RECALL), not promised on 276 rows
    hits = sum(
        len(set(f.tolist()) & set(r.tolist()) - {-1}) for f, r in zip(found.ids, ref, strict=False)
    )
    assert found.recall == pytest.approx(hits / (ref >= 0).sum(), abs=1e-12)
    assert "on the top 8 axes" in found.caption(5)


def test_the_recall_reported_is_the_recall_of_the_lists(tmp_path, monkeypatch):
    """A poor graph (two links a node, on unstructured rows) misses neighbours; the recall it
    reports is the share of the float64 reference's ids that its lists hold."""
    monkeypatch.setattr(nl, "CONNECTIVITY", 2)
    monkeypatch.setattr(nl, "EXPANSION_ADD", 2)
    monkeypatch.setattr(nl, "EXPANSIONS", (1,))
    monkeypatch.setattr(nl, "CANDIDATES", 1)
    rng = np.random.default_rng(3)
    n = 3000
    words = ["<unk>", *(_word(i) for i in range(n - 1))]
    path = models.planted(tmp_path / "random", words, rng.normal(size=(n, 48)))
    table = embcli.Model(str(path), cache_dir=tmp_path / "cache").table().embeddings
    monkeypatch.setattr(nl, "RECALL_SAMPLE", n)  # the sample is every row
    k = 10
    found = nl.ann_lists(table, k)
    ref = reference(table, k)
    pairs = zip(found.ids, ref, strict=True)
    hits = sum(len(set(f.tolist()) & set(r.tolist()) - {-1}) for f, r in pairs)
    independent = hits / (ref >= 0).sum()
    assert found.recall < 0.99
    assert found.recall == pytest.approx(independent, abs=1e-12)


def test_auto_is_exact_for_a_small_table_and_ann_beyond_the_threshold(planted, monkeypatch):
    n, dim = planted.shape
    assert nl.choose(n, dim, "auto") == "exact"
    found = token_map(planted, "input", clusters=3, k=4)
    assert found.parameters["neighbours"].startswith("exact")
    monkeypatch.setattr(nl, "EXACT_MAX_WORK", n * n * dim - 1)
    assert nl.choose(n, dim, "auto") == "ann"
    assert nl.choose(n, dim, "exact") == "exact"
    found = token_map(planted, "input", clusters=3, k=4)
    assert found.parameters["neighbours"].startswith("approximate")
    assert np.array_equal(found.neighbors, reference(planted, 4))


def test_the_page_says_approximate_and_the_recall(planted):
    from embcli.draw.map_page import page_data

    found = token_map(planted, "input", clusters=3, k=4, neighbor_method="ann")
    data = page_data(found)
    said = [n for n in data["notes"] if n.startswith("neighbours: approximate")]
    assert len(said) == 1
    assert f"usearch HNSW, recall@4 1.000 on {planted.shape[0]:,} sampled rows" in said[0]
    assert "recall@4 1.000" in data["parameters"]["neighbours"]


def test_exact_and_ann_lists_are_kept_under_different_names(planted, monkeypatch):
    neighbor_lists(planted, 4, "exact")
    neighbor_lists(planted, 4, "ann")
    kept = sorted(p.name for p in (planted.path / "derived").glob("map-neighbors-*"))
    assert len(kept) == 2
    assert nl.cache_name(4, "exact", 0) in kept and nl.cache_name(4, "ann", 0) in kept
    assert nl.cache_name(4, "ann", 0) != nl.cache_name(4, "ann", 1)

    def fail(*args, **kwargs):
        raise AssertionError("computed again")

    monkeypatch.setattr(nl, "ann_lists", fail)  # a second map reads the kept lists
    again = neighbor_lists(planted, 4, "ann")
    assert again.how == "ann" and again.recall == 1.0 and again.sample == planted.shape[0]


def test_bad_neighbors_choice_is_one_line(planted):
    from embcli.errors import UsageProblem

    with pytest.raises(UsageProblem, match="neighbors must be one of auto, exact, ann"):
        neighbor_lists(planted, 4, "fast")


def test_cli_neighbors_option(cli, tmp_path):
    words, vectors = planted_words()
    path = models.planted(tmp_path / "planted", words, vectors)
    page = tmp_path / "m.html"
    got = cli("-m", str(path), "map", "--neighbors", "ann", "-o", str(page), "-k", "4")
    assert got.code == 0, got.err
    assert "approximate" in page.read_text(encoding="utf-8")
    bad = cli("-m", str(path), "map", "--neighbors", "fast", "-o", str(tmp_path / "b.html"))
    assert bad.code != 0
    assert "Traceback" not in bad.err and "--neighbors" in bad.err
    assert not (tmp_path / "b.html").exists()
