"""Rows of a table for other tools: word2vec text/binary, ``.npy`` + tokens, TensorBoard Projector.

What is written is the table as the checkpoint holds it (raw float32 vectors, ``unit * norm``),
for the word-like rows (whole word-initial tokens, in id order), a word list, or the first
``limit`` of either. Every file is written to a temporary name beside its target and renamed
into place, so a reader never sees half a file; a pair of files is renamed together at the end.

Names in word2vec files. The format separates a word from its numbers by a space, so a token
with a space cannot be written as it is. A row is named by its token with the surrounding
whitespace stripped (GPT-2's ``" Paris"`` -> ``Paris``, WordPiece's ``paris`` as it is). When
that is empty, holds whitespace inside, or was already taken by an earlier row, the row is
named by its vocabulary piece as the tokenizer spells it (``ĠParis``, ``▁Paris``), and if that
fails too, by ``#<id>``, which is how embcli addresses a row. Every name is unique.

Projector files. ``vectors.tsv`` holds tab-separated numbers, one row per line; ``metadata.tsv``
one label per line, no header (the Projector's one-column form). Labels are the tokens as
embcli's tables show them: a space as ``␣``, tab/newline/CR as ``\\t``/``\\n``/``\\r``, a
backslash doubled, so no label breaks a line or a column and none is blank.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from embcli.ask.words import rows_of_words
from embcli.atomic import atomic_write_all
from embcli.errors import EmbcliError, UsageProblem
from embcli.read.tokens import visible
from embcli.store.table import EmbeddingTable
from embcli.view import Result, View

FORMATS = ("word2vec", "word2vec-binary", "npy", "projector")
SUFFIXES = {".txt": "word2vec", ".vec": "word2vec", ".bin": "word2vec-binary", ".npy": "npy",
            ".tsv": "projector"}  # fmt: skip
BLOCK = 4096  # rows per block read from the memory-mapped cache


@dataclass
class Export(Result):
    """What ``export`` wrote: the files, the format, how many rows and which words were missing."""

    model: str
    format: str
    rows: int
    dim: int
    paths: list[str]
    missing: list[str] = field(default_factory=list)
    renamed: int = 0  # rows whose word2vec name is not their stripped token

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "format": self.format, "rows": self.rows, "dim": self.dim,
                "paths": self.paths, "missing": self.missing, "renamed": self.renamed}  # fmt: skip

    def view(self) -> View:
        rows = [
            ("model", self.model),
            ("format", self.format),
            ("rows", f"{self.rows:,} x {self.dim:,}"),
            *(("file", p) for p in self.paths),
        ]
        if self.renamed:
            rows.append(("renamed", f"{self.renamed:,} rows named by piece or #id"))
        if self.missing:
            n = len(self.missing)
            rows.append(("not in the table", f"{n:,} word{'s' if n != 1 else ''}"))
        return View(["field", "value"], rows, key_value=True)


def format_of(path: Path, format: str | None) -> str:
    """The format asked for, else the one the suffix implies (no suffix: Projector directory)."""
    if format is not None:
        if format not in FORMATS:
            raise UsageProblem(f"unknown export format {format!r}: {', '.join(FORMATS)}")
        return format
    if path.suffix.lower() in SUFFIXES:
        return SUFFIXES[path.suffix.lower()]
    if path.suffix == "" or path.is_dir():
        return "projector"
    raise UsageProblem(
        f"cannot tell the format of {path.name}",
        ".txt/.vec word2vec, .bin binary, .npy, .tsv or a directory for the Projector; "
        "or name the format: --to (format= in Python)",
    )


def targets(path: Path, fmt: str) -> list[Path]:
    """The files an export of ``fmt`` to ``path`` writes, so they can be checked before work.

    Projector: ``DIR/vectors.tsv`` + ``DIR/metadata.tsv`` for a directory (created if need be);
    for ``x.tsv``, ``x.tsv`` + ``x.metadata.tsv`` beside it (``vectors.tsv`` +
    ``metadata.tsv`` when the file is named ``vectors.tsv``). ``.npy``: the array and
    ``.tokens.json`` beside it.
    """
    if fmt == "npy":
        return [path, path.with_name(path.name.removesuffix(".npy") + ".tokens.json")]
    if fmt != "projector":
        return [path]
    if path.suffix.lower() != ".tsv":
        return [path / "vectors.tsv", path / "metadata.tsv"]
    if path.name.lower() == "vectors.tsv":
        return [path, path.with_name("metadata.tsv")]
    return [path, path.with_name(path.stem + ".metadata.tsv")]


def select_rows(
    table: EmbeddingTable, words: Sequence[str] | None = None, limit: int | None = None
) -> tuple[np.ndarray, list[str]]:
    """Row ids to export (word-like rows, or ``words`` resolved), and the words not found."""
    missing: list[str] = []
    if words is None:
        ids = np.flatnonzero(np.asarray(table.wordlike, dtype=bool))
    else:
        ids, missing = rows_of_words(table, words)
    if limit is not None:
        ids = ids[:limit]
    if len(ids) == 0:
        raise EmbcliError("no rows to export" + (" (no word was in the table)" if words else ""))
    return ids, missing


def word2vec_names(table: EmbeddingTable, ids: np.ndarray) -> tuple[list[str], int]:
    """A unique, space-free name for each row (see the module docstring), and how many are not
    the stripped token."""
    names: list[str] = []
    taken: set[str] = set()
    renamed = 0
    for i in ids.tolist():
        token = table.tokens[i]
        name = token.strip()
        if not _usable(name, taken):
            name = _piece(table, i)
            if not _usable(name, taken):
                name = f"#{i}"
            renamed += 1
        taken.add(name)
        names.append(name)
    return names, renamed


def _usable(name: str | None, taken: set[str]) -> bool:
    return bool(name) and not any(ch.isspace() for ch in name) and name not in taken  # type: ignore[union-attr]


def _piece(table: EmbeddingTable, i: int) -> str | None:
    tok = table.tokenizer if table.style != "words" else None
    return None if tok is None else tok.id_to_token(i)


def projector_label(token: str) -> str:
    """A token as one Projector metadata cell: no tab, no line break, never blank."""
    return visible(token.replace("\\", "\\\\"))


def export_rows(
    table: EmbeddingTable,
    path: Path,
    *,
    format: str | None = None,
    words: Sequence[str] | None = None,
    limit: int | None = None,
    notice: Callable[[str], None] | None = None,
) -> Export:
    """Write the chosen rows of ``table`` to ``path`` in ``format`` (see the module docstring).

    ``notice`` hears about temporary files an interrupted export left behind, removed first.
    """
    fmt = format_of(path, format)
    if limit is not None and limit < 1:
        raise UsageProblem(f"limit must be at least 1, not {limit}", param="limit")
    ids, missing = select_rows(table, words, limit)
    dim = table.shape[1]
    renamed = 0
    if fmt in ("word2vec", "word2vec-binary"):
        names, renamed = word2vec_names(table, ids)
        writer = _word2vec_text if fmt == "word2vec" else _word2vec_binary
        paths = _atomic({path: lambda fh: writer(fh, table, ids, names)}, notice)
    elif fmt == "npy":
        array_path, tokens_path = targets(path, fmt)
        records = [{"id": i, "token": table.tokens[i]} for i in ids.tolist()]
        paths = _atomic({
            array_path: lambda fh: np.save(fh, _raw_rows(table, ids)),
            tokens_path: lambda fh: fh.write(json.dumps(records, ensure_ascii=False).encode()),
        }, notice)  # fmt: skip
    else:
        vectors_path, labels_path = targets(path, fmt)
        vectors_path.parent.mkdir(parents=True, exist_ok=True)
        labels = "".join(projector_label(table.tokens[i]) + "\n" for i in ids.tolist())
        paths = _atomic({
            vectors_path: lambda fh: _projector_vectors(fh, table, ids),
            labels_path: lambda fh: fh.write(labels.encode("utf-8")),
        }, notice)  # fmt: skip
    return Export(table.label, fmt, len(ids), dim, [str(p) for p in paths], missing, renamed)


def _raw_rows(table: EmbeddingTable, ids: np.ndarray) -> np.ndarray:
    out = np.empty((len(ids), table.shape[1]), dtype=np.float32)
    for lo in range(0, len(ids), BLOCK):
        out[lo : lo + BLOCK] = table.raw(ids[lo : lo + BLOCK])
    return out


def _blocks(table: EmbeddingTable, ids: np.ndarray) -> Any:
    for lo in range(0, len(ids), BLOCK):
        yield lo, np.asarray(table.raw(ids[lo : lo + BLOCK]), dtype=np.float32)


def _word2vec_text(fh: Any, table: EmbeddingTable, ids: np.ndarray, names: list[str]) -> None:
    """word2vec's text format; ``%.9g`` gives every float32 back exactly."""
    fh.write(f"{len(ids)} {table.shape[1]}\n".encode())
    for lo, block in _blocks(table, ids):
        lines = [
            names[lo + r] + " " + " ".join(f"{v:.9g}" for v in row.tolist()) + "\n"
            for r, row in enumerate(block)
        ]
        fh.write("".join(lines).encode("utf-8"))


