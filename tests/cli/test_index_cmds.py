"""``embcli index build|add|list|rm`` and ``embcli search``: the stories end to end, bad input as
one line, and the warm search path's imports. The store's own checks are tests/store/test_index.py.
"""

from __future__ import annotations

import io
import json
import sys

import pytest

from embcli.api.index import Index
from tests.static_models import random_lines, tiny_model2vec


@pytest.fixture(scope="module")
def static_dir(tmp_path_factory):
    return tiny_model2vec(tmp_path_factory.mktemp("m2v") / "tiny")


@pytest.fixture
def cache(tmp_path, monkeypatch):
    root = tmp_path / "cache"
    monkeypatch.setenv("EMBCLI_CACHE", str(root))
    return root


@pytest.fixture
def corpus(tmp_path):
    path = tmp_path / "tickets.txt"
    path.write_text("\n".join(random_lines(200, seed=20)) + "\n", encoding="utf-8")
    return path


def one_line(err: str) -> str:
    lines = [x for x in err.splitlines() if x.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def test_build_list_search_add_rm(cli, static_dir, cache, corpus, tmp_path, monkeypatch):
    res = cli("index", "build", corpus, "-m", static_dir, "-f", "json")
    assert res.code == 0, res.err
    built = json.loads(res.out)[0]
    assert built["name"] == "tickets" and built["rows"] == 200 and built["ann"] is None
    listed = json.loads(cli("index", "list", "-f", "json").out)
    assert [i["name"] for i in listed] == ["tickets"]

    res = cli("search", "paris king", "blue fish", "--index", "tickets", "-k", "3", "-f", "json")
    assert res.code == 0, res.err
    printed = json.loads(res.out)
    assert printed == Index("tickets").search(["paris king", "blue fish"], 3).to_dict()
    assert printed["method"] == "exact" and len(printed["searches"]) == 2
    assert "exact search over 200 rows" in res.err

    # '-' reads one query a line from stdin
    monkeypatch.setattr(sys, "stdin", io.StringIO("paris king\n\nblue fish\n"))
    piped = cli("search", "-", "--index", "tickets", "-k", "3", "-f", "json")
    assert json.loads(piped.out)["searches"] == printed["searches"]
    tsv = cli("search", "--query", "paris king", "--index", "tickets", "-k", "2", "-f", "tsv")
    assert tsv.out.splitlines()[0] == "rank\tline\tscore\ttext"
    assert len(tsv.out.splitlines()) == 3

    more = tmp_path / "more.txt"
    more.write_text("\n".join(random_lines(10, seed=21)) + "\n")
    res = cli("index", "add", more, "--index", "tickets", "-f", "json")
    assert res.code == 0, res.err
    assert json.loads(res.out)[0]["rows"] == 210

    assert cli("index", "rm", "tickets").code == 0
    assert json.loads(cli("index", "list", "-f", "json").out) == []


def test_ann_build_says_so_and_search_reports_recall(cli, static_dir, cache, tmp_path):
    path = tmp_path / "big.txt"
    path.write_text("\n".join(random_lines(1500, seed=22)) + "\n")
    res = cli("index", "build", path, "-m", static_dir, "--ann", "--name", "big", "-f", "json")
    assert res.code == 0, res.err
    assert "building the usearch graph over 1,500 rows" in res.err
    res = cli("search", "paris", "--index", "big", "-f", "json")
    found = json.loads(res.out)
    assert found["method"] == "usearch" and found["ann_recall_at_10"] >= 0.95
    assert "approximate search (usearch HNSW, recall@10" in res.err
    exact = json.loads(cli("search", "paris", "--index", "big", "--exact", "-f", "json").out)
    assert exact["method"] == "exact"


def test_sentences_corpus_reuses_the_index(cli, static_dir, cache, corpus):
    ask = ["sentences", "--query", "paris", "--corpus", corpus, "-m", static_dir, "-f", "json"]
    before = cli(*ask)
    assert cli("index", "build", corpus, "-m", static_dir).code == 0
    after = cli(*ask)
    assert "answered from index tickets (exact search)" in after.err
    fresh, reused = json.loads(before.out), json.loads(after.out)
    assert reused.keys() == fresh.keys()
    # float16 storage moves a score by < 2e-3: the ranked scores agree to that, the best line too
    scores = [[r["score"] for r in x["results"]] for x in (fresh, reused)]
    assert max(abs(a - b) for a, b in zip(*scores, strict=True)) < 2e-3
    assert reused["results"][0]["line"] == fresh["results"][0]["line"]


def test_bad_input_is_one_line(cli, static_dir, cache, corpus, tmp_path, model_dirs):
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n")
    res = cli("index", "build", empty, "-m", static_dir)
    assert res.code == 2 and "has no non-blank lines" in one_line(res.err)
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"fine\n\xe9t\xe9\n")
    res = cli("index", "build", bad, "-m", static_dir)
    assert res.code == 1 and "bad.txt line 2 is not UTF-8 text" in one_line(res.err)
    res = cli("index", "build", corpus, "-m", model_dirs["gpt2"])
    assert res.code == 1 and "no sentence-transformers configuration" in one_line(res.err)
    res = cli("search", "paris", "--index", "nope")
    assert res.code == 1 and one_line(res.err) == "embcli: no index named nope (embcli index list)"
    res = cli("search", "--index", "nope")
    assert res.code == 2 and "give one or more queries" in one_line(res.err)
    res = cli("index", "rm", "nope")
    assert res.code == 1 and "no index named nope" in one_line(res.err)
    assert cli("index", "build", corpus, "-m", static_dir).code == 0
    res = cli("search", "paris", "--index", "tickets", "-m", model_dirs["bert"])
    assert res.code == 1 and "was built with" in one_line(res.err)
    res = cli("index", "build", corpus, "-m", model_dirs["bert"], "--name", "tickets")
    assert res.code == 1 and "index tickets already exists" in one_line(res.err)
    assert [i["name"] for i in json.loads(cli("index", "list", "-f", "json").out)] == ["tickets"]


