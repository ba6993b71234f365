"""First-time work: read one table from a source and write a normalised cache entry.

It reads top to bottom: the source (already resolved) -> its container -> the table located by
name and shape -> the table's rows, block by block -> the entry's files and metadata. Only this
module (and what it calls) may import torch or transformers, and only for ``--allow-pickle``
checkpoints or slow-tokenizer conversion. Rows are read, converted and normalised in blocks, so
peak memory is about one float32 copy of the table no matter how large the rest of the
checkpoint is.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import fields
from pathlib import Path
from typing import Any

import numpy as np

from embcli.errors import EmbcliError
from embcli.read.container import Container, describe
from embcli.read.facts import ModelFacts, config_facts
from embcli.read.formats import open_container
from embcli.read.locate import head_by_name, locate_embedding
from embcli.read.probe import head_of
from embcli.read.ref import ModelRef, Progress, Sinks
from embcli.read.source import Source
from embcli.read.tokens import (
    display_piece,
    display_tokens,
    prepare_tokenizer,
    save_tokenizer,
    vocabulary_style,
    wordlike_mask,
)
from embcli.read.vocabulary import Vocabulary
from embcli.store.lookup import write_lookup, write_piece_lookup
from embcli.store.meta import TableMeta
from embcli.version import __version__


def write_table(
    source: Source, target: Path, ref: ModelRef, sinks: Sinks | None = None
) -> TableMeta:
    """Fill ``target`` with a cache entry for ``ref``'s table of ``source``; return its metadata.

    ``sinks.progress(done, total, unit)`` reports rows converted, or, when the table is streamed
    from the Hub, the source's own report of bytes received. ``ref.role`` ("input", "output" or
    "target") is recorded; for the head (and "target", a decoder's own table), ``ref.tensor``
    names it.
    """
    tensor, table = ref.tensor, ref.role
    notice, progress = (sinks.notice, sinks.progress) if sinks else (None, None)
    container = open_container(source, allow_pickle=ref.allow_pickle, notice=notice)
    facts = container.facts() or config_facts(source)
    names = container.names()
    name = locate_embedding(
        names,
        lambda n: container.info(n).shape,
        facts.table_rows,
        facts.hidden_candidates,
        explicit=tensor,
        model_type=facts.types,
    )
    info = container.info(name)
    rows, dim = info.shape
    # A target table of another vocabulary (FSMT) has no tokenizer of its own here.
    other_vocabulary = table == "target" and facts.family.target_vocab is not None
    vocab = Vocabulary([], style="none") if other_vocabulary else container.vocabulary()
    if vocab is not None and vocab.note and notice is not None:
        notice(vocab.note)
    tokenizer_size, tokens, special, style, unk_id = _write_tokens(source, vocab, target, rows)
    mask = wordlike_mask(tokens, style, set(special), tokenizer_size)
    np.save(target / "wordlike.npy", np.array(mask, dtype=bool))
    np.save(target / "variant_group.npy", variant_groups(tokens))

    streamed = source.file(info.file).path is None  # the byte source reports bytes itself
    # Blocks of ~16 M values: the float64 copies of a block are most of a build's own memory
    # (RssAnon), so on a 5,120-wide table 8,192-row blocks would cost ~1 GB.
    block = min(8192, max(256, (1 << 24) // max(1, dim)))
    blocks = container.rows(name, block)
    report = None if streamed else progress
    norms = _write_unit_rows(target, rows, dim, blocks, f"tensor {name!r}", report)
    (target / "tokens.json").write_text(json.dumps(tokens, ensure_ascii=False), encoding="utf-8")

    if table == "input":
        head, tied = _head(container, facts, name)
    else:  # the head (or a decoder's own table, FSMT's head): read because it is not tied
        head, tied = name, False
    # The head's shape only when its header is already read: no other shard is opened.
    head_info = container.info(head) if head and container.file_of(head) == info.file else None
    return TableMeta(
        model=source.label,
        kind=source.kind,
        identity=source.identity,
        revision=source.revision,
        table=table,
        tensor=name,
        tensor_option=tensor,
        shape=(rows, dim),
        source_dtype=info.dtype,
        checkpoint_format=container.format,
        checkpoint_file=info.file,
        model_type=facts.model_type,
        config_vocab_size=facts.vocab_size,
        config_hidden_size=facts.hidden_size,
        text_config=facts.text_path or None,
        tied=tied,
        tie_explicit=facts.tie_explicit,
        head_tensor=head,
        head_shape=head_info.shape if head_info else None,
        head_dtype=head_info.dtype if head_info else None,
        tokenizer_size=tokenizer_size,
        special_ids=tuple(special),
        tokenizer_style=style,
        unk_id=unk_id,
        zero_rows=int((norms == 0).sum()),
        created=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        embcli_version=__version__,
        embed_scale=facts.embed_scale,
        # Token types a container states (GGUF token_type 5 and 6): undertrained's reference.
        unused_ids=tuple(sorted(i for i in vocab.unused if i < rows)) if vocab else (),
        byte_ids=tuple(sorted(i for i in vocab.byte_tokens if i < rows)) if vocab else (),
        tie_reason=facts.tie_reason if tied == facts.tied else _STORED_APART,
        model_width=facts.model_width,
        projections=tuple(_projections(facts, names)) if dim == facts.hidden_size else (),
        # The format's own facts (a GGUF's summary, a static model's recipe), by section.
        **_sections(describe(container)),
    )


def _sections(described: dict[str, Any]) -> dict[str, Any]:
    """A container's sections as ``TableMeta`` arguments: a section ``TableMeta`` names (``gguf``,
    ``static``) is that field; any other is kept in ``extra`` and written to ``meta.json``
    under its name all the same."""
    known = {f.name for f in fields(TableMeta)} - {"extra"}
    extra = {k: v for k, v in described.items() if k not in known}
    return {**{k: v for k, v in described.items() if k in known}, "extra": extra}


def _projections(facts: ModelFacts, names: list[str]) -> list[dict[str, Any]]:
    """The factorised table's projections, each named as the checkpoint names it."""
    out = []
    for p in facts.projections:
        found = [n for n in names if n.endswith(f".{p['tensor']}.weight")]
        out.append({**p, "tensor": min(found, key=len).removesuffix(".weight") if found
                    else p["tensor"]})  # fmt: skip
    return out


