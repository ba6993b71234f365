"""``embcli cache list`` and ``embcli cache clear``: what the cache holds, and emptying it."""

from __future__ import annotations

from typing import Annotated

import typer

from embcli.api.cache import cache_entries, clear_cache
from embcli.cli.common import notice
from embcli.cli.options import Settings, command, complete_model
from embcli.cli.output import emit
from embcli.errors import UsageProblem

cache_app = typer.Typer(help="List or clear cached tables.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(cache_app, name="cache")


@cache_app.command("list")
@command("cache_dir", "format")
def list_(settings: Settings) -> None:
    """Cached tables: model, revision, shape, size on disk, path (a model's revisions together)."""
    result = cache_entries(settings.cache_dir, notice=notice)
    emit(settings.format, result.to_dict(), result.view())


@cache_app.command("clear")
@command("cache_dir", "format")
def clear(
    settings: Settings,
    model: Annotated[
        str | None,
        typer.Argument(
            help="Only this model's entries (as given to --model).", autocompletion=complete_model
        ),
    ] = None,
    model_opt: Annotated[
        str | None,
        typer.Option(
            "--model",
            "-m",
            help="The same as MODEL.",
            show_default=False,
            autocompletion=complete_model,
        ),
    ] = None,
    keep_latest: Annotated[
        int | None,
        typer.Option(
            "--keep-latest",
            metavar="N",
            help="Keep each model's N latest revisions (highest step; main counts as newest).",
            show_default=False,
        ),
    ] = None,
    older_than: Annotated[
        float | None,
        typer.Option(
            "--older-than",
            metavar="DAYS",
            help="Only entries cached more than DAYS days ago.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Delete cached tables: all of them, those of one model, or a model's older revisions."""
    if model is not None and model_opt is not None and model != model_opt:
        raise UsageProblem("give the model once: as MODEL or as --model")
    result = clear_cache(settings.cache_dir, model or model_opt, keep_latest=keep_latest,
                         older_than=older_than, notice=notice)  # fmt: skip
    if settings.format is None:  # a person: one line on stderr, stdout left empty
        typer.echo(result.summary(), err=True)
    else:  # a script asked for a format: what was removed, on stdout
        emit(settings.format, result.to_dict(), result.view())
