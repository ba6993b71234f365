"""GGUF files: the lazily read header, rows of every block type, vocabularies, bad files.

Every file is written here with llama.cpp's own writer (``gguf.GGUFWriter``); rows are checked
against ``gguf.quants.dequantize`` of the very bytes written, the header against
``gguf.GGUFReader``, and tokenisation against the original tokenizers and against a direct
transcription of llama.cpp's SentencePiece merge loop.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from embcli.errors import EmbcliError, UsageProblem
from embcli.read.byte_source import LocalFile
from embcli.read.gguf_file import GGUFFile, GGUFModel
from tests import gguf_files as G
from tests import models

RNG = np.random.default_rng(7)
QUANTIZABLE = ["F32", "F16", "BF16", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0"]
BLOCK_TYPES = [
    "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K",
    "IQ1_S", "IQ1_M", "IQ2_XXS", "IQ2_XS", "IQ2_S", "IQ3_XXS", "IQ3_S", "IQ4_NL", "IQ4_XS",
    "TQ1_0", "TQ2_0", "MXFP4",
]  # fmt: skip


def table(rows: int = 300, width: int = 256, qtype: str = "Q8_0", seed: int = 0) -> G.Tensor:
    if qtype in QUANTIZABLE:
        values = np.random.default_rng(seed).normal(size=(rows, width)).astype(np.float32)
        return G.named(G.quantized(values, qtype), "token_embd.weight")
    return G.named(G.random_blocks(rows, width, qtype, seed), "token_embd.weight")


def open_model(path: Path) -> GGUFModel:
    return GGUFModel(LocalFile(path), lambda name: LocalFile(path.parent / name))


def all_rows(model: GGUFModel, name: str, block: int) -> np.ndarray:
    blocks = list(model.rows(name, block))
    assert [r0 for r0, _ in blocks] == list(range(0, model.info(name).shape[0], block))
    return np.concatenate([b for _, b in blocks])


class Ranged:
    """A file read only through ``read``/``stream``, as a Hub file is: no path to memory-map,
    no size until the first response, every byte fetched counted."""

    def __init__(self, path: Path) -> None:
        self.inner = LocalFile(path)
        self.name = path.name
        self.fetched = 0
        self.asked = False

    @property
    def path(self) -> Path | None:
        return None

    def size(self) -> int | None:
        return self.inner.size() if self.asked else None

    def read(self, start: int, end: int) -> bytes:
        return b"".join(self.stream(start, end))

    def stream(self, start: int, end: int) -> Iterator[bytes]:
        self.asked = True
        for chunk in self.inner.stream(start, end):
            self.fetched += len(chunk)
            yield chunk


# -- the header ----------------------------------------------------------------------------------


def test_header_matches_gguf_reader(tmp_path):
    import gguf

    tensors = [
        table(64, 128, "Q4_0"),
        G.Tensor("output_norm.weight", np.ones((1, 128), np.float32).view(np.uint8), "F32"),
        G.named(G.random_blocks(64, 256, "Q6_K"), "output.weight"),
        G.named(G.random_blocks(3, 512, "Q4_K"), "blk.0.ffn_up.weight"),
    ]
    meta = {"llama.context_length": 8192, "general.name": "tiny", "general.file_type": 15}
    path = G.write(
        tmp_path / "m.gguf", tensors, G.spm_vocab(models.metaspace_tokenizer()), meta=meta
    )
    mine = GGUFFile(LocalFile(path))
    ref = gguf.GGUFReader(path)
    assert list(mine.tensors) == [t.name for t in ref.tensors]
    for t in ref.tensors:
        got = mine.tensors[t.name]
        assert got.shape == tuple(int(d) for d in reversed(t.shape))
        assert mine.types[t.name] == int(t.tensor_type)
        assert (got.start, got.nbytes) == (t.data_offset, t.n_bytes)
    assert mine.data_start == ref.data_offset
    for key in ("general.architecture", "general.name", "llama.context_length"):
        assert mine.get(key) == ref.fields[key].contents()
    assert mine.array("tokenizer.ggml.tokens") == ref.fields["tokenizer.ggml.tokens"].contents()
    assert np.array_equal(
        mine.array("tokenizer.ggml.scores"), ref.fields["tokenizer.ggml.scores"].contents()
    )


def test_facts_from_metadata(tmp_path):
    vocab = G.spm_vocab(models.metaspace_tokenizer())
    n = len(vocab.tokens)
    tensors = [
        table(n + 20, 256, "Q6_K"),  # padded past the vocabulary, as some tables are
        G.named(G.random_blocks(n + 20, 256, "Q4_K"), "output.weight"),
    ]
    meta = {"llama.context_length": 131072, "general.name": "Tiny 1B", "general.file_type": 15}
    model = open_model(G.write(tmp_path / "m.gguf", tensors, vocab, meta=meta))
    f = model.summary()
    assert (f.architecture, f.name, f.n_vocab, f.n_embd) == ("llama", "Tiny 1B", n, 256)
    assert (f.context_length, f.file_type, f.table_type, f.head_type) == (
        131072, "Q4_K_M", "Q6_K", "Q4_K",
    )  # fmt: skip
    assert not f.tied
    assert f.table_bytes == tensors[0].raw.nbytes and f.head_bytes == tensors[1].raw.nbytes
    assert f.n_params == 2 * (n + 20) * 256 and f.n_tensors == 2


def test_no_output_weight_means_tied(tmp_path):
    model = open_model(G.write(tmp_path / "m.gguf", [table()]))
    assert model.summary().tied and model.summary().head_type is None
    assert model.names() == ["token_embd.weight"] and not model.has("output.weight")


def test_opening_decodes_no_metadata_array(tmp_path, monkeypatch):
    """Opening a file and reading its facts locate the vocabulary arrays without decoding them."""
    path = G.write(tmp_path / "m.gguf", [table()], G.bpe_vocab(models.byte_level_tokenizer()))

    def refuse(self, key):
        raise AssertionError(f"decoded {key} eagerly")

    monkeypatch.setattr(GGUFFile, "array", refuse)
    model = open_model(path)
    assert model.summary().n_vocab == len(G.bpe_vocab(models.byte_level_tokenizer()).tokens)


# -- rows ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("qtype", QUANTIZABLE + BLOCK_TYPES)
def test_rows_equal_gguf_dequantize(tmp_path, qtype):
    t = table(300, 256, qtype, seed=3)
    model = open_model(G.write(tmp_path / "m.gguf", [t]))
    info = model.info("token_embd.weight")
    assert (info.shape, info.dtype) == ((300, 256), qtype)
    got = all_rows(model, "token_embd.weight", 64)  # 300 rows: the last block is short
    want = t.dequantized()
    assert got.dtype == np.float32 and want.dtype == np.float32
    assert np.isfinite(got).all()
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("threads", [1, 3])
def test_rows_dequantised_in_pieces_over_threads(tmp_path, threads):
    """A block larger than one piece is cut into pieces (some run in threads) and put back in
    order: the rows are still exactly ``gguf.quants.dequantize``'s."""
    from embcli.read.gguf_file import SUB_VALUES, Dequantizer

    t = table(5000, 256, "Q4_K", seed=6)
    assert SUB_VALUES // 256 < 4096  # every 4,096-row block is several pieces
    np.testing.assert_array_equal(
        all_rows(open_model(G.write(tmp_path / "m.gguf", [t])), "token_embd.weight", 4096),
        t.dequantized(),
    )
    import gguf

    dequantize = Dequantizer(int(gguf.GGMLQuantizationType.Q4_K), 256, threads)
    np.testing.assert_array_equal(dequantize(t.raw[:4999]), t.dequantized()[:4999])
    dequantize.close()


