"""``embcli size``: what an embedding table costs, from configs alone (no weights)."""

from __future__ import annotations

from enum import Enum
from typing import Annotated

import typer

from embcli.api.sizes import catalog
from embcli.api.sizes import size as size_of
from embcli.cli.common import notice
from embcli.cli.options import Format, Settings, command
from embcli.cli.output import emit, resolve_format


class Units(str, Enum):
    MB = "MB"
    MiB = "MiB"


def register(app: typer.Typer) -> None:
    app.command("size")(size)


@command("format", "file", "quant")
def size(
    settings: Settings,
    models: Annotated[
        list[str] | None,
        typer.Argument(
            help="Hub ids, local model dirs, config.json paths, GGUF files, ollama:NAME or "
            "catalog names."
        ),
    ] = None,
    vocab: Annotated[
        int | None, typer.Option("--vocab", help="What-if: rows.", show_default=False)
    ] = None,
    dim: Annotated[
        int | None, typer.Option("--dim", help="What-if: columns.", show_default=False)
    ] = None,
    dtype: Annotated[
        str, typer.Option("--dtype", help="The dtype of the comparison column.")
    ] = "float16",
    untied: Annotated[
        bool, typer.Option("--untied", help="What-if: the output head is a second table.")
    ] = False,
    units: Annotated[
        Units, typer.Option("--units", help="MB = 10^6 bytes, MiB = 2^20 bytes.")
    ] = Units.MB,
    offline: Annotated[
        bool, typer.Option("--offline", help="Use only local files and the built-in catalog.")
    ] = False,
    list_catalog: Annotated[
        bool, typer.Option("--list", help="List the built-in catalog and exit.")
    ] = False,
) -> None:
    """Vocabulary, dimension and memory of embedding tables, from the config alone.

    Examples: embcli size gpt2 mistral-7b meta-llama/Llama-3.1-8B;
    embcli size --vocab 256000 --dim 8192 --dtype bf16
    """
    if list_catalog:
        listing = catalog(dtype)
        emit(settings.format, listing.to_dict(), listing.view())
        return
    report = size_of(*(models or []), vocab=vocab, dim=dim, dtype=dtype, untied=untied,
                     units=units.value, offline=offline, notice=notice, file=settings.file,
                     quant=settings.quant)  # fmt: skip
    chosen = resolve_format(settings.format)
    if chosen is Format.table and len(report) == 1:
        emit(settings.format, report.records, report.view())
    else:
        emit(settings.format, report.to_dict(), report.comparison(exact=chosen is Format.tsv))
