"""``embcli neighbors``, ``similarity`` and ``analogy``: the three questions, from the cache.

Each command parses, calls one function of :mod:`embcli.ask.answers` and renders the result.
Words of a batch that do not resolve come back as data (``result.failed``): each is printed on
stderr, the answers still go to stdout, and the exit code is 3.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from embcli.ask import answers
from embcli.cli.common import load, read_lines
from embcli.cli.options import (
    AllTokensOpt,
    CenterOpt,
    IdsOpt,
    Method,
    PoolOpt,
    RemovePcsOpt,
    Settings,
    with_settings,
)
from embcli.cli.output import emit
from embcli.errors import UnresolvedWord, UsageProblem

KOpt = Annotated[int, typer.Option("-k", "--top", min=0, help="How many results.")]


def register(app: typer.Typer) -> None:
    app.command("neighbors")(neighbors)
    app.command("similarity")(similarity)
    app.command("analogy")(analogy)


def _finish(failed: list[UnresolvedWord]) -> None:
    """A batch with unresolvable words exits 3 after printing its answers."""
    if failed:
        raise typer.Exit(UnresolvedWord.exit_code)


def _report(failed: list[UnresolvedWord]) -> None:
    for exc in failed:
        print(f"embcli: {exc.one_line()}", file=sys.stderr)


# -- neighbors -----------------------------------------------------------------------------------


@with_settings()
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
            metavar="FILE|-",
            help="Neighbours of a vector instead of a word: a line of numbers, or a .npy.",
            show_default=False,
        ),
    ] = None,
    pool: PoolOpt = None,
    ids: IdsOpt = False,
    center: CenterOpt = False,
    remove_pcs: RemovePcsOpt = 0,
    all_tokens: AllTokensOpt = False,
) -> None:
    """Nearest tokens by cosine similarity.

    Leaves out the query token, its case and space variants, special tokens and word fragments
    unless --all-tokens is given; --among FILE restricts the candidates to a word list.
    """
    words = words or []
    stdin_users = [u for u in (words == ["-"], among == "-", vector == "-") if u]
    if len(stdin_users) > 1:
        raise UsageProblem("only one of the words, --among and --vector can read stdin")
    if vector is not None and words:
        raise UsageProblem("give either words or --vector, not both")
    if vector is None and not words:
        raise UsageProblem("name one or more words, '-' to read them from stdin, or --vector")
    from_stdin = words == ["-"]
    items = [w.strip() for _, w in read_lines("-")] if from_stdin else words
    candidates = [w.strip() for _, w in read_lines(among)] if among is not None else None
    vec = _vector(vector) if vector is not None else None
    table = load(settings)
    common: dict[str, Any] = {
        "center": center,
        "remove_pcs": remove_pcs,
        "all_tokens": all_tokens,
        "among": candidates,
    }
    if vec is not None:
        name = "stdin" if vector == "-" else Path(str(vector)).name
        result = answers.neighbors_of_vector(table, vec, k, name=name, **common)
    else:
        alone = len(items) == 1 and not from_stdin
        result = answers.neighbors(
            table, items, k, pool=pool is not None, ids=ids, single=alone, **common
        )
    if result.skipped:
        shown = ", ".join(result.skipped[:10]) + (", ..." if len(result.skipped) > 10 else "")
        print(
            f"embcli: --among: left out {len(result.skipped)} word(s) not in the table: {shown}",
            file=sys.stderr,
        )
    _report(result.failed)
    emit(settings.format, result.to_dict(), result.view())
    _finish(result.failed)


def _vector(source: str) -> Any:
    if source == "-":
        return answers.parse_vector(sys.stdin.read(), "the vector on stdin")
    return answers.read_vector(source)


# -- similarity ----------------------------------------------------------------------------------


@with_settings()
def similarity(
    settings: Settings,
    words: Annotated[
        list[str] | None, typer.Argument(help="Two words, or more for a matrix of all pairs.")
    ] = None,
    pairs: Annotated[
        str | None,
        typer.Option(
            "--pairs", help="File of tab-separated word pairs, one per line ('-': stdin)."
        ),
    ] = None,
    pool: PoolOpt = None,
    ids: IdsOpt = False,
    center: CenterOpt = False,
    remove_pcs: RemovePcsOpt = 0,
) -> None:
    """Cosine similarity and dot product of words."""
    from embcli.cli.options import Format
    from embcli.cli.output import resolve_format

    words = words or []
    wanted = _pair_lines(pairs) if pairs is not None else None
    answers.check_similarity(words, wanted)  # before the table is opened (or built)
    table = load(settings)
    result = answers.similarity(
        table,
        words,
        wanted,
        pool=pool is not None,
        ids=ids,
        center=center,
        remove_pcs=remove_pcs,
    )
    _report(result.failed)
    table_format = resolve_format(settings.format) is Format.table
    view = result.view() if table_format else result.pairs_view(caption=result.matrix is None)
    emit(settings.format, result.to_dict(), view)
    _finish(result.failed)


def _pair_lines(source: str) -> list[tuple[str, str]]:
    out = []
    for n, line in read_lines(source):
        parts = line.split("\t") if "\t" in line else line.split()
        if len(parts) < 2:
            raise UsageProblem(f"line {n} of {source}: expected two tab-separated words")
        out.append((parts[0].strip(), parts[1].strip()))
    return out


# -- analogy -------------------------------------------------------------------------------------


@with_settings()
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
        typer.Option("--file", help="Questions 'a b c [expected]', one per line ('-': stdin)."),
    ] = None,
    pool: PoolOpt = None,
    ids: IdsOpt = False,
    center: CenterOpt = False,
    remove_pcs: RemovePcsOpt = 0,
    all_tokens: AllTokensOpt = False,
) -> None:
    """Solve a - b + c = ? (fastText's order; word2vec's word-analogy reads b - a + c)."""
    if file is None and (not words or len(words) != 3):
        raise UsageProblem("analogy takes exactly three words a b c (a - b + c), or --file")
    if file is not None and words:
        raise UsageProblem("give either three words or --file, not both")
    questions = (
        [(n, line.split()) for n, line in read_lines(file) if not line.startswith(":")]
        if file is not None
        else [(0, list(words or []))]
    )
    for n, q in questions:  # before the table is opened (or built)
        answers.check_analogy(q, f"line {n} of {file}: " if file is not None else "")
    table = load(settings)
    result = answers.analogies(
        table,
        [q for _, q in questions],
        k,
        method=method.value,
        keep_inputs=keep_inputs,
        pool=pool is not None,
        ids=ids,
        center=center,
        remove_pcs=remove_pcs,
        all_tokens=all_tokens,
        single=file is None,
    )
    _report(result.failed)
    emit(settings.format, result.to_dict(), result.view())
    _finish(result.failed)
