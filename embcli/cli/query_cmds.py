"""``embcli neighbors``, ``similarity`` and ``analogy``: the three questions, from the cache.

Each command parses, calls one :class:`embcli.api.Table` method and renders the result. Words of
a batch that do not resolve come back as data (``result.failed``): each is printed on stderr,
the answers still go to stdout, and the exit code is 3.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from embcli.cli.common import ask_models, stdin_once, table_of
from embcli.cli.options import (
    MANY_OPTIONS,
    TABLE_OPTIONS,
    AllTokensOpt,
    CenterOpt,
    IdsOpt,
    Method,
    PoolOpt,
    RemoveAxisOpt,
    RemovePcsOpt,
    Settings,
    axis_to_remove,
    command,
)
from embcli.cli.output import emit
from embcli.errors import UnresolvedWord, UsageProblem

KOpt = Annotated[int, typer.Option("-k", "--top", help="How many results (0 or more).")]


def register(app: typer.Typer) -> None:
    app.command("neighbors")(neighbors)
    app.command("similarity")(similarity)
    app.command("analogy")(analogy)


def render(settings: Settings, result: Any, view: Any = None) -> None:
    """Print the answers; a batch with unresolvable words says each and exits 3 after them."""
    for exc in result.failed:
        print(f"embcli: {exc.one_line()}", file=sys.stderr)
    emit(settings.format, result.to_dict(), view or result.view())
    if result.failed:
        raise typer.Exit(UnresolvedWord.exit_code)


# -- neighbors -----------------------------------------------------------------------------------


@command(*TABLE_OPTIONS, "format", *MANY_OPTIONS)
def neighbors(
    settings: Settings,
    words: Annotated[
        list[str] | None, typer.Argument(help="Words, #ids, or '-' to read one per line.")
    ] = None,
    k: KOpt = 10,
    among: Annotated[
        str | None,
        typer.Option(
            "--among",
            metavar="FILE",
            help="Only these words are candidates (one per line; '-': stdin).",
            show_default=False,
        ),
    ] = None,
    vector: Annotated[
        str | None,
        typer.Option(
            "--vector",
            metavar="FILE",
            help="Neighbours of a vector instead of a word: a line of numbers, or a .npy "
            "('-': stdin).",
            show_default=False,
        ),
    ] = None,
    pool: PoolOpt = None,
    ids: IdsOpt = False,
    center: CenterOpt = False,
    remove_pcs: RemovePcsOpt = 0,
    remove_axis: RemoveAxisOpt = None,
    all_tokens: AllTokensOpt = False,
    plot: Annotated[
        Path | None,
        typer.Option(
            "--plot",
            metavar="FILE",
            help="With several models: draw each query's neighbours per model as a grid "
            "(.png/.svg/.pdf).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Nearest tokens by cosine similarity.

    Leaves out the query token, its case and space variants, special tokens and word fragments
    unless --all-tokens is given; --among FILE restricts the candidates to a word list.
    Several models (-m repeated, --models FILE): one table, a model column first (--plot: a
    grid of model x rank).
    """
    words = words or []
    stdin_once(settings, words[0] if words == ["-"] else None, among, vector)
    if sum(source == "-" for source in (words[0] if words == ["-"] else None, among, vector)) > 1:
        raise UsageProblem("only one of the words, --among and --vector can read stdin")
    query: str | list[str] | None = words[0] if len(words) == 1 else words or None
    candidates: list[str] | None = None
    vec: Any = None
    if words == ["-"] or among is not None or vector is not None:  # files: only then the reader
        from embcli.api import inputs

        query = inputs.read_words("-") if words == ["-"] else query
        candidates = inputs.read_words(among) if among is not None else None
        vec = inputs.read_vector(vector) if vector is not None else None
    label = "stdin" if vector == "-" else Path(vector).name if vector is not None else "vector"
    options: dict[str, Any] = {"vector": vec, "vector_label": label, "among": candidates,
                               "pool": pool is not None, "ids": ids, "center": center,
                               "remove_pcs": remove_pcs, "all_tokens": all_tokens,
                               "remove_axis": axis_to_remove(remove_axis)}  # fmt: skip
    if settings.many():
        return ask_models(settings, "neighbors", query, k, options=options, plot=plot)
    if plot is not None:
        raise UsageProblem("--plot draws several models: give -m more than once or --models")
    result = table_of(settings).neighbors(query, k, **options)
    render(settings, result)


