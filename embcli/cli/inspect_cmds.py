"""``embcli info`` and ``embcli tokenize``: what a table is, and how text becomes its rows."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from embcli.cli.common import load
from embcli.cli.options import Settings, with_settings
from embcli.cli.output import View, emit
from embcli.read.tokens import visible
from embcli.store.table import EmbeddingTable

SAMPLE_TOKENS = 8


def register(app: typer.Typer) -> None:
    app.command("info")(info)
    app.command("tokenize")(tokenize)


@with_settings()
def info(
    settings: Settings,
) -> None:
    """Show where a model's embedding table comes from, its shape and dtype, and its cache."""
    table = load(settings)
    data = describe_table(table)
    rows = [
        ("model", data["model"]),
        ("source", f"{data['kind']} ({data['revision'] or data['identity'][:12]})"),
        ("tensor", data["tensor"]),
        ("shape", f"{data['rows']:,} x {data['dim']:,}"),
        ("dtype", data["source_dtype"]),
        (
            "model type",
            data["model_type"] + (f" (in {data['text_config']})" if data["text_config"] else ""),
        ),
        ("output head", _head_text(data)),
        ("tokenizer", _tokenizer_text(data)),
        ("zero rows", f"{data['zero_rows']:,}"),
        ("cache", f"{data['cache_path']} ({data['cache_bytes'] / 1e6:,.1f} MB)"),
        ("sample", "  ".join(f"{i}:{visible(t)}" for i, t in data["sample_tokens"])),
    ]
    emit(settings.format, data, View(["field", "value"], rows, key_value=True))


def describe_table(table: EmbeddingTable) -> dict[str, Any]:
    """The facts ``info`` reports, as a JSON-ready dict (its keys are the JSON interface)."""
    meta = table.meta
    rows, dim = table.shape
    step = max(1, (table.tokenizer_size or rows) // SAMPLE_TOKENS)
    sample_ids = list(range(0, min(rows, table.tokenizer_size or rows), step))[:SAMPLE_TOKENS]
    return {
        "model": table.label,
        "kind": meta["kind"],
        "revision": meta.get("revision"),
        "identity": meta["identity"],
        "tensor": meta["tensor"],
        "rows": rows,
        "dim": dim,
        "source_dtype": meta["source_dtype"],
        "checkpoint_file": meta["checkpoint_file"],
        "model_type": meta["model_type"],
        "text_config": meta.get("text_config"),
        "config_vocab_size": meta["config_vocab_size"],
        "tokenizer_size": table.tokenizer_size,
        "padded_rows": table.padded_rows,
        "special_tokens": len(table.special_ids),
        "tied": meta["tied"],
        "tie_explicit": meta["tie_explicit"],
        "head_tensor": meta.get("head_tensor"),
        "zero_rows": meta["zero_rows"],
        "cache_path": str(table.path),
        "cache_bytes": table.size_on_disk(),
        "sample_tokens": [[i, table.tokens[i]] for i in sample_ids],
    }


def _head_text(d: dict[str, Any]) -> str:
    how = "config" if d["tie_explicit"] else f"{d['model_type']} default"
    if d["tied"]:
        return f"tied to this table ({how})"
    if d["head_tensor"]:
        return f"separate: {d['head_tensor']} ({how})"
    return f"untied ({how}), and the checkpoint has no output head"


def _tokenizer_text(d: dict[str, Any]) -> str:
    if d["tokenizer_size"] is None:
        return "none (address rows by id: #123)"
    text = f"{d['tokenizer_size']:,} tokens, {d['special_tokens']} special"
    if d["padded_rows"]:
        text += (
            f"; the table has {d['padded_rows']:,} padded rows beyond it "
            "(normal: tables are padded for speed)"
        )
    return text


@with_settings()
def tokenize(
    settings: Settings,
    text: Annotated[str, typer.Argument(help="Text to tokenize ('-' reads stdin).")],
    special: Annotated[
        bool, typer.Option("--special", help="Add the model's special tokens ([CLS], <s>...).")
    ] = False,
) -> None:
    """Split text into tokens as the model does, with ids; spaces shown as ␣."""
    import sys

    if text == "-":
        text = sys.stdin.read()
    table = load(settings)
    pieces = table.encode(text, special=special)
    records = [
        {
            "index": n,
            "id": p.id,
            "token": p.text,
            "piece": p.piece,
            "start": p.start,
            "end": p.end,
            "special": p.id in table.special_ids,
        }
        for n, p in enumerate(pieces)
    ]
    view = View(
        ["#", "id", "token", "piece", "span"],
        [
            (r["index"], r["id"], r["token"], r["piece"], f"{r['start']}-{r['end']}")
            for r in records
        ],
        caption=f"{len(records)} tokens, {table.label}",
        token_columns={"token"},
    )
    emit(settings.format, {"model": table.label, "text": text, "tokens": records}, view)
