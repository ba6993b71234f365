"""Hostile input to the readers: nothing escapes its directory, hangs, or ends in Python's own
exception.

Each bad file is built here, in ``tmp_path``; each case is run through the CLI (one line on
stderr, the documented exit code, no traceback) and through the Python API (an
``embcli.errors`` class). Families: paths read from files or given by users (Ollama digests and
names, GGUF split names, LM Studio folders, checkpoint names), nesting depth (GGUF metadata
arrays, pickled dicts), counts larger than the file (GGUF headers), odd types where strings or
numbers belong (GGUF tokenizers), empty tables, and the messages for missing and cut files.
"""

from __future__ import annotations

import json
import os
import pickle
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest

import embcli
from embcli.errors import EmbcliError, UsageProblem
from tests import gguf_files as G
from tests import models
from tests.conftest import run_subprocess

HEX = "ab" * 32  # a well-formed sha256 digest


def one_line(result) -> str:
    """The single stderr line of a failed CLI run (asserting there is one and no traceback)."""
    lines = result.err.strip().splitlines()
    assert len(lines) == 1, result.err
    assert "Traceback" not in result.err and "internal error" not in result.err, result.err
    return lines[0]


def refused(cli, spec, *args, code: int = 1, cls: type = EmbcliError, **kw) -> str:
    """Run ``info -m spec`` and ``Model(spec).embeddings()``; both must refuse in one line.
    Returns the CLI's line (the API's message is checked to agree)."""
    res = cli("info", "-m", spec, *args)
    assert res.code == code, (res.code, res.err)
    line = one_line(res)
    with pytest.raises(cls) as exc:
        embcli.Model(str(spec), **kw).embeddings()
    assert exc.value.message in line
    assert cache_entries() == []  # nothing half-written, nothing cached
    return line


def cache_entries() -> list[Path]:
    cache = Path(os.environ["EMBCLI_CACHE"])
    return [p for p in cache.iterdir() if not p.name.startswith(".")] if cache.exists() else []


def good_gguf(path: Path, rows: int = 40, width: int = 32) -> Path:
    values = np.random.default_rng(0).normal(size=(rows, width)).astype(np.float32)
    return G.write(path, [G.named(G.quantized(values, "F32"), "token_embd.weight")])


# -- GGUF bytes written by hand: what no writer would produce ---------------------------------


def gstr(text: str | bytes) -> bytes:
    raw = text.encode() if isinstance(text, str) else text
    return struct.pack("<Q", len(raw)) + raw


def kv(key: str, vtype: int, value: bytes) -> bytes:
    return gstr(key) + struct.pack("<I", vtype) + value


def tensor_info(name: str, dims: tuple[int, ...], ggml_type: int = 0, offset: int = 0) -> bytes:
    return (
        gstr(name)
        + struct.pack("<I", len(dims))
        + struct.pack(f"<{len(dims)}Q", *dims)
        + struct.pack("<IQ", ggml_type, offset)
    )


def raw_gguf(
    path: Path,
    kvs: list[bytes],
    tensors: list[bytes],
    data: bytes = b"",
    n_tensors: int | None = None,
    n_kv: int | None = None,
) -> Path:
    """A GGUF v3 file from its parts (F32 tensors at offset 0 unless told), data 32-aligned."""
    head = b"GGUF" + struct.pack("<IQQ", 3, len(tensors) if n_tensors is None else n_tensors,
                                 len(kvs) if n_kv is None else n_kv)  # fmt: skip
    head += b"".join(kvs) + b"".join(tensors)
    head += b"\0" * (-len(head) % 32)
    path.write_bytes(head + data)
    return path


# -- 1. paths named by files and users stay where they belong ---------------------------------