_STORED_APART = "config, but the checkpoint stores a head of its own, so it is not tied"


def _head(container: Container, facts: ModelFacts, table: str) -> tuple[str | None, bool]:
    """The head's name and whether it is tied, opening no other shard unless needed: only a
    decoder's own table (the head of FSMT, T5Gemma) or a head stored although the config ties
    it (whose first rows then decide) is located by its header."""
    names = container.names()
    if facts.family.target or (facts.tied and head_by_name(names, facts.types)):
        return head_of(container, facts, table)
    return (None if facts.tied else head_by_name(names, facts.types)), facts.tied


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
        if not (n < np.finfo(np.float32).max).all():
            bad = lo + int(np.argmax(n >= np.finfo(np.float32).max))
            raise EmbcliError(f"{what}: row {bad} is longer than float32 can hold ({n.max():.3g})")
        vectors[lo:hi] = wide / np.where(n > 0, n, 1.0)[:, None]
        norms[lo:hi] = n
        if progress:
            progress(hi, rows, "rows")
    vectors.flush()
    del vectors
    np.save(target / "norms.npy", norms)
    return norms


def _write_tokens(
    source: Source, vocab: Vocabulary | None, target: Path, rows: int
) -> tuple[int | None, list[str], list[int], str, int | None]:
    """Save the tokenizer; return its size, display strings, special ids, style, unknown id.

    The tokenizer comes from the source's small files, or from the container's vocabulary; a
    vocabulary no tokenizer reproduces (word-vector words) gives the strings and nothing else.
    """
    saved = target / "tokenizer.json"
    if vocab is None:
        if not prepare_tokenizer(source.small_file, saved):
            return None, [f"<row {i}>" for i in range(rows)], [], "none", None
    elif vocab.tokenizer is not None:
        save_tokenizer(vocab.tokenizer, saved)
    else:
        tokens = [display_piece(p, vocab.style) for p in vocab.pieces[:rows]]
        tokens += [f"<row {i}>" for i in range(len(tokens), rows)]
        size = None if vocab.style == "words" or not vocab.pieces else len(vocab.pieces)
        if vocab.style != "words" and vocab.pieces:  # pieces without a tokenizer: as spelled
            write_piece_lookup(target, vocab.pieces, rows)
        return size, tokens, sorted(i for i in vocab.special if i < rows), vocab.style, None
    spec = json.loads(saved.read_text(encoding="utf-8"))
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(saved))
    vocab_ids = tok.get_vocab(with_added_tokens=True)
    marked = {t["id"] for t in spec.get("added_tokens", []) if t.get("special")}
    special = sorted(i for i in marked | (vocab.special if vocab else set()) if i < rows)
    size = max(vocab_ids.values()) + 1 if vocab_ids else 0
    unk = (spec.get("model") or {}).get("unk_token")
    unk_id = vocab_ids.get(unk) if isinstance(unk, str) else None
    style = vocabulary_style(spec)
    tokens = display_tokens(spec, vocab_ids, rows)
    # What single-token lookups need, so a warm query never has to load the tokenizer.
    write_lookup(target, tok, vocab_ids, tokens, style, set(special), unk_id, rows)
    return size, tokens, special, style, unk_id
