"""``embcli compare``: checked against planted geometry and float64 references from the papers.

- self-compare and a rotated copy (two word2vec files, W and W @ Q): overlap 1, CKA 1,
  Procrustes recovers Q; a copy embedded in a wider space: PCA first, then the same;
- independent random tables: CKA at its shuffled baseline, overlap at the hypergeometric mean;
- GloVe 50d against MiniLM: CKA (feature-space and Gram-matrix forms), Procrustes (U V^T of the
  SVD of Xa^T Xb), precision@1/@10 by cosine and by CSLS, Jaccard@k, all in float64 here;
- the CLI: word matching across tokenizers, JSON keys, --words, bad input, --plot.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from embcli.ask import compare as cmp
from embcli.store.load import open_table
from tests import glove

JSON_KEYS = {"a", "b", "shared", "shared_examples", "k", "neighbor_overlap", "cka",
             "cka_shuffled", "alignment"}  # fmt: skip
ALIGN_KEYS = {"method", "dim", "reduced", "variance_kept", "train", "test", "p_at_1", "p_at_10",
              "csls_p_at_1", "csls_p_at_10", "note"}  # fmt: skip


def write_w2v(path: Path, words: list[str], vectors: np.ndarray) -> Path:
    """A word2vec text file; 9 significant digits round-trip float32."""
    with path.open("w", encoding="utf-8") as fh:
        fh.write(f"{len(words)} {vectors.shape[1]}\n")
        for w, v in zip(words, np.asarray(vectors, np.float32).tolist(), strict=True):
            fh.write(w + " " + " ".join(f"{x:.9g}" for x in v) + "\n")
    return path


def random_words(n: int) -> list[str]:
    return [f"w{i}" for i in range(n)]


def random_orthogonal(d: int, seed: int) -> np.ndarray:
    q, r = np.linalg.qr(np.random.default_rng(seed).normal(size=(d, d)))
    return q * np.sign(np.diag(r))


def unit64(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, np.float64)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


# -- planted geometry ----------------------------------------------------------------------------
@pytest.fixture
def base(tmp_path):
    words = random_words(400)
    w = np.random.default_rng(11).normal(size=(400, 16))
    return words, w, write_w2v(tmp_path / "a.txt", words, w)


def test_self_compare_agrees_completely(base):
    _, _, path = base
    t = open_table(str(path))
    r = cmp.compare(t, t, 10, sample=0)
    d = r.to_dict()
    assert d["shared"] == 400 and d["k"] == 10
    assert d["neighbor_overlap"]["mean"] == 1.0 and d["neighbor_overlap"]["words"] == 400
    assert d["cka"] == pytest.approx(1.0, abs=1e-12)
    assert d["alignment"]["method"] == "procrustes"
    assert d["alignment"]["p_at_1"] == 1.0 and d["alignment"]["csls_p_at_1"] == 1.0
    np.testing.assert_allclose(r.alignment.rotation, np.eye(16), atol=1e-9)


def test_rotated_copy_agrees_and_procrustes_recovers_q(base, tmp_path):
    words, w, path = base
    q = random_orthogonal(16, 3)
    rotated = write_w2v(tmp_path / "b.txt", words, w @ q)
    r = cmp.compare(open_table(str(path)), open_table(str(rotated)), 10, sample=0)
    d = r.to_dict()
    assert d["neighbor_overlap"]["mean"] == 1.0
    assert d["cka"] == pytest.approx(1.0, abs=1e-6)
    # rows of A times R approximate rows of B = A Q: R is Q (up to the files' float32 rounding)
    np.testing.assert_allclose(r.alignment.rotation, q, atol=1e-5)
    assert d["alignment"]["p_at_1"] == 1.0 and d["alignment"]["csls_p_at_1"] == 1.0
    assert d["alignment"]["test"] == 80 and d["alignment"]["train"] == 320


def test_wider_copy_is_reduced_by_pca_then_aligned(base, tmp_path):
    words, w, path = base
    # B = W P with P (16 x 40) having orthonormal rows: the same geometry inside a wider space
    p = random_orthogonal(40, 5)[:16]
    wide = write_w2v(tmp_path / "wide.txt", words, w @ p)
    r = cmp.compare(open_table(str(path)), open_table(str(wide)), 10, sample=0)
    al = r.to_dict()["alignment"]
    assert (al["method"], al["reduced"], al["dim"]) == ("pca+procrustes", "b", 16)
    assert al["variance_kept"] == pytest.approx(1.0, abs=1e-6)
    assert al["p_at_1"] == 1.0 and al["csls_p_at_1"] == 1.0
    assert r.cka == pytest.approx(1.0, abs=1e-6)
    assert r.to_dict()["neighbor_overlap"]["mean"] == 1.0
    assert "PCA reduced B to 16 dims" in " ".join(str(v) for row in r.view().rows for v in row)


def test_independent_tables_sit_at_the_random_baselines(tmp_path):
    n, k = 2000, 10
    words = random_words(n)
    rng = np.random.default_rng(21)
    a = open_table(str(write_w2v(tmp_path / "a.txt", words, rng.normal(size=(n, 24)))))
    b = open_table(str(write_w2v(tmp_path / "b.txt", words, rng.normal(size=(n, 24)))))
    r = cmp.compare(a, b, k, sample=0)
    assert abs(r.cka - r.cka_shuffled) < 0.01 and r.cka < 0.05
    # overlap m = 2kJ / (1 + J); for unrelated lists E[m] = k * k / (n - 1) (hypergeometric)
    m = 2 * k * r.scores / (1 + r.scores)
    assert m.mean() == pytest.approx(k * k / (n - 1), abs=0.02)
    assert r.overlap()["random"] == pytest.approx(np.mean(m / (2 * k - m)), abs=0.003)
    assert r.to_dict()["alignment"]["p_at_1"] < 0.02


def test_random_jaccard_matches_simulation():
    rng = np.random.default_rng(0)
    n, k = 60, 5
    sims = [len(set(rng.choice(n, k, replace=False)) & set(range(k))) for _ in range(20000)]
    m = np.array(sims)
    assert cmp.random_jaccard(n, k) == pytest.approx(np.mean(m / (2 * k - m)), abs=0.003)


# -- the real tables, against float64 references -------------------------------------------------
@pytest.fixture(scope="module")
def real(tmp_path_factory, minilm_dir):
    import os

    from safetensors.numpy import load_file

    root = tmp_path_factory.mktemp("cmp")
    old = os.environ.get("EMBCLI_CACHE")
    os.environ["EMBCLI_CACHE"] = str(root / "cache")
    try:
        path = glove.write_text(root / "glove10k.txt", limit=10000)
        ta, tb = open_table(str(path)), open_table(str(minilm_dir))
        result = cmp.compare(ta, tb, 10, sample=600, show=3)
    finally:
        if old is None:
            os.environ.pop("EMBCLI_CACHE", None)
        else:
            os.environ["EMBCLI_CACHE"] = old
    gwords, gvec = glove.load(10000)
    raw_b = load_file(str(minilm_dir / "model.safetensors"))["embeddings.word_embeddings.weight"]
    vocab = json.loads((minilm_dir / "tokenizer.json").read_text())["model"]["vocab"]
    return result, gwords, gvec, raw_b, vocab


def test_real_words_match_both_vocabularies(real):
    r, gwords, _, _, vocab = real
    v = r.vocab
    assert r.shared > 8000
    first = {}
    for i, w in enumerate(gwords):
        first.setdefault(w.lower(), i)
    for w, ia, ib in zip(v.words, v.ids_a, v.ids_b, strict=True):
        assert first[w] == ia and vocab[w] == ib
    assert "paris" in v.words and "," not in v.words  # punctuation is not word-like in MiniLM


def test_real_cka_equals_float64_formula(real):
    r, _, gvec, raw_b, _ = real
    xa = unit64(gvec[r.vocab.ids_a])
    xb = unit64(raw_b[r.vocab.ids_b])
    xa, xb = xa - xa.mean(0), xb - xb.mean(0)
    ref = np.linalg.norm(xb.T @ xa) ** 2 / (np.linalg.norm(xa.T @ xa) * np.linalg.norm(xb.T @ xb))
    assert r.cka == pytest.approx(ref, rel=1e-9)
    assert 0.2 < r.cka < 0.7 and r.cka_shuffled < 0.02


def test_real_procrustes_and_precision_equal_float64_reference(real):
    r, _, gvec, raw_b, _ = real
    al = r.alignment
    assert (al.method, al.reduced, al.dim) == ("pca+procrustes", "b", 50)
    # Artetxe et al. (2018) preprocessing: unit, centre, (PCA of the wider side), unit
    xa = unit64(gvec[r.vocab.ids_a])
    xa = unit64(xa - xa.mean(0))
    ub = unit64(raw_b[r.vocab.ids_b])
    ub = ub - ub.mean(0)
    # principal axes: right singular vectors of Ub, i.e. those of Ub^T Ub (384 x 384, fast)
    _, s2, vt = np.linalg.svd(ub.T @ ub)
    axes = vt[:50].T  # signs as documented: each axis's largest-magnitude loading positive
    axes = axes * np.sign(axes[np.abs(axes).argmax(0), np.arange(50)])
    xb = unit64(ub @ axes)
    assert al.variance_kept == pytest.approx(np.sum(s2[:50]) / np.sum(s2), rel=1e-9)
    # Schönemann (1966): argmin ||Xa W - Xb||, W orthogonal, is U V^T of the SVD of Xa^T Xb
    u, _, vt2 = np.linalg.svd(xa[al.train].T @ xb[al.train])
    w = u @ vt2
    # the code reads the cache's float32 unit rows; this reference normalises in float64
    np.testing.assert_allclose(al.rotation, w, atol=1e-6)
    mapped = xa @ w
    cos = mapped[al.test] @ xb.T
    # CSLS (Conneau et al., 2018): 2 cos - r_T(Wx) - r_S(y), k = 10
    r_s = np.concatenate(
        [-np.partition(-(xb[lo : lo + 1000] @ mapped.T), 10, axis=1)[:, :10].mean(1)
         for lo in range(0, len(xb), 1000)]
    )  # fmt: skip
    r_t = -np.partition(-cos, 10, axis=1)[:, :10].mean(1)
    csls = 2 * cos - r_t[:, None] - r_s[None, :]
    rows = np.arange(len(al.test))
    for scores, csls_flag in ((cos, False), (csls, True)):
        # the true translation's rank: how many B words score higher
        rank = (scores > scores[rows, al.test][:, None]).sum(axis=1)
        for k in (1, 10):
            ref = np.mean(rank < k)
            # float32 scoring may swap a near-tie at the cut: at most 2 of ~1,800 words
            assert al.precision(k, csls_flag) == pytest.approx(ref, abs=2 / len(al.test))
    d = r.to_dict()["alignment"]
    assert 0.05 < d["p_at_1"] < d["p_at_10"] and d["csls_p_at_1"] >= d["p_at_1"] - 0.02


def test_real_jaccard_equals_float64_neighbours(real):
    r, _, gvec, raw_b, _ = real
    xa, xb = unit64(gvec[r.vocab.ids_a]), unit64(raw_b[r.vocab.ids_b])
    q = r.queries[:200]
    agree = 0
    for x, lists in ((xa, r.lists_a), (xb, r.lists_b)):
        sims = x[q] @ x.T
        sims[np.arange(len(q)), q] = -np.inf
        ref = np.argsort(-sims, axis=1, kind="stable")[:, :10]
        agree += sum(set(a) == set(b) for a, b in zip(ref, lists[:200], strict=True))
    assert agree >= 398  # float32 products may swap a near-tie at rank 10
    sims_a, sims_b = xa[q] @ xa.T, xb[q] @ xb.T
    sims_a[np.arange(len(q)), q] = sims_b[np.arange(len(q)), q] = -np.inf
    la = np.argsort(-sims_a, axis=1)[:, :10]
    lb = np.argsort(-sims_b, axis=1)[:, :10]
    ref_j = [len(set(a) & set(b)) / len(set(a) | set(b)) for a, b in zip(la, lb, strict=True)]
    assert np.mean(np.isclose(ref_j, r.scores[:200])) >= 0.99


def test_real_show_lists(real):
    r, *_ = real
    d = r.to_dict()
    most, least = d["agree_most"], d["agree_least"]
    assert len(most) == len(least) == len(d["translations"]) == 3
    assert most[0]["jaccard"] >= most[-1]["jaccard"] >= least[-1]["jaccard"] >= least[0]["jaccard"]
    assert all(len(m["a_neighbors"]) == 10 and len(m["b_neighbors"]) == 10 for m in most)
    assert set(d["translations"][0]) == {"word", "correct", "b_neighbors", "csls_neighbors"}


# -- the command ---------------------------------------------------------------------------------
def test_cli_json_keys_and_table(cli, base, tmp_path):
    words, w, path = base
    other = write_w2v(tmp_path / "b.txt", words, w @ random_orthogonal(16, 8))
    res = cli("compare", "-m", path, "-m", other, "-k", "5", "-f", "json", "--show", "2")
    assert res.code == 0, res.err
    d = json.loads(res.out)
    assert set(d) >= JSON_KEYS and set(d["alignment"]) == ALIGN_KEYS
    assert {"agree_most", "agree_least", "translations"} <= set(d)
    assert set(d["neighbor_overlap"]) == {"mean", "median", "quantiles", "words", "sampled",
                                          "random"}  # fmt: skip
    assert d["k"] == 5 and d["a"]["dim"] == 16 and d["a"]["words"] == 400
    tsv = cli("compare", "-m", path, "-m", other, "-f", "tsv")
    assert tsv.code == 0 and "linear CKA\t1.0000" in tsv.out


def test_cli_matches_words_across_tokenizers(cli, model_dirs):
    from tokenizers import Tokenizer

    def words_of(d: Path, byte_level: bool, fold: bool) -> set[str]:
        vocab = Tokenizer.from_file(str(d / "tokenizer.json")).get_vocab(with_added_tokens=False)
        out = set()
        for piece in vocab:
            if byte_level:
                if not piece.startswith("Ġ") or not piece[1:].isalpha():
                    continue
                piece = piece[1:]
            elif piece.startswith("##") or not piece.isalpha():
                continue
            out.add(piece.lower() if fold else piece)
        return out

    gpt2, bert = model_dirs["gpt2"], model_dirs["bert"]
    for fold in (True, False):
        flag = [] if fold else ["--case-sensitive"]
        res = cli("compare", "-m", gpt2, "-m", bert, "-f", "json", "-k", "3", *flag)
        assert res.code == 0, res.err
        d = json.loads(res.out)
        expected = words_of(gpt2, True, fold) & words_of(bert, False, fold)
        assert d["shared"] == len(expected) and set(d["shared_examples"]) <= expected


def test_cli_other_tensor_of_the_same_model(cli, model_dirs):
    res = cli("compare", "-m", model_dirs["llama"], "--tensor-b", "lm_head.weight", "-f", "json")
    assert res.code == 0, res.err
    d = json.loads(res.out)
    assert d["a"]["tensor"] == "model.embed_tokens.weight" and d["b"]["tensor"] == "lm_head.weight"
    assert d["a"]["model"] == d["b"]["model"] and d["shared"] == d["a"]["words"]


def test_cli_word_list_with_missing_words(cli, base, tmp_path):
    words, w, path = base
    other = write_w2v(tmp_path / "b.txt", words[:300], w[:300])
    listed = tmp_path / "words.txt"
    listed.write_text("# a comment\nw1\nW2\nw350\nnope\nw5\n", encoding="utf-8")
    res = cli("compare", "-m", path, "-m", other, "--words", listed, "-f", "json", "-k", "1")
    assert res.code == 0, res.err
    d = json.loads(res.out)
    assert d["shared"] == 3 and d["shared_examples"] == ["w1", "w2", "w5"]
    assert d["word_list"] == {"words": 5, "missing_a": ["nope"], "missing_b": ["w350", "nope"]}
    lines = res.err.strip().splitlines()
    assert len(lines) == 2 and "1 of 5 listed words" in lines[0] and "w350, nope" in lines[1]


def test_cli_bad_input(cli, base, tmp_path):
    _, w, path = base
    res = cli("compare", "-m", path)
    assert res.code == 2 and "two tables" in res.err
    other = write_w2v(tmp_path / "c.txt", [f"x{i}" for i in range(50)], w[:50])
    res = cli("compare", "-m", path, "-m", other)
    assert res.code == 1 and len(res.err.strip().splitlines()) == 1 and "share 0" in res.err
    listed = tmp_path / "none.txt"
    listed.write_text("nothing\nhere\n", encoding="utf-8")
    res = cli("compare", "-m", path, "-m", path, "--words", listed)
    assert res.code == 3 and res.err.count("\n") == 1 and "missing from A: nothing, here" in res.err
    assert "Traceback" not in res.err
    res = cli("compare", "-m", path, "-m", path, "-m", path)
    assert res.code == 2
    res = cli("compare", "-m", path, "-m", path, "--plot", tmp_path / "x.html")
    assert res.code == 2 and "use .png" in res.err


def test_cli_plot(cli, base, tmp_path):
    words, w, path = base
    noisy = w + 0.6 * np.random.default_rng(2).normal(size=w.shape)
    other = write_w2v(tmp_path / "b.txt", words, noisy)
    out = tmp_path / "cmp.png"
    res = cli("compare", "-m", path, "-m", other, "--plot", out, "-f", "json")
    assert res.code == 0, res.err
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 20000
    assert not list(tmp_path.glob(".cmp.png*"))


def test_two_shared_words_report_without_alignment(base):
    _, _, path = base
    t = open_table(str(path))
    r = cmp.compare(t, t, 10, words=["w3", "w7", "absent"])
    d = r.to_dict()
    assert d["shared"] == 2 and d["k"] == 1
    assert set(d["alignment"]) == ALIGN_KEYS and d["alignment"]["method"] == "none"
    assert "too few shared words" in d["alignment"]["note"]
    assert d["word_list"]["missing_a"] == ["absent"]
    assert any("too few" in str(v) for row in r.view().rows for v in row)