def _word2vec_binary(fh: Any, table: EmbeddingTable, ids: np.ndarray, names: list[str]) -> None:
    """word2vec's binary format as gensim writes it: ``name``, a space, little-endian float32."""
    fh.write(f"{len(ids)} {table.shape[1]}\n".encode())
    for lo, block in _blocks(table, ids):
        for r, row in enumerate(block.astype("<f4")):
            fh.write(names[lo + r].encode("utf-8") + b" " + row.tobytes())


def _projector_vectors(fh: Any, table: EmbeddingTable, ids: np.ndarray) -> None:
    for _, block in _blocks(table, ids):
        text = "".join("\t".join(f"{v:.9g}" for v in row.tolist()) + "\n" for row in block)
        fh.write(text.encode())


def _atomic(writers: dict[Path, Any], notice: Callable[[str], None] | None) -> list[Path]:
    """Write every file through ``write(fh)`` to a temporary name, then rename them all."""

    def opened(write: Any) -> Callable[[Path], None]:
        def fill(tmp: Path) -> None:
            with tmp.open("wb") as fh:
                write(fh)

        return fill

    try:
        return atomic_write_all(
            {target: opened(write) for target, write in writers.items()}, notice
        )
    except OSError as exc:
        raise EmbcliError(f"cannot write {exc.filename or ''}: {exc.strerror or exc}") from None