@pytest.mark.parametrize("qtype", ["Q4_K", "BF16", "F16"])
def test_rows_streamed_equal_memory_mapped(tmp_path, qtype):
    """Without a local path (a Hub file), the same rows come from streamed byte ranges."""
    t = table(333, 256, qtype, seed=5)
    path = G.write(tmp_path / "m.gguf", [t])
    remote = GGUFModel(Ranged(path))
    np.testing.assert_array_equal(all_rows(remote, "token_embd.weight", 50), t.dequantized())


def test_remote_reads_header_and_table_only(tmp_path):
    big = G.named(G.random_blocks(2048, 4096, "Q4_K"), "blk.0.ffn_up.weight")  # 4.7 MB
    t = table(1000, 512, "Q6_K")
    vocab = G.bpe_vocab(models.byte_level_tokenizer())
    path = G.write(tmp_path / "m.gguf", [big, t], vocab)
    source = Ranged(path)
    model = GGUFModel(source)
    header = model.main.header_end
    assert source.fetched <= header + 256 * 1024  # the header, plus at most one first chunk
    source.fetched = 0
    np.testing.assert_array_equal(all_rows(model, "token_embd.weight", 256), t.dequantized())
    assert source.fetched == model.info("token_embd.weight").nbytes
    assert path.stat().st_size > 4 * 1024 * 1024