@pytest.mark.slow
@pytest.mark.parametrize("ann", [False, True])
def test_warm_search_imports_neither_torch_nor_an_unused_graph_library(
    static_dir, tmp_path, corpus, ann
):
    from tests.conftest import run_subprocess
    from tests.store.test_warm_path import HEAVY, _loaded, _probe

    env = {"EMBCLI_CACHE": str(tmp_path / "c")}
    flag = "--ann" if ann else "--no-ann"
    built = run_subprocess("index", "build", corpus, "-m", static_dir, flag, env=env)
    assert built.code == 0, built.err
    modules = _probe(str(static_dir), ["search", "paris king", "--index", "tickets"], env)
    heavy = [name for name in (*HEAVY, "usearch", "faiss") if _loaded(modules, name)]
    assert heavy == (["usearch"] if ann else [])


@pytest.mark.slow
def test_minilm_index_holds_the_vectors_sentences_makes(minilm_dir, tmp_path, monkeypatch):
    import numpy as np

    from embcli.api import Model

    monkeypatch.setenv("EMBCLI_CACHE", str(tmp_path / "c"))
    lines = [*random_lines(60, seed=23), "The capital of France is Paris."]
    path = tmp_path / "docs.txt"
    path.write_text("\n".join(lines) + "\n")
    model = Model(str(minilm_dir))
    index = model.index(path, "docs", batch_size=16)
    made = model.sentences(lines).vectors
    unit = made / np.linalg.norm(made, axis=1, keepdims=True)
    np.testing.assert_allclose(index.stored().vectors, unit, atol=2e-3)
    assert index.meta.pooling == "mean" and index.meta.normalized and index.meta.max_length == 256
    top = index.search("Where is Paris?", k=1).searches[0]["results"][0]
    assert top["text"] == "The capital of France is Paris." and top["line"] == 61


def test_an_index_of_another_max_length_is_not_reused(cli, static_dir, cache, corpus):
    """An index built with --max-length 2 holds other vectors than the model's own settings
    make: ``sentences --corpus`` embeds the corpus itself rather than answer from it."""
    ask = ["sentences", "--query", "paris", "--corpus", corpus, "-m", static_dir, "-f", "json"]
    before = cli(*ask)
    assert cli("index", "build", corpus, "-m", static_dir, "--max-length", "2").code == 0
    after = cli(*ask)
    assert after.code == 0, after.err
    assert "answered from index" not in after.err
    assert json.loads(after.out) == json.loads(before.out)


@pytest.mark.parametrize("again", [["--ann"], ["--max-length", "2"], ["--revision", "main"]])
def test_building_again_with_other_settings_is_refused(cli, static_dir, cache, corpus, again):
    """The same name, file and model with another graph, length or revision is not 'the same
    index': one line naming it, exit 1, the index as it was (no graph built silently)."""
    assert cli("index", "build", corpus, "-m", static_dir, "--name", "t").code == 0
    res = cli(*(["--revision", "main"] if again[0] == "--revision" else []), "index", "build",
              corpus, "-m", static_dir, "--name", "t",
              *([] if again[0] == "--revision" else again))  # fmt: skip
    assert res.code == 1, res.err
    assert "index t already exists" in one_line(res.err)
    listed = json.loads(cli("index", "list", "-f", "json").out)
    assert [i["ann"] for i in listed] == [None]
