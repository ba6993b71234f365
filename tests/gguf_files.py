"""GGUF files written for the tests with llama.cpp's own writer (``gguf.GGUFWriter``).

Tensors are given as the bytes a GGUF stores (``(rows, row_bytes)`` uint8, from
``gguf.quants.quantize`` or known random bytes), so a test's expected rows are
``gguf.quants.dequantize`` of exactly those bytes. Vocabularies are converted from the tiny
trained tokenizers of :mod:`tests.models` (or MiniLM's) the way llama.cpp's converter does.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

SPACE = "\u2581"


@dataclass
class Tensor:
    name: str
    raw: np.ndarray  # (rows, row_bytes) uint8, or float32 / float16 values
    qtype: str  # ggml type name

    def dequantized(self) -> np.ndarray:
        import gguf

        return gguf.quants.dequantize(self.raw, gguf.GGMLQuantizationType[self.qtype])


@dataclass
class Vocab:
    model: str
    tokens: list[str]
    types: list[int]
    scores: list[float] | None = None
    merges: list[str] | None = None
    pre: str | None = None
    ids: dict[str, int] = field(default_factory=dict)  # bos/eos/unk/pad
    extra: dict[str, Any] = field(default_factory=dict)


def quantized(values: np.ndarray, qtype: str) -> Tensor:
    """A tensor quantised by ``gguf.quants.quantize`` (F32, F16, BF16, Q4_0 .. Q8_0)."""
    import gguf

    t = gguf.GGMLQuantizationType[qtype]
    if qtype == "F32":
        raw = values.astype(np.float32).view(np.uint8)
    elif qtype == "F16":
        raw = values.astype(np.float16).view(np.uint8)
    else:
        raw = gguf.quants.quantize(values.astype(np.float32), t)
    return Tensor("", raw, qtype)


def random_blocks(rows: int, width: int, qtype: str, seed: int = 0) -> Tensor:
    """Known random bytes for a block type (K-quants, IQ, TQ, MXFP4 ...).

    Rows that would hold inf or NaN (a scale field of all-ones exponent), or whose length
    float32 cannot hold (MXFP4's scales reach 2^127), are drawn again, so the tables are finite,
    as real ones are.
    """
    import gguf

    t = gguf.GGMLQuantizationType[qtype]
    block, size = gguf.GGML_QUANT_SIZES[t]
    rng = np.random.default_rng(seed)
    raw = rng.integers(0, 256, (rows, width // block * size), np.uint8)
    with np.errstate(all="ignore"):
        for _ in range(100):
            rows = gguf.quants.dequantize(raw, t).astype(np.float64)
            bad = ~np.isfinite(np.linalg.norm(rows, axis=1).astype(np.float32))
            if not bad.any():
                break
            raw[bad] = rng.integers(0, 256, (int(bad.sum()), raw.shape[1]), np.uint8)
    return Tensor("", raw, qtype)


def write(
    path: Path,
    tensors: list[Tensor],
    vocab: Vocab | None = None,
    arch: str = "llama",
    meta: dict[str, Any] | None = None,
    split_max_tensors: int = 0,
    big_endian: bool = False,
) -> Path:
    """Write a GGUF; returns ``path`` (or its first shard when split)."""
    import gguf

    w = gguf.GGUFWriter(
        path,
        arch,
        split_max_tensors=split_max_tensors,
        endianess=gguf.GGUFEndian.BIG if big_endian else gguf.GGUFEndian.LITTLE,
    )
    table = next((t for t in tensors if t.name == "token_embd.weight"), None)
    if table is not None:
        block, size = gguf.GGML_QUANT_SIZES[gguf.GGMLQuantizationType[table.qtype]]
        w.add_embedding_length(table.raw.shape[1] // size * block)
    for key, value in (meta or {}).items():
        _add(w, key, value)
    if vocab is not None:
        w.add_tokenizer_model(vocab.model)
        if vocab.pre:
            w.add_tokenizer_pre(vocab.pre)
        w.add_token_list(vocab.tokens)
        w.add_token_types(vocab.types)
        if vocab.scores is not None:
            w.add_token_scores(vocab.scores)
        if vocab.merges is not None:
            w.add_token_merges(vocab.merges)
        for role, i in vocab.ids.items():
            getattr(w, f"add_{role}_token_id")(i)
        for key, value in vocab.extra.items():
            _add(w, key, value)
    for t in tensors:
        qtype = gguf.GGMLQuantizationType[t.qtype]
        if t.qtype in ("F32", "F16"):
            w.add_tensor(t.name, t.raw.view(np.float32 if t.qtype == "F32" else np.float16))
        else:
            w.add_tensor(t.name, t.raw, raw_dtype=qtype)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    if split_max_tensors and len(w.tensors) > 1:
        return path.with_name(f"{path.stem}-00001-of-{len(w.tensors):05d}.gguf")
    return path


def _add(w: Any, key: str, value: Any) -> None:
    import gguf

    if isinstance(value, bool):
        w.add_bool(key, value)
    elif isinstance(value, int):
        w.add_uint32(key, value)
    elif isinstance(value, float):
        w.add_float32(key, value)
    elif isinstance(value, str):
        w.add_string(key, value)
    elif isinstance(value, bytes):
        w.add_key_value(key, list(value), gguf.GGUFValueType.ARRAY, gguf.GGUFValueType.UINT8)
    else:
        w.add_array(key, value)


def named(t: Tensor, name: str) -> Tensor:
    return Tensor(name, t.raw, t.qtype)


# -- vocabularies, converted as llama.cpp's convert_hf_to_gguf.py does -------------------------


def _ordered(tok: Any) -> list[str]:
    vocab = tok.get_vocab()
    out = [""] * len(vocab)
    for piece, i in vocab.items():
        out[i] = piece
    return out


def _special_ids(tok: Any) -> set[int]:
    spec = json.loads(tok.to_str())
    return {a["id"] for a in spec.get("added_tokens", []) if a.get("special")}


def spm_vocab(tok: Any) -> Vocab:
    """A SentencePiece-style ("llama") vocabulary from a Metaspace BPE tokenizer.

    The trainer gives merged tokens ids in merge order, so ``score = -id`` ranks them as the
    merges do (SentencePiece BPE stores the same kind of score). 256 byte tokens are appended
    for byte fallback, as Llama 2's vocabulary has them.
    """
    tokens = _ordered(tok)
    special = _special_ids(tok)
    types = [3 if i in special else 1 for i in range(len(tokens))]
    types[tokens.index("<unk>")] = 2
    tokens += [f"<0x{b:02X}>" for b in range(256)]
    types += [6] * 256
    scores = [-float(i) for i in range(len(tokens))]
    ids = {"unk": tokens.index("<unk>"), "bos": tokens.index("<s>"), "eos": tokens.index("</s>")}
    return Vocab("llama", tokens, types, scores=scores, ids=ids)


def bpe_vocab(tok: Any, pre: str = "gpt-2") -> Vocab:
    """A byte-level BPE ("gpt2") vocabulary with the tokenizer's merges."""
    tokens = _ordered(tok)
    special = _special_ids(tok)
    types = [3 if i in special else 1 for i in range(len(tokens))]
    merges = [
        m if isinstance(m, str) else " ".join(m)
        for m in json.loads(tok.to_str())["model"]["merges"]
    ]
    eos = tokens.index("<|endoftext|>")
    return Vocab("gpt2", tokens, types, merges=merges, pre=pre, ids={"bos": eos, "eos": eos})


def wordpiece_vocab(tok: Any) -> Vocab:
    """A WordPiece ("bert") vocabulary in llama.cpp's phantom-space spelling."""
    tokens = _ordered(tok)
    special = _special_ids(tok)
    types = [3 if i in special else 1 for i in range(len(tokens))]

    def phantom(t: str, kind: int) -> str:
        if kind == 3:
            return t
        return t[2:] if t.startswith("##") else SPACE + t

    stored = [phantom(t, k) for t, k in zip(tokens, types, strict=True)]
    ids = {"unk": tokens.index("[UNK]"), "pad": tokens.index("[PAD]"), "bos": tokens.index("[CLS]")}
    return Vocab("bert", stored, types, ids=ids)


def unigram_vocab(tok: Any) -> Vocab:
    """A SentencePiece Unigram ("t5") vocabulary with the model's scores."""
    spec = json.loads(tok.to_str())["model"]
    tokens = [p for p, _ in spec["vocab"]]
    scores = [float(s) for _, s in spec["vocab"]]
    special = _special_ids(tok)
    types = [3 if i in special else 1 for i in range(len(tokens))]
    unk = spec.get("unk_id") or 0
    types[unk] = 2
    return Vocab("t5", tokens, types, scores=scores, ids={"unk": unk})


def unigram_tokenizer(vocab_size: int = 150) -> Any:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    from tests.models import CORPUS

    tok = Tokenizer(models.Unigram())
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.decoder = decoders.Metaspace()
    trainer = trainers.UnigramTrainer(
        vocab_size=vocab_size, special_tokens=["<pad>", "</s>", "<unk>"], unk_token="<unk>",
        show_progress=False,
    )  # fmt: skip
    tok.train_from_iterator(CORPUS, trainer)
    return tok


# -- where GGUF files are kept ---------------------------------------------------------------


def ollama_tree(root: Path, gguf_path: Path, entries: dict[str, str]) -> dict[str, str]:
    """Manifests for ``{"library/tiny/latest": ...}`` style paths, all naming one blob."""
    data = gguf_path.read_bytes()
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    (root / "blobs").mkdir(parents=True, exist_ok=True)
    (root / "blobs" / digest.replace(":", "-")).write_bytes(data)
    for rel, host in entries.items():
        manifest = root / "manifests" / host / rel
        manifest.parent.mkdir(parents=True, exist_ok=True)
        doc = {
            "schemaVersion": 2,
            "config": {"mediaType": "application/vnd.docker.container.image.v1+json"},
            "layers": [
                {"mediaType": "application/vnd.ollama.image.license", "digest": "sha256:00"},
                {"mediaType": "application/vnd.ollama.image.model", "digest": digest,
                 "size": len(data)},
            ],
        }  # fmt: skip
        manifest.write_text(json.dumps(doc))
    return {"digest": digest}
