"""GGUF tables through the cache and the CLI: every block type, words, Ollama, LM Studio, splits.

Every file is written here with llama.cpp's own writer; the expected answers are float64 numpy
over ``gguf.quants.dequantize`` of the very bytes written, and the ids the vocabulary gives
(llama.cpp's SentencePiece merge loop, transcribed in ``test_gguf``, or the original tokenizer).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests import gguf_files as G
from tests import models
from tests.cli.test_bad_input import assert_one_line_error, no_leftovers
from tests.read.test_gguf import BLOCK_TYPES, QUANTIZABLE, llama_cpp_spm, patch_type, table

TABLE = "token_embd.weight"


def spm_file(
    directory: Path, qtype: str = "Q4_K", name: str = "tiny-Q4_K_M.gguf", seed: int = 0, **kw
) -> tuple[Path, G.Vocab, G.Tensor]:
    """A SentencePiece-vocabulary GGUF; its table has one row per token."""
    vocab = kw.pop("vocab", None) or G.spm_vocab(models.metaspace_tokenizer())
    t = table(len(vocab.tokens), 256, qtype, seed=seed)
    tensors = [t, *kw.pop("more", [])]
    meta = {"llama.context_length": 4096, "general.name": "Tiny", "general.file_type": 15}
    directory.mkdir(parents=True, exist_ok=True)
    return G.write(directory / name, tensors, vocab, meta=meta, **kw), vocab, t


def reference_neighbours(values: np.ndarray, query: int) -> np.ndarray:
    """float64 cosine of every row with row ``query``; the query itself at -inf."""
    x = np.asarray(values, np.float64)
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    sims = unit @ unit[query]
    sims[query] = -np.inf
    return sims


def assert_neighbours(answer: dict, values: np.ndarray, k: int) -> None:
    """The listed neighbours are the top ``k`` of the float64 reference (ties to 1e-6 aside)."""
    query = answer["tokens"][0]["id"]
    sims = reference_neighbours(values, query)
    got = answer["neighbors"]
    assert len(got) == k
    best = np.sort(sims)[::-1][:k]
    np.testing.assert_allclose([n["cosine"] for n in got], best, atol=1e-6)
    np.testing.assert_allclose([n["cosine"] for n in got], sims[[n["id"] for n in got]], atol=1e-6)


def json_out(res) -> dict | list:
    assert res.code == 0, res.err
    return json.loads(res.out)


def meta_of(cli, model: str, *more: str) -> dict:
    info = json_out(cli("info", "-m", model, *more, "-f", "json"))
    return json.loads((Path(info["cache_path"]) / "meta.json").read_text(encoding="utf-8"))


# -- rows and words ------------------------------------------------------------------------------


@pytest.mark.parametrize("qtype", QUANTIZABLE + BLOCK_TYPES)
def test_neighbours_on_every_type_equal_float64_over_dequantize(cli, tmp_path, qtype):
    path, _, t = spm_file(tmp_path, qtype, seed=11)
    answers = json_out(
        cli("neighbors", "#171", "#57", "#400", "-m", path, "--all-tokens", "-k", "8", "-f", "json")
    )
    for answer in answers:
        assert_neighbours(answer, t.dequantized(), 8)


def test_words_resolve_to_the_ids_llama_cpp_gives(cli, tmp_path):
    path, vocab, _ = spm_file(tmp_path)
    for word in ("Rome", "the", "Cats"):
        want = llama_cpp_spm(word, vocab.tokens, vocab.scores)
        assert len(want) == 1 and vocab.tokens[want[0]] == "\u2581" + word
        answer = json_out(cli("neighbors", word, "-m", path, "-k", "3", "-f", "json"))
        assert answer["tokens"] == [{"id": want[0], "token": " " + word}]
    text = "The cats of Rome sat, and the king"
    got = json_out(cli("tokenize", text, "-m", path, "-f", "json"))
    assert [x["id"] for x in got["tokens"]] == llama_cpp_spm(text, vocab.tokens, vocab.scores)


def test_byte_level_words_resolve_to_the_tokenizers_ids(cli, tmp_path):
    tok = models.byte_level_tokenizer()
    vocab = G.bpe_vocab(tok, pre="llama-bpe")
    path, _, t = spm_file(tmp_path, "Q8_0", vocab=vocab)
    paris = tok.encode(" Paris").ids
    assert len(paris) == 1
    answer = json_out(cli("neighbors", "Paris", "-m", path, "-k", "5", "-f", "json"))
    assert answer["tokens"] == [{"id": paris[0], "token": " Paris"}]
    text = "The king of Paris, and the queen."
    got = json_out(cli("tokenize", text, "-m", path, "-f", "json"))
    assert [x["id"] for x in got["tokens"]] == tok.encode(text).ids
    sim = json_out(cli("similarity", "Paris", "#3", "-m", path, "-f", "json"))
    ref = reference_neighbours(t.dequantized(), paris[0])[3]
    assert abs(sim["cosine"] - ref) < 1e-6


def test_tokenizer_saved_with_padding_off(cli, tmp_path):
    path, vocab, _ = spm_file(tmp_path)
    info = json_out(cli("info", "-m", path, "-f", "json"))
    saved = json.loads((Path(info["cache_path"]) / "tokenizer.json").read_text(encoding="utf-8"))
    assert saved["padding"] is None and saved["truncation"] is None
    assert info["tokenizer_size"] == len(vocab.tokens)
    assert info["special_tokens"] == 3  # <unk>, <s>, </s>


def test_without_a_tokenizer_ids_and_exact_pieces_still_work(cli, tmp_path):
    vocab = G.spm_vocab(models.metaspace_tokenizer())
    vocab.model = "rwkv"  # a tokenizer model embcli cannot rebuild
    path, _, t = spm_file(tmp_path, "Q8_0", vocab=vocab)
    first = cli("neighbors", "#171", "-m", path, "--all-tokens", "-k", "4", "-f", "json")
    assert first.code == 0, first.err
    assert first.err.count("\n") == 1 and "cannot rebuild" in first.err and "#id" in first.err
    assert_neighbours(json.loads(first.out), t.dequantized(), 4)
    rome = vocab.tokens.index("\u2581Rome")
    exact = cli("neighbors", "\u2581Rome", "-m", path, "-k", "4", "-f", "json")
    assert exact.code == 0 and exact.err == ""  # said once, when the table was built
    assert json.loads(exact.out)["tokens"][0]["id"] == rome
    res = cli("neighbors", "Rome", "-m", path)
    assert res.code == 3 and "no tokenizer" in res.err


def test_undertrained_reference_takes_the_tokens_the_file_marks(cli, tmp_path):
    vocab = G.spm_vocab(models.metaspace_tokenizer())
    unused = list(range(100, 110))
    for i in unused:
        vocab.types[i] = 5  # UNUSED, as llama.cpp's converters mark padding rows
    path, _, _ = spm_file(tmp_path, "Q8_0", vocab=vocab)
    meta = meta_of(cli, str(path))
    assert meta["unused_ids"] == unused
    assert meta["byte_ids"] == list(range(len(vocab.tokens) - 256, len(vocab.tokens)))
    got = json_out(cli("undertrained", "-m", path, "--all", "-k", "5", "-f", "json"))
    ref = got["reference"]
    # 13 bytes never valid in UTF-8 (C0, C1, F5..FF) and the 10 marked tokens
    assert ref["size"] == 13 + 10, ref
    assert "10 tokens the file marks unused" in ref["how"] and "13 bytes" in ref["how"]


def test_output_head_and_tied_files(cli, tmp_path):
    head = G.named(G.random_blocks(456, 256, "Q6_K", seed=4), "output.weight")
    path, _, _ = spm_file(tmp_path / "untied", more=[head])
    answer = json_out(
        cli("neighbors", "#57", "-m", path, "--table", "output", "--all-tokens", "-k", "5",
            "-f", "json")
    )  # fmt: skip
    assert_neighbours(answer, head.dequantized(), 5)
    meta = meta_of(cli, str(path))
    assert (meta["tied"], meta["head_tensor"], meta["head_dtype"]) == (
        False,
        "output.weight",
        "Q6_K",
    )
    tied, _, t = spm_file(tmp_path / "tied")
    res = cli("neighbors", "#57", "-m", tied, "--table", "output", "--all-tokens", "-f", "json")
    assert res.code == 0 and "tied" in res.err
    assert_neighbours(json.loads(res.out), t.dequantized(), 10)


def test_a_split_set_from_any_shard(cli, tmp_path):
    first = G.Tensor("blk.0.attn_norm.weight", np.ones((1, 256), np.float32).view(np.uint8), "F32")
    head = G.named(G.random_blocks(456, 256, "Q6_K", seed=8), "output.weight")
    t3 = table(456, 256, "Q5_K", seed=6)
    vocab = G.spm_vocab(models.metaspace_tokenizer())
    (tmp_path / "s").mkdir()
    split = G.write(tmp_path / "s" / "m.gguf", [first, t3, head], vocab, split_max_tensors=1)
    assert split.name == "m-00001-of-00003.gguf"
    for shard in ("m-00001-of-00003.gguf", "m-00003-of-00003.gguf"):
        answer = json_out(
            cli("neighbors", "#171", "-m", split.parent / shard, "--all-tokens", "-k", "6",
                "-f", "json")
        )  # fmt: skip
        assert_neighbours(answer, t3.dequantized(), 6)
    meta = meta_of(cli, str(split))
    assert meta["checkpoint_file"] == "m-00002-of-00003.gguf" and meta["gguf"]["shards"] == 3


# -- where GGUF files are kept -------------------------------------------------------------------


def test_an_ollama_model(cli, tmp_path, monkeypatch):
    path, _, t = spm_file(tmp_path / "src")
    root = tmp_path / "ollama"
    reg = "registry.ollama.ai"
    digest = G.ollama_tree(root, path, {"library/tiny/latest": reg, "library/tiny/q4": reg})[
        "digest"
    ]
    monkeypatch.setenv("OLLAMA_MODELS", str(root))
    answer = json_out(
        cli("neighbors", "#171", "-m", "ollama:tiny", "--all-tokens", "-k", "5", "-f", "json")
    )
    assert_neighbours(answer, t.dequantized(), 5)
    info = json_out(cli("info", "-m", "ollama:tiny", "-f", "json"))
    assert (info["model"], info["kind"], info["identity"]) == (
        "ollama:tiny:latest",
        "ollama",
        digest,
    )
    again = json_out(cli("info", "-m", "ollama:tiny:latest", "-f", "json"))
    assert again["cache_path"] == info["cache_path"]  # one entry for one name and blob


def test_an_lm_studio_folder(cli, tmp_path):
    folder = tmp_path / "lmstudio" / "me" / "Tiny-GGUF"
    _, _, t4 = spm_file(folder, "Q4_K", name="Tiny-Q4_K_M.gguf", seed=1)
    _, _, t8 = spm_file(folder, "Q8_0", name="Tiny-Q8_0.gguf", seed=2)
    G.write(
        folder / "mmproj-Tiny-f16.gguf", [G.named(table(16, 256, "F16"), "v.patch_embd.weight")]
    )
    res = cli("info", "-m", folder)
    assert_one_line_error(res, "holds 2 GGUF models", "--quant Q4_K_M | Q8_0", code=2)
    for flag, value, t in (("--quant", "q8_0", t8), ("--file", "Tiny-Q4_K_M.gguf", t4)):
        answer = json_out(
            cli("neighbors", "#171", "-m", folder, flag, value, "--all-tokens", "-k", "5",
                "-f", "json")
        )  # fmt: skip
        assert_neighbours(answer, t.dequantized(), 5)
    # before the command name too, as every shared option
    info = json_out(cli("--quant", "Q8_0", "info", "-m", folder, "-f", "json"))
    assert info["checkpoint_file"] == "Tiny-Q8_0.gguf"
    assert info["model"] == str(folder.resolve() / "Tiny-Q8_0.gguf")


def test_an_lm_studio_name(cli, tmp_path, monkeypatch, isolated_cache):
    """``lmstudio:PUBLISHER/MODEL`` (or ``lmstudio:MODEL``) is that folder of $LMSTUDIO_MODELS;
    a name cannot leave the folder."""
    root = tmp_path / "lms"
    folder = root / "me" / "Tiny-GGUF"
    _, _, t4 = spm_file(folder, "Q4_K", name="Tiny-Q4_K_M.gguf", seed=1)
    _, _, t8 = spm_file(folder, "Q8_0", name="Tiny-Q8_0.gguf", seed=2)
    (root / "other" / "Empty").mkdir(parents=True)
    monkeypatch.setenv("LMSTUDIO_MODELS", str(root))
    for name, quant, t in (
        ("lmstudio:me/Tiny-GGUF", "Q8_0", t8),
        ("lmstudio:Tiny-GGUF", "Q4_K_M", t4),
    ):
        answer = json_out(cli("neighbors", "#171", "-m", name, "--quant", quant, "--all-tokens",
                              "-k", "5", "-f", "json"))  # fmt: skip
        assert_neighbours(answer, t.dequantized(), 5)
    info = json_out(cli("info", "-m", "lmstudio:me/Tiny-GGUF", "--quant", "Q8_0", "-f", "json"))
    assert info["model"] == str(folder.resolve() / "Tiny-Q8_0.gguf")
    assert_one_line_error(cli("info", "-m", "lmstudio:me/Tiny-GGUF"), "holds 2 GGUF models", code=2)
    outside = tmp_path / "secret"
    spm_file(outside, "Q8_0", name="Secret-Q8_0.gguf", seed=3)
    for name in (
        "lmstudio:../secret",
        "lmstudio:me/..",
        "lmstudio:/etc",
        "lmstudio:a/b/c",
        "lmstudio:",
    ):
        assert_one_line_error(cli("info", "-m", name), "not an LM Studio model name", code=2)
    (root / "link").symlink_to(tmp_path)  # a link out of the folder is not followed
    assert_one_line_error(cli("info", "-m", "lmstudio:link/secret"), "no LM Studio model")
    assert_one_line_error(cli("info", "-m", "lmstudio:nope"), "no LM Studio model nope",
                          "present: me/Tiny-GGUF")  # fmt: skip
    (root / "you" / "Tiny-GGUF").mkdir(parents=True)
    assert_one_line_error(cli("info", "-m", "lmstudio:Tiny-GGUF", "--quant", "Q8_0"),
                          "names 2 models", code=2)  # fmt: skip
    assert list(isolated_cache.glob("*Secret*")) == []


# -- bad input: one line each, nothing cached ----------------------------------------------------


def _cut(path: Path, keep: int) -> None:
    path.write_bytes(path.read_bytes()[:keep])


def _version(path: Path, version: int) -> None:
    data = bytearray(path.read_bytes())
    data[4:8] = version.to_bytes(4, "little")
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(
    ("damage", "needles"),
    [
        (lambda p: _cut(p, 3000), ["cut short inside its GGUF header"]),
        (lambda p: _cut(p, p.stat().st_size - 100), ["cut short: tensor 'token_embd.weight'"]),
        (lambda p: patch_type(p, TABLE, 99), ["ggml type 99", "gguf package"]),
        (lambda p: _version(p, 1), ["GGUF version 1"]),
        (lambda p: _version(p, 2), ["GGUF version 2"]),
    ],
    ids=["cut-header", "cut-data", "unknown-type", "version-1", "version-2"],
)
def test_a_damaged_file(cli, tmp_path, isolated_cache, damage, needles):
    path, _, _ = spm_file(tmp_path)
    damage(path)
    assert_one_line_error(cli("neighbors", "#1", "-m", path), *needles)
    assert no_leftovers(isolated_cache)


def test_big_endian_and_projector_files(cli, tmp_path, isolated_cache):
    be = G.write(tmp_path / "be.gguf", [table(32, 64, "F32")], big_endian=True)
    assert_one_line_error(cli("info", "-m", be), "big-endian")
    tensors = [G.named(table(16, 256, "Q8_0"), "v.patch_embd.weight")]
    mmproj = G.write(tmp_path / "mmproj-tiny-f16.gguf", tensors, arch="clip")
    assert_one_line_error(cli("info", "-m", mmproj), "no token_embd.weight", "projector")
    assert no_leftovers(isolated_cache)


def test_ollama_names_and_blobs_that_are_not_there(cli, tmp_path, monkeypatch, isolated_cache):
    path, _, _ = spm_file(tmp_path / "src")
    root = tmp_path / "ollama"
    G.ollama_tree(root, path, {"library/tiny/latest": "registry.ollama.ai"})
    monkeypatch.setenv("OLLAMA_MODELS", str(root))
    assert_one_line_error(cli("info", "-m", "ollama:llama3.2"), "no Ollama model", "tiny:latest")
    assert_one_line_error(cli("info", "-m", "ollama:tiny:7b"), "no Ollama model tiny:7b")
    for blob in (root / "blobs").iterdir():
        blob.unlink()
    assert_one_line_error(cli("info", "-m", "ollama:tiny"), "which is missing from")
    assert no_leftovers(isolated_cache)


def test_file_and_quant_that_choose_nothing(cli, tmp_path, isolated_cache, model_dirs):
    folder = tmp_path / "models"
    spm_file(folder, name="a-Q4_K_M.gguf")
    spm_file(folder, name="b-Q4_K_M.gguf")
    assert_one_line_error(cli("info", "-m", folder, "--file", "c.gguf"), "has no file 'c.gguf'")
    assert_one_line_error(cli("info", "-m", folder, "--quant", "Q2_K"), "matches --quant Q2_K")
    assert_one_line_error(
        cli("info", "-m", folder, "--quant", "Q4_K_M"), "matches 2 models", "--file", code=2
    )
    one = folder / "a-Q4_K_M.gguf"
    assert_one_line_error(cli("info", "-m", one, "--quant", "Q8_0"), "is one model", code=2)
    assert_one_line_error(
        cli("info", "-m", model_dirs["gpt2"], "--file", "x.gguf"), "holds none", code=2
    )
    assert no_leftovers(isolated_cache)


# -- the warm path -------------------------------------------------------------------------------


@pytest.mark.parametrize("ollama", [False, True])
@pytest.mark.slow  # a process
def test_warm_queries_import_neither_gguf_nor_torch(tmp_path, ollama):
    from tests.conftest import run_subprocess
    from tests.store.test_warm_path import HEAVY, _loaded, _probe

    path, _, _ = spm_file(tmp_path / "src")
    env = {"EMBCLI_CACHE": str(tmp_path / "c"), "OLLAMA_MODELS": str(tmp_path / "ollama")}
    G.ollama_tree(tmp_path / "ollama", path, {"library/tiny/latest": "registry.ollama.ai"})
    model = "ollama:tiny" if ollama else str(path)
    assert run_subprocess("info", "-m", model, env=env).code == 0
    modules = _probe(model, ["neighbors", "Rome", "-k", "3"], env)
    for heavy in (*HEAVY, "gguf", "tokenizers", "embcli.read.gguf_file"):
        assert not _loaded(modules, heavy), heavy


def test_cache_clear_by_folder_and_ollama_name(cli, tmp_path, monkeypatch):
    folder = tmp_path / "models"
    spm_file(folder, "Q8_0", name="t-Q8_0.gguf")
    path, _, _ = spm_file(folder, "Q4_0", name="t-Q4_0.gguf")
    root = tmp_path / "ollama"
    G.ollama_tree(root, path, {"library/tiny/latest": "registry.ollama.ai"})
    monkeypatch.setenv("OLLAMA_MODELS", str(root))
    for args in (["--quant", "Q8_0"], ["--quant", "Q4_0"]):
        assert cli("info", "-m", folder, *args).code == 0
    assert cli("info", "-m", "ollama:tiny").code == 0
    cleared = cli("cache", "clear", "ollama:tiny")
    assert cleared.code == 0 and "removed 1 cached table " in cleared.out + cleared.err
    cleared = cli("cache", "clear", folder)
    assert cleared.code == 0 and "removed 2 cached tables" in cleared.out + cleared.err
