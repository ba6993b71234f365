"""Word-vector files as sources: every format, read equal to the file; malformed files refused."""

from __future__ import annotations

import json

import numpy as np
import pytest

from embcli.store.load import open_table

WORDS = ["the", "king", "queen", "man", "woman", "Paris", "paris", "berlin"]


@pytest.fixture
def vectors():
    rng = np.random.default_rng(7)
    return rng.normal(size=(len(WORDS), 6)).astype(np.float32)


def write(path, vectors, header):
    with path.open("w", encoding="utf-8") as fh:
        if header:
            fh.write(f"{len(WORDS)} {vectors.shape[1]}\n")
        for w, v in zip(WORDS, vectors, strict=True):
            fh.write(w + " " + " ".join(repr(float(x)) for x in v) + "\n")
    return path


@pytest.mark.parametrize(
    ("name", "header"), [("glove.txt", False), ("w2v.txt", True), ("cc.en.vec", True)]
)
def test_text_formats_read_equal_to_the_file(tmp_path, vectors, name, header):
    table = open_table(str(write(tmp_path / name, vectors, header)))
    assert table.tokens == WORDS
    np.testing.assert_allclose(table.raw(np.arange(len(WORDS))), vectors, rtol=1e-6)
    assert table.meta.checkpoint_format == ("word2vec text" if header else "GloVe text")


def test_word2vec_binary_written_by_gensim(tmp_path, vectors):
    from gensim.models import KeyedVectors

    kv = KeyedVectors(vector_size=vectors.shape[1])
    kv.add_vectors(WORDS, vectors)
    path = tmp_path / "vectors.bin"
    kv.save_word2vec_format(str(path), binary=True)
    table = open_table(str(path))
    assert table.tokens == WORDS
    np.testing.assert_allclose(table.raw(np.arange(len(WORDS))), kv.vectors, rtol=1e-6)
    # Ours are normalised in float64 then rounded, gensim's in float32: one ulp apart at most.
    np.testing.assert_allclose(table.unit, kv.get_normed_vectors(), atol=1.2e-7)
    assert table.meta.checkpoint_format == "word2vec binary"


def test_queries_on_a_vector_file(cli, tmp_path, vectors):
    path = write(tmp_path / "v.txt", vectors, False)
    rec = json.loads(cli("neighbors", "king", "-m", path, "-f", "json").out)
    unit = vectors.astype(np.float64)
    unit /= np.linalg.norm(unit, axis=1, keepdims=True)
    sims = unit @ unit[1]
    sims[1] = -np.inf
    assert [n["id"] for n in rec["neighbors"]] == np.argsort(-sims)[:7].tolist()
    # Case: "PARIS" falls back to a case variant, and neighbours of paris leave out "Paris".
    paris = json.loads(cli("neighbors", "paris", "-m", path, "-f", "json").out)
    assert "Paris" not in [n["token"] for n in paris["neighbors"]]
    up = json.loads(cli("neighbors", "BERLIN", "-m", path, "-f", "json").out)
    assert up["tokens"] == [{"id": 7, "token": "berlin"}]
    assert cli("neighbors", "london", "-m", path).code == 3
    info = json.loads(cli("info", "-m", path, "-f", "json").out)
    assert (info["rows"], info["dim"], info["tokenizer_size"]) == (8, 6, None)
    card = cli("info", "-m", path, "-f", "tsv").out
    assert "a word is looked up by its row's name" in card  # not "address rows by id"
    split = cli("tokenize", "the king", "-m", path)
    assert split.code == 1 and "is a word-vector file: it has no tokenizer" in split.err


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ("a 1 2 3\nb 1 2\n", "line 2: 2 values, expected 3"),
        ("a 1 2 3\nb 1 x 3\n", "line 2: 'x' is not a number"),
        ("3 3\na 1 2 3\nb 1 2 3\n", "the header says 3 words but the file has 2"),
        ("2 4\na 1 2 3\nb 1 2 3\n", "line 2: 3 values, but the header says 4 dimensions"),
        ("a 1 2 3\nb 1 2 3\na 4 5 6\n", "line 3: duplicate word 'a' (first on line 1)"),
        ("a 1 2 3\nb 1 nan 3\n", "line 2: a value is not finite"),
    ],
)
def test_malformed_files_name_the_line_and_leave_nothing(cli, tmp_path, isolated_cache,
                                                          content, needle):  # fmt: skip
    path = tmp_path / "bad.txt"
    path.write_text(content)
    res = cli("info", "-m", path)
    assert res.code == 1 and needle in res.err, res.err
    assert len(res.err.strip().splitlines()) == 1
    leftovers = [p for p in isolated_cache.iterdir() if "--" in p.name]
    assert leftovers == [] and not list((isolated_cache / ".tmp").iterdir())


def test_truncated_binary(cli, tmp_path, vectors):
    from gensim.models import KeyedVectors

    kv = KeyedVectors(vector_size=6)
    kv.add_vectors(WORDS, vectors)
    path = tmp_path / "v.bin"
    kv.save_word2vec_format(str(path), binary=True)
    path.write_bytes(path.read_bytes()[:-10])
    res = cli("info", "-m", path)
    assert res.code == 1 and "the file ends after 7" in res.err