# -- similarity ----------------------------------------------------------------------------------


@command(*TABLE_OPTIONS, "format", *MANY_OPTIONS)
def similarity(
    settings: Settings,
    words: Annotated[
        list[str] | None, typer.Argument(help="Two words, or more for a matrix of all pairs.")
    ] = None,
    pairs: Annotated[
        str | None,
        typer.Option(
            "--pairs",
            metavar="FILE",
            help="Word pairs, tab-separated, one per line ('-': stdin).",
            show_default=False,
        ),
    ] = None,
    pool: PoolOpt = None,
    ids: IdsOpt = False,
    center: CenterOpt = False,
    remove_pcs: RemovePcsOpt = 0,
    remove_axis: RemoveAxisOpt = None,
) -> None:
    """Cosine similarity and dot product of words.

    Several models (-m repeated, --models FILE): one table of pairs, a model column first.
    """
    from embcli.cli.options import Format
    from embcli.cli.output import resolve_format

    stdin_once(settings, pairs)
    wanted = None
    if pairs is not None:
        from embcli.api.inputs import read_pairs

        wanted = read_pairs(pairs)
    options: dict[str, Any] = {"pairs": wanted, "pool": pool is not None, "ids": ids,
                               "center": center, "remove_pcs": remove_pcs,
                               "remove_axis": axis_to_remove(remove_axis)}  # fmt: skip
    if settings.many():  # a matrix per model does not stack: the pairs do
        return ask_models(settings, "similarity", *(words or []), options=options,
                          view="pairs_view", view_kwargs={"caption": False})  # fmt: skip
    result = table_of(settings).similarity(*(words or []), **options)
    table_format = resolve_format(settings.format) is Format.table
    view = result.view() if table_format else result.pairs_view(caption=result.matrix is None)
    render(settings, result, view)


# -- analogy -------------------------------------------------------------------------------------


@command(*TABLE_OPTIONS, "format", *MANY_OPTIONS)
def analogy(
    settings: Settings,
    words: Annotated[
        list[str] | None, typer.Argument(help="a b c: find a - b + c (king man woman -> queen).")
    ] = None,
    k: KOpt = 5,
    method: Annotated[
        Method, typer.Option("--method", help="3cosadd (Mikolov) or 3cosmul (Levy & Goldberg).")
    ] = Method.cosadd,
    keep_inputs: Annotated[
        bool, typer.Option("--keep-inputs", help="Allow a, b and c among the results.")
    ] = False,
    file: Annotated[
        str | None,
        typer.Option(
            "--file",
            metavar="FILE",
            help="Questions 'a b c [expected]', one per line ('-': stdin).",
            show_default=False,
        ),
    ] = None,
    pool: PoolOpt = None,
    ids: IdsOpt = False,
    center: CenterOpt = False,
    remove_pcs: RemovePcsOpt = 0,
    remove_axis: RemoveAxisOpt = None,
    all_tokens: AllTokensOpt = False,
) -> None:
    """Solve a - b + c = ? (fastText's order; word2vec's word-analogy reads b - a + c).

    Several models (-m repeated, --models FILE): one table, a model column first.
    """
    stdin_once(settings, file)
    if file is not None and words:
        raise UsageProblem("give either three words or --file, not both")
    if file is None and (not words or len(words) != 3):
        raise UsageProblem("analogy takes exactly three words a b c (a - b + c), or --file")
    options: dict[str, Any] = {"method": method.value, "keep_inputs": keep_inputs,
                               "pool": pool is not None, "ids": ids, "center": center,
                               "remove_pcs": remove_pcs, "all_tokens": all_tokens,
                               "remove_axis": axis_to_remove(remove_axis)}  # fmt: skip
    if file is not None:
        from embcli.api.inputs import read_questions

        questions = read_questions(file)
        if settings.many():
            return ask_models(settings, "analogies", questions, k, options=options)
        result: Any = table_of(settings).analogies(questions, k, **options)
    else:
        a, b, c = words or []
        if settings.many():
            return ask_models(settings, "analogy", a, b, c, k, options=options)
        result = table_of(settings).analogy(a, b, c, k, **options)
    render(settings, result)
