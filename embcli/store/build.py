"""First-time work: read one table from a checkpoint and write a normalised cache entry.

Only this module (and what it calls) may import torch or transformers, and only for PyTorch
pickles or slow-tokenizer conversion. Rows are read, converted and normalised in chunks, so peak
memory is about one float32 copy of the table no matter how large the rest of the checkpoint is.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from embcli import __version__
from embcli.errors import EmbcliError
from embcli.read.checkpoint import open_source_checkpoint
from embcli.read.locate import locate_embedding, locate_head
from embcli.read.modelconfig import ModelConfig
from embcli.read.sources import Source
from embcli.read.tokens import display_tokens, prepare_tokenizer, vocabulary_style, wordlike_mask
from embcli.store.lookup import write_lookup

Progress = Callable[[int, int, str], None]  # (done, total, "rows" or "bytes")
HEAD_NAMES = ("lm_head.weight", "embed_out.weight", "output.weight")


def write_table(
    source: Source,
    target: Path,
    tensor: str | None = None,
    allow_pickle: bool = False,
    progress: Progress | None = None,
    notice: Callable[[str], None] | None = None,
    table: str = "input",
) -> dict[str, Any]:
    """Fill ``target`` with a cache entry for ``source``; return its metadata.

    ``progress(done, total, unit)`` reports rows converted (local) or bytes received (Hub).
    ``table`` ("input" or "output") is recorded; for the head, ``tensor`` names it.
    """
    if source.kind == "vectors":
        return write_vectors(source, target, progress)
    config = ModelConfig.load(source.fetch("config.json"))
    ckpt = open_source_checkpoint(source, allow_pickle, progress, notice)
    names = ckpt.names()
    name = locate_embedding(
        names, ckpt.shape, config.vocab_size, config.hidden_candidates, explicit=tensor
    )
    rows, dim = ckpt.shape(name)
    tokenizer_size, tokens, special, style, unk_id = _write_tokens(source.directory, target, rows)
    mask = wordlike_mask(tokens, style, set(special), tokenizer_size)
    np.save(target / "wordlike.npy", np.array(mask, dtype=bool))
    np.save(target / "variant_group.npy", variant_groups(tokens))

    report = progress if progress and ckpt.remote is None else None
    # Blocks of ~16 M values: the float64 copies of a block are most of a build's own memory
    # (RssAnon), so on a 5,120-wide table 8,192-row blocks would cost ~1 GB.
    block = min(8192, max(256, (1 << 24) // max(1, dim)))
    blocks = ckpt.iter_rows(name, block)
    norms = _write_unit_rows(target, rows, dim, blocks, f"tensor {name!r}", report)
    (target / "tokens.json").write_text(json.dumps(tokens, ensure_ascii=False), encoding="utf-8")

    head = next((h for h in names if any(h == n or h.endswith("." + n) for n in HEAD_NAMES)), None)
    # The head's shape only when its header is already read: no other shard is opened.
    known = head is not None and ckpt.file_of(head) == ckpt.file_of(name)
    return {
        "table": table,
        "head_shape": list(ckpt.shape(head)) if known else None,
        "head_dtype": ckpt.dtype(head) if known else None,
        "model": source.label,
        "kind": source.kind,
        "identity": source.identity,
        "revision": source.revision,
        "tensor": name,
        "tensor_option": tensor,
        "shape": [rows, dim],
        "source_dtype": ckpt.dtype(name),
        "checkpoint_format": ckpt.format,
        "checkpoint_file": ckpt.file_of(name).name,
        "model_type": config.model_type,
        "config_vocab_size": config.vocab_size,
        "config_hidden_size": config.hidden_size,
        "text_config": config.text_path or None,
        "tied": config.tie_word_embeddings,
        "tie_explicit": config.tie_is_explicit,
        "head_tensor": head,
        "tokenizer_size": tokenizer_size,
        "special_ids": special,
        "tokenizer_style": style,
        "unk_id": unk_id,
        "zero_rows": int((norms == 0).sum()),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "embcli_version": __version__,
    }


def probe_head(
    source: Source, allow_pickle: bool = False, notice: Callable[[str], None] | None = None
) -> tuple[str | None, bool]:
    """``(output-head tensor name or None, tied)`` from the config and checkpoint headers only.

    Lets ``--table output`` decide, without reading any weights, whether the head is a table of
    its own (to be read like the input table) or the input table itself.
    """
    if source.kind == "vectors":
        raise EmbcliError(f"{source.label} is a word-vector file: it has no output head")
    config = ModelConfig.load(source.fetch("config.json"))
    ckpt = open_source_checkpoint(source, allow_pickle, None, notice)
    head = locate_head(ckpt.names(), ckpt.shape, config.vocab_size, config.hidden_candidates)
    return head, config.tie_word_embeddings


def variant_groups(tokens: list[str]) -> np.ndarray:
    """A group id per row; rows spelling one word up to case and surrounding space share it.

    Computed once here so that a query finds " Paris", "Paris" and " paris" with one vectorised
    comparison instead of indexing the whole vocabulary on every call.
    """
    ids: dict[str, int] = {}
    return np.array([ids.setdefault(t.strip().casefold(), len(ids)) for t in tokens], np.int32)


def _write_unit_rows(
    target: Path,
    rows: int,
    dim: int,
    blocks: Iterator[tuple[int, np.ndarray]],
    what: str,
    progress: Progress | None,
) -> np.ndarray:
    """Write ``vectors.npy`` (unit rows) and ``norms.npy`` from blocks of raw rows; return norms.

    Norms and division are done in float64 so the stored unit vectors are the float32 rounding
    of the exact ones.
    """
    vectors = np.lib.format.open_memmap(
        target / "vectors.npy", mode="w+", dtype=np.float32, shape=(rows, dim)
    )
    norms = np.empty(rows, dtype=np.float32)
    for lo, block in blocks:
        hi = lo + block.shape[0]
        wide = block.astype(np.float64)
        if not np.isfinite(wide).all():
            bad = lo + int(np.argwhere(~np.isfinite(wide))[0][0])
            raise EmbcliError(f"{what} holds a non-finite value in row {bad}")
        n = np.sqrt(np.einsum("ij,ij->i", wide, wide))
        vectors[lo:hi] = wide / np.where(n > 0, n, 1.0)[:, None]
        norms[lo:hi] = n
        if progress:
            progress(hi, rows, "rows")
    vectors.flush()
    del vectors
    np.save(target / "norms.npy", norms)
    return norms


def write_vectors(source: Source, target: Path, progress: Progress | None) -> dict[str, Any]:
    """A cache entry for a word-vector file: its words are the vocabulary, no tokenizer."""
    from embcli.read.wordvectors import read_vectors

    path = Path(source.label)
    words, blocks, rows, dim, fmt = read_vectors(path, progress)
    norms = _write_unit_rows(target, rows, dim, blocks, path.name, None)
    (target / "tokens.json").write_text(json.dumps(words, ensure_ascii=False), encoding="utf-8")
    np.save(target / "wordlike.npy", np.ones(rows, dtype=bool))
    np.save(target / "variant_group.npy", variant_groups(words))
    return {
        "model": source.label,
        "kind": "vectors",
        "identity": source.identity,
        "revision": None,
        "tensor": fmt,
        "tensor_option": None,
        "shape": [rows, dim],
        "source_dtype": "text" if "text" in fmt else "F32",
        "checkpoint_format": fmt,
        "checkpoint_file": path.name,
        "model_type": "word-vectors",
        "config_vocab_size": rows,
        "config_hidden_size": dim,
        "text_config": None,
        "tied": False,
        "tie_explicit": False,
        "head_tensor": None,
        "tokenizer_size": None,
        "special_ids": [],
        "tokenizer_style": "words",
        "unk_id": None,
        "zero_rows": int((norms == 0).sum()),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "embcli_version": __version__,
    }


def _write_tokens(
    model_dir: Path, target: Path, rows: int
) -> tuple[int | None, list[str], list[int], str, int | None]:
    """Save the tokenizer; return its size, display strings, special ids, style, unknown id."""
    if not prepare_tokenizer(model_dir, target / "tokenizer.json"):
        return None, [f"<row {i}>" for i in range(rows)], [], "none", None
    spec = json.loads((target / "tokenizer.json").read_text(encoding="utf-8"))
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(target / "tokenizer.json"))
    vocab = tok.get_vocab(with_added_tokens=True)
    special = sorted(t["id"] for t in spec.get("added_tokens", []) if t.get("special"))
    size = max(vocab.values()) + 1 if vocab else 0
    unk = (spec.get("model") or {}).get("unk_token")
    unk_id = vocab.get(unk) if isinstance(unk, str) else None
    style = vocabulary_style(spec)
    tokens = display_tokens(spec, vocab, rows)
    special = [i for i in special if i < rows]
    # What single-token lookups need, so a warm query never has to load the tokenizer.
    write_lookup(target, tok, vocab, tokens, style, set(special), unk_id, rows)
    return size, tokens, special, style, unk_id
