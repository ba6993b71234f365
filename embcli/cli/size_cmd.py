"""``embcli size``: what an embedding table costs, from configs alone (no weights)."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from embcli.api.sizes import catalog
from embcli.api.sizes import size as size_of
from embcli.cli.common import notice
from embcli.cli.options import MANY_OPTIONS, Format, Settings, command
from embcli.cli.output import emit, resolve_format
from embcli.errors import UsageProblem


class Units(str, Enum):
    MB = "MB"
    MiB = "MiB"


def register(app: typer.Typer) -> None:
    app.command("size")(size)


@command("format", "file", "quant", "model", *MANY_OPTIONS)
def size(
    settings: Settings,
    given: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="[MODELS]...",
            help="Hub ids, local model dirs, config.json paths, GGUF files, ollama:NAME or "
            "catalog names.",
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
    plot: Annotated[
        Path | None,
        typer.Option(
            "--plot",
            metavar="FILE",
            help="With several models: draw each table's memory at each dtype, as bars "
            "(.png/.svg/.pdf).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Vocabulary, dimension and memory of embedding tables, from the config alone.

    Examples: embcli size gpt2 mistral-7b meta-llama/Llama-3.1-8B;
    embcli size --vocab 256000 --dim 8192 --dtype bf16. With -m (repeated) or --models FILE,
    each model is asked on its own: one that fails is named and the others answer (exit 4).
    """
    if list_catalog:
        listing = catalog(dtype)
        emit(settings.format, listing.to_dict(), listing.view())
        return
    named, models = settings.named, given
    if named and models:
        raise UsageProblem("name the models as arguments or with -m/--models, not both")
    if settings.many(fleet=plot is not None) or plot is not None:
        from embcli.api.fleet_plot import check_plot
        from embcli.api.fleet_size import size_many
        from embcli.cli.common import say_many
        from embcli.cli.progress import fleet_progress

        out = check_plot("size", plot) if plot is not None else None
        specs = named or models or []
        if len(specs) < 2 and not settings.many():
            raise UsageProblem("--plot draws several models: name two or more")
        chosen = resolve_format(settings.format)
        result = size_many(specs, vocab=vocab, dim=dim, dtype=dtype, untied=untied,
                           units=units.value, offline=offline, file=settings.file,
                           quant=settings.quant, exact=chosen is Format.tsv, jobs=settings.jobs,
                           scheduler=settings.scheduler, notice=notice,
                           progress=fleet_progress(len(specs)))  # fmt: skip
        return say_many(settings, result, len(specs), out)
    models = named or models
    report = size_of(*(models or []), vocab=vocab, dim=dim, dtype=dtype, untied=untied,
                     units=units.value, offline=offline, notice=notice, file=settings.file,
                     quant=settings.quant)  # fmt: skip
    chosen = resolve_format(settings.format)
    if chosen is Format.table and len(report) == 1:
        emit(settings.format, report.records, report.view())
    else:
        emit(settings.format, report.to_dict(), report.comparison(exact=chosen is Format.tsv))
