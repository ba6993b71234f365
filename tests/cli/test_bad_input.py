"""Bad input: one line on stderr naming the problem, a non-zero exit, nothing half-written."""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest
from safetensors.numpy import save_file


def assert_one_line_error(res, *needles, code=1):
    assert res.code == code, (res.code, res.out, res.err)
    lines = res.err.strip().splitlines()
    assert len(lines) == 1, res.err
    assert lines[0].startswith("embcli: ") and "Traceback" not in res.err
    for needle in needles:
        assert needle in lines[0], lines[0]
    assert res.out == ""


def no_leftovers(cache):
    """No entry and no scratch directory survived a failed build."""
    entries = (
        [p for p in cache.iterdir() if p.name not in (".tmp", ".locks")] if cache.exists() else []
    )
    scratch = list((cache / ".tmp").iterdir()) if (cache / ".tmp").exists() else []
    return entries == [] and scratch == []


def test_missing_path(cli, tmp_path):
    assert_one_line_error(cli("info", "-m", tmp_path / "nope"), "no such model directory")


def test_directory_without_config(cli, tmp_path):
    (tmp_path / "empty").mkdir()
    assert_one_line_error(cli("info", "-m", tmp_path / "empty"), "has no config.json")


def test_config_without_vocabulary_size(cli, model_copy, isolated_cache):
    model = model_copy("gpt2")
    cfg = json.loads((model / "config.json").read_text())
    del cfg["vocab_size"]
    (model / "config.json").write_text(json.dumps(cfg))
    assert_one_line_error(cli("info", "-m", model), "no vocabulary size")
    assert no_leftovers(isolated_cache)


def test_checkpoint_without_embedding_like_tensor(cli, tmp_path, isolated_cache):
    model = tmp_path / "m"
    model.mkdir()
    (model / "config.json").write_text(json.dumps({"vocab_size": 10, "hidden_size": 4}))
    save_file({"layer.weight": np.ones((4, 4), np.float32)}, str(model / "model.safetensors"))
    assert_one_line_error(cli("info", "-m", model), "no embedding-like tensor", "--tensor")
    assert no_leftovers(isolated_cache)


def test_candidates_are_listed_and_tensor_option_chooses(cli, tmp_path):
    model = tmp_path / "m"
    model.mkdir()
    (model / "config.json").write_text(json.dumps({"vocab_size": 10, "hidden_size": 4}))
    table = np.arange(40, dtype=np.float32).reshape(8, 5) + 1
    save_file({"enc.embed_tokens.weight": table}, str(model / "model.safetensors"))
    res = cli("info", "-m", model)
    assert_one_line_error(res, "enc.embed_tokens.weight [8, 5]", "--tensor NAME")
    ok = cli("info", "-m", model, "--tensor", "enc.embed_tokens.weight", "-f", "json")
    assert ok.code == 0 and json.loads(ok.out)["rows"] == 8
    assert_one_line_error(cli("info", "-m", model, "--tensor", "nope"), "no tensor named 'nope'")


def test_truncated_safetensors(cli, model_copy, isolated_cache):
    model = model_copy("gpt2")
    weights = model / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    assert_one_line_error(cli("info", "-m", model), "model.safetensors is truncated")
    assert no_leftovers(isolated_cache)


def test_garbage_safetensors(cli, model_copy):
    model = model_copy("gpt2")
    (model / "model.safetensors").write_bytes(b"\x00" * 4 + b"garbage")
    assert_one_line_error(cli("info", "-m", model), "model.safetensors")