def test_remote_header_reads_follow_the_vocabulary(tmp_path):
    """A header of several MB (a large vocabulary and its merges) is fetched in a few requests,
    sized from the strings read so far, with little past its end."""
    rng = np.random.default_rng(2)
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    tokens = list(dict.fromkeys("".join(rng.choice(letters, rng.integers(2, 14)))
                                for _ in range(70_000)))  # fmt: skip
    merges = [f"{t[:1]} {t[1:]}" for t in tokens]
    vocab = G.Vocab("gpt2", tokens, [1] * len(tokens), merges=merges)
    big = G.named(G.random_blocks(512, 4096, "Q4_K"), "blk.0.ffn_up.weight")
    path = G.write(tmp_path / "m.gguf", [big, table(len(tokens), 256, "Q4_0")], vocab)
    source = Ranged(path)
    reads = []
    inner = source.stream

    def counted(start: int, end: int) -> Iterator[bytes]:
        reads.append((start, end))
        return inner(start, end)

    source.stream = counted  # type: ignore[method-assign]
    header = GGUFFile(source).header_end
    assert header > 1_500_000
    assert source.fetched - header < 0.02 * header + 64 * 1024, (source.fetched, header)
    assert len(reads) <= 8, reads


def test_head_rows(tmp_path):
    head = G.named(G.random_blocks(300, 256, "Q5_K", seed=9), "output.weight")
    model = open_model(G.write(tmp_path / "m.gguf", [table(), head]))
    np.testing.assert_array_equal(all_rows(model, "output.weight", 100), head.dequantized())


def test_split_file_followed_to_the_shard_with_the_table(tmp_path):
    first = G.Tensor("blk.0.attn_norm.weight", np.ones((1, 256), np.float32).view(np.uint8), "F32")
    t = table(300, 256, "Q4_K", seed=4)
    head = G.named(G.random_blocks(300, 256, "Q6_K", seed=8), "output.weight")
    vocab = G.spm_vocab(models.metaspace_tokenizer())
    path = G.write(tmp_path / "m.gguf", [first, t, head], vocab, split_max_tensors=1)
    assert path.name == "m-00001-of-00003.gguf"
    model = open_model(path)
    info = model.info("token_embd.weight")
    assert info.file == "m-00002-of-00003.gguf"
    np.testing.assert_array_equal(all_rows(model, "token_embd.weight", 128), t.dequantized())
    assert model.summary().head_type == "Q6_K" and model.vocabulary() is not None
    # a later shard given first: the metadata still comes from shard 1
    again = open_model(tmp_path / "m-00003-of-00003.gguf")
    assert again.main.name == "m-00001-of-00003.gguf"
    assert again.vocabulary().pieces == vocab.tokens
    # a missing shard is one line, when it is needed
    (tmp_path / "m-00002-of-00003.gguf").unlink()
    with pytest.raises(EmbcliError, match=r"missing checkpoint file .*m-00002-of-00003"):
        open_model(path).info("token_embd.weight")


# -- vocabularies --------------------------------------------------------------------------------


