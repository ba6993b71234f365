"""``embcli axis`` (a semantic axis and the words along it) and ``embcli weat`` (the Word
Embedding Association Test): directions in a table.

Each command parses, reads its word and pair files through :mod:`embcli.api.inputs`, calls one
:class:`embcli.api.Table` method and renders the result. Words not in the table are skipped and
said on stderr (a pair with one is left out whole, and named); a pole or a word set left empty,
or fewer than two pairs left, is exit 3.
"""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer

from embcli.cli.common import ask_models, stdin_once, table_of
from embcli.cli.options import (
    MANY_OPTIONS,
    TABLE_OPTIONS,
    AllTokensOpt,
    CenterOpt,
    PoolOpt,
    RemoveAxisOpt,
    RemovePcsOpt,
    Settings,
    axis_to_remove,
    command,
)
from embcli.cli.output import emit
from embcli.errors import UnresolvedWord, UsageProblem


class AxisMethod(str, Enum):
    """How an axis is built from pairs."""

    pca = "pca"
    mean = "mean"


def register(app: typer.Typer) -> None:
    app.command("axis")(axis)
    app.command("weat")(weat)


def _option(flag: str, metavar: str, help: str) -> Any:
    return typer.Option(flag, metavar=metavar, help=help, show_default=False)


PAIRS_HELP = ("Word pairs a:b,c:d; a file with one pair a line ('a b' or 'a:b'; '-': stdin); "
              "or a section of the bundled analogy set (capital-world, family, "
              "gram3-comparative...).")  # fmt: skip
WORDS_HELP = "Comma-separated words, or a file with one a line ('-': stdin)."


@command(*TABLE_OPTIONS, "format", *MANY_OPTIONS)
def axis(
    settings: Settings,
    pairs: Annotated[str | None, _option("--pairs", "PAIRS", PAIRS_HELP)] = None,
    start: Annotated[
        str | None, _option("--from", "WORDS", "The pole the axis starts at. " + WORDS_HELP)
    ] = None,
    end: Annotated[
        str | None, _option("--to", "WORDS", "The pole the axis points to. " + WORDS_HELP)
    ] = None,
    words: Annotated[
        str | None,
        _option(
            "--words", "WORDS", "Score these words (default: the ends of the table). " + WORDS_HELP
        ),
    ] = None,
    k: Annotated[
        int, typer.Option("-k", "--top", help="Without --words: this many words at each end.")
    ] = 10,
    method: Annotated[
        AxisMethod,
        typer.Option(
            "--method", help="From pairs: pca (Bolukbasi et al.) or mean (the mean of b - a)."
        ),
    ] = AxisMethod.pca,
    pairs2: Annotated[
        str | None, _option("--pairs2", "PAIRS", "A second axis (score2), as --pairs.")
    ] = None,
    start2: Annotated[
        str | None, _option("--from2", "WORDS", "A second axis from poles, as --from.")
    ] = None,
    end2: Annotated[str | None, _option("--to2", "WORDS", "As --to, for --from2.")] = None,
    plot: Annotated[
        Path | None,
        _option("--plot", "FILE", "Draw the words (.png/.svg/.pdf): on both axes, or a strip."),
    ] = None,
    keep_inputs: Annotated[
        bool,
        typer.Option("--keep-inputs", help="Keep the axis's own words among the ends."),
    ] = False,
    pool: PoolOpt = None,
    center: CenterOpt = False,
    remove_pcs: RemovePcsOpt = 0,
    remove_axis: RemoveAxisOpt = None,
    all_tokens: AllTokensOpt = False,
) -> None:
    """A semantic axis from word pairs or two poles, and the words along it.

    Scores are the cosine of each word's unit row with the axis: --words, sorted, or without
    them the -k word-like tokens furthest at each end of the table. A pair with a word not in
    the table is left out (and named); fewer than two pairs left is an error, as one pair is.
    Several models (-m repeated, --models FILE): one table, a model column first.
    """
    from embcli.api import inputs

    _one_stdin(pairs, start, end, words, pairs2, start2, end2, remove_axis)
    stdin_once(settings, pairs, start, end, words, pairs2, start2, end2, remove_axis)
    many = settings.many()
    if many and plot is not None:
        raise UsageProblem("--plot draws one model's table: give one --model")
    options: dict[str, Any] = {
        "poles": _poles(start, end, "--from", "--to"),
        "method": method.value,
        "words": inputs.word_list(words, "--words") if words is not None else None,
        "k": k,
        "pairs2": inputs.axis_pairs(pairs2) if pairs2 is not None else None,
        "poles2": _poles(start2, end2, "--from2", "--to2"),
        "pool": pool is not None,
        "center": center,
        "remove_pcs": remove_pcs,
        "remove_axis": axis_to_remove(remove_axis),
        "all_tokens": all_tokens,
        "keep_inputs": keep_inputs,
    }
    chosen = inputs.axis_pairs(pairs) if pairs is not None else None
    if many:
        return ask_models(settings, "axis", chosen, options=options)
    result = table_of(settings).axis(chosen, **options, plot=plot)
    if plot is not None:
        print(f"embcli: wrote {plot}", file=sys.stderr)
    emit(settings.format, result.to_dict(), result.view())