def ollama_store(tmp_path: Path, digest: str, blob_at: Path | None = None) -> Path:
    """An Ollama store whose one manifest names ``digest``; the GGUF is written at ``blob_at``."""
    root = tmp_path / "ollama"
    (root / "blobs").mkdir(parents=True)
    if blob_at is not None:
        blob_at.parent.mkdir(parents=True, exist_ok=True)
        good_gguf(blob_at)
    manifest = root / "manifests" / "registry.ollama.ai" / "library" / "tiny" / "latest"
    manifest.parent.mkdir(parents=True)
    layer = {"mediaType": "application/vnd.ollama.image.model", "digest": digest}
    manifest.write_text(json.dumps({"schemaVersion": 2, "layers": [layer]}))
    return root


@pytest.mark.parametrize(
    "digest",
    [
        f"../../elsewhere/sha256:{HEX}",
        f"../sha256:{HEX}",
        "ABSOLUTE/sha256:" + HEX,
        f"sha256:{HEX}/../../../elsewhere/x",
        f"sha512:{'ab' * 64}",
        f"sha256:{HEX[:-2]}",
        f"sha256:{HEX.upper()}",
    ],
)
def test_an_ollama_digest_cannot_name_a_file_outside_the_blob_store(
    tmp_path, monkeypatch, cli, digest
):
    outside = tmp_path / "elsewhere"
    digest = digest.replace("ABSOLUTE", str(outside))
    # the file the digest would reach, were its prefix taken as a path
    blob_at = outside / f"sha256-{HEX}"
    root = ollama_store(tmp_path, digest, blob_at)
    if digest.startswith("../sha256"):
        good_gguf(root / f"sha256-{HEX}")
    monkeypatch.setenv("OLLAMA_MODELS", str(root))
    line = refused(cli, "ollama:tiny")
    assert "digest" in line and "ollama:tiny:latest" in line


def test_an_ollama_blob_that_is_a_symlink_out_of_the_store_is_refused(tmp_path, monkeypatch, cli):
    outside = tmp_path / "elsewhere" / "model.gguf"
    outside.parent.mkdir()
    good_gguf(outside)
    root = ollama_store(tmp_path, f"sha256:{HEX}")
    (root / "blobs" / f"sha256-{HEX}").symlink_to(outside)
    monkeypatch.setenv("OLLAMA_MODELS", str(root))
    line = refused(cli, "ollama:tiny")
    assert "outside" in line and str(root / "blobs") in line


def test_a_good_ollama_digest_still_opens(tmp_path, monkeypatch):
    root = tmp_path / "ollama"
    path = good_gguf(tmp_path / "m.gguf")
    G.ollama_tree(root, path, {"library/tiny/latest": "registry.ollama.ai"})
    monkeypatch.setenv("OLLAMA_MODELS", str(root))
    assert embcli.Model("ollama:tiny").embeddings().shape == (40, 32)


@pytest.mark.parametrize(
    "spec",
    ["ollama:../../x", "ollama:..", "ollama:tiny:..", "ollama:a/../../b:latest", "ollama:./tiny",
     "ollama:tiny:.", "ollama:ti\\ny", "ollama:ti\x00ny", "ollama:a/b/c/d/../e"],
)  # fmt: skip
def test_an_ollama_name_cannot_climb_out_of_the_manifests(tmp_path, monkeypatch, cli, spec):
    root = tmp_path / "ollama"
    path = good_gguf(tmp_path / "m.gguf")
    G.ollama_tree(root, path, {"library/tiny/latest": "registry.ollama.ai"})
    # a manifest-shaped file outside manifests/, which '..' would reach
    G.ollama_tree(tmp_path / "x", path, {"latest": "."})
    monkeypatch.setenv("OLLAMA_MODELS", str(root))
    line = refused(cli, spec, code=2, cls=UsageProblem)
    assert "not an Ollama model name" in line


def test_a_gguf_directory_file_choice_stays_in_the_directory(tmp_path, cli):
    folder = tmp_path / "lmstudio" / "me" / "tiny"
    folder.mkdir(parents=True)
    good_gguf(folder / "tiny-Q8_0.gguf")
    good_gguf(tmp_path / "outside.gguf")
    for name in ("../../../outside.gguf", str(tmp_path / "outside.gguf")):
        line = refused(cli, folder, "--file", name, file=name)
        assert "has no file" in line


