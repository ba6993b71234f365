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
from embcli.errors import UsageProblem
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


# -- the under-trained flag, the axis and the comparison layers -----------------------------------


def test_the_undertrained_flag_is_what_undertrained_flags(model_dirs, tmp_path):
    from embcli.ask.undertrained import REACH_PARTIAL, reachability

    table = embcli.Model(str(model_dirs["gpt2"]), cache_dir=tmp_path / "cache").table()
    found = token_map(table.embeddings, "input", clusters=3, k=3)
    codes, names = found.categories["under-trained"]
    flag = np.array([names[c] for c in codes])
    said = table.undertrained(k=0)
    candidates = sorted(c["id"] for c in said.candidates)
    assert candidates and sorted(np.flatnonzero(flag == "flagged").tolist()) == candidates
    reach = reachability(table.embeddings)
    for c in said.unreachable:
        assert flag[c["id"]] == ("partial UTF-8" if reach[c["id"]] == REACH_PARTIAL
                                 else "unreachable")  # fmt: skip
    assert int(np.isin(flag, ["unreachable", "partial UTF-8"]).sum()) == len(said.unreachable)
    assert int((flag == "known unused").sum()) == said.reference["size"]
    for c in said.candidates:
        assert found.undertrained[c["id"]] == pytest.approx(c["score"], abs=1e-6)


def write_vectors(path, words, vectors):
    """A word2vec text file (9 significant digits round-trip float32)."""
    with path.open("w", encoding="utf-8") as fh:
        fh.write(f"{len(words)} {vectors.shape[1]}\n")
        for w, v in zip(words, np.asarray(vectors, np.float32).tolist(), strict=True):
            fh.write(w + " " + " ".join(f"{x:.9g}" for x in v) + "\n")
    return path


def unit64(x):
    x = np.asarray(x, np.float32).astype(np.float64)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def top_lists(u, k):
    """Each row's top-k other rows by float64 cosine, ties by id."""
    cos = u @ u.T
    np.fill_diagonal(cos, -np.inf)
    return np.array([np.lexsort((np.arange(len(c)), -c))[:k] for c in cos])


def jaccards(a, b):
    pairs = zip(a, b, strict=True)
    return np.array([len(set(x) & set(y)) / len(set(x) | set(y)) for x, y in pairs])


@pytest.fixture
def planted(tmp_path):
    words = [f"w{i}" for i in range(300)]
    w = np.random.default_rng(5).normal(size=(300, 24))
    return words, w, tmp_path


def open_vectors(path, cache):
    return embcli.Model(str(path), cache_dir=cache).table()


def test_the_axis_layer_is_embcli_axis_score_of_every_row(planted):
    words, w, tmp = planted
    t = open_vectors(write_vectors(tmp / "a.txt", words, w), tmp / "cache")
    pairs = "w1:w2,w3:w4,w5:w6,w7:w8"
    found = token_map(t.embeddings, "input", clusters=2, k=3, axis=pairs)
    (name,) = found.numbers
    assert name == "axis w1:w2, w3:w4, w5:w6 and 1 more"
    got = found.numbers[name]
    u = unit64(w)
    d = u[[2, 4, 6, 8]] - u[[1, 3, 5, 7]]
    v = np.linalg.svd(d)[2][0]
    v = v if (d @ v).sum() >= 0 else -v
    np.testing.assert_allclose(got, u @ v, atol=1e-6)
    said = t.axis(pairs, words=words)  # the words' vectors: float32 rows
    layer = dict(zip(words, got.tolist(), strict=True))
    assert {s.word: s.score for s in said} == pytest.approx(layer, abs=1e-7)
    ends = t.axis(pairs, k=5)  # the ends of the table: float64, as the layer
    assert ends.words and all(got[s.id] == pytest.approx(s.score, abs=1e-12) for s in ends)