def _poles(start: str | None, end: str | None, a: str, b: str) -> Any:
    if start is None and end is None:
        return None
    if start is None or end is None:
        raise UsageProblem(f"{a} and {b} go together: give both poles")
    from embcli.api.inputs import word_list

    return word_list(start, a), word_list(end, b)


def _one_stdin(*values: str | None) -> None:
    if sum(v == "-" for v in values) > 1:
        raise UsageProblem("only one option can read stdin ('-')")


@command(*TABLE_OPTIONS, "format", *MANY_OPTIONS)
def weat(
    settings: Settings,
    test: Annotated[
        str | None,
        typer.Argument(help="A bundled test (flowers-insects, career-family, ... or weat1-10)."),
    ] = None,
    all_tests: Annotated[bool, typer.Option("--all", help="Run every bundled test.")] = False,
    targets: Annotated[
        tuple[str, str] | None,
        typer.Option(
            "--targets",
            metavar="X Y",
            help="The two target sets: files (one word a line) or comma-separated words; "
            "no word in both (X = Y is refused: its effect of 0 says nothing).",
            show_default=False,
        ),
    ] = None,
    attributes: Annotated[
        tuple[str, str] | None,
        typer.Option(
            "--attributes",
            metavar="A B",
            help="The two attribute sets, as --targets (no word in both).",
            show_default=False,
        ),
    ] = None,
    permutations: Annotated[
        int,
        typer.Option(
            "--permutations",
            help="Partitions for the p-value: all of them when there are at most this many, "
            "else this many at random (at most 10,000,000, about 15 s; the sampled p-value's "
            "standard error is then at most 0.00016).",
        ),
    ] = 100_000,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the random partitions.")] = 0,
    allow_missing: Annotated[
        bool,
        typer.Option(
            "--allow-missing", help="Run a test even when a set lost more than 20% of its words."
        ),
    ] = False,
    pool: PoolOpt = None,
    center: CenterOpt = False,
    remove_pcs: RemovePcsOpt = 0,
    remove_axis: RemoveAxisOpt = None,
) -> None:
    """The Word Embedding Association Test (Caliskan et al. 2017): a bundled test, every
    bundled test (--all), or your own word sets (--targets X Y --attributes A B).

    Effect sizes divide by the standard deviation with ddof 0, as WEFE computes them; the
    paper's own effect sizes (from its vectors, not these) are shown beside bundled tests.
    Several models (-m repeated, --models FILE): one table, a model column first.
    """
    if targets is not None or attributes is not None:
        stdin_once(settings, *(targets or ()), *(attributes or ()))
    sets = _weat_sets(targets, attributes)
    given = [test is not None, all_tests, sets is not None]
    if sum(given) != 1:
        raise UsageProblem("weat takes a bundled test's name, --all, or --targets X Y "
                           "--attributes A B: one of them")  # fmt: skip
    options: dict[str, Any] = {"permutations": permutations, "seed": seed,
                               "allow_missing": allow_missing, "pool": pool is not None,
                               "center": center, "remove_pcs": remove_pcs,
                               "remove_axis": axis_to_remove(remove_axis)}  # fmt: skip
    if settings.many():
        if all_tests:
            return ask_models(settings, "weat_all", options=options)
        words = sets or {}
        return ask_models(settings, "weat", test, options={**options, **words})
    table = table_of(settings)
    if all_tests:
        results = table.weat_all(**options)
        for name, exc in results.failed:
            print(f"embcli: {name}: {exc.one_line()}", file=sys.stderr)
        emit(settings.format, results.to_dict(), results.view())
        if results.failed:
            raise typer.Exit(UnresolvedWord.exit_code)
        return
    words = sets or {}
    result = table.weat(test, X=words.get("X"), Y=words.get("Y"), A=words.get("A"),
                        B=words.get("B"), **options)  # fmt: skip
    emit(settings.format, result.to_dict(), result.view())


def _weat_sets(
    targets: tuple[str, str] | None, attributes: tuple[str, str] | None
) -> dict[str, list[str]] | None:
    """X, Y, A, B read from the two options (files or comma lists), or None if neither."""
    given = [t for t in (targets, attributes) if t is not None and any(v is not None for v in t)]
    if not given:
        return None
    if len(given) != 2:
        raise UsageProblem("--targets X Y and --attributes A B go together")
    from embcli.api.inputs import word_list

    values = [*targets, *attributes]  # type: ignore[misc]
    _one_stdin(*values)
    names = ("--targets X", "--targets Y", "--attributes A", "--attributes B")
    return {key: word_list(v, name) for key, v, name in zip("XYAB", values, names, strict=True)}