def test_a_listing_offers_no_file_outside_its_repository():
    """A Hub listing (from whatever HF_ENDPOINT answers) is not trusted with paths."""
    from embcli.read.gguf_sources import choose_gguf

    hostile = ["../x.gguf", "/abs/y.gguf", "a/../../z.gguf", "a\\..\\w.gguf", "./v.gguf"]
    with pytest.raises(EmbcliError) as exc:
        choose_gguf(hostile, "me/repo")
    assert "holds no GGUF model files" in exc.value.message
    for name in hostile:
        with pytest.raises(EmbcliError) as exc:
            choose_gguf([*hostile, "good-Q8_0.gguf"], "me/repo", file=name)
        assert "has no file" in exc.value.message
    assert choose_gguf([*hostile, "good-Q8_0.gguf"], "me/repo") == ["good-Q8_0.gguf"]


def test_a_split_set_names_no_shard_outside_its_directory(tmp_path):
    """The other shards are named from the file's own name: a shard found through the metadata
    never leaves the directory, and a name with a separator is refused."""
    from embcli.read.sources import resolve

    folder = tmp_path / "set"
    folder.mkdir()
    values = np.random.default_rng(1).normal(size=(40, 32)).astype(np.float32)
    tensors = [G.named(G.quantized(values, "F32"), n) for n in ("token_embd.weight", "x", "y")]
    first = G.write(folder / "m.gguf", tensors, split_max_tensors=1)
    source = resolve(str(first))
    for name in ("../m-00002-of-00003.gguf", str(folder / "m-00002-of-00003.gguf"), "a/b.gguf"):
        with pytest.raises(EmbcliError) as exc:
            source.file(name)
        assert "outside" in exc.value.message or "not a file of" in exc.value.message
    assert source.file("m-00002-of-00003.gguf").path == folder / "m-00002-of-00003.gguf"


@pytest.mark.parametrize("revision", ["../../x", "/etc", "step1/../../main", "a\\b", "-x", "a\0b"])
def test_a_checkpoint_revision_is_a_git_ref_name(revision):
    from embcli.read.checkpoints import hub_checkpoints

    with pytest.raises(UsageProblem) as exc:
        hub_checkpoints("me/run", revision, lambda repo: [])
    assert "not a branch or tag name" in exc.value.message


def test_history_refuses_a_revision_that_is_no_ref_name(cli):
    res = cli("history", "-m", "me/run", "--revisions", "step1,../../x")
    assert res.code == 2 and "'../../x' is not a branch or tag name" in one_line(res)
    with pytest.raises(UsageProblem):
        embcli.history("me/run", revisions="/etc")


def test_a_split_count_its_name_contradicts(tmp_path, cli):
    """split.count is a u64: the shard names are made from the file's name, which bounds it."""
    kvs = [kv("split.no", 4, struct.pack("<I", 0)), kv("split.count", 10, struct.pack("<Q", 2**40))]
    path = raw_gguf(tmp_path / "m-00001-of-00002.gguf", kvs,
                    [tensor_info("token_embd.weight", (8, 4))], b"\0" * 128)  # fmt: skip
    (tmp_path / "m-00002-of-00002.gguf").write_bytes(path.read_bytes())
    line = refused(cli, path)
    assert "m-00001-of-00002.gguf" in line and "split.count is 1099511627776" in line


def test_refs_a_server_lists_are_held_to_the_same_rule():
    from embcli.read.checkpoints import hub_checkpoints

    listed = ["step1", "step2/../../x", "step3\\b", "step4/.hidden", "step5 x", "step6\x00"]
    found, from_glob = hub_checkpoints("me/run", "step*", lambda repo: listed)
    assert from_glob and [c.revision for c in found] == ["step1"]


# -- 2. legal but unusual files end in one line, not Python's exceptions ----------------------


