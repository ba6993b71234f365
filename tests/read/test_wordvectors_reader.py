"""The word-vector reader itself (``read/wordvectors.read_vectors``): words and rows equal to
what gensim reads from the same file, and each malformed file refused in one line naming the
line or word, without a cache or a command in between."""

from __future__ import annotations

import numpy as np
import pytest
from gensim.models import KeyedVectors

from embcli.errors import EmbcliError
from embcli.read.wordvectors import read_vectors

WORDS = ["the", "king", "queen", "man", "woman", "Paris", "paris", "berlin", "é", "naïve"]


def parsed(path):
    words, blocks, rows, dims, kind = read_vectors(path)
    table = np.concatenate([b for _, b in blocks()]) if rows else np.empty((0, dims))
    return words, table, (rows, dims), kind


@pytest.mark.parametrize(
    ("name", "binary", "header", "kind"),
    [
        ("w2v.txt", False, True, "word2vec text"),
        ("glove.txt", False, False, "GloVe text"),
        ("vectors.bin", True, True, "word2vec binary"),
    ],
)
def test_words_and_rows_equal_what_gensim_reads(tmp_path, name, binary, header, kind):
    kv = KeyedVectors(vector_size=7)
    kv.add_vectors(WORDS, np.random.default_rng(1).normal(size=(len(WORDS), 7)))
    path = tmp_path / name
    kv.save_word2vec_format(str(path), binary=binary, write_header=header)
    ref = KeyedVectors.load_word2vec_format(str(path), binary=binary, no_header=not header)
    words, table, shape, got_kind = parsed(path)
    assert words == ref.index_to_key == WORDS and got_kind == kind
    assert shape == (len(WORDS), 7) and table.dtype == np.float32
    np.testing.assert_array_equal(table, ref.vectors)


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ("a 1 2 3\nb 1 2\n", "bad.txt line 2: 2 values, expected 3"),
        ("a 1 2 3\nb 1 x 3\n", "bad.txt line 2: 'x' is not a number"),
        ("3 3\na 1 2 3\nb 1 2 3\n", "the header says 3 words but the file has 2"),
        ("2 4\na 1 2 3\nb 1 2 3\n", "line 2: 3 values, but the header says 4 dimensions"),
        ("a 1 2 3\nb 1 2 3\na 4 5 6\n", "line 3: duplicate word 'a' (first on line 1)"),
        ("a 1 2 3\nb 1 nan 3\n", "line 2: a value is not finite"),
        (b"a 1 2 3\n\xff 1 2 3\n", "bad.txt line 2: not UTF-8 text"),
    ],
)
def test_malformed_text_files_are_one_line(tmp_path, content, needle):
    path = tmp_path / "bad.txt"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(EmbcliError) as err:
        parsed(path)
    line = err.value.one_line()
    assert needle in line and "\n" not in line


def binary_file(path, words, rows, header=None):
    with path.open("wb") as fh:
        fh.write((header or f"{len(words)} {rows.shape[1]}").encode() + b"\n")
        for word, row in zip(words, rows, strict=True):
            fh.write(word.encode() + b" " + row.astype("<f4").tobytes() + b"\n")
    return path


@pytest.mark.parametrize(
    ("damage", "needle"),
    [
        ("cut", "the header says 3 words but the file ends after 2"),
        ("extra", "data after the 3 words the header announces"),
        ("no header", "v.bin line 1: expected a '<words> <dims>' header"),
        ("nan", "v.bin word 2 ('b'): a value is not finite"),
        ("duplicate", "duplicate word 'a'"),
    ],
)
def test_malformed_binary_files_are_one_line(tmp_path, damage, needle):
    rows = np.arange(12, dtype=np.float32).reshape(3, 4)
    words = ["a", "b", "c"]
    path = tmp_path / "v.bin"
    if damage == "nan":
        rows[1, 2] = np.nan
    if damage == "duplicate":
        words = ["a", "b", "a"]
    binary_file(path, words, rows, header="a b" if damage == "no header" else None)
    if damage == "cut":
        path.write_bytes(path.read_bytes()[:-6])
    if damage == "extra":
        path.write_bytes(path.read_bytes() + b"d \x00\x00\x00\x00\n")
    with pytest.raises(EmbcliError) as err:
        parsed(path)
    line = err.value.one_line()
    assert needle in line and "\n" not in line