def llama_cpp_spm(text: str, pieces: list[str], scores: list[float]) -> list[int]:
    """llama.cpp's SPM tokenizer (llm_tokenizer_spm_session), transcribed plainly: a space
    prepended, spaces escaped, then the adjacent pair forming the highest-scoring token merged
    first (the leftmost on ties) until none is left; leftovers become byte tokens."""
    ids: dict[str, int] = {}
    for i, p in enumerate(pieces):
        ids.setdefault(p, i)
    symbols = list((" " + text).replace(" ", "\u2581"))
    while True:
        best = None
        for i in range(len(symbols) - 1):
            j = ids.get(symbols[i] + symbols[i + 1])
            if j is not None and (best is None or scores[j] > best[0]):
                best = (scores[j], i)
        if best is None:
            break
        i = best[1]
        symbols[i : i + 2] = [symbols[i] + symbols[i + 1]]
    out = []
    for s in symbols:
        out += [ids[s]] if s in ids else [ids[f"<0x{b:02X}>"] for b in s.encode()]
    return out


TEXTS = [*models.CORPUS[:5], "Paris", "tokenization", "Zürich café", "king queen"]


def build(tmp_path: Path, vocab: G.Vocab):
    return open_model(G.write(tmp_path / "v.gguf", [table(len(vocab.tokens), 32, "F16")], vocab))


def encode(vocabulary, text: str) -> list[int]:
    return vocabulary.tokenizer.encode(text, add_special_tokens=False).ids


def test_sentencepiece_vocabulary_tokenises_as_llama_cpp(tmp_path):
    from embcli.read.tokens import display_tokens, vocabulary_style

    vocab = G.spm_vocab(models.metaspace_tokenizer())
    v = build(tmp_path, vocab).vocabulary()
    assert v.pieces == vocab.tokens and v.style == "metaspace" and v.note is None
    for text in TEXTS:
        assert encode(v, text) == llama_cpp_spm(text, vocab.tokens, vocab.scores), text
    # a word is ▁word, as inside text; a typed leading space is one more ▁, as in llama.cpp
    the = vocab.tokens.index("\u2581the")
    assert encode(v, "the") == [the] and the in encode(v, "king and the queen")
    assert encode(v, " the") == [vocab.tokens.index("\u2581"), the]
    assert "".join(v.pieces[i] for i in encode(v, "Paris")) == "\u2581Paris"
    assert v.special == {vocab.ids["unk"], vocab.ids["bos"], vocab.ids["eos"]}
    assert v.byte_tokens == set(range(len(vocab.tokens) - 256, len(vocab.tokens)))
    # saved as tokenizer.json it keeps its behaviour, and embcli reads its style from it
    from tokenizers import Tokenizer

    spec = json.loads(v.tokenizer.to_str())
    again = Tokenizer.from_str(v.tokenizer.to_str())
    assert again.encode(TEXTS[0], add_special_tokens=False).ids == encode(v, TEXTS[0])
    assert vocabulary_style(spec) == "metaspace"
    shown = display_tokens(spec, again.get_vocab(), len(v.pieces))
    assert shown[v.pieces.index("\u2581the")] == " the"


def test_byte_level_vocabulary_tokenises_as_its_tokenizer(tmp_path):
    from embcli.read.tokens import vocabulary_style

    tok = models.byte_level_tokenizer()
    vocab = G.bpe_vocab(tok)
    v = build(tmp_path, vocab).vocabulary()
    assert v.pieces == vocab.tokens and v.style == "byte_level"
    for text in [*TEXTS, " Paris", "<|endoftext|> Paris"]:
        assert encode(v, text) == tok.encode(text).ids, text
    assert [v.pieces[i] for i in encode(v, " Paris")] == ["\u0120Paris"]
    assert v.special == {vocab.tokens.index("<|endoftext|>")}
    assert vocabulary_style(json.loads(v.tokenizer.to_str())) == "byte_level"


@pytest.mark.parametrize("pre", ["llama-bpe", "qwen2", "gpt-4o", "something-new"])
def test_byte_level_pre_tokenizers_split_words_alike(tmp_path, pre):
    tok = models.byte_level_tokenizer()
    v = build(tmp_path, G.bpe_vocab(tok, pre=pre)).vocabulary()
    for word in ("Paris", "queen", "tokenization", "defenestration"):
        assert encode(v, " " + word) == tok.encode(" " + word).ids


