"""``embcli export``: rows of a table as word2vec text/binary, ``.npy`` + tokens, Projector TSV."""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from embcli.cli.common import load, read_lines
from embcli.cli.options import Settings, with_settings
from embcli.cli.output import emit


class ExportFormat(str, Enum):
    word2vec = "word2vec"
    word2vec_binary = "word2vec-binary"
    npy = "npy"
    projector = "projector"


def register(app: typer.Typer) -> None:
    app.command("export")(export)


@with_settings()
def export(
    settings: Settings,
    output: Annotated[
        Path,
        typer.Argument(
            help="Target: .txt/.vec (word2vec text), .bin (binary), .npy (+ .tokens.json), "
            "or a directory (Projector vectors.tsv + metadata.tsv)."
        ),
    ],
    to: Annotated[
        ExportFormat | None,
        typer.Option("--to", help="Format, when the target's suffix does not say it."),
    ] = None,
    words: Annotated[
        str | None,
        typer.Option("--words", metavar="FILE", help="Export these words (one per line; '-')."),
    ] = None,
    limit: Annotated[
        int | None, typer.Option("--limit", min=1, help="Only the first N rows.")
    ] = None,
) -> None:
    """Write rows for gensim, numpy or the TensorBoard Projector (word-like tokens by default).

    word2vec names: the token without its surrounding space (GPT-2 " Paris" -> Paris); a row
    whose stripped token is empty, has inner whitespace or repeats an earlier name is named by
    its vocabulary piece (ĠParis), else by #id.
    """
    from embcli.ask.export import export_rows

    wanted = [ln.strip() for _, ln in read_lines(words)] if words is not None else None
    table = load(settings)
    result = export_rows(table, output, format=to.value if to else None, words=wanted, limit=limit)
    if result.missing:
        shown = ", ".join(result.missing[:10]) + (", ..." if len(result.missing) > 10 else "")
        print(
            f"embcli: left out {len(result.missing)} word(s) not in the table: {shown}",
            file=sys.stderr,
        )
    emit(settings.format, result.to_dict(), result.view())
