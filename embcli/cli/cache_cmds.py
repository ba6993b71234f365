"""``embcli cache list`` and ``embcli cache clear``: what the cache holds, and emptying it."""

from __future__ import annotations

from typing import Annotated

import typer

from embcli.api.cache import cache_entries, clear_cache
from embcli.cli.common import notice
from embcli.cli.options import Settings, command
from embcli.cli.output import emit

cache_app = typer.Typer(help="List or clear cached tables.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(cache_app, name="cache")


@cache_app.command("list")
@command("cache_dir", "format")
def list_(settings: Settings) -> None:
    """Cached tables: model, shape, size on disk, path."""
    result = cache_entries(settings.cache_dir, notice=notice)
    emit(settings.format, result.to_dict(), result.view())


@cache_app.command("clear")
@command("cache_dir")
def clear(
    settings: Settings,
    model: Annotated[
        str | None, typer.Argument(help="Only this model's entries (as given to --model).")
    ] = None,
) -> None:
    """Delete cached tables: all of them, or those of one model."""
    result = clear_cache(settings.cache_dir, model, notice=notice)
    typer.echo(result.summary(), err=True)
