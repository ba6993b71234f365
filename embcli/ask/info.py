"""What a table is (``info``) and how text becomes its rows (``tokenize``), as results."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from embcli.read.tokens import visible
from embcli.store.table import EmbeddingTable
from embcli.view import Result, View

SAMPLE_TOKENS = 8


@dataclass
class Info(Result):
    """The facts ``embcli info`` reports; ``facts`` is the JSON-ready dict (keys are the API)."""

    facts: dict[str, Any]

    def __getitem__(self, key: str) -> Any:
        return self.facts[key]

    def to_dict(self) -> dict[str, Any]:
        return self.facts

    def view(self) -> View:
        d = self.facts
        rows = [
            ("model", d["model"]),
            ("source", f"{d['kind']} ({d['revision'] or d['identity'][:12]})"),
            ("table", _table_text(d)),
            ("tensor", d["tensor"]),
            ("shape", f"{d['rows']:,} x {d['dim']:,}"),
            ("dtype", d["source_dtype"]),
            ("container", _container_text(d)),
            *_gguf_rows(d.get("gguf")),
            (
                "model type",
                d["model_type"] + (f" (in {d['text_config']})" if d["text_config"] else ""),
            ),
            *([("layout", static_text(d["static"]))] if d.get("static") else []),
            ("output head", _head_text(d)),
            *((("embedding", _embedding_text(d)),) if _embedding_text(d) else ()),
            ("tokenizer", _tokenizer_text(d)),
            ("zero rows", f"{d['zero_rows']:,}"),
            ("cache", f"{d['cache_path']} ({d['cache_bytes'] / 1e6:,.1f} MB)"),
            ("sample", "  ".join(f"{i}:{visible(t)}" for i, t in d["sample_tokens"])),
        ]
        return View(["field", "value"], rows, key_value=True)


def info(table: EmbeddingTable) -> Info:
    """Where the table comes from, its shape, dtype, tokenizer, output head and cache entry."""
    return Info(table_facts(table))


def table_facts(table: EmbeddingTable) -> dict[str, Any]:
    """The facts ``info`` reports, as a JSON-ready dict (its keys are the JSON interface)."""
    meta = table.meta
    rows, dim = table.shape
    step = max(1, (table.tokenizer_size or rows) // SAMPLE_TOKENS)
    sample_ids = list(range(0, min(rows, table.tokenizer_size or rows), step))[:SAMPLE_TOKENS]
    return {
        "model": table.label,
        "kind": meta.kind,
        "revision": meta.revision,
        "identity": meta.identity,
        "table": meta.table,
        "tensor": meta.tensor,
        "rows": rows,
        "dim": dim,
        "source_dtype": meta.source_dtype,
        "checkpoint_file": meta.checkpoint_file,
        "container": meta.checkpoint_format,
        # A GGUF's metadata: architecture, n_vocab, n_embd, context length, and the
        # quantisation and bytes of the table and the head (None for other containers)
        "gguf": meta.gguf,
        "model_type": meta.model_type,
        "text_config": meta.text_config,
        "config_vocab_size": meta.config_vocab_size,
        "tokenizer_size": table.tokenizer_size,
        "padded_rows": table.padded_rows,
        "special_tokens": len(table.special_ids),
        "tied": meta.tied,
        "tie_explicit": meta.tie_explicit,
        "tie_reason": meta.tie_reason,
        "embed_scale": meta.embed_scale,
        "model_width": meta.model_width,
        "projections": [dict(p) for p in meta.projections],
        "head_tensor": meta.head_tensor,
        "head_shape": meta.head_shape,
        "head_dtype": meta.head_dtype,
        "zero_rows": meta.zero_rows,
        "static": meta.static,
        "cache_path": str(table.path),
        "cache_bytes": table.size_on_disk(),
        "sample_tokens": [[i, table.tokens[i]] for i in sample_ids],
    }


def _table_text(d: dict[str, Any]) -> str:
    if d["table"] == "output":
        return "output head (--table output)"
    if d["table"] == "target":
        return "the decoder's own input table (--table target)"
    return "input embeddings" + (", also the output head (tied)" if d["tied"] else "")


def static_text(recipe: dict[str, Any]) -> str:
    """A static-embedding model's layout in words: library, folder, quantisation, dtype."""
    parts = [recipe["library"] + (f" ({recipe['folder']}/)" if recipe["folder"] else "")]
    if recipe["vocabulary_quantization"]:
        parts.append(f"vocabulary quantised to {recipe['vocabulary_quantization']:,} shared rows "
                     "with a weight per token")  # fmt: skip
    elif recipe["token_weights"]:
        parts.append("a weight per token")
    dtype = recipe["embedding_dtype"]
    if dtype == "int8":
        dtype += (" (scaled by one global factor the model does not store: cosines are exact, "
                  "lengths and dot products are in int8 units)")  # fmt: skip
    parts.append(dtype)
    parts.append("normalised sentence vectors" if recipe["normalize"] else "not normalised")
    limit = recipe["max_length"]
    parts.append(f"max {limit} tokens" if limit else "no length limit")
    return "; ".join(parts)


def _container_text(d: dict[str, Any]) -> str:
    return f"{d.get('container') or '?'}: {d['checkpoint_file']}"