def test_a_one_dimensional_table(tmp_path, cli):
    path = raw_gguf(tmp_path / "flat.gguf", [], [tensor_info("token_embd.weight", (8,))],
                    b"\0" * 32)  # fmt: skip
    line = refused(cli, path)
    assert "flat.gguf" in line and "token_embd.weight" in line and "shape (8,)" in line


def nested_arrays(depth: int) -> bytes:
    """An array value ``depth`` levels deep (arrays of arrays), the innermost empty."""
    return struct.pack("<IQ", 9, 1) * (depth - 1) + struct.pack("<IQ", 0, 0)


@pytest.mark.parametrize("depth", [17, 5000])
def test_metadata_arrays_nested_deep(tmp_path, cli, depth):
    kvs = [kv("deep", 9, nested_arrays(depth))]
    path = raw_gguf(tmp_path / "deep.gguf", kvs, [tensor_info("token_embd.weight", (8, 4))],
                    b"\0" * 128)  # fmt: skip
    line = refused(cli, path)
    assert "deep.gguf" in line and "'deep'" in line and "nested" in line


def test_metadata_arrays_nested_a_little_still_read(tmp_path):
    from embcli.read.byte_source import LocalFile
    from embcli.read.gguf_file import GGUFFile

    value = struct.pack("<IQ", 9, 2) + (struct.pack("<IQ", 4, 1) + struct.pack("<I", 7)) * 2
    path = raw_gguf(tmp_path / "ok.gguf", [kv("pairs", 9, value)],
                    [tensor_info("token_embd.weight", (8, 4))], b"\0" * 128)  # fmt: skip
    header = GGUFFile(LocalFile(path))
    assert header.metadata["pairs"].count == 2
    assert header.tensors["token_embd.weight"].shape == (4, 8)
    path = raw_gguf(tmp_path / "ok16.gguf", [kv("deep", 9, nested_arrays(16))],
                    [tensor_info("token_embd.weight", (8, 4))], b"\0" * 128)  # fmt: skip
    assert GGUFFile(LocalFile(path)).metadata["deep"].count == 1


