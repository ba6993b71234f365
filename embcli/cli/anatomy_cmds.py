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

    if plot is not None and plot.suffix.lower() not in (".png", ".svg", ".pdf"):
        from embcli.errors import UsageProblem

        raise UsageProblem(f"cannot write {plot.name}: stats --plot draws .png, .svg or .pdf")
    table = load(settings)
    name = "output" if settings.table is Table.output else "input"
    result = table_stats(table, remove_pcs, samples, seed, name)
    emit(settings.format, result.to_dict(), result.view())
    if plot is not None:
        import sys

        from embcli.draw.anatomy_plot import stats_plot

        short = "/".join(Path(table.label).parts[-2:]) or table.label
        title = f"{short} ({name} table)"
        out = stats_plot(result.norm_values, result.eigenvalues, result.cosines, title, plot)
        print(f"embcli: wrote {out}", file=sys.stderr)


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
    from embcli.ask.undertrained import find_undertrained

    head = load(settings.merged(table=table))
    other = None
    if head.meta.get("table") == "output":  # untied: the input norms are the second indicator
        other = load(settings.merged(table=Table.input))
    result = find_undertrained(head, other, reference, k, percentile, all_rows, table.value)
    if table is Table.output and other is None and head.tokenizer_size is not None:
        result.notes.append("The output head is tied: it is the input table.")
    emit(settings.format, result.to_dict(), result.view())