def test_compare_by_id_finds_the_perturbed_rows(planted):
    words, w, tmp = planted
    rng = np.random.default_rng(1)
    w_b = w + rng.normal(scale=1e-3, size=w.shape)
    bad = np.sort(rng.choice(len(words), 25, replace=False))
    w_b[bad] = rng.normal(size=(len(bad), w.shape[1]))
    a = open_vectors(write_vectors(tmp / "a.txt", words, w), tmp / "cache").embeddings
    b = open_vectors(write_vectors(tmp / "b.txt", words, w_b), tmp / "cache").embeddings
    k = 5
    found = token_map(a, "input", clusters=2, k=k, compare=b)
    cos, jac = found.numbers["cosine with B"], found.numbers[f"Jaccard@{k} with B"]
    ua, ub = unit64(w), unit64(w_b)
    np.testing.assert_allclose(cos, np.einsum("ij,ij->i", ua, ub), atol=1e-6)
    np.testing.assert_allclose(jac, jaccards(top_lists(ua, k), top_lists(ub, k)), atol=1e-12)
    good = np.setdiff1d(np.arange(len(words)), bad)
    assert cos[bad].max() < 0.7 < 0.99 < cos[good].min()
    assert jac[bad].mean() < 0.3 < 0.6 < jac[good].mean()  # bad rows also leave good lists
    assert found.parameters["rows matched"].startswith("by id")
    assert not found.notices


def test_compare_by_word_aligns_a_rotated_reordered_table(planted):
    words, w, tmp = planted
    rng = np.random.default_rng(2)
    q, r = np.linalg.qr(rng.normal(size=(24, 24)))
    keep = np.sort(rng.choice(len(words), 260, replace=False))  # 40 words B lacks
    order = rng.permutation(keep)
    w_b = (w @ (q * np.sign(np.diag(r))))[order]
    bad = order[:20]  # rows of A whose words B holds with another vector
    w_b[:20] = rng.normal(size=(20, 24))
    a = open_vectors(write_vectors(tmp / "a.txt", words, w), tmp / "cache").embeddings
    b = open_vectors(write_vectors(tmp / "b.txt", [words[i] for i in order], w_b),
                     tmp / "cache").embeddings  # fmt: skip
    k = 5
    found = token_map(a, "input", clusters=2, k=k, compare=b)
    cos, jac = found.numbers["aligned cosine with B"], found.numbers[f"Jaccard@{k} with B"]
    # the reference: compare's recipe written out in float64 over the shared words
    where = {int(i): n for n, i in enumerate(order)}
    ua = unit64(w[keep])
    ub = unit64(w_b[[where[int(i)] for i in keep]])
    xa, xb = (unit64(x - x.mean(axis=0)) for x in (ua, ub))
    uu, _, vt = np.linalg.svd(xa.T @ xb)
    ref = np.full(len(words), np.nan)
    ref[keep] = np.einsum("ij,ij->i", xa @ (uu @ vt), xb)
    np.testing.assert_allclose(cos, ref, atol=1e-5)
    ref_j = np.full(len(words), np.nan)
    ref_j[keep] = jaccards(top_lists(ua, k), top_lists(ub, k))
    np.testing.assert_allclose(jac, ref_j, atol=1e-12)
    lacking = np.setdiff1d(np.arange(len(words)), keep)
    assert np.isnan(cos[lacking]).all() and np.isnan(jac[lacking]).all()
    good = np.setdiff1d(keep, bad)
    assert cos[bad].max() < 0.7 < 0.95 < cos[good].min()
    assert found.parameters["rows matched"].startswith("by word")
    assert any("40 of 300 rows shown have none" in n for n in found.notices)


@pytest.mark.slow  # numba compiles umap-learn's code on first use: about 20 s
@pytest.mark.filterwarnings("ignore:n_jobs value")
def test_umap_layout_is_umap_learns_by_cosine_and_is_kept(gpt2_table, monkeypatch):
    import umap

    found = token_map(gpt2_table, "input", method="umap", clusters=2, k=3, seed=3,
                      umap_neighbors=10, umap_min_dist=0.2)  # fmt: skip
    reducer = umap.UMAP(n_components=2, n_neighbors=10, min_dist=0.2, metric="cosine",
                        random_state=3)  # fmt: skip
    ref = reducer.fit_transform(np.asarray(gpt2_table.unit, np.float32))
    np.testing.assert_allclose(found.coords, ref, atol=1e-4)
    assert found.method == "umap"
    assert found.parameters["neighbours (UMAP)"] == 10 and found.parameters["min_dist"] == 0.2
    assert found.parameters["seed"] == 3 and found.parameters["metric"] == "cosine"
    assert (gpt2_table.path / "derived" / "map-umap-420-3-10-0.2.npz").exists()

    def fails(*args, **kwargs):
        raise AssertionError("computed again")

    monkeypatch.setattr(tokenmap, "umap_coords", fails)
    again = token_map(gpt2_table, "input", method="umap", clusters=2, k=3, seed=3,
                      umap_neighbors=10, umap_min_dist=0.2)  # fmt: skip
    assert np.array_equal(again.coords, found.coords)
    with pytest.raises(AssertionError, match="computed again"):  # another seed: another layout
        token_map(gpt2_table, "input", method="umap", clusters=2, k=3, seed=4,
                  umap_neighbors=10, umap_min_dist=0.2)  # fmt: skip


