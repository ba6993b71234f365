"""The store's cold path and its cache: exactly the table read (safetensors, shards, .bin without
torch.load), the normalised entry, its key, list and clear, concurrent builds, progress; and the
first commands on it (info, tokenize)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file as load_numpy
from safetensors.torch import load_file as load_torch

from embcli.store.load import open_table
from tests.conftest import run_subprocess

EXPECTED = {
    "gpt2": ("transformer.wte.weight", "F32"),
    "llama": ("model.embed_tokens.weight", "BF16"),
    "bert": ("embeddings.word_embeddings.weight", "F16"),
    "sharded": ("model.embed_tokens.weight", "F32"),
}


def reference_table(model_dir, name):
    """The tensor read directly with safetensors (torch for bf16), as float64."""
    for f in sorted(model_dir.glob("*.safetensors")):
        state = load_torch(str(f))
        if name in state:
            return state[name].double().numpy()
    raise AssertionError(name)


@pytest.mark.parametrize("kind", sorted(EXPECTED))
def test_table_equals_the_checkpoint_tensor(model_dirs, kind):
    name, dtype = EXPECTED[kind]
    table = open_table(str(model_dirs[kind]))
    ref = reference_table(model_dirs[kind], name)
    assert table.meta.tensor == name
    assert table.meta.source_dtype == dtype
    assert table.shape == ref.shape
    norms = np.linalg.norm(ref, axis=1)
    np.testing.assert_allclose(table.norms, norms, rtol=1e-6)
    unit = np.divide(ref, norms[:, None], out=np.zeros_like(ref), where=norms[:, None] > 0)
    np.testing.assert_allclose(table.unit, unit, atol=1e-7)  # a zero (padding) row stays zero
    np.testing.assert_allclose(table.raw(np.arange(ref.shape[0])), ref, rtol=1e-5, atol=1e-7)


def test_real_minilm_table_equals_safetensors(minilm_dir):
    table = open_table(str(minilm_dir))
    ref = load_numpy(str(minilm_dir / "model.safetensors"))["embeddings.word_embeddings.weight"]
    assert table.shape == (30522, 384) == ref.shape
    np.testing.assert_allclose(table.raw(np.arange(30522)), ref, rtol=1e-6, atol=1e-7)
    ref64 = ref.astype(np.float64)
    unit = ref64 / np.linalg.norm(ref64, axis=1, keepdims=True)
    np.testing.assert_allclose(table.unit, unit, atol=1e-7)
    assert table.tokens[table.token_id("paris")] == "paris"
    # The shipped tokenizer pads to a fixed length; ours must not append [PAD] ids.
    assert [p.id for p in table.encode("paris")] == [table.token_id("paris")]


def test_second_open_reads_the_cache_not_the_checkpoint(model_copy):
    model = model_copy("gpt2")
    first = open_table(str(model))
    # Replace the weights' bytes in place (same size and mtime): a warm open must not notice,
    # because it never reads the checkpoint again.
    weights = model / "model.safetensors"
    st = weights.stat()
    data = bytearray(weights.read_bytes())
    data[-4096:] = bytes(4096)
    weights.write_bytes(bytes(data))
    os.utime(weights, ns=(st.st_atime_ns, st.st_mtime_ns))
    second = open_table(str(model))
    assert second.path == first.path
    np.testing.assert_array_equal(second.unit, first.unit)


def test_cache_key_changes_when_the_source_changes(model_copy):
    model = model_copy("gpt2")
    first = open_table(str(model)).path
    cfg = model / "config.json"
    cfg.write_text(cfg.read_text() + "\n")
    assert open_table(str(model)).path != first


def test_sharded_reads_only_the_shard_holding_the_table(model_copy, cli):
    model = model_copy("sharded")
    index = json.loads((model / "model.safetensors.index.json").read_text())
    assert index["weight_map"]["model.embed_tokens.weight"] == "model-00002-of-00003.safetensors"
    (model / "model-00001-of-00003.safetensors").write_bytes(b"\xff" * 100)  # corrupt
    (model / "model-00003-of-00003.safetensors").unlink()  # missing
    res = cli("info", "-m", model, "-f", "json")
    assert res.code == 0, res.err
    info = json.loads(res.out)
    assert info["tensor"] == "model.embed_tokens.weight"
    assert info["checkpoint_file"] == "model-00002-of-00003.safetensors"


def test_padded_table_and_untied_head_are_reported(model_dirs, cli):
    res = cli("info", "-m", model_dirs["llama"], "-f", "json")
    info = json.loads(res.out)
    assert info["rows"] % 64 == 0 and info["tokenizer_size"] < info["rows"]
    assert info["padded_rows"] == info["rows"] - info["tokenizer_size"]
    assert info["tied"] is False and info["head_tensor"] == "lm_head.weight"
    table_out = cli("info", "-m", model_dirs["llama"], "-f", "table").out
    assert "padded rows" in table_out and "separate: lm_head.weight" in table_out


@pytest.mark.slow  # torch
def test_pytorch_bin_is_read_without_torch_load(model_dirs, tmp_path, cli):
    import torch

    src = model_dirs["gpt2"]
    dst = tmp_path / "bin-model"
    dst.mkdir()
    for f in ("config.json", "tokenizer.json"):
        (dst / f).write_bytes((src / f).read_bytes())
    state = load_torch(str(src / "model.safetensors"))
    torch.save(state, dst / "pytorch_model.bin")
    res = cli("info", "-m", dst, "-f", "json")
    assert res.code == 0, res.err
    table = open_table(str(dst))
    assert table.meta.checkpoint_format == "pytorch"
    np.testing.assert_allclose(
        table.raw(np.arange(table.shape[0])), state["transformer.wte.weight"].numpy(), rtol=1e-6
    )


class Payload:  # a pickled object that is not a tensor
    pass


@pytest.mark.slow  # torch
def test_pickle_with_other_objects_is_refused_unless_allowed(model_dirs, tmp_path, cli):
    import torch

    dst = tmp_path / "evil"
    dst.mkdir()
    (dst / "config.json").write_bytes((model_dirs["gpt2"] / "config.json").read_bytes())
    torch.save(
        {"transformer.wte.weight": torch.zeros(3, 3), "x": Payload()}, dst / "pytorch_model.bin"
    )
    res = cli("info", "-m", dst)
    assert res.code == 1
    assert "--allow-pickle" in res.err and "Traceback" not in res.err
    assert "tests.store.test_store_build.Payload" in res.err
    assert len(res.err.strip().splitlines()) == 1
    trusted = cli("info", "-m", dst, "--tensor", "transformer.wte.weight", "--allow-pickle")
    assert trusted.code == 0, trusted.err  # torch.load, which imports Payload


def test_slow_tokenizer_files_are_converted_once(model_copy, cli):
    model = model_copy("bert")
    vocab = json.loads((model / "tokenizer.json").read_text())["model"]["vocab"]
    ordered = sorted(vocab, key=vocab.get)
    (model / "vocab.txt").write_text("\n".join(ordered) + "\n")
    (model / "tokenizer.json").unlink()
    table = open_table(str(model))
    assert (table.path / "tokenizer.json").is_file()
    ids = [p.id for p in table.encode("the king")]
    assert ids == [vocab["the"], vocab["king"]]


def test_tokenize_shows_leading_spaces_and_byte_level_pieces(model_dirs, cli):
    res = cli("tokenize", "The king", "-m", model_dirs["gpt2"], "-f", "json")
    toks = json.loads(res.out)["tokens"]
    assert [t["token"] for t in toks] == ["The", " king"]
    assert toks[1]["piece"] == "\u0120king"
    table = cli("tokenize", "The king", "-m", model_dirs["gpt2"], "-f", "table").out
    assert "\u2423king" in table
    tsv = cli("tokenize", "The king", "-m", model_dirs["gpt2"]).out.splitlines()
    assert tsv[0].split("\t") == ["#", "id", "token", "piece", "span"]
    assert tsv[2].split("\t")[2] == " king"


def test_model_option_works_before_and_after_the_command(model_dirs, cli, monkeypatch):
    before = cli("-m", model_dirs["bert"], "-f", "json", "info")
    after = cli("info", "-m", model_dirs["bert"], "-f", "json")
    assert before.code == after.code == 0
    assert json.loads(before.out) == json.loads(after.out)
    monkeypatch.setenv("EMBCLI_MODEL", str(model_dirs["bert"]))
    assert json.loads(cli("info", "-f", "json").out)["tensor"] == EXPECTED["bert"][0]


def test_cache_list_and_clear(model_dirs, cli):
    cli("info", "-m", model_dirs["gpt2"])
    cli("info", "-m", model_dirs["bert"])
    listed = json.loads(cli("cache", "list", "-f", "json").out)
    assert {r["model"] for r in listed} == {str(model_dirs["gpt2"]), str(model_dirs["bert"])}
    assert all(r["bytes"] > 0 for r in listed)
    res = cli("cache", "clear", model_dirs["gpt2"])
    assert res.code == 0 and "removed 1" in res.err
    assert [r["model"] for r in json.loads(cli("cache", "list", "-f", "json").out)] == [
        str(model_dirs["bert"])
    ]
    assert cli("cache", "clear", "nothing/here").code == 1
    cli("cache", "clear")
    assert json.loads(cli("cache", "list", "-f", "json").out) == []


@pytest.mark.slow  # processes
def test_concurrent_builds_leave_one_good_entry(model_dirs, tmp_path):
    env = {**os.environ, "EMBCLI_CACHE": str(tmp_path / "c")}
    cmd = [sys.executable, "-m", "embcli", "info", "-f", "json", "-m", str(model_dirs["gpt2"])]
    procs = [
        subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(3)
    ]
    outs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1] for o in outs]
    paths = {json.loads(o[0])["cache_path"] for o in outs}
    assert len(paths) == 1
    entries = [p for p in (tmp_path / "c").iterdir() if not p.name.startswith((".", "refs"))]
    assert len(entries) == 1
    assert not any((tmp_path / "c" / ".tmp").iterdir())


@pytest.mark.slow  # a process
def test_no_progress_output_when_piped(model_dirs, tmp_path):
    res = run_subprocess("info", "-m", model_dirs["bert"], env={"EMBCLI_CACHE": str(tmp_path)})
    assert res.code == 0 and res.err == ""


def test_progress_bar_on_a_terminal(model_dirs, tmp_path):
    import pty

    env = {**os.environ, "EMBCLI_CACHE": str(tmp_path), "COLUMNS": "100"}
    cmd = [sys.executable, "-m", "embcli", "info", "-m", str(model_dirs["bert"])]
    pid, fd = pty.fork()
    if pid == 0:  # child: stdout and stderr are the terminal
        os.execvpe(cmd[0], cmd, env)
    chunks = []
    while True:
        try:
            data = os.read(fd, 4096)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    _, status = os.waitpid(pid, 0)
    text = b"".join(chunks).decode(errors="replace")
    assert os.waitstatus_to_exitcode(status) == 0
    assert "Caching" in text  # the bar's description, drawn while the rows were converted
    assert "embeddings.word_embeddings.weight" in text


def test_cache_clear_says_what_it_removed_as_json_for_scripts(model_dirs, cli):
    for kind in ("gpt2", "llama"):
        assert cli("info", "-m", model_dirs[kind]).code == 0
    quiet = cli("cache", "clear", model_dirs["gpt2"])  # a person: one line on stderr
    assert quiet.code == 0 and quiet.out == "" and "removed 1 cached table" in quiet.err
    assert cli("info", "-m", model_dirs["gpt2"]).code == 0
    res = cli("cache", "clear", "-m", model_dirs["gpt2"], "-f", "json")
    assert res.code == 0, res.err
    data = json.loads(res.out)
    assert (data["removed"], data["model"]) == (1, str(model_dirs["gpt2"]))
    left = json.loads(cli("cache", "list", "-f", "json").out)
    assert [Path(r["model"]).name for r in left] == ["llama"]


def test_cache_clear_of_a_path_with_glob_characters_is_that_path(model_dirs, tmp_path, cli):
    """A model directory named ``gl/[ab]`` is that directory, not a pattern that also
    matches ``gl/a`` (a glob names a run's checkpoints only when it is not a path)."""
    import shutil

    odd, plain = tmp_path / "gl" / "[ab]", tmp_path / "gl" / "a"
    for where in (odd, plain):
        shutil.copytree(model_dirs["gpt2"], where)
        assert cli("info", "-m", where).code == 0
    res = cli("cache", "clear", odd, "-f", "json")
    assert res.code == 0, res.err
    assert json.loads(res.out)["removed"] == 1
    left = json.loads(cli("cache", "list", "-f", "json").out)
    assert [r["model"] for r in left] == [str(plain)]