def pickle_archive(path: Path, pkl: bytes) -> Path:
    """A torch.save-shaped zip (stored, not compressed) around ``pkl``."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        z.writestr("archive/data.pkl", pkl)
        z.writestr("archive/byteorder", "little")
        z.writestr("archive/version", "3\n")
    return path


def bin_dir(model_dirs, folder: Path) -> Path:
    folder.mkdir()
    for f in ("config.json", "tokenizer.json"):
        (folder / f).write_bytes((model_dirs["gpt2"] / f).read_bytes())
    return folder


def gpt2_shape(model_dirs) -> tuple[int, int]:
    config = json.loads((model_dirs["gpt2"] / "config.json").read_text())
    return config["vocab_size"], config["n_embd"]


def nested_dicts(depth: int, key: str) -> bytes:
    """``{key: {key: ... {} ...}}`` ``depth`` deep, as opcodes (pickle.dumps would recurse)."""
    key_op = pickle.BINUNICODE + struct.pack("<I", len(key)) + key.encode()
    body = (pickle.EMPTY_DICT + key_op) * depth + pickle.EMPTY_DICT + pickle.SETITEM * depth
    return pickle.PROTO + b"\x02" + body + pickle.STOP


@pytest.mark.parametrize("key", ["model", "weights"])
def test_a_pickle_nesting_dicts_thousands_deep(model_dirs, tmp_path, cli, key):
    folder = bin_dir(model_dirs, tmp_path / "m")
    pickle_archive(folder / "pytorch_model.bin", nested_dicts(5000, key))
    line = refused(cli, folder)
    assert "pytorch_model.bin" in line
    assert ("nest" in line) if key == "model" else ("holds no tensors" in line)


@pytest.mark.slow  # torch
def test_a_state_dict_under_a_few_keys_still_reads(model_dirs, tmp_path):
    import torch

    folder = bin_dir(model_dirs, tmp_path / "m")
    table = torch.randn(*gpt2_shape(model_dirs))
    torch.save({"model": {"module": {"transformer.wte.weight": table}}},
               folder / "pytorch_model.bin")  # fmt: skip
    got = embcli.Model(str(folder)).embeddings()
    np.testing.assert_allclose(got.raw(np.arange(3)), table[:3].numpy(), rtol=1e-6, atol=1e-7)


def gpt2_gguf(path: Path, merges: list | None = None, extra: dict | None = None) -> Path:
    tok = models.byte_level_tokenizer(300)
    vocab = G.bpe_vocab(tok)
    if merges is not None:
        vocab.merges = None
        vocab.extra["tokenizer.ggml.merges"] = merges
    vocab.extra.update(extra or {})
    n = len(vocab.tokens)
    values = np.random.default_rng(0).normal(size=(n, 32)).astype(np.float32)
    return G.write(path, [G.named(G.quantized(values, "F32"), "token_embd.weight")], vocab,
                   arch="gpt2")  # fmt: skip


def test_gpt2_merges_that_are_numbers(tmp_path, cli):
    path = gpt2_gguf(tmp_path / "num.gguf", merges=[1, 2, 3])
    line = refused(cli, path)
    assert "num.gguf" in line and "tokenizer.ggml.merges" in line and "strings" in line


def test_tokens_that_are_numbers(tmp_path, cli):
    values = np.random.default_rng(0).normal(size=(10, 32)).astype(np.float32)
    vocab = G.Vocab("llama", [], [])
    path = tmp_path / "tok.gguf"
    import gguf

    w = gguf.GGUFWriter(path, "llama")
    w.add_tokenizer_model("llama")
    w.add_array("tokenizer.ggml.tokens", list(range(10)))
    w.add_tensor("token_embd.weight", values)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    del vocab
    line = refused(cli, path)
    assert "tok.gguf" in line and "tokenizer.ggml.tokens" in line and "strings" in line


def t5_gguf(path: Path, charsmap: bytes | list) -> Path:
    tok = G.unigram_tokenizer()
    vocab = G.unigram_vocab(tok)
    vocab.extra["tokenizer.ggml.precompiled_charsmap"] = charsmap
    n = len(vocab.tokens)
    values = np.random.default_rng(0).normal(size=(n, 32)).astype(np.float32)
    return G.write(path, [G.named(G.quantized(values, "F32"), "token_embd.weight")], vocab,
                   arch="t5encoder")  # fmt: skip


@pytest.mark.parametrize("charsmap", [b"\xff" * 7, b"\x10\x00\x00\x00" + b"\x01" * 9, ["a", "b"]])
def test_an_unreadable_precompiled_charsmap(tmp_path, cli, charsmap):
    path = t5_gguf(tmp_path / "t5.gguf", charsmap)
    line = refused(cli, path)
    assert "t5.gguf" in line and "precompiled_charsmap" in line


@pytest.mark.parametrize("model", ["t5", "llama"])
@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_token_scores_that_are_not_finite(tmp_path, cli, model, bad):
    """A NaN score used to escape from tokenizers' serialiser (t5) or order merges at random."""
    if model == "t5":
        vocab = G.unigram_vocab(G.unigram_tokenizer())
    else:
        vocab = G.spm_vocab(models.metaspace_tokenizer(200))
    vocab.scores[7] = bad
    values = np.random.default_rng(0).normal(size=(len(vocab.tokens), 32)).astype(np.float32)
    path = G.write(tmp_path / "nan.gguf", [G.named(G.quantized(values, "F32"),
                   "token_embd.weight")], vocab)  # fmt: skip
    line = refused(cli, path)
    assert "nan.gguf" in line and "tokenizer.ggml.scores" in line and "token 7" in line