def test_wordpiece_vocabulary_from_phantom_spelling(tmp_path, minilm_dir):
    from tokenizers import Tokenizer

    from embcli.read.tokens import vocabulary_style

    tok = Tokenizer.from_file(str(minilm_dir / "tokenizer.json"))
    tok.no_padding()
    tok.no_truncation()
    vocab = G.wordpiece_vocab(tok)
    assert vocab.tokens[tok.token_to_id("paris")] == "\u2581paris"
    v = build(tmp_path, vocab).vocabulary()
    original = [""] * tok.get_vocab_size()
    for piece, i in tok.get_vocab().items():
        original[i] = piece
    assert v.pieces == original and v.style == "plain"
    for text in [*TEXTS, "Paris", "PARIS", "embeddings"]:
        assert encode(v, text) == tok.encode(text, add_special_tokens=False).ids, text
    assert encode(v, "Paris") == [tok.token_to_id("paris")]
    assert vocabulary_style(json.loads(v.tokenizer.to_str())) == "plain"
    assert {tok.token_to_id(s) for s in ("[CLS]", "[SEP]", "[PAD]", "[MASK]")} <= v.special


def test_unigram_vocabulary(tmp_path):
    tok = G.unigram_tokenizer()
    vocab = G.unigram_vocab(tok)
    v = build(tmp_path, vocab).vocabulary()
    assert v.style == "metaspace" and v.pieces == vocab.tokens
    for text in TEXTS:
        assert encode(v, text) == tok.encode(text).ids, text


def test_unknown_tokenizer_model_keeps_pieces(tmp_path):
    vocab = G.spm_vocab(models.metaspace_tokenizer())
    vocab.model = "rwkv"
    v = build(tmp_path, vocab).vocabulary()
    assert v.tokenizer is None and v.pieces == vocab.tokens
    assert "rwkv" in v.note and "#id" in v.note and "\n" not in v.note


def test_token_types_are_recorded(tmp_path):
    vocab = G.bpe_vocab(models.byte_level_tokenizer())
    vocab.types[5:8] = [5, 5, 5]  # unused
    vocab.types[9] = 4  # user-defined: matched whole
    v = build(tmp_path, vocab).vocabulary()
    assert v.unused == {5, 6, 7} and v.byte_tokens == set()
    assert encode(v, vocab.tokens[9]) == [9]


def test_token_types_inferred_when_absent(tmp_path):
    vocab = G.spm_vocab(models.metaspace_tokenizer())
    vocab.types = []  # older converters wrote no token_type
    v = build(tmp_path, vocab).vocabulary()
    assert v.byte_tokens == set(range(len(vocab.tokens) - 256, len(vocab.tokens)))
    assert v.special == {vocab.ids["unk"], vocab.ids["bos"], vocab.ids["eos"]}
    assert encode(v, "Zürich") == llama_cpp_spm("Zürich", vocab.tokens, vocab.scores)


def test_no_vocabulary_in_the_file(tmp_path):
    assert open_model(G.write(tmp_path / "m.gguf", [table()])).vocabulary() is None


# -- bad input: one line each --------------------------------------------------------------------


def one_line(exc: pytest.ExceptionInfo) -> str:
    text = exc.value.one_line()
    assert "\n" not in text
    return text


def good_file(tmp_path: Path) -> Path:
    vocab = G.spm_vocab(models.metaspace_tokenizer())
    return G.write(tmp_path / "good.gguf", [table(300, 256, "Q4_K")], vocab)


@pytest.mark.parametrize("keep", [3, 30, 200, 5000])
def test_cut_in_the_header(tmp_path, keep):
    path = good_file(tmp_path)
    path.write_bytes(path.read_bytes()[:keep])
    with pytest.raises(EmbcliError) as exc:
        open_model(path)
    assert ("cut short inside its GGUF header" if keep >= 4 else "not a GGUF") in one_line(exc)


def test_cut_in_the_tensor_data(tmp_path):
    path = good_file(tmp_path)
    end = open_model(path).info("token_embd.weight").end
    path.write_bytes(path.read_bytes()[: end - 100])
    with pytest.raises(EmbcliError) as exc:
        open_model(path)
    assert "cut short: tensor 'token_embd.weight' needs bytes up to" in one_line(exc)