def _mb(n: int | None) -> str:
    return f"{n / 1e6:,.1f} MB" if n is not None else "?"


def _count(n: int) -> str:
    for scale, unit in ((1e9, " B"), (1e6, " M")):
        if n >= scale:
            return f"{n / scale:,.2f}{unit}"
    return f"{n:,}"


def _gguf_rows(g: dict[str, Any] | None) -> list[tuple[str, str]]:
    """What a GGUF's metadata says: the quantisation of the table and head, the model."""
    if not g:
        return []
    quant = f"table {g['table_type']} ({_mb(g['table_bytes'])})"
    if g["head_type"]:
        quant += f", head {g['head_type']} ({_mb(g['head_bytes'])})"
    else:
        quant += ", no separate head (tied)"
    if g["file_type"]:
        quant += f"; file type {g['file_type']}"
    context = f"{g['context_length']:,}" if g["context_length"] else "?"
    model = (
        f"{g['architecture']}, {g['n_vocab']:,} tokens x {g['n_embd']:,}, context {context}"
        + (f", {g['block_count']} blocks" if g["block_count"] else "")
        + f"; {_count(g['n_params'])} parameters, {_mb(g['n_bytes'])} of tensors"
        + (f" in {g['shards']} files" if g["shards"] > 1 else "")
    )
    return [("quantisation", quant), ("gguf metadata", model)]


def _embedding_text(d: dict[str, Any]) -> str:
    """How looked-up rows become the first hidden state, where that is more than a lookup: a
    factorised table projected to the hidden width, a scale the forward pass applies."""
    parts = []
    for p in d.get("projections") or []:
        wide = p["from"] // max(1, d["dim"])
        concat = f" ({wide} neighbouring rows concatenated)" if wide > 1 else ""
        parts.append(f"factorised: {d['dim']:,} wide, projected to {p['to']:,} by "
                     f"{p['tensor']}{concat}")  # fmt: skip
    scale, width = d.get("embed_scale"), d.get("model_width")
    if scale:
        root = f" = sqrt({width:,})" if width and math.isclose(scale, math.sqrt(width)) else ""
        parts.append(f"the forward pass multiplies rows by {scale:.6g}{root} "
                     "(the table is stored unscaled)")  # fmt: skip
    return "; ".join(parts)


def _head_text(d: dict[str, Any]) -> str:
    if d.get("static"):
        return "none: a static-embedding model is its token table (sentences are row means)"
    if d.get("gguf"):
        how = "the file has no output.weight" if d["tied"] else "stored apart"
    else:
        how = d.get("tie_reason") or (
            "config" if d["tie_explicit"] else f"{d['model_type']} default"
        )
    if d["tied"]:
        return f"tied to this table ({how})"
    if d["table"] == "output":
        return f"this table: {d['tensor']} ({how})"
    if d["head_tensor"]:
        shape = d.get("head_shape")
        size = f", {shape[0]:,} x {shape[1]:,} {d.get('head_dtype')}" if shape else ""
        return f"separate: {d['head_tensor']}{size} ({how}; read it with --table output)"
    return f"untied ({how}), and the checkpoint has no output head"


def _tokenizer_text(d: dict[str, Any]) -> str:
    if d["tokenizer_size"] is None:
        if d["kind"] == "vectors":  # a word-vector file: its rows are named by their words
            return "none: a word is looked up by its row's name (ids work too: #123)"
        return "none (address rows by id: #123)"
    text = f"{d['tokenizer_size']:,} tokens, {d['special_tokens']} special"
    if d["padded_rows"]:
        text += (
            f"; the table has {d['padded_rows']:,} padded rows beyond it "
            "(normal: tables are padded for speed)"
        )
    return text


@dataclass
class Token:
    """One token of a tokenized text: position, row id, text, vocabulary piece, char span."""

    index: int
    id: int
    token: str
    piece: str
    start: int
    end: int
    special: bool

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "id": self.id, "token": self.token, "piece": self.piece,
                "start": self.start, "end": self.end, "special": self.special}  # fmt: skip


@dataclass
class Tokenized(Result):
    """A text split as the model splits it; iterate it for :class:`Token` items."""

    model: str
    text: str
    tokens: list[Token]

    def __iter__(self) -> Iterator[Token]:
        return iter(self.tokens)

    def __len__(self) -> int:
        return len(self.tokens)

    @property
    def ids(self) -> list[int]:
        return [t.id for t in self.tokens]

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "text": self.text, "tokens": [t.to_dict() for t in self]}

    def view(self) -> View:
        return View(
            ["#", "id", "token", "piece", "span"],
            [(t.index, t.id, t.token, t.piece, f"{t.start}-{t.end}") for t in self.tokens],
            caption=f"{len(self.tokens)} tokens, {self.model}",
            token_columns={"token"},
        )


def tokenize(table: EmbeddingTable, text: str, special: bool = False) -> Tokenized:
    """Split ``text`` as the model does (``special``: add its special tokens, like [CLS])."""
    pieces = table.encode(text, special=special)
    tokens = [
        Token(n, p.id, p.text, p.piece, p.start, p.end, p.id in table.special_ids)
        for n, p in enumerate(pieces)
    ]
    return Tokenized(table.label, text, tokens)
