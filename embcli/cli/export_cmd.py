"""``embcli export``: rows of a table as word2vec text/binary, ``.npy`` + tokens, Projector TSV."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from embcli.api.inputs import word_list
from embcli.cli.common import table_of
from embcli.cli.options import TABLE_OPTIONS, Settings, command
from embcli.cli.output import emit


class ExportFormat(str, Enum):
    word2vec = "word2vec"
    word2vec_binary = "word2vec-binary"
    npy = "npy"
    projector = "projector"


def register(app: typer.Typer) -> None:
    app.command("export")(export)


@command(*TABLE_OPTIONS, "format")
def export(
    settings: Settings,
    output: Annotated[
        Path,
        typer.Argument(
            help="Target: .txt/.vec (word2vec text), .bin (binary), .npy (+ .tokens.json), "
            "or for the Projector a directory (vectors.tsv + metadata.tsv) or x.tsv "
            "(+ x.metadata.tsv)."
        ),
    ],
    to: Annotated[
        ExportFormat | None,
        typer.Option("--to", help="Format, when the target's suffix does not say it."),
    ] = None,
    words: Annotated[
        str | None,
        typer.Option(
            "--words",
            metavar="WORDS|FILE",
            help="Export these words: a comma list (paris,london) or a FILE (one per line; "
            "'-': stdin).",
            show_default=False,
        ),
    ] = None,
    limit: Annotated[
        int | None, typer.Option("--limit", help="Only the first N rows.", show_default=False)
    ] = None,
) -> None:
    """Write rows for gensim, numpy or the TensorBoard Projector (word-like tokens by default).

    word2vec names: the token without its surrounding space (GPT-2 " Paris" -> Paris); a row
    whose stripped token is empty, has inner whitespace or repeats an earlier name is named by
    its vocabulary piece (ĠParis), else by #id.
    """
    settings.will_write(output)
    result = table_of(settings).export(
        output,
        format=to.value if to else None,
        words=word_list(words, "--words") if words is not None else None,
        limit=limit,
    )
    emit(settings.format, result.to_dict(), result.view())