def test_not_a_gguf_file(tmp_path):
    path = tmp_path / "x.gguf"
    path.write_text("hello, I am text\n" * 10)
    with pytest.raises(EmbcliError) as exc:
        open_model(path)
    assert "not a GGUF file" in one_line(exc)


def test_a_projector_file_has_no_table(tmp_path):
    tensors = [
        G.named(G.random_blocks(16, 256, "Q8_0"), "v.patch_embd.weight"),
        G.named(G.random_blocks(16, 256, "Q8_0"), "mm.0.weight"),
    ]
    path = G.write(tmp_path / "mmproj-model-f16.gguf", tensors, arch="clip")
    with pytest.raises(EmbcliError) as exc:
        open_model(path).info("token_embd.weight")
    line = one_line(exc)
    assert "no token_embd.weight" in line and "projector" in line and "v.patch_embd" in line


def patch_type(path: Path, tensor: str, new_type: int) -> None:
    data = bytearray(path.read_bytes())
    at = data.index(tensor.encode()) + len(tensor)
    n_dims = struct.unpack_from("<I", data, at)[0]
    struct.pack_into("<I", data, at + 4 + 8 * n_dims, new_type)
    path.write_bytes(bytes(data))


def test_unknown_type(tmp_path):
    path = good_file(tmp_path)
    patch_type(path, "token_embd.weight", 99)
    model = open_model(path)
    assert model.names() == ["token_embd.weight"]
    with pytest.raises(EmbcliError) as exc:
        model.info("token_embd.weight")
    assert "ggml type 99" in one_line(exc) and "gguf package" in one_line(exc)