def test_an_alignment_past_the_end_of_the_file(tmp_path, cli):
    kvs = [kv("general.alignment", 10, struct.pack("<Q", 2**40))]
    path = raw_gguf(tmp_path / "align.gguf", kvs, [tensor_info("token_embd.weight", (8, 4))],
                    b"\0" * 128)  # fmt: skip
    line = refused(cli, path)
    assert "align.gguf" in line and "general.alignment 1,099,511,627,776" in line


# -- 3. messages that say what is wrong -------------------------------------------------------


@pytest.mark.parametrize("data", [b"GGU", b"\x00\x01\x02", b"GGUF\x03\x00"])
def test_a_tiny_gguf_says_its_size(tmp_path, cli, data):
    path = tmp_path / "tiny.gguf"
    path.write_bytes(data)
    line = refused(cli, path)
    assert f"{len(data)} bytes" in line and "0 bytes" not in line
    if data.startswith(b"GGU"):
        assert "cut short" in line


@pytest.mark.parametrize(("n_tensors", "n_kv"), [(2**40, 0), (1, 2**40), (2**63, 2**63)])
def test_huge_counts_in_the_header_say_it_is_cut_short(tmp_path, cli, n_tensors, n_kv):
    path = raw_gguf(tmp_path / "huge.gguf", [], [tensor_info("token_embd.weight", (8, 4))],
                    b"\0" * 128, n_tensors=n_tensors, n_kv=n_kv)  # fmt: skip
    line = refused(cli, path)
    assert "huge.gguf" in line and "cut short" in line and "dimensions" not in line


@pytest.mark.parametrize("etype", [0, 8, 9])
def test_a_huge_array_count_says_it_is_cut_short(tmp_path, cli, etype):
    value = struct.pack("<IQ", etype, 2**62) + b"\0" * 64
    path = raw_gguf(tmp_path / "arr.gguf", [kv("big", 9, value)],
                    [tensor_info("token_embd.weight", (8, 4))], b"\0" * 128)  # fmt: skip
    line = refused(cli, path)
    assert "arr.gguf" in line and "cut short" in line


def test_missing_files_and_broken_links_are_named_as_files(tmp_path, cli):
    missing = tmp_path / "nothere.gguf"
    line = refused(cli, missing)
    assert line == f"embcli: no such file: {missing}"
    dangling = tmp_path / "dangling.gguf"
    dangling.symlink_to(tmp_path / "gone.gguf")
    line = refused(cli, dangling)
    assert "dangling.gguf" in line and "gone.gguf" in line and "does not exist" in line
    loop = tmp_path / "loop.gguf"
    loop.symlink_to(tmp_path / "loop2.gguf")
    (tmp_path / "loop2.gguf").symlink_to(loop)
    line = refused(cli, loop)
    assert "loop.gguf" in line and "symlink loop" in line
    bare = tmp_path / "loopdir"
    bare.symlink_to(bare)
    assert "symlink loop" in refused(cli, bare)
    line = refused(cli, tmp_path / "no-such-dir")
    assert "no such model directory" in line


def bin_file(model_dirs, tmp_path) -> Path:
    import torch

    folder = bin_dir(model_dirs, tmp_path / "m")
    table = torch.randn(*gpt2_shape(model_dirs))
    torch.save({"transformer.wte.weight": table}, folder / "pytorch_model.bin")
    return folder / "pytorch_model.bin"


@pytest.mark.parametrize("delta", [1, 100, 10**6])
def test_a_bin_with_a_corrupt_zip_directory(model_dirs, tmp_path, cli, delta):
    """The zip64 end record's directory offset moved: zipfile then places every member before
    the file's start (it used to end in "cannot read ...: Invalid argument")."""
    path = bin_file(model_dirs, tmp_path)
    data = bytearray(path.read_bytes())
    at = data.rfind(b"PK\x06\x06")
    offset = struct.unpack_from("<Q", data, at + 48)[0]
    struct.pack_into("<Q", data, at + 48, offset + delta)
    path.write_bytes(bytes(data))
    line = refused(cli, path.parent)
    assert "pytorch_model.bin is not a readable zip archive" in line
    assert "Invalid argument" not in line


