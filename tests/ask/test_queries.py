"""neighbors, similarity and analogy against float64 references and planted geometry."""

from __future__ import annotations

import json

import numpy as np
import pytest
from safetensors.numpy import load_file

from embcli.ask.queries import top_k
from tests import models

WORDS = ["paris", "king", "dog", "computer", "happy", "river", "blue", "seven"]


@pytest.fixture(scope="module")
def minilm_ref(minilm_dir):
    """MiniLM's table in float64, its unit rows, and its vocabulary, read independently."""
    raw = load_file(str(minilm_dir / "model.safetensors"))["embeddings.word_embeddings.weight"]
    raw = raw.astype(np.float64)
    unit = raw / np.linalg.norm(raw, axis=1, keepdims=True)
    vocab = json.loads((minilm_dir / "tokenizer.json").read_text())["model"]["vocab"]
    return raw, unit, vocab


def test_neighbors_equal_float64_reference(cli, minilm_dir, minilm_ref):
    _raw, unit, vocab = minilm_ref
    res = cli("neighbors", *WORDS, "-m", minilm_dir, "--all-tokens", "-f", "json")
    assert res.code == 0, res.err
    for rec in json.loads(res.out):
        q = vocab[rec["query"]]
        assert rec["tokens"] == [{"id": q, "token": rec["query"]}]
        sims = unit @ unit[q]
        sims[q] = -np.inf
        order = np.argsort(-sims, kind="stable")[:10]
        got = [n["id"] for n in rec["neighbors"]]
        assert got == order.tolist()
        np.testing.assert_allclose([n["cosine"] for n in rec["neighbors"]], sims[order], atol=1e-5)


def test_default_filter_leaves_out_variants_specials_and_fragments(cli, minilm_dir, minilm_ref):
    _, unit, vocab = minilm_ref
    special = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"}
    res = cli("neighbors", "paris", "-m", minilm_dir, "-k", "200", "-f", "json")
    tokens = [n["token"] for n in json.loads(res.out)["neighbors"]]
    assert len(tokens) == 200
    assert not any(t.startswith("##") or t in special or t == "paris" for t in tokens)
    assert all(any(ch.isalnum() for ch in t) for t in tokens)
    # What remains is the reference order restricted to the allowed rows.
    allowed = [i for t, i in vocab.items() if t not in special and not t.startswith("##")]
    ids = [n["id"] for n in json.loads(res.out)["neighbors"]]
    sims = unit[ids] @ unit[vocab["paris"]]
    assert np.all(np.diff(sims) <= 1e-6) and set(ids) <= set(allowed)


def test_similarity_equals_reference(cli, minilm_dir, minilm_ref):
    raw, unit, vocab = minilm_ref
    rec = json.loads(cli("similarity", "cat", "dog", "-m", minilm_dir, "-f", "json").out)
    a, b = vocab["cat"], vocab["dog"]
    assert rec["a"] == "cat" and rec["b"] == "dog"
    assert abs(rec["cosine"] - unit[a] @ unit[b]) < 1e-6
    assert abs(rec["dot"] - raw[a] @ raw[b]) < 1e-4 * abs(raw[a] @ raw[b])


def test_similarity_matrix_pairs_and_same_word(cli, minilm_dir, tmp_path):
    out = json.loads(cli("similarity", "cat", "dog", "cat", "-m", minilm_dir, "-f", "json").out)
    assert [(r["a"], r["b"]) for r in out] == [("cat", "dog"), ("cat", "cat"), ("dog", "cat")]
    assert abs(out[1]["cosine"] - 1.0) < 1e-6
    pairs = tmp_path / "pairs.tsv"
    pairs.write_text("cat\tdog\n\n# comment\ncar\ttruck\n")
    res = cli("similarity", "--pairs", pairs, "-m", minilm_dir, "-f", "tsv")
    lines = res.out.splitlines()
    assert lines[0] == "a\tb\tcosine\tdot" and [ln.split("\t")[:2] for ln in lines[1:]] == [
        ["cat", "dog"],
        ["car", "truck"],
    ]


def test_multi_token_word_is_an_error_unless_pooled(cli, minilm_dir, minilm_ref):
    raw, _, vocab = minilm_ref
    res = cli("neighbors", "defenestration", "-m", minilm_dir)
    assert res.code == 3
    assert "defenestration -> def|##enes|##tra|##tion" in res.err and "--pool mean" in res.err
    pooled = json.loads(
        cli(
            "neighbors",
            "defenestration",
            "--pool",
            "mean",
            "-m",
            minilm_dir,
            "--all-tokens",
            "-f",
            "json",
        ).out
    )
    assert pooled["pooled"] is True
    ids = [t["id"] for t in pooled["tokens"]]
    assert ids == [vocab[p] for p in ("def", "##enes", "##tra", "##tion")]
    mean = raw[ids].mean(0)
    sims = raw @ mean / (np.linalg.norm(raw, axis=1) * np.linalg.norm(mean))
    sims[ids] = -np.inf
    assert [n["id"] for n in pooled["neighbors"]] == np.argsort(-sims)[:10].tolist()


