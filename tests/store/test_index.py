"""The corpus index: exact search against a float64 brute force, the HNSW graph's recall,
resumed builds, ``add``, a changed corpus, and bad input (one line, nothing half-written).

A tiny model2vec model written by model2vec itself (random rows, a WordPiece vocabulary) makes
the vectors, so these run without torch; the reference vectors come from model2vec's own
``StaticModel.encode``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from embcli.api import Model
from embcli.api.index import Index, indexes
from embcli.ask import corpus_index
from embcli.ask.static_sentences import StaticEncoder
from embcli.errors import EmbcliError, Interrupted, UsageProblem
from embcli.store import index as store
from tests.static_models import random_lines, tiny_model2vec


@pytest.fixture(scope="module")
def static_dir(tmp_path_factory) -> Path:
    return tiny_model2vec(tmp_path_factory.mktemp("m2v") / "tiny")


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "cache"
    monkeypatch.setenv("EMBCLI_CACHE", str(root))
    return root


def write_corpus(path: Path, lines: list[str], blank_every: int = 0) -> Path:
    out = []
    for i, line in enumerate(lines):
        out.append(line)
        if blank_every and i % blank_every == 0:
            out.append("   ")
    path.write_text("\n".join(out) + "\n", encoding="utf-8")
    return path


def reference_vectors(static_dir: Path, texts: list[str]) -> np.ndarray:
    """model2vec's own sentence vectors, unit length, float64."""
    from model2vec import StaticModel

    v = StaticModel.from_pretrained(str(static_dir)).encode(texts).astype(np.float64)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def brute_force(vectors: np.ndarray, q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    scores = np.asarray(vectors, np.float64) @ q
    order = np.lexsort((np.arange(len(scores)), -scores))[:k]
    return order, scores[order]


def leftovers(cache: Path) -> list[str]:
    """Temporary or unreferenced things under the indexes folder (besides locks, builds)."""
    root = store.index_root(cache)
    if not root.exists():
        return []
    out = []
    for folder in root.iterdir():
        if folder.name in (store.LOCK_DIR, store.BUILD_DIR):
            continue
        if folder.name.startswith("."):
            out.append(folder.name)
            continue
        gen = store.read_meta(folder).generation
        out += [f"{folder.name}/{c.name}" for c in folder.iterdir()
                if c.name not in (store.POINTER, f"g{gen}")]  # fmt: skip
    return out


def test_exact_top_k_over_blocks_equals_brute_force(monkeypatch):
    rng = np.random.default_rng(1)
    vectors = store.unit_rows(rng.standard_normal((1000, 24)), "float16")
    vectors[17] = 0  # a text with no tokens
    queries = store.unit_rows(rng.standard_normal((20, 24)), "float32")
    monkeypatch.setattr(corpus_index, "ROW_BLOCK", 128)  # eight blocks, merged
    ids, scores = corpus_index.exact_top_k(vectors, queries, 7)
    for q, row_ids, row_scores in zip(queries, ids, scores, strict=True):
        ref_ids, ref_scores = brute_force(vectors, q.astype(np.float64), 7)
        assert row_ids.tolist() == ref_ids.tolist()
        np.testing.assert_allclose(row_scores, ref_scores, rtol=0, atol=1e-12)


def test_index_search_equals_brute_force_over_the_stored_vectors(static_dir, cache, tmp_path):
    lines = random_lines(600, seed=2)
    corpus = write_corpus(tmp_path / "corpus.txt", lines[:500], blank_every=7)
    index = Model(str(static_dir)).index(corpus, "docs")
    assert index.rows == 500 and index.meta.ann is None
    stored = index.stored()
    assert stored.vectors.dtype == np.float16
    # the vectors are model2vec's own, scaled to unit length
    np.testing.assert_allclose(stored.vectors, reference_vectors(static_dir, lines[:500]),
                               atol=2e-3)  # fmt: skip
    held_back = lines[500:520]
    result = index.search(held_back, k=5)
    assert result.method == "exact" and result.recall is None
    refs = reference_vectors(static_dir, held_back)
    file_lines = [n for n, t in enumerate(corpus.read_text().split("\n"), 1) if t.strip()]
    for search, q in zip(result.searches, refs, strict=True):
        ids, scores = brute_force(stored.vectors, q, 5)
        got = search["results"]
        assert [r["text"] for r in got] == [lines[i] for i in ids]
        assert [r["line"] for r in got] == [file_lines[i] for i in ids]
        np.testing.assert_allclose([r["score"] for r in got], scores, atol=1e-6)
    # one query at a time answers as the batch does
    assert index.search(held_back[3], k=5).searches[0] == result.searches[3]


def test_ann_recall_on_held_back_queries(static_dir, cache, tmp_path):
    lines = random_lines(4200, seed=3)
    corpus = write_corpus(tmp_path / "big.txt", lines[:4000])
    index = Model(str(static_dir)).index(corpus, "big", ann=True)
    ann = index.meta.ann
    assert ann["library"] == "usearch" and ann["recall_sample"] == corpus_index.RECALL_SAMPLE
    assert ann["recall_at_10"] >= 0.95
    held_back = lines[4000:]
    approx = index.search(held_back, k=10)
    exact = index.search(held_back, k=10, exact=True)
    assert approx.method == "usearch" and exact.method == "exact"
    hits = sum(
        len({r["line"] for r in a["results"]} & {r["line"] for r in e["results"]})
        for a, e in zip(approx.searches, exact.searches, strict=True)
    )
    assert index.search(held_back[0], k=10).searches[0] == approx.searches[0]  # one query alone
    recall = hits / (10 * len(held_back))
    print(f"ANN recall@10 on {len(held_back)} held-back queries: {recall:.3f} "
          f"(at build: {ann['recall_at_10']:.3f})")  # fmt: skip
    assert recall >= 0.95
    # the graph's candidates are re-scored exactly: a row both found has the same score
    for a, e in zip(approx.searches, exact.searches, strict=True):
        scores = {r["line"]: r["score"] for r in e["results"]}
        for r in a["results"]:
            if r["line"] in scores:
                assert r["score"] == scores[r["line"]]


def interrupting(monkeypatch, after: int) -> list[int]:
    """Make the encoder raise KeyboardInterrupt on its call number ``after + 1``."""
    calls: list[int] = []
    real = StaticEncoder.encode

    def encode(self, texts, batch_size=1024, progress=None):
        calls.append(len(texts))
        if len(calls) == after + 1:
            if progress is not None:
                progress(len(texts) // 2, len(texts))
            raise KeyboardInterrupt
        return real(self, texts, batch_size, progress)

    monkeypatch.setattr(StaticEncoder, "encode", encode)
    return calls


def same_index(a: Index, b: Index) -> None:
    sa, sb = a.stored(), b.stored()
    assert np.array_equal(sa.vectors, sb.vectors)
    assert np.array_equal(sa.lines, sb.lines)
    assert [sa.text(i) for i in range(sa.meta.rows)] == [sb.text(i) for i in range(sb.meta.rows)]


def test_interrupted_build_resumes_from_the_last_finished_chunk(
    static_dir, cache, tmp_path, monkeypatch
):
    import embcli.api.index as api_index

    monkeypatch.setattr(api_index, "STATIC_CHUNK", 100)
    corpus = write_corpus(tmp_path / "c.txt", random_lines(450, seed=4), blank_every=11)
    model = Model(str(static_dir), progress=lambda *a: None)
    calls = interrupting(monkeypatch, after=2)
    with pytest.raises(Interrupted, match="200 of 450 lines are embedded and kept"):
        model.index(corpus, "resumed", batch_size=50)
    assert indexes().indexes == []  # nothing half-written is an index
    with pytest.raises(store.IndexProblem, match="no index named resumed"):
        Index("resumed")
    monkeypatch.undo()
    monkeypatch.setenv("EMBCLI_CACHE", str(cache))
    monkeypatch.setattr(api_index, "STATIC_CHUNK", 100)
    heard: list[str] = []
    calls = interrupting(monkeypatch, after=99)
    resumed = Model(str(static_dir), notice=heard.append).index(corpus, "resumed", batch_size=50)
    assert calls == [100, 100, 50]  # chunks 3, 4, 5 only
    assert any("resuming the build of index resumed: 200 of 450" in h for h in heard)
    whole = Model(str(static_dir)).index(corpus, "whole", batch_size=50)
    same_index(resumed, whole)
    assert not (store.index_root(cache) / store.BUILD_DIR / "resumed").exists()
    assert list((store.index_root(cache) / store.BUILD_DIR).iterdir()) == []
    assert leftovers(cache) == []


@pytest.mark.slow
def test_killed_build_resumes_to_the_same_index(static_dir, cache, tmp_path):
    corpus = write_corpus(tmp_path / "k.txt", random_lines(450, seed=5))
    script = textwrap.dedent(f"""
        import os, signal
        import embcli.api.index as api_index
        from embcli.ask.static_sentences import StaticEncoder
        api_index.STATIC_CHUNK = 100
        real, calls = StaticEncoder.encode, []
        def encode(self, texts, batch_size=1024, progress=None):
            calls.append(1)
            if len(calls) == 4:  # mid-way through the fourth chunk
                os.kill(os.getpid(), signal.SIGKILL)
            return real(self, texts, batch_size, progress)
        StaticEncoder.encode = encode
        from embcli.api import Model
        Model({str(static_dir)!r}).index({str(corpus)!r}, "killed", batch_size=50)
    """)
    env = {**os.environ, "EMBCLI_CACHE": str(cache), "PYTHONPATH": os.getcwd()}
    proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert indexes().indexes == []
    import embcli.api.index as api_index

    heard: list[str] = []
    old = api_index.STATIC_CHUNK
    api_index.STATIC_CHUNK = 100
    try:
        resumed = Model(str(static_dir), notice=heard.append).index(corpus, "killed",
                                                                    batch_size=50)  # fmt: skip
        whole = Model(str(static_dir)).index(corpus, "whole", batch_size=50)
    finally:
        api_index.STATIC_CHUNK = old
    assert any("300 of 450 lines were embedded" in h for h in heard), heard
    same_index(resumed, whole)
    assert leftovers(cache) == []


def test_add_equals_a_build_of_the_concatenated_file(static_dir, cache, tmp_path):
    lines = random_lines(300, seed=6)
    first, second = lines[:200], lines[200:]
    grown = write_corpus(tmp_path / "grown.txt", first, blank_every=9)
    model = Model(str(static_dir))
    index = model.index(grown, "grown")
    with grown.open("a", encoding="utf-8") as fh:  # lines appended to the indexed file
        fh.write("\n".join(second) + "\n")
    old_vectors = np.array(index.stored().vectors)
    index.add(grown)
    assert index.rows == 300 and index.stale() == []
    whole = write_corpus(tmp_path / "whole.txt", [])
    whole.write_bytes(grown.read_bytes())
    same_index(index, model.index(whole, "whole"))
    assert np.array_equal(index.stored().vectors[:200], old_vectors)  # old rows kept as they were
    # another file: its lines follow, numbered in their own file
    other = write_corpus(tmp_path / "other.txt", random_lines(20, seed=7))
    index.add(other)
    stored = index.stored()
    assert index.rows == 320 and stored.line(300) == 1 and stored.source(300) == str(other)
    assert len(index.meta.sources) == 2
    concatenated = write_corpus(tmp_path / "cat.txt", [])
    concatenated.write_bytes(grown.read_bytes() + other.read_bytes())
    cat = model.index(concatenated, "cat").stored()
    assert np.array_equal(stored.vectors, cat.vectors)
    assert [stored.text(i) for i in range(320)] == [cat.text(i) for i in range(320)]
    assert leftovers(cache) == []


def test_a_changed_corpus_is_noticed(static_dir, cache, tmp_path):
    corpus = write_corpus(tmp_path / "c.txt", random_lines(50, seed=8))
    heard: list[str] = []
    index = Model(str(static_dir), notice=heard.append).index(corpus, "c")
    assert index.stale() == []
    text = corpus.read_text()
    corpus.write_text(text.replace(text.split("\n")[3], "a different line"))
    assert index.stale() == [str(corpus)]
    found = Index("c", notice=heard.append).search("paris", k=2)
    assert any(f"{corpus} changed since index c was built" in h for h in heard)
    assert found.rows == 50
    with pytest.raises(EmbcliError, match="changed since it was indexed"):
        index.add(corpus)
    assert Index("c").rows == 50 and leftovers(cache) == []
    corpus.unlink()
    heard.clear()
    assert Index("c", notice=heard.append).search("paris", k=2).rows == 50
    assert any(f"{corpus} is gone since index c was built" in h for h in heard)


def test_sentences_search_reuses_an_index_of_the_same_file(static_dir, cache, tmp_path):
    lines = random_lines(80, seed=9)
    corpus = write_corpus(tmp_path / "s.txt", lines)
    model = Model(str(static_dir))
    pairs = [(n, t) for n, t in enumerate(lines, 1)]
    fresh = model.search("king paris", pairs, 5, corpus_name=str(corpus))
    model.index(corpus, "s")
    heard: list[str] = []
    reused = Model(str(static_dir), notice=heard.append).search(
        "king paris", pairs, 5, corpus_name=str(corpus)
    )
    assert any("answered from index s" in n for n in reused.notes)
    assert [r["line"] for r in reused.results] == [r["line"] for r in fresh.results]
    np.testing.assert_allclose([r["score"] for r in reused.results],
                               [r["score"] for r in fresh.results], atol=2e-3)  # fmt: skip
    assert reused.to_dict().keys() == fresh.to_dict().keys()


def test_bad_input_is_one_line_and_leaves_nothing(static_dir, cache, tmp_path, model_dirs):
    model = Model(str(static_dir))
    good = write_corpus(tmp_path / "good.txt", random_lines(30, seed=10))
    model.index(good, "good")
    before = indexes().to_dict()

    empty = tmp_path / "empty.txt"
    empty.write_text("\n   \n\n")
    with pytest.raises(UsageProblem, match=r"empty\.txt has no non-blank lines"):
        model.index(empty)
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"paris is a capital\n\xff\xfe not utf-8\n")
    with pytest.raises(EmbcliError, match=r"bad\.txt line 2 is not UTF-8 text"):
        model.index(bad)
    with pytest.raises(store.IndexProblem, match="no sentence-transformers configuration"):
        Model(str(model_dirs["gpt2"])).index(good, "gpt2")
    with pytest.raises(store.IndexProblem, match="no index named missing"):
        Index("missing")
    with pytest.raises(store.IndexProblem, match="was built with"):
        Index("good", model=str(model_dirs["bert"]))
    with pytest.raises(EmbcliError, match="index good already exists"):
        Model(str(model_dirs["bert"])).index(good, "good")
    with pytest.raises(UsageProblem, match="is not usable"):
        model.index(good, "../escape")
    with pytest.raises(UsageProblem, match="built from a file, not stdin"):
        model.index("-")
    # the model's files replaced by a wider model: its vectors no longer fit the index
    wider = tiny_model2vec(tmp_path / "wider", dim=24)
    swap = tmp_path / "swap"
    import shutil

    shutil.copytree(static_dir, swap)
    model_b = Model(str(swap))
    model_b.index(good, "swap")
    os.environ["EMBCLI_CACHE"] = str(tmp_path / "other-cache")  # the table rebuilt from the files
    try:
        shutil.rmtree(swap)
        shutil.copytree(wider, swap)
        more = write_corpus(tmp_path / "more.txt", random_lines(5, seed=11))
        with pytest.raises(store.IndexProblem, match="24-dimensional vectors; index swap holds 16"):
            Index("swap", cache_dir=cache).add(more)
        with pytest.raises(store.IndexProblem, match="24-dimensional"):
            Index("swap", cache_dir=cache).search("paris")
    finally:
        os.environ["EMBCLI_CACHE"] = str(cache)
    after = indexes().to_dict()
    assert [i for i in after if i["name"] != "swap"] == before
    assert Index("swap").rows == 30
    assert leftovers(cache) == []
    Index("swap").remove()
    assert [i["name"] for i in indexes().to_dict()] == ["good"]


def test_an_interrupted_add_leaves_the_index_as_it_was(static_dir, cache, tmp_path, monkeypatch):
    import embcli.api.index as api_index

    monkeypatch.setattr(api_index, "STATIC_CHUNK", 100)
    corpus = write_corpus(tmp_path / "a.txt", random_lines(150, seed=12))
    index = Model(str(static_dir)).index(corpus, "a", batch_size=50)
    before = np.array(index.stored().vectors)
    more = write_corpus(tmp_path / "b.txt", random_lines(250, seed=13))
    interrupting(monkeypatch, after=1)
    with pytest.raises(Interrupted, match="100 of 250 lines are embedded and kept"):
        Index("a").add(more, batch_size=50)
    after = Index("a")
    assert after.rows == 150 and len(after.meta.sources) == 1
    assert np.array_equal(after.stored().vectors, before)
    assert leftovers(cache) == []
    monkeypatch.undo()
    monkeypatch.setenv("EMBCLI_CACHE", str(cache))
    monkeypatch.setattr(api_index, "STATIC_CHUNK", 100)
    heard: list[str] = []
    Index("a", notice=heard.append).add(more, batch_size=50)
    assert any("resuming the build of index a: 100 of 250" in h for h in heard), heard
    both = write_corpus(tmp_path / "ab.txt", [])
    both.write_bytes(corpus.read_bytes() + more.read_bytes())
    whole = Model(str(static_dir)).index(both, "ab", batch_size=50).stored()
    assert np.array_equal(Index("a").stored().vectors, whole.vectors)


def test_rm_removes_an_unfinished_build_too(static_dir, cache, tmp_path, monkeypatch):
    import embcli.api.index as api_index

    monkeypatch.setattr(api_index, "STATIC_CHUNK", 100)
    corpus = write_corpus(tmp_path / "u.txt", random_lines(300, seed=14))
    interrupting(monkeypatch, after=1)
    with pytest.raises(Interrupted):
        Model(str(static_dir)).index(corpus, "u", batch_size=50)
    assert store.unfinished(cache, "u")
    assert Index.discard("u") is False
    assert store.unfinished(cache, "u") == []
    with pytest.raises(store.IndexProblem, match="no index named u"):
        Index.discard("u")


def test_a_failure_while_writing_leaves_the_old_index(static_dir, cache, tmp_path, monkeypatch):
    corpus = write_corpus(tmp_path / "w.txt", random_lines(120, seed=15))
    index = Model(str(static_dir)).index(corpus, "w", ann=True)
    before = np.array(index.stored().vectors)

    def full_disk(folder, vectors, **_):
        (folder / corpus_index.ANN_FILE).write_bytes(b"half a graph")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(corpus_index, "build_ann", full_disk)
    more = write_corpus(tmp_path / "more.txt", random_lines(30, seed=16))
    with pytest.raises(OSError, match="No space left"):
        index.add(more)
    again = Index("w")
    assert again.rows == 120 and np.array_equal(again.stored().vectors, before)
    assert again.search("paris", k=3).method == "usearch"  # the old graph still answers
    assert leftovers(cache) == []
    monkeypatch.undo()
    monkeypatch.setenv("EMBCLI_CACHE", str(cache))
    assert Index("w").add(more).rows == 150  # the kept chunks: nothing embedded twice


def test_add_checks_its_batch_size_before_any_work(static_dir, cache, tmp_path):
    corpus = write_corpus(tmp_path / "a.txt", random_lines(20, seed=3))
    index = Model(str(static_dir)).index(corpus)
    more = write_corpus(tmp_path / "b.txt", random_lines(5, seed=4))
    with pytest.raises(UsageProblem, match=r"^batch_size must be at least 1") as err:
        index.add(more, batch_size=-5)
    assert err.value.param == "batch_size"
    assert Index(index.name).rows == 20
    model = Model(str(static_dir))
    for call, param in ((lambda: index.search("x", k=0), "k"),
                        (lambda: model.index(corpus, dtype="f8"), "dtype")):  # fmt: skip
        with pytest.raises(UsageProblem) as err:
            call()
        assert err.value.param == param and err.value.message.startswith(param)