def test_umap_of_too_many_rows_is_refused_with_the_way_out(gpt2_table, monkeypatch):
    monkeypatch.setattr(tokenmap, "UMAP_MAX_ROWS", 100)
    with pytest.raises(UsageProblem, match="UMAP of 420 rows would take too long") as err:
        token_map(gpt2_table, "input", method="umap", clusters=2, k=3)
    assert err.value.param == "method" and "--sample 100" in (err.value.hint or "")


def test_compare_with_a_gguf_quantisation_matches_rows_by_id(model_dirs, tmp_path):
    import gguf

    from tests.cli.test_gguf_commands import llama_as_gguf

    path, values = llama_as_gguf(model_dirs["llama"], tmp_path / "q")
    a = embcli.Model(str(model_dirs["llama"]), cache_dir=tmp_path / "cache").table().embeddings
    b = embcli.Model(str(path), cache_dir=tmp_path / "cache").table().embeddings
    found = token_map(a, "input", clusters=2, k=4, compare=b)
    assert found.parameters["rows matched"].startswith("by id")
    q8 = gguf.GGMLQuantizationType.Q8_0
    deq = gguf.quants.dequantize(gguf.quants.quantize(values.astype(np.float32), q8), q8)
    x, y = values.astype(np.float64), deq.astype(np.float64)
    lengths = np.linalg.norm(x, axis=1) * np.linalg.norm(y, axis=1)
    ref = np.where(lengths > 0, np.einsum("ij,ij->i", x, y) / np.where(lengths > 0, lengths, 1),
                   np.nan)  # fmt: skip
    np.testing.assert_allclose(found.numbers["cosine with B"], ref, atol=1e-6)
    assert np.nanmin(ref) > 0.99
    lists_b = token_map(b, "input", clusters=2, k=4).neighbors
    ref_j = [len(set(p) & set(q)) / len(set(p) | set(q))
             for p, q in zip(found.neighbors.tolist(), lists_b.tolist(), strict=True)]  # fmt: skip
    np.testing.assert_allclose(found.numbers["Jaccard@4 with B"], ref_j, atol=1e-12)


def page_resolves(found, q):
    """The page script's resolve() (map-page.js), step for step, on the page data."""
    q = q.strip()
    if q in found.search:
        return found.search[q]
    if (found.lowercase or found.words) and q.lower() in found.search:
        return found.search[q.lower()]
    if found.words and q.lower() in found.fold:
        return found.fold[q.lower()]
    return None


def test_a_word_vector_page_resolves_capitalised_words_as_embcli_does(tmp_path):
    # GloVe-like text: no tokenizer, so no lower-casing normalizer; embcli still falls back to
    # the lower case, then to any case (the lowest row)
    words = ["the", "paris", "Berlin", "BERLIN", "straße", "Rome", "rome", "ok", "x1", "Zoo"]
    w = np.random.default_rng(3).normal(size=(len(words), 8))
    path = tmp_path / "vec.txt"
    lines = [f"{t} " + " ".join(f"{v:.6g}" for v in row) for t, row in zip(words, w, strict=True)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    table = open_vectors(path, tmp_path / "cache").embeddings
    found = token_map(table, "input", clusters=2, k=3)
    assert found.words is True
    queries = ["Paris", "PARIS", "paris", "Berlin", "BERLIN", "berlin", "bERLIN", "STRASSE",
               "Straße", "ROME", "Rome", "zoo", "ZOO", "the", "The"]  # fmt: skip
    for q in queries:
        want = resolve(table, q).ids[0]
        assert page_resolves(found, q) == want, q
    assert page_resolves(found, "Paris") == words.index("paris")
    assert page_resolves(found, "berlin") == words.index("Berlin")  # the lowest case form
    assert page_resolves(found, "nowhere") is None
    # no tokenizer: the under-trained note says so, and does not speak of a tokenizer's tokens
    note = tokenmap.undertrained_layers(table)[2]
    assert "a word-vector file has no tokenizer to mark any unused" in note
    assert "'s tokenizer" not in note
