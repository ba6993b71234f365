"""``embcli cache list`` and ``embcli cache clear``: what the cache holds, and emptying it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from embcli.cli.options import Settings, with_settings
from embcli.cli.output import View, emit
from embcli.store import cache

cache_app = typer.Typer(help="List or clear cached tables.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(cache_app, name="cache")


@cache_app.command("list")
@with_settings(skip=("model", "revision", "tensor", "table", "allow_pickle"))
def list_(settings: Settings) -> None:
    """Cached tables: model, shape, size on disk, path."""
    root = cache.cache_root(settings.cache_dir)
    cache.sweep_stale(root, _notice)
    records = []
    for item in cache.list_entries(root):
        if isinstance(item, cache.CacheProblem):
            records.append({"model": None, "problem": item.message})
            continue
        m = item.meta
        records.append(
            {
                "model": m["model"],
                "tensor": m["tensor"],
                "rows": m["shape"][0],
                "dim": m["shape"][1],
                "source_dtype": m["source_dtype"],
                "bytes": item.size_bytes,
                "path": str(item.path),
                "created": m.get("created"),
            }
        )
    rows = [
        (
            r["model"] or "(broken)",
            f"{r['rows']:,} x {r['dim']:,}",
            f"{r['bytes'] / 1e6:,.1f} MB",
            r["path"],
        )
        if r["model"]
        else ("(broken)", "", "", r["problem"])
        for r in records
    ]
    total = sum(r.get("bytes", 0) for r in records)
    emit(
        settings.format,
        records,
        View(
            ["model", "shape", "size", "path"],
            rows,
            caption=f"{len(records)} entries, {total / 1e6:,.1f} MB in {root}",
            table_hidden={"path"},
        ),
    )


@cache_app.command("clear")
@with_settings(skip=("model", "revision", "tensor", "table", "allow_pickle"))
def clear(
    settings: Settings,
    model: Annotated[
        str | None, typer.Argument(help="Only this model's entries (as given to --model).")
    ] = None,
) -> None:
    """Delete cached tables: all of them, or those of one model."""
    root = cache.cache_root(settings.cache_dir)
    wanted = None
    if model is not None:
        local = Path(model).expanduser()
        wanted = {model, str(local.resolve())} if local.exists() else {model}
    removed = 0
    for item in cache.list_entries(root):
        path = item.path if isinstance(item, cache.Entry) else None
        if path is None:  # a broken entry: always safe to remove when clearing everything
            if wanted is None:
                removed += _remove_broken(root, item)
            continue
        if wanted is None or item.meta.get("model") in wanted:
            cache.remove_entry(path)
            removed += 1
    cache.sweep_stale(root, _notice)  # only builds whose owner is gone; never a live one
    if model is not None and removed == 0:
        typer.echo(f"embcli: no cached table for {model}", err=True)
        raise typer.Exit(1)
    typer.echo(f"removed {removed} cached table{'s' if removed != 1 else ''} from {root}", err=True)


def _notice(message: str) -> None:
    typer.echo(f"embcli: {message}", err=True)


def _remove_broken(root: Path, problem: cache.CacheProblem) -> int:
    for path in root.iterdir():
        if str(path) in problem.message:
            cache.remove_entry(path)
            return 1
    return 0
