"""``embcli export``: gensim opens its word2vec files and agrees; Projector and .npy files."""

from __future__ import annotations

import json

import numpy as np
import pytest
from safetensors.numpy import load_file


def _raw(model_dir, name: str) -> np.ndarray:
    return load_file(str(model_dir / "model.safetensors"))[name].astype(np.float64)


@pytest.mark.parametrize("suffix", [".txt", ".bin"])
def test_gensim_opens_word2vec_and_most_similar_equals_neighbors(cli, model_dirs, tmp_path, suffix):
    """A byte-level (GPT-2 style) table, whose tokens start with spaces, through gensim."""
    from gensim.models import KeyedVectors

    model = model_dirs["gpt2"]
    out = tmp_path / f"gpt2{suffix}"
    res = cli("export", out, "-m", model, "-f", "json")
    assert res.code == 0, res.err
    report = json.loads(res.out)
    kv = KeyedVectors.load_word2vec_format(str(out), binary=suffix == ".bin")
    assert len(kv) == report["rows"] and kv.vector_size == report["dim"] == 32

    # Which rows were written, and the names they got, from embcli's own view of the table.
    from embcli.store.load import open_table

    table = open_table(str(model))  # the cache the command just built (EMBCLI_CACHE)
    ids = np.flatnonzero(np.asarray(table.wordlike)).tolist()
    assert len(ids) == len(kv)
    names = list(kv.index_to_key)
    assert len(set(names)) == len(names) and not any(" " in n for n in names)
    spaced = [n for n, i in zip(names, ids, strict=True) if table.tokens[i].startswith(" ")]
    assert spaced, "the tiny GPT-2 has word-initial tokens with a leading space"
    for name, i in zip(names, ids, strict=True):
        stripped = table.tokens[i].strip()
        assert name in (stripped, table.tokenizer.id_to_token(i), f"#{i}")

    # The vectors are the checkpoint's rows (float64 reference, float32 precision).
    raw = _raw(model, "transformer.wte.weight")
    np.testing.assert_allclose(kv.vectors, raw[ids], rtol=1e-6, atol=1e-7)

    # gensim's most_similar equals embcli's neighbours over the same rows.
    among = tmp_path / "rows.txt"
    among.write_text("".join(f"#{i}\n" for i in ids))
    by_name = dict(zip(names, ids, strict=True))
    for q in ids[:: max(1, len(ids) // 6)][:6]:
        got = json.loads(
            cli("neighbors", f"#{q}", "--among", among, "--all-tokens", "-k", "8", "-m", model,
                "-f", "json").out
        )["neighbors"]  # fmt: skip
        ref = kv.most_similar(names[ids.index(q)], topn=8)
        assert [n["id"] for n in got] == [by_name[w] for w, _ in ref]
        np.testing.assert_allclose([n["cosine"] for n in got], [s for _, s in ref], atol=1e-5)


def test_projector_files_line_up_and_escape_tokens(cli, model_dirs, tmp_path):
    model = model_dirs["gpt2"]
    words = tmp_path / "words.txt"
    words.write_text("Paris\nking\n#0\n#5\nzzzqqq-not-a-token\n\n")
    out = tmp_path / "proj"
    res = cli("export", out, "--to", "projector", "-m", model, "-f", "json")
    assert res.code == 0, res.err
    vectors = (out / "vectors.tsv").read_text(encoding="utf-8").split("\n")
    labels = (out / "metadata.tsv").read_text(encoding="utf-8").split("\n")
    assert vectors[-1] == "" and labels[-1] == ""  # each line ends with a newline
    vectors, labels = vectors[:-1], labels[:-1]
    assert len(vectors) == len(labels) == json.loads(res.out)["rows"]
    assert all("\t" not in lab and "\r" not in lab and lab.strip() for lab in labels)
    assert all(len(v.split("\t")) == 32 for v in vectors)
    assert "\u2423" in "".join(labels)  # leading spaces shown, so " Paris" is not blank-led

    # A word list: the words found, in order; the rest reported and left out.
    res = cli("export", tmp_path / "some", "--words", words, "-m", model, "-f", "json")
    assert res.code == 0, res.err
    report = json.loads(res.out)
    assert report["missing"] == ["zzzqqq-not-a-token"] and "left out 1 word" in res.err
    labels = (tmp_path / "some" / "metadata.tsv").read_text(encoding="utf-8").splitlines()
    assert len(labels) == report["rows"] == 4
    assert {p.name for p in (tmp_path / "some").iterdir()} == {"metadata.tsv", "vectors.tsv"}
    # the same words as a comma list, as axis and history take them: the same export
    inline = ",".join(w.strip() for w in words.read_text(encoding="utf-8").splitlines() if w)
    again = cli("export", tmp_path / "inline", "--words", inline, "-m", model, "-f", "json")
    assert again.code == 0, again.err
    assert (tmp_path / "inline" / "vectors.tsv").read_bytes() == (
        tmp_path / "some" / "vectors.tsv"
    ).read_bytes()


def test_npy_and_token_list_equal_the_checkpoint(cli, minilm_dir, tmp_path):
    out = tmp_path / "minilm.npy"
    res = cli("export", out, "--limit", "500", "-m", minilm_dir, "-f", "json")
    assert res.code == 0, res.err
    arr = np.load(out)
    tokens = json.loads((tmp_path / "minilm.tokens.json").read_text(encoding="utf-8"))
    assert arr.shape == (500, 384) and arr.dtype == np.float32 and len(tokens) == 500
    raw = _raw(minilm_dir, "embeddings.word_embeddings.weight")
    vocab = json.loads((minilm_dir / "tokenizer.json").read_text())["model"]["vocab"]
    ids = [t["id"] for t in tokens]
    assert all(vocab[t["token"]] == t["id"] for t in tokens)
    assert ids == sorted(ids) and not any(t["token"].startswith("##") for t in tokens)
    np.testing.assert_allclose(arr, raw[ids], rtol=1e-6, atol=1e-7)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_unknown_suffix_is_one_usage_line(cli, minilm_dir, tmp_path):
    res = cli("export", tmp_path / "x.parquet", "-m", minilm_dir)
    assert res.code == 2 and res.err.count("\n") == 1 and "format" in res.err


def test_a_killed_export_leaves_debris_that_the_next_write_sweeps(cli, minilm_dir, tmp_path):
    """SIGKILL a real export mid-write: its temporary file stays (nothing can remove it then);
    the next write into that directory removes it, and leaves a live writer's file alone."""
    import signal
    import subprocess
    import sys
    import time

    assert cli("info", "-m", minilm_dir).code == 0  # build the cache: the export itself is slow
    out = tmp_path / "minilm.txt"
    proc = subprocess.Popen([sys.executable, "-m", "embcli", "export", str(out), "-m",
                             str(minilm_dir)], stderr=subprocess.DEVNULL)  # fmt: skip
    temp = tmp_path / f".minilm.txt.{proc.pid}.tmp"
    deadline = time.monotonic() + 120
    while not (temp.is_file() and temp.stat().st_size > 0) and time.monotonic() < deadline:
        assert proc.poll() is None, "the export ended before it could be killed"
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL
    assert temp.is_file() and not out.exists()  # the debris a killed writer leaves

    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        live = tmp_path / f".other.npy.{alive.pid}.tmp"  # a writer still at work
        live.write_bytes(b"partial")
        odd = tmp_path / ".notes.tmp"  # not a name embcli writes: never touched
        odd.write_text("mine")
        res = cli("export", tmp_path / "minilm.npy", "--limit", "10", "-m", minilm_dir)
        assert res.code == 0, res.err
        assert "removed 1 temporary file left by an interrupted write" in res.err
        assert not temp.exists() and live.is_file() and odd.is_file()
        assert np.load(tmp_path / "minilm.npy").shape == (10, 384)
    finally:
        alive.kill()
        alive.wait()
    # once its writer is gone, the other file goes too (any atomic write into the directory)
    from embcli.atomic import write_text

    write_text(tmp_path / "note.txt", "x")
    assert not live.exists() and odd.is_file() and not list(tmp_path.glob(".*.[0-9]*.tmp"))


def test_export_refuses_stdout_and_a_folder_of_other_files(cli, model_dirs, tmp_path,
                                                            monkeypatch):  # fmt: skip
    """``export -`` made a directory named '-'; ``export DIR`` without a suffix wrote the
    Projector pair into a model's own folder. Both are refused before any work; a folder
    holding an earlier export is replaced as before."""
    m = ("-m", model_dirs["gpt2"])
    monkeypatch.chdir(tmp_path)
    res = cli("export", "-", "--limit", "2", *m)
    assert res.code == 2 and "not stdout" in res.err and not (tmp_path / "-").exists()
    before = sorted(p.name for p in model_dirs["gpt2"].iterdir())
    res = cli("export", model_dirs["gpt2"], "--limit", "2", *m)
    assert res.code == 2 and "already holds other files" in res.err
    assert sorted(p.name for p in model_dirs["gpt2"].iterdir()) == before
    again = tmp_path / "proj"
    again.mkdir()
    (again / ".DS_Store").write_bytes(b"")  # hidden names pass, a dead export's temp file too
    (again / ".vectors.tsv.99999999.tmp").write_bytes(b"half")
    assert cli("export", again, "--limit", "2", *m).code == 0
    assert cli("export", again, "--limit", "3", *m).code == 0
    assert len((again / "metadata.tsv").read_text(encoding="utf-8").splitlines()) == 3