def test_unknown_word_is_an_error(cli, minilm_dir):
    res = cli("neighbors", "\u2603", "-m", minilm_dir)
    assert res.code == 3 and "unknown token" in res.err


def test_ids_special_tokens_and_k_edges(cli, minilm_dir, minilm_ref):
    _, _unit, vocab = minilm_ref
    by_id = json.loads(cli("neighbors", "#3000", "-m", minilm_dir, "-f", "json").out)
    by_word = json.loads(cli("neighbors", "paris", "-m", minilm_dir, "-f", "json").out)
    assert by_id["neighbors"] == by_word["neighbors"]
    assert (
        json.loads(cli("neighbors", "--ids", "3000", "-m", minilm_dir, "-f", "json").out)[
            "neighbors"
        ]
        == by_word["neighbors"]
    )
    cls = json.loads(cli("neighbors", "[CLS]", "-m", minilm_dir, "-f", "json").out)
    assert cls["tokens"] == [{"id": vocab["[CLS]"], "token": "[CLS]"}]
    assert (
        json.loads(cli("neighbors", "paris", "-k", "0", "-m", minilm_dir, "-f", "json").out)[
            "neighbors"
        ]
        == []
    )
    assert cli("neighbors", "#99999999", "-m", minilm_dir).code == 3


def test_k_larger_than_vocabulary(cli, tmp_path):
    rng = np.random.default_rng(0)
    words = ["<unk>", "alpha", "beta", "gamma", "delta"]
    model = models.planted(tmp_path / "p", words, rng.normal(size=(5, 8)))
    res = json.loads(cli("neighbors", "alpha", "-k", "50", "-m", model, "-f", "json").out)
    assert sorted(n["token"] for n in res["neighbors"]) == ["beta", "delta", "gamma"]  # no <unk>
    everything = cli("neighbors", "alpha", "-k", "50", "--all-tokens", "-m", model, "-f", "json")
    assert len(json.loads(everything.out)["neighbors"]) == 4


def test_stdin_batch_equals_one_at_a_time(cli, minilm_dir, monkeypatch):
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO("paris\n\nking\nnotawordzzzq\ndog\n"))
    res = cli("neighbors", "-", "-m", minilm_dir, "-f", "jsonl")
    assert res.code == 3 and "notawordzzzq" in res.err
    batch = [json.loads(line) for line in res.out.splitlines()]
    assert [r["query"] for r in batch] == ["paris", "king", "dog"]
    for rec in batch:
        single = json.loads(cli("neighbors", rec["query"], "-m", minilm_dir, "-f", "json").out)
        assert single == rec


def test_top_k_batched_equals_single_and_breaks_ties_by_id():
    rng = np.random.default_rng(1)
    unit = rng.normal(size=(3000, 16)).astype(np.float32)
    unit[7] = unit[5]  # an exact tie
    unit /= np.linalg.norm(unit, axis=1, keepdims=True)
    q = unit[:600]
    ids, _scores = top_k(unit, q, 10, exclude=[[i] for i in range(600)])
    for i in (0, 5, 299, 599):
        one_ids, _one_scores = top_k(unit, q[i], 10, exclude=[[i]])
        assert ids[i].tolist() == one_ids[0].tolist()
    assert ids[5][0] == 7 and ids[7][0] == 5
    # The grouped two-stage selection equals a full float64 sort.
    ref = unit.astype(np.float64) @ q.astype(np.float64).T
    for i in range(0, 600, 37):
        col = ref[:, i].copy()
        col[i] = -np.inf
        assert ids[i].tolist() == np.lexsort((np.arange(3000), -col))[:10].tolist()


def planted_analogy(tmp_path):
    """king - man + woman == queen exactly; the distractors are nearer to king itself."""
    rng = np.random.default_rng(3)
    base = rng.normal(size=(12, 16))
    base /= np.linalg.norm(base, axis=1, keepdims=True)
    words = [
        "<unk>",
        "king",
        "man",
        "woman",
        "queen",
        "prince",
        "apple",
        "pear",
        "duke",
        "car",
        "road",
        "tree",
    ]
    vec = {w: base[i] for i, w in enumerate(words)}
    vec["queen"] = vec["king"] - vec["man"] + vec["woman"]
    vec["prince"] = vec["king"] + 0.05 * base[5]  # closest to king, a trap without exclusion
    table = np.stack([vec[w] for w in words])
    return models.planted(tmp_path / "planted", words, table), words, table


