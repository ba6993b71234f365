"""``embcli info`` and ``embcli tokenize``: what a table is, and how text becomes its rows."""

from __future__ import annotations

from typing import Annotated

import typer

from embcli.cli.common import ask_models, table_of
from embcli.cli.options import MANY_OPTIONS, TABLE_OPTIONS, Settings, command
from embcli.cli.output import emit


def register(app: typer.Typer) -> None:
    app.command("info")(info)
    app.command("tokenize")(tokenize)


@command(*TABLE_OPTIONS, "format", *MANY_OPTIONS)
def info(
    settings: Settings,
) -> None:
    """Show where a model's embedding table comes from, its shape and dtype, and its cache.

    Several models (-m repeated, --models FILE): one row each.
    """
    if settings.many():
        return ask_models(settings, "info")
    result = table_of(settings).info()
    emit(settings.format, result.to_dict(), result.view())


@command(*TABLE_OPTIONS, "format")
def tokenize(
    settings: Settings,
    text: Annotated[str, typer.Argument(help="Text to tokenize ('-' reads stdin).")],
    special: Annotated[
        bool, typer.Option("--special", help="Add the model's special tokens ([CLS], <s>...).")
    ] = False,
) -> None:
    """Split text into tokens as the model does, with ids; spaces shown as ␣."""
    if text == "-":
        from embcli.api.inputs import read_text

        text = read_text("-")
    result = table_of(settings).tokenize(text, special=special)
    emit(settings.format, result.to_dict(), result.view())