@pytest.mark.parametrize("qtype", ["Q8_1", "I8"])
def test_type_without_a_dequantiser(tmp_path, qtype):
    import gguf

    block, size = gguf.GGML_QUANT_SIZES[gguf.GGMLQuantizationType[qtype]]
    raw = RNG.integers(0, 100, (10, 256 // block * size), np.uint8)
    path = G.write(tmp_path / "m.gguf", [G.Tensor("token_embd.weight", raw, qtype)])
    with pytest.raises(EmbcliError) as exc:
        next(open_model(path).rows("token_embd.weight", 4))
    assert f"stored as {qtype}" in one_line(exc)


def test_big_endian(tmp_path):
    path = G.write(tmp_path / "be.gguf", [table(32, 64, "F32")], big_endian=True)
    with pytest.raises(EmbcliError) as exc:
        open_model(path)
    assert "big-endian" in one_line(exc)


@pytest.mark.parametrize("version", [1, 2])
def test_old_versions(tmp_path, version):
    path = good_file(tmp_path)
    data = bytearray(path.read_bytes())
    struct.pack_into("<I", data, 4, version)
    path.write_bytes(bytes(data))
    with pytest.raises(EmbcliError) as exc:
        open_model(path)
    assert f"GGUF version {version}" in one_line(exc)


# -- where GGUF files are kept -------------------------------------------------------------------


def test_ollama_names_resolve_to_the_blob(tmp_path, monkeypatch):
    from embcli.read.gguf_sources import ollama_models, resolve_ollama

    root = tmp_path / "ollama"
    path = good_file(tmp_path)
    reg = "registry.ollama.ai"
    entries = {"library/tiny/latest": reg, "library/tiny/q4": reg, "me/other/1b": reg}
    entries["bartowski/Tiny-GGUF/Q4_K_M"] = "hf.co"
    digest = G.ollama_tree(root, path, entries)["digest"]
    monkeypatch.setenv("OLLAMA_MODELS", str(root))
    for spec in ("ollama:tiny", "ollama:tiny:latest", "ollama:tiny:q4", "ollama:me/other:1b",
                 "ollama:hf.co/bartowski/Tiny-GGUF:Q4_K_M"):  # fmt: skip
        found = resolve_ollama(spec)
        assert found.identity == digest and len(found.files) == 1
        assert Path(found.files[0]).read_bytes() == path.read_bytes()
        model = open_model(Path(found.files[0]))
        assert model.info("token_embd.weight").shape == (300, 256)
    assert resolve_ollama("ollama:tiny").label == "ollama:tiny:latest"
    assert ollama_models() == [
        "hf.co/bartowski/Tiny-GGUF:Q4_K_M", "me/other:1b", "tiny:latest", "tiny:q4",
    ]  # fmt: skip


def test_ollama_missing_name_tag_and_blob(tmp_path, monkeypatch):
    from embcli.read.gguf_sources import resolve_ollama

    root = tmp_path / "ollama"
    G.ollama_tree(root, good_file(tmp_path), {"library/tiny/latest": "registry.ollama.ai"})
    monkeypatch.setenv("OLLAMA_MODELS", str(root))
    for spec in ("ollama:llama3.2", "ollama:tiny:7b"):
        with pytest.raises(EmbcliError) as exc:
            resolve_ollama(spec)
        assert "no Ollama model" in one_line(exc) and "present: tiny:latest" in one_line(exc)
    for blob in (root / "blobs").iterdir():
        blob.write_bytes(blob.read_bytes()[:1000])
    with pytest.raises(EmbcliError) as exc:
        resolve_ollama("ollama:tiny")
    assert "has 1,000 bytes, its manifest says" in one_line(exc)
    for blob in (root / "blobs").iterdir():
        blob.unlink()
    with pytest.raises(EmbcliError) as exc:
        resolve_ollama("ollama:tiny")
    assert "which is missing from" in one_line(exc)
    monkeypatch.setenv("OLLAMA_MODELS", str(tmp_path / "nowhere"))
    with pytest.raises(EmbcliError) as exc:
        resolve_ollama("ollama:tiny")
    assert "no Ollama model store at" in one_line(exc)
    monkeypatch.setenv("OLLAMA_MODELS", str(tmp_path))
    with pytest.raises(EmbcliError) as exc:
        resolve_ollama("ollama:tiny")
    assert "no models are present" in one_line(exc)


def test_ollama_default_root(tmp_path, monkeypatch):
    from embcli.read.gguf_sources import ollama_root

    monkeypatch.delenv("OLLAMA_MODELS", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert ollama_root() == tmp_path / ".ollama" / "models"


HUB_LISTING = [
    "README.md",
    "Tiny-1B-Instruct-Q4_K_M.gguf",
    "Tiny-1B-Instruct-Q4_K_S.gguf",
    "Tiny-1B-Instruct-IQ4_XS.gguf",
    "Tiny-1B-Instruct-f16.gguf",
    "Tiny-1B-Instruct-Q8_0/Tiny-1B-Instruct-Q8_0-00002-of-00002.gguf",
    "Tiny-1B-Instruct-Q8_0/Tiny-1B-Instruct-Q8_0-00001-of-00002.gguf",
    "mmproj-Tiny-1B-f16.gguf",
]


def test_choosing_a_file_by_quant_or_name():
    from embcli.read.gguf_sources import choose_gguf

    repo = "me/Tiny-1B-Instruct-GGUF"
    assert choose_gguf(HUB_LISTING, repo, quant="Q4_K_M") == ["Tiny-1B-Instruct-Q4_K_M.gguf"]
    assert choose_gguf(HUB_LISTING, repo, quant="iq4_xs") == ["Tiny-1B-Instruct-IQ4_XS.gguf"]
    assert choose_gguf(HUB_LISTING, repo, quant="F16") == ["Tiny-1B-Instruct-f16.gguf"]
    assert choose_gguf(HUB_LISTING, repo, quant="Q8_0") == [HUB_LISTING[6], HUB_LISTING[5]]
    assert choose_gguf(HUB_LISTING, repo, file=HUB_LISTING[5]) == [HUB_LISTING[6], HUB_LISTING[5]]
    assert choose_gguf(HUB_LISTING, repo, file=HUB_LISTING[-1]) == [HUB_LISTING[-1]]
    assert choose_gguf(["a/x.gguf", "mmproj-x.gguf", "b.txt"], repo) == ["a/x.gguf"]


def test_choosing_fails_in_one_line():
    from embcli.read.gguf_sources import choose_gguf

    repo = "me/Tiny-GGUF"
    with pytest.raises(EmbcliError) as exc:
        choose_gguf(HUB_LISTING, repo, quant="Q4_K")  # never inside Q4_K_M / Q4_K_S
    assert "matches --quant Q4_K" in one_line(exc)
    assert "Q4_K_M | Q4_K_S" in one_line(exc) and "mmproj" not in one_line(exc)
    with pytest.raises(UsageProblem) as exc:
        choose_gguf(HUB_LISTING, repo)
    assert "holds 5 GGUF models" in one_line(exc) and "Q8_0" in one_line(exc)
    with pytest.raises(UsageProblem) as exc:
        choose_gguf(["a-Q4_K_M.gguf", "b-Q4_K_M.gguf"], repo, quant="Q4_K_M")
    assert "matches 2 models" in one_line(exc) and "--file" in one_line(exc)
    with pytest.raises(EmbcliError) as exc:
        choose_gguf(HUB_LISTING, repo, file="Tiny-Q2_K.gguf")
    assert "has no file 'Tiny-Q2_K.gguf'" in one_line(exc)
    with pytest.raises(EmbcliError) as exc:
        choose_gguf(HUB_LISTING[:-2], repo, quant="Q8_0")
    assert "lacks shard(s) 00001-of-00002" in one_line(exc)
    with pytest.raises(EmbcliError) as exc:
        choose_gguf(["README.md"], repo)
    assert "holds no GGUF model files" in one_line(exc)


def test_lm_studio_directory(tmp_path):
    from embcli.read.gguf_sources import gguf_directory, holds_gguf

    folder = tmp_path / "lmstudio" / "me" / "Tiny-GGUF"
    folder.mkdir(parents=True)
    good = good_file(tmp_path)
    for name in ("Tiny-Q4_K_M.gguf", "Tiny-Q8_0.gguf", "mmproj-Tiny-f16.gguf"):
        (folder / name).write_bytes(good.read_bytes())
    assert holds_gguf(folder)
    assert gguf_directory(folder, quant="Q8_0").files == (str(folder / "Tiny-Q8_0.gguf"),)
    assert gguf_directory(folder, file="Tiny-Q4_K_M.gguf").label == str(folder / "Tiny-Q4_K_M.gguf")
    with pytest.raises(UsageProblem) as exc:
        gguf_directory(folder)
    assert "choose --quant Q4_K_M | Q8_0" in one_line(exc)
    (folder / "Tiny-Q8_0.gguf").unlink()
    only = gguf_directory(folder)
    assert only.files == (str(folder / "Tiny-Q4_K_M.gguf"),)
    before = only.identity
    (folder / "Tiny-Q4_K_M.gguf").write_bytes(good.read_bytes() + b"\0" * 32)
    assert gguf_directory(folder).identity != before  # a changed file is a new cache key


def test_local_shard_brings_its_set(tmp_path):
    from embcli.read.gguf_sources import local_gguf

    first = G.Tensor("blk.0.attn_norm.weight", np.ones((1, 64), np.float32).view(np.uint8), "F32")
    path = G.write(tmp_path / "m.gguf", [first, table(10, 64, "F32")], split_max_tensors=1)
    found = local_gguf(tmp_path / "m-00002-of-00002.gguf")
    assert found.files == (str(path), str(tmp_path / "m-00002-of-00002.gguf"))
    assert found.label == str(path)


def test_quant_labels():
    from embcli.read.gguf_sources import quant_label

    assert quant_label("Llama-3.2-1B-Instruct-Q4_K_M.gguf") == "Q4_K_M"
    assert quant_label("llama-2-7b.Q5_K_S.gguf") == "Q5_K_S"
    assert quant_label("qwen2.5-0.5b-instruct-q4_k_m.gguf") == "q4_k_m"
    assert quant_label("Qwen3-8B-UD-Q4_K_XL.gguf") == "UD-Q4_K_XL"
    assert quant_label("dir/Model-BF16-00001-of-00002.gguf") == "BF16"
    assert quant_label("model.gguf") == "model.gguf"