def test_planted_analogy_comes_out_exactly(cli, tmp_path):
    model, words, table = planted_analogy(tmp_path)
    for method in ("3cosadd", "3cosmul"):
        rec = json.loads(
            cli(
                "analogy", "king", "man", "woman", "--method", method, "-m", model, "-f", "json"
            ).out
        )
        assert rec["results"][0]["token"] == "queen", (method, rec)
        assert rec["formula"] == "king - man + woman" and rec["method"] == method
    add = json.loads(cli("analogy", "king", "man", "woman", "-m", model, "-f", "json").out)
    assert abs(add["results"][0]["score"] - 1.0) < 1e-6  # the planted target is exact
    inputs = {"king", "man", "woman"}
    kept = json.loads(
        cli(
            "analogy",
            "king",
            "man",
            "woman",
            "--keep-inputs",
            "-k",
            "20",
            "-m",
            model,
            "-f",
            "json",
        ).out
    )
    assert inputs <= {r["token"] for r in kept["results"]}
    assert not inputs & {r["token"] for r in add["results"]}
    # With inputs kept, the ranking is the plain cosine ranking against a - b + c.
    target = table[1] / np.linalg.norm(table[1]) - table[2] / np.linalg.norm(table[2])
    target = target + table[3] / np.linalg.norm(table[3])
    unit = table / np.linalg.norm(table, axis=1, keepdims=True)
    order = np.argsort(-(unit @ (target / np.linalg.norm(target))))
    assert [r["id"] for r in kept["results"]] == [i for i in order if words[i] != "<unk>"]


def test_analogy_file_is_batched_and_scored(cli, tmp_path):
    model, _, _ = planted_analogy(tmp_path)
    qfile = tmp_path / "q.txt"
    qfile.write_text(": section\nking man woman queen\nking man woman prince\n\n")
    res = cli("analogy", "--file", qfile, "-m", model, "-f", "json")
    out = json.loads(res.out)
    assert [r["correct"] for r in out] == [True, False]
    assert cli("analogy", "king", "man", "-m", model).code == 2


def test_center_matches_reference(cli, tmp_path):
    rng = np.random.default_rng(4)
    words = ["<unk>"] + [f"w{i}" for i in range(40)]
    table = rng.normal(size=(41, 8)) + 3.0  # a large shared mean, like real token tables
    model = models.planted(tmp_path / "c", words, table)
    res = json.loads(
        cli("neighbors", "w1", "--center", "--all-tokens", "-k", "5", "-m", model, "-f", "json").out
    )
    centred = table - table.mean(0)
    unit = centred / np.linalg.norm(centred, axis=1, keepdims=True)
    w1 = words.index("w1")
    sims = unit @ unit[w1]
    sims[w1] = -np.inf
    assert [n["id"] for n in res["neighbors"]] == np.argsort(-sims)[:5].tolist()
    np.testing.assert_allclose(
        [n["cosine"] for n in res["neighbors"]], np.sort(sims)[::-1][:5], atol=1e-5
    )
    sim = json.loads(cli("similarity", "w1", "w2", "--center", "-m", model, "-f", "json").out)
    assert abs(sim["cosine"] - unit[w1] @ unit[words.index("w2")]) < 1e-6


def test_gpt2_leading_space_is_used_and_shown(cli, model_dirs):
    rec = json.loads(cli("neighbors", "king", "-m", model_dirs["gpt2"], "-f", "json").out)
    assert rec["tokens"][0]["token"] == " king"
    assert all(n["token"].startswith(" ") for n in rec["neighbors"])
    table = cli("neighbors", "king", "-m", model_dirs["gpt2"], "-f", "table").out
    assert "\u2423king" in table
    assert "query" not in table.splitlines()[1]  # one query: its column is left out of the table


def test_output_formats(cli, minilm_dir):
    tsv = cli("neighbors", "paris", "-k", "3", "-m", minilm_dir).out.splitlines()
    assert tsv[0] == "query\trank\tid\ttoken\tcosine" and len(tsv) == 4
    assert tsv[1].split("\t")[:3] == ["paris", "1", "24262"]
    jsonl = cli("analogy", "king", "man", "woman", "-m", minilm_dir, "-f", "jsonl").out
    rec = json.loads(jsonl)
    assert set(rec) >= {"a", "b", "c", "method", "results"}
    assert set(rec["results"][0]) == {"rank", "id", "token", "score"}
