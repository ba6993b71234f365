"""``embcli stats`` and ``embcli undertrained``: the table as an object, and its untrained rows."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from embcli.cli.common import ask_models, stdin_once, table_of
from embcli.cli.options import MANY_OPTIONS, TABLE_OPTIONS, Role, Settings, command
from embcli.cli.output import emit
from embcli.errors import UsageProblem


def register(app: typer.Typer) -> None:
    app.command("stats")(stats)
    app.command("undertrained")(undertrained)


@command(*TABLE_OPTIONS, "format", *MANY_OPTIONS)
def stats(
    settings: Settings,
    remove_pcs: Annotated[
        int | None,
        typer.Option(
            "--remove-pcs",
            metavar="D",
            help="Principal components removed for the 'after removal' cosine "
            "(default: about dim/100, Mu and Viswanath).",
            show_default=False,
        ),
    ] = None,
    samples: Annotated[
        int, typer.Option("--samples", help="Random pairs for the mean cosine (2 to 1,000,000).")
    ] = 10_000,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the random pairs.")] = 0,
    plot: Annotated[
        Path | None,
        typer.Option(
            "--plot",
            metavar="FILE",
            help="Also draw norms, spectrum and cosines (.png/.svg/.pdf); with several "
            "models, each figure across models as bars.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Shape and health of a table: norms, duplicates, anisotropy, isotropy, effective rank.

    Several models (-m repeated, --models FILE): one row each (--plot: bars across models).
    """
    if settings.many():
        options = {"remove_pcs": remove_pcs, "samples": samples, "seed": seed}
        return ask_models(settings, "stats", options=options, plot=plot)
    settings.will_write(plot)
    result = table_of(settings).stats(remove_pcs=remove_pcs, samples=samples, seed=seed, plot=plot)
    if plot is not None:
        print(f"embcli: wrote {plot}", file=sys.stderr)
    emit(settings.format, result.to_dict(), result.view())


@command(*TABLE_OPTIONS, "format", *MANY_OPTIONS)
def undertrained(
    settings: Settings,
    k: Annotated[
        int | None,
        typer.Option(
            "-k",
            "--top",
            help="Rows per list (default 50; with --all every row; 0: no limit).",
            show_default=False,
        ),
    ] = None,
    percentile: Annotated[
        float,
        typer.Option(
            "--percentile",
            help="Candidates: reachable tokens in this lowest percentage of the score (0-100).",
        ),
    ] = 2.0,
    reference: Annotated[
        str | None,
        typer.Option(
            "--reference",
            metavar="FILE",
            help="Known-unused tokens, one token or #id per line ('-': stdin; "
            "default: found from the tokenizer).",
            show_default=False,
        ),
    ] = None,
    all_rows: Annotated[
        bool, typer.Option("--all", help="Rank every row outside the reference, unfiltered.")
    ] = False,
    plot: Annotated[
        Path | None,
        typer.Option(
            "--plot",
            metavar="FILE",
            help="With several models: draw how many rows each lists, as bars (.png/.svg/.pdf).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Tokens that were probably never trained (Land and Bartolo 2024, 'Fishing for Magikarp').

    Scores the output head unless --table input is given (for a tied model it is the table).
    Several models (-m repeated, --models FILE): one table, a model column first (--plot: the
    counts as bars).
    """
    if settings.many():
        stdin_once(settings, reference)
        ref: object = reference
        if reference == "-":  # stdin is read once, for every model
            from embcli.api.inputs import read_lines

            ref = [token for _, token in read_lines("-", comments=False)]
        options = {"reference": ref, "percentile": percentile, "all_rows": all_rows}
        return ask_models(settings, "undertrained", k, options=options, default=Role.output,
                          plot=plot)  # fmt: skip
    if plot is not None:
        raise UsageProblem("--plot draws several models: give -m more than once or --models")
    head = table_of(settings, default=Role.output)
    result = head.undertrained(k, reference=reference, percentile=percentile, all_rows=all_rows)
    emit(settings.format, result.to_dict(), result.view())