@pytest.mark.parametrize("damage", ["past-the-end", "name", "signature", "cd-size"])
def test_a_bin_whose_zip_records_disagree(model_dirs, tmp_path, cli, damage):
    path = bin_file(model_dirs, tmp_path)
    data = bytearray(path.read_bytes())
    entry = data.find(b"PK\x01\x02")
    if damage == "past-the-end":  # every member's local header placed past the file
        while entry >= 0:
            struct.pack_into("<I", data, entry + 42, 0xFFFFFFF0)
            entry = data.find(b"PK\x01\x02", entry + 4)
    elif damage == "name":  # a member name that does not decode (no UTF-8 flag is set)
        struct.pack_into("<H", data, entry + 8, 0x800)
        data[entry + 46] = 0xB7
    elif damage == "signature":
        data[entry : entry + 4] = b"XXXX"
    else:
        at = data.rfind(b"PK\x06\x06")
        struct.pack_into("<Q", data, at + 40, struct.unpack_from("<Q", data, at + 40)[0] + 7)
    path.write_bytes(bytes(data))
    line = refused(cli, path.parent)
    assert "pytorch_model.bin" in line
    assert any(w in line for w in ("zip", "corrupt", "truncated")), line


# -- 4. an empty table is refused when read ---------------------------------------------------


@pytest.mark.parametrize("dims", [(8, 0), (0, 5)])
def test_a_gguf_table_with_no_rows_or_no_width(tmp_path, cli, dims):
    path = raw_gguf(tmp_path / "empty.gguf", [], [tensor_info("token_embd.weight", dims)],
                    b"\0" * 32)  # fmt: skip
    line = refused(cli, path)  # which also finds nothing in the cache
    assert "empty.gguf" in line and "token_embd.weight" in line and "empty" in line


def test_the_cache_check_sees_a_built_entry(tmp_path, cli):
    """``refused``'s check that nothing was cached can fail: a good file leaves an entry."""
    assert cache_entries() == []
    assert cli("info", "-m", good_gguf(tmp_path / "good.gguf")).code == 0
    assert len(cache_entries()) == 1


@pytest.mark.slow  # processes
def test_in_a_fresh_process(tmp_path, monkeypatch):
    """The console script itself: the digest that escaped, the deep arrays, the huge count."""
    root = ollama_store(tmp_path, f"../../elsewhere/sha256:{HEX}",
                        tmp_path / "elsewhere" / f"sha256-{HEX}")  # fmt: skip
    deep = raw_gguf(tmp_path / "deep.gguf", [kv("deep", 9, nested_arrays(5000))],
                    [tensor_info("token_embd.weight", (8, 4))], b"\0" * 128)  # fmt: skip
    huge = raw_gguf(tmp_path / "huge.gguf", [], [tensor_info("token_embd.weight", (8, 4))],
                    b"\0" * 128, n_tensors=2**40)  # fmt: skip
    env = {"OLLAMA_MODELS": str(root)}
    for spec, words in (("ollama:tiny", "digest"), (deep, "nested"), (huge, "cut short")):
        res = run_subprocess("info", "-m", spec, env=env)
        assert res.code == 1 and words in one_line(res) and res.out == ""
    assert cache_entries() == []


def test_helpers_build_what_they_say(tmp_path):
    """The hand-written GGUF bytes are read by llama.cpp's own reader as intended."""
    import gguf

    path = raw_gguf(tmp_path / "r.gguf", [kv("general.name", 8, gstr("x"))],
                    [tensor_info("token_embd.weight", (8, 4))], b"\0" * 128)  # fmt: skip
    reader = gguf.GGUFReader(path)
    assert [t.name for t in reader.tensors] == ["token_embd.weight"]
    assert reader.tensors[0].shape.tolist() == [8, 4]
    raw = pickle.loads(nested_dicts(3, "k"))
    assert raw == {"k": {"k": {"k": {}}}}