def test_unwritable_cache_directory(cli, model_dirs, tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("EMBCLI_CACHE", str(blocker / "cache"))
    assert_one_line_error(
        cli("info", "-m", model_dirs["gpt2"]), "cannot write the cache", "EMBCLI_CACHE"
    )


def test_failure_mid_build_leaves_nothing(cli, tmp_path, isolated_cache):
    model = tmp_path / "m"
    model.mkdir()
    (model / "config.json").write_text(json.dumps({"vocab_size": 20000, "hidden_size": 4}))
    table = np.ones((20000, 4), np.float32)
    table[15000, 2] = np.nan  # in the second chunk: the first was already written
    save_file({"embed_tokens.weight": table}, str(model / "model.safetensors"))
    assert_one_line_error(cli("info", "-m", model), "non-finite value in row 15000")
    assert no_leftovers(isolated_cache)


@pytest.mark.parametrize("damage", ["version", "older", "field", "truncate", "no-meta"])
def test_broken_cache_is_reported_and_rebuilt(cli, model_dirs, isolated_cache, damage):
    first = json.loads(cli("info", "-m", model_dirs["gpt2"], "-f", "json").out)
    entry = isolated_cache / first["cache_path"].split("/")[-1]
    meta = json.loads((entry / "meta.json").read_text())
    if damage in ("version", "older"):
        meta["format_version"] = 0 if damage == "version" else 1
        (entry / "meta.json").write_text(json.dumps(meta))
        expected = "format version 0" if damage == "version" else "written by an older embcli"
    elif damage == "field":
        del meta["tensor"]
        (entry / "meta.json").write_text(json.dumps(meta))
        expected = "meta.json lacks tensor"
    elif damage == "truncate":
        vec = entry / "vectors.npy"
        vec.write_bytes(vec.read_bytes()[:1000])
        expected = "vectors.npy has 1000 bytes"
    else:
        (entry / "meta.json").unlink()
        expected = "incomplete"
    res = cli("info", "-m", model_dirs["gpt2"], "-f", "json")
    assert res.code == 0
    assert expected in res.err and "rebuilding" in res.err
    assert len(res.err.strip().splitlines()) == 1
    again = cli("info", "-m", model_dirs["gpt2"], "-f", "json")
    assert again.err == "" and json.loads(again.out)["cache_bytes"] == first["cache_bytes"]
    assert json.loads((entry / "meta.json").read_text())["format_version"] == 2


def test_hub_id_without_network_is_one_line(cli, monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens on port 9
    res = cli("info", "-m", "someone/some-model")
    assert_one_line_error(res, "cannot reach the Hugging Face Hub", "someone/some-model")


def test_hub_offline_mode_is_one_line(cli):
    res = cli("info", "-m", "someone/some-model")  # HF_HUB_OFFLINE=1 from the fixture
    assert res.code == 1 and len(res.err.strip().splitlines()) == 1
    assert "someone/some-model" in res.err and "Traceback" not in res.err


def test_usage_errors_exit_2(cli):
    res = cli("info", "--format", "xml")
    assert res.code == 2 and "xml" in res.err


def test_model_is_a_file(cli, model_dirs):
    assert_one_line_error(cli("info", "-m", model_dirs["gpt2"] / "config.json"), "is a file")


def test_removed_cache_directory_is_recreated(cli, model_dirs, isolated_cache):
    assert cli("info", "-m", model_dirs["bert"]).code == 0
    shutil.rmtree(isolated_cache)
    assert cli("info", "-m", model_dirs["bert"]).code == 0


def test_usage_errors_come_before_any_cache_build(cli, model_dirs, isolated_cache, tmp_path):
    """Arguments that cannot work are refused before a table is opened or built."""
    model = model_dirs["gpt2"]
    bad_questions = tmp_path / "q.txt"
    bad_questions.write_text("a b c\nonly two\n", encoding="utf-8")
    cases = [
        (("similarity", "cat"), 2, "two or more words"),
        (("analogy", "--file", bad_questions), 2, "line 2 of"),
        (("evaluate", "analogies", tmp_path / "missing.txt"), 1, "no benchmark file"),
        (("evaluate", "analogies", "--method", "3cosbad"), 2, "3cosbad"),
    ]
    for args, code, text in cases:
        got = cli(*args, "-m", model)
        assert got.code == code, (args, got.err)
        assert text in got.err, (args, got.err)
        entries = [p for p in isolated_cache.glob("*--*")] if isolated_cache.exists() else []
        assert entries == [], (args, entries)


# -- front-end inputs that used to crash -----------------------------------------------------------


def test_undecodable_input_files_are_one_line(cli, model_dirs, tmp_path):
    """Binary bytes in --reference or --groups-file: said, not an internal error."""
    blob = tmp_path / "blob.bin"
    blob.write_bytes(bytes(range(128, 256)) * 4)
    nul = tmp_path / "nul.txt"
    nul.write_bytes(b"king\x00\x00queen\n")
    m = ("-m", model_dirs["gpt2"])
    cases = [
        ("undertrained", "--reference", blob),
        ("plot", "king", "--groups-file", blob),
        ("neighbors", "king", "--among", blob),
        ("similarity", "--pairs", blob),
    ]
    for args in cases:
        assert_one_line_error(cli(*args, *m), f"cannot read {blob}: not UTF-8 text")
    assert_one_line_error(cli("undertrained", "--reference", nul, *m), "not a text file")


def test_a_byte_order_mark_is_not_part_of_the_first_word(cli, model_dirs, tmp_path):
    """Windows editors start UTF-8 files with a BOM: the first line's word is still the word."""
    m = ("-m", model_dirs["gpt2"])
    plain, marked = tmp_path / "plain.txt", tmp_path / "marked.txt"
    plain.write_text("king\tqueen\nman\twoman\n", encoding="utf-8")
    marked.write_bytes(b"\xef\xbb\xbf" + plain.read_bytes())
    want = cli("similarity", "--pairs", plain, *m, "-f", "json")
    got = cli("similarity", "--pairs", marked, *m, "-f", "json")
    assert want.code == 0 and json.loads(want.out)[0]["a"] == "king", want.err
    assert (got.code, got.out) == (0, want.out), got.err


@pytest.mark.slow  # a process
def test_bytes_that_are_not_utf8_on_stdin_or_in_an_argument_are_one_line(cli, model_dirs):
    """stdin is read as bytes and decoded as a file is (the locale's decoding may let bytes
    through as lone surrogates, which then crash a tokenizer or the terminal); an argument
    holding such bytes is refused before any command runs."""
    import subprocess
    import sys

    blob = bytes(range(128, 256)) * 4
    m = ["-m", str(model_dirs["gpt2"])]
    for args in (["neighbors", "-"], ["tokenize", "-"], ["similarity", "--pairs", "-"],
                 ["neighbors", "king", "--among", "-"]):  # fmt: skip
        proc = subprocess.run([sys.executable, "-m", "embcli", *args, *m], input=blob,
                              capture_output=True, env={**os.environ, "LC_ALL": "C"})  # fmt: skip
        err = proc.stderr.decode()
        assert (
            proc.returncode == 1 and err == "embcli: cannot read stdin: not UTF-8 text (byte 0)\n"
        )
    res = cli("neighbors", "caf\udce9", *m)
    assert res.code == 2 and res.err == "embcli: argument 2 (caf\\xe9) is not UTF-8 text\n"


@pytest.mark.slow  # a process
def test_a_files_name_may_be_any_bytes_and_a_closed_stdin_is_said(cli, model_dirs, tmp_path):
    """A name that is not UTF-8 but names a file is passed on (Python opens it); stdin closed
    (``<&-``) is one line, not an AttributeError."""
    import subprocess
    import sys

    name = tmp_path / os.fsdecode(b"w\xe9.txt")
    name.write_text("king\tqueen\n", encoding="utf-8")
    res = cli("similarity", "--pairs", name, "-m", model_dirs["gpt2"], "-f", "json")
    assert res.code == 0, res.err
    proc = subprocess.run([sys.executable, "-c", "import os, sys; os.close(0); sys.stdin = None; "
                           "from embcli.cli.main import main; main(sys.argv[1:])",
                           "neighbors", "-", "-m", str(model_dirs["gpt2"])],
                          capture_output=True, text=True)  # fmt: skip
    assert (proc.returncode, proc.stderr) == (1, "embcli: cannot read stdin: it is closed\n")


def test_superscript_digits_are_not_a_row_id(cli, model_dirs, tmp_path):
    """``str.isdigit`` accepts '²'; ``int`` does not: '#²' is a word (exit 3), not a crash."""
    m = ("-m", model_dirs["gpt2"])
    assert_one_line_error(cli("neighbors", "#²", *m), "#²", code=3)
    assert_one_line_error(cli("neighbors", "²", "--ids", *m), "is not a row id", code=3)
    assert_one_line_error(cli("neighbors", "#-1", *m), "'#-1' is not a row id", code=3)
    ref = tmp_path / "ref.txt"
    ref.write_text("#²\n", encoding="utf-8")
    untied = ("-m", model_dirs["llama"])  # a tied head would add its notice first
    assert_one_line_error(cli("undertrained", "--reference", ref, *untied), "is not a token")


@pytest.mark.parametrize(
    "args,needle",
    [
        (("undertrained", "--percentile", "nan"), "--percentile must be a finite number"),
        (("undertrained", "--percentile", "101"), "--percentile must be between 0 and 100"),
        (("plot", "a", "b", "c", "--perplexity", "nan"), "--perplexity must be a finite number"),
        (("plot", "a", "b", "c", "--perplexity", "inf"), "--perplexity must be a finite number"),
        (("neighbors", "king", "-k", "-3"), "-k must be 0 or more, not -3"),
        (("stats", "--samples", "1"), "--samples must be at least 2"),
        (("size", "--vocab", "-5", "--dim", "4"), "--vocab must be at least 1"),
    ],
)
def test_out_of_range_numbers_are_one_line_before_any_work(
    cli, model_dirs, isolated_cache, args, needle
):
    res = cli(*args, *(() if args[0] == "size" else ("-m", model_dirs["gpt2"])))
    assert_one_line_error(res, needle, code=2)
    assert not isolated_cache.exists() or not list(isolated_cache.glob("*--*"))


def test_remove_pcs_must_leave_a_dimension(cli, model_dirs):
    m = ("-m", model_dirs["gpt2"])
    width = json.loads(cli("info", *m, "-f", "json").out)["dim"]
    for args in (("neighbors", "king", "--remove-pcs", width), ("stats", "--remove-pcs", 999),
                 ("similarity", "king", "queen", "--remove-pcs", width + 1)):  # fmt: skip
        assert_one_line_error(
            cli(*args, *m), "is not below the table's width", f"at most {width - 1}", code=2
        )
    assert cli("neighbors", "king", "--remove-pcs", width - 1, *m).code == 0


def test_vector_of_huge_values_is_normalised_safely(cli, minilm_dir, tmp_path):
    from safetensors.numpy import load_file

    raw = load_file(str(minilm_dir / "model.safetensors"))["embeddings.word_embeddings.weight"]
    unit = raw.astype(np.float64) / np.linalg.norm(raw.astype(np.float64), axis=1, keepdims=True)
    v = np.random.default_rng(7).standard_normal(384)
    path = tmp_path / "v.txt"
    path.write_text(" ".join(repr(float(x)) for x in v * 1e300))
    res = cli("neighbors", "--vector", path, "--all-tokens", "-m", minilm_dir, "-f", "json")
    assert res.code == 0 and res.err == "", res.err
    sims = unit @ (v / np.linalg.norm(v))
    order = np.argsort(-sims, kind="stable")[:10]
    got = json.loads(res.out)["neighbors"]
    assert [n["id"] for n in got] == order.tolist()
    np.testing.assert_allclose([n["cosine"] for n in got], sims[order], atol=1e-5)


@pytest.mark.parametrize(
    "args",
    [
        ("sentences", "a", "b", "-o", "{missing}/v.npy"),
        ("context", "king", "the king", "a king", "--plot", "{missing}/c.png"),
        ("compare", "--table-b", "output", "--plot", "{missing}/c.png"),
        ("stats", "--plot", "{missing}/s.png"),
        ("plot", "king", "queen", "man", "--plot", "{missing}/p.png"),
        ("export", "{missing}/x.txt"),
        ("export", "{readonly}/x.txt"),
        ("export", "{readonly}/projector"),
    ],
)
def test_output_paths_are_checked_before_any_work(cli, model_dirs, tmp_path, isolated_cache, args):
    """A missing or read-only directory is said at once: no model run, no table built."""
    if os.geteuid() == 0 and "{readonly}" in " ".join(args):
        pytest.skip("root may write into a read-only directory")
    readonly = tmp_path / "ro"
    readonly.mkdir()
    readonly.chmod(0o555)
    try:
        filled = [a.format(missing=tmp_path / "nope", readonly=readonly) for a in args]
        res = cli(*filled, "-m", model_dirs["gpt2"])
        assert_one_line_error(res, "cannot write", code=1)
        assert "no such directory" in res.err or "permission denied" in res.err
        assert not isolated_cache.exists() or not list(isolated_cache.glob("*--*"))
    finally:
        readonly.chmod(0o755)


def test_export_names_its_format_option_and_writes_a_projector_pair(cli, model_dirs, tmp_path):
    m = ("-m", model_dirs["gpt2"])
    assert_one_line_error(cli("export", tmp_path / "x.foo", *m), "--to", code=2)
    res = cli("export", tmp_path / "table.tsv", "--limit", "5", *m, "-f", "json")
    assert res.code == 0, res.err
    assert json.loads(res.out)["paths"] == [str(tmp_path / "table.tsv"),
                                            str(tmp_path / "table.metadata.tsv")]  # fmt: skip
    vectors = (tmp_path / "table.tsv").read_text().splitlines()
    labels = (tmp_path / "table.metadata.tsv").read_text().splitlines()
    assert len(vectors) == len(labels) == 5 and "\t" in vectors[0]
    res = cli("export", tmp_path / "p" / "vectors.tsv", "--limit", "5", *m)
    assert res.code == 1 and "no such directory" in res.err
    (tmp_path / "p").mkdir()
    assert cli("export", tmp_path / "p" / "vectors.tsv", "--limit", "5", *m).code == 0
    assert sorted(p.name for p in (tmp_path / "p").iterdir()) == ["metadata.tsv", "vectors.tsv"]


def test_a_tensor_whose_rows_are_not_token_ids_says_so(cli, model_dirs):
    """``--tensor`` naming the position table (64 rows; the tokenizer has hundreds of ids):
    a word whose token has no row is one line (exit 3), not an IndexError; ids still work.
    (On MiniLM, whose first 512 tokens are [unused] ones, ``neighbors '#5'`` then says there is
    no word-like row to rank, rather than printing an empty list.)"""
    m = ("-m", model_dirs["bert"], "--tensor", "embeddings.position_embeddings.weight")
    vocab = json.loads((model_dirs["bert"] / "tokenizer.json").read_text())["model"]["vocab"]
    word = next(w for w, i in sorted(vocab.items(), key=lambda x: x[1]) if i >= 64 and w.isalpha())
    res = cli("neighbors", word, *m)
    assert_one_line_error(res, f"is token {vocab[word]}, and this table has 64 rows", code=3)
    assert_one_line_error(cli("similarity", word, "#3", *m), "64 rows", code=3)
    ranked = cli("neighbors", "#5", "-k", "3", "--all-tokens", "-f", "json", *m)
    assert ranked.code == 0, ranked.err
    assert len(json.loads(ranked.out)["neighbors"]) == 3


def test_an_empty_or_unknown_tensor_name_is_one_line_naming_real_ones(cli, model_dirs):
    m = ("-m", model_dirs["bert"])
    assert_one_line_error(cli("info", "--tensor", "", *m), "--tensor needs a tensor's name", code=2)
    res = cli("info", "--tensor", "nosuch", *m)
    assert_one_line_error(res, "its tensors include", code=1)
    assert "embeddings.word_embeddings.weight" in res.err
    gpt2 = cli("info", "--tensor", "nosuch", "-m", model_dirs["gpt2"])  # names without "emb"
    assert "transformer.wte.weight" in gpt2.err and "c_attn" not in gpt2.err


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["neighbors", "-"], "stdin lists no words"),
        (["similarity", "--pairs", "-"], "the pairs list no pair"),
        (["analogy", "--file", "-"], "no question to answer"),
    ],
)
def test_an_empty_stdin_is_one_line_everywhere(cli, model_dirs, monkeypatch, args, said):
    """Nothing (or only comments) on stdin: one line, exit 2 (similarity and analogy printed a
    header and exited 0)."""
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO("# only a comment\n\n"))
    assert_one_line_error(cli(*args, "-m", model_dirs["gpt2"]), said, code=2)


def test_a_missing_files_name_is_no_such_file_not_a_hub_error(cli):
    """``-m glove.6B.50d.txt`` (the README's name, the file elsewhere) was sent to the Hub and
    failed as "cannot reach the Hugging Face Hub"; a name with a file's suffix is a file."""
    for name in ("glove.6B.50d.txt", "models/llama.Q4_K_M.gguf", "vectors.vec"):
        assert_one_line_error(cli("info", "-m", name), f"no such file: {name}")
