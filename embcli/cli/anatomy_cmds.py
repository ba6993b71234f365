"""``embcli stats`` and ``embcli undertrained``: the table as an object, and its untrained rows."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from embcli.cli.common import load
from embcli.cli.options import Settings, Table, with_settings
from embcli.cli.output import emit


def register(app: typer.Typer) -> None:
    app.command("stats")(stats)
    app.command("undertrained")(undertrained)


@with_settings()
def stats(
    settings: Settings,
    remove_pcs: Annotated[
        int | None,
        typer.Option(
            "--remove-pcs",
            min=0,
            metavar="D",
            help="Principal components removed for the 'after removal' cosine "
            "(default: about dim/100, Mu and Viswanath).",
            show_default=False,
        ),
    ] = None,
    samples: Annotated[
        int, typer.Option("--samples", min=2, help="Random pairs for the mean cosine.")
    ] = 10_000,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the random pairs.")] = 0,
    plot: Annotated[
        Path | None,
        typer.Option(
            "--plot",
            help="Also draw norms, spectrum and cosines (.png/.svg/.pdf).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Shape and health of a table: norms, duplicates, anisotropy, isotropy, effective rank."""
    from embcli.ask.anatomy import table_stats

    table = load(settings)
    name = "output" if settings.table is Table.output else "input"
    result = table_stats(table, remove_pcs, samples, seed, name)
    if plot is not None:  # drawn first: a bad --plot suffix (checked there) leaves stdout empty
        import sys

        from embcli.draw.anatomy_plot import stats_plot
        from embcli.draw.wordplot import title_name

        title = f"{title_name(table.label)} ({name} table)"
        out = stats_plot(result.norm_values, result.eigenvalues, result.cosines, title, plot)
        print(f"embcli: wrote {out}", file=sys.stderr)
    emit(settings.format, result.to_dict(), result.view())


@with_settings(skip=("table",))
def undertrained(
    settings: Settings,
    k: Annotated[int, typer.Option("-k", "--top", min=0, help="How many rows to list.")] = 50,
    percentile: Annotated[
        float,
        typer.Option(
            "--percentile",
            min=0.0,
            max=100.0,
            help="Candidates: reachable tokens in this lowest percentage of the score.",
        ),
    ] = 2.0,
    reference: Annotated[
        str | None,
        typer.Option(
            "--reference",
            help="Known-unused tokens, one token or #id per line "
            "(default: found from the tokenizer).",
            show_default=False,
        ),
    ] = None,
    all_rows: Annotated[
        bool,
        typer.Option("--all", help="Rank every row outside the reference, unfiltered (-k 0: all)."),
    ] = False,
    table: Annotated[
        Table,
        typer.Option(
            "--table",
            case_sensitive=False,
            help="The table to score: output (the head; the table itself when tied) or input.",
        ),
    ] = Table.output,
) -> None:
    """Tokens that were probably never trained (Land and Bartolo 2024, 'Fishing for Magikarp')."""
    from embcli.ask.undertrained import undertrained as find

    head = load(settings.merged(table=table))
    result = find(head, table.value, lambda: load(settings.merged(table=Table.input)),
                  reference, k, percentile, all_rows)  # fmt: skip
    emit(settings.format, result.to_dict(), result.view())
