"""evaluate: a planted space with a known accuracy, and gensim 4.4 as the reference."""

from __future__ import annotations

import json

import numpy as np
import pytest

from embcli.ask.evaluate import evaluate_analogies, evaluate_pairs
from embcli.store.load import open_table
from tests import glove


def planted(tmp_path):
    """x_i = e_i and y_i = (e_i + f)/sqrt(2): "x_i y_i x_j ?" has the answer y_j exactly."""
    n = 6
    dims = n + 1
    words, rows = [], []
    for i in range(n):
        e = np.zeros(dims)
        e[i] = 1.0
        f = np.zeros(dims)
        f[n] = 1.0
        words += [f"x{i}", f"y{i}"]
        rows += [e, (e + f) / np.sqrt(2)]
    path = tmp_path / "planted.txt"
    path.write_text("".join(w + " " + " ".join(map(str, r)) + "\n"
                            for w, r in zip(words, rows, strict=True)))  # fmt: skip
    q = tmp_path / "q.txt"
    lines = [": solvable"]
    lines += [f"x{i} y{i} x{j} y{j}" for i in range(n) for j in range(n) if i != j]
    lines += [": wrong-expectation"]
    lines += [f"x{i} y{i} x{j} y{(j + 1) % n}" for i in range(3) for j in range(3) if i != j
              and (j + 1) % n != i]  # fmt: skip
    lines += [": out-of-vocabulary", "x0 y0 z9 y1", "X0 Y0 X1 Y1"]
    q.write_text("\n".join(lines) + "\n")
    return path, q


def test_planted_accuracy_is_exact(tmp_path):
    path, q = planted(tmp_path)
    report = evaluate_analogies(open_table(str(path)), q)
    by = {s["section"]: s for s in report["sections"]}
    assert (by["solvable"]["correct"], by["solvable"]["incorrect"]) == (30, 0)
    assert by["wrong-expectation"]["correct"] == 0 and by["wrong-expectation"]["answered"] > 0
    # Case-insensitive like gensim: "X0 Y0 X1 Y1" is answered (and right), "z9" is skipped.
    assert (by["out-of-vocabulary"]["correct"], by["out-of-vocabulary"]["skipped"]) == (1, 1)
    total = report["total"]
    assert total["accuracy"] == 31 / total["answered"]
    cased = evaluate_analogies(open_table(str(path)), q, case_insensitive=False)
    assert {s["section"]: s for s in cased["sections"]}["out-of-vocabulary"]["skipped"] == 2
    cosmul = evaluate_analogies(open_table(str(path)), q, method="3cosmul")
    assert {s["section"]: s for s in cosmul["sections"]}["solvable"]["correct"] == 30


@pytest.fixture(scope="module")
def glove_small(tmp_path_factory):
    return glove.write_text(tmp_path_factory.mktemp("glove") / "glove20k.txt", limit=20_000)


def test_analogies_match_gensim_on_real_glove(glove_small, tmp_path, monkeypatch):
    from gensim.models import KeyedVectors

    from embcli.ask.benchmarks import benchmark_path

    questions = benchmark_path(None, "google")
    kv = KeyedVectors.load_word2vec_format(str(glove_small), no_header=True)
    g_acc, g_sections = kv.evaluate_word_analogies(str(questions), restrict_vocab=20_000)
    report = evaluate_analogies(open_table(str(glove_small)), questions, restrict_vocab=20_000)
    for ours, theirs in zip(report["sections"], g_sections[:-1], strict=True):
        assert ours["section"] == theirs["section"]
        assert (ours["correct"], ours["incorrect"]) == (
            len(theirs["correct"]), len(theirs["incorrect"])
        )  # fmt: skip
    assert report["total"]["accuracy"] == pytest.approx(g_acc, abs=1e-12)


@pytest.mark.parametrize("name", ["wordsim353", "simlex999"])
def test_similarity_matches_gensim(glove_small, name):
    from gensim.models import KeyedVectors

    from embcli.ask.benchmarks import benchmark_path

    path = benchmark_path(name, "wordsim353")
    kv = KeyedVectors.load_word2vec_format(str(glove_small), no_header=True)
    pearson, spearman, oov = kv.evaluate_word_pairs(str(path), restrict_vocab=20_000)
    ours = evaluate_pairs(open_table(str(glove_small)), path, restrict_vocab=20_000)
    assert ours["spearman"] == pytest.approx(spearman.statistic, abs=1e-6)
    assert ours["pearson"] == pytest.approx(pearson.statistic, abs=1e-6)
    assert ours["oov_ratio"] * 100 == pytest.approx(oov)  # gensim returns a percentage


def test_cli_reports_and_language_model_coverage(cli, glove_small, minilm_dir):
    res = cli("evaluate", "analogies", "-m", glove_small, "--restrict-vocab", "20000", "-f",
              "json")  # fmt: skip
    report = json.loads(res.out)
    assert res.code == 0 and report["total"]["answered"] + report["total"]["skipped"] == 19544
    sim = json.loads(cli("evaluate", "similarity", "simlex999", "-m", minilm_dir, "-f",
                         "json").out)  # fmt: skip
    assert 0 < sim["pairs"] < 999 and sim["notes"] == [
        "words resolved as single word-initial tokens"
    ]
    assert cli("evaluate", "similarity", "nosuchfile", "-m", minilm_dir).code == 1
    assert cli("evaluate", "analogies", "--method", "x", "-m", minilm_dir).code == 2


def test_a_similarity_file_with_bad_lines_counts_them_and_refuses_bad_scores(glove_small, cli,
                                                                             tmp_path):  # fmt: skip
    """Lines that are not word<TAB>word<TAB>score are skipped as gensim skips them (the figures
    stay gensim's) and counted; a score that is not a finite number is refused in one line."""
    from gensim.models import KeyedVectors

    good = ["king\tqueen\t8.5", "cat\tdog\t7.0", "car\tbanana\t1.2", "paris\tfrance\t8.9"]
    mixed = tmp_path / "mixed.tsv"
    mixed.write_text("\n".join([*good[:2], "red\tblue\tabc", "one column", *good[2:]]) + "\n")
    res = cli("evaluate", "similarity", mixed, "-m", glove_small, "-f", "json")
    assert res.code == 0, res.err
    got = json.loads(res.out)
    kv = KeyedVectors.load_word2vec_format(str(glove_small), no_header=True)
    pearson, spearman, _ = kv.evaluate_word_pairs(str(mixed), restrict_vocab=300_000)
    assert got["pearson"] == pytest.approx(pearson.statistic, abs=1e-6)
    assert got["skipped_lines"] == 2 and got["pairs"] == 4
    oov = tmp_path / "oov.tsv"  # a pair gensim leaves out as unknown words may score nan
    oov.write_text("\n".join([*good, "zzqqx\tyyqqz\tnan"]) + "\n")
    assert (
        json.loads(cli("evaluate", "similarity", oov, "-m", glove_small, "-f", "json").out)[
            "oov_pairs"
        ]
        == 1
    )
    assert got["spearman"] == pytest.approx(spearman.statistic, abs=1e-6)
    for bad in ("nan", "inf"):
        broken = tmp_path / f"{bad}.tsv"
        broken.write_text("\n".join([*good, f"sun\tmoon\t{bad}"]) + "\n")
        res = cli("evaluate", "similarity", broken, "-m", glove_small)
        assert res.code == 2 and res.out == ""
        assert res.err == f"embcli: {bad}.tsv line 5: the score '{bad}' is not a number\n"
