"""``embcli evaluate analogies|similarity``: standard benchmarks, comparable with gensim's."""

from __future__ import annotations

from typing import Annotated

import typer

from embcli.cli.common import table_of
from embcli.cli.options import TABLE_OPTIONS, Method, Settings, command
from embcli.cli.output import emit

evaluate_app = typer.Typer(
    help="Standard benchmarks: analogy accuracy, word-similarity correlation.",
    no_args_is_help=True,
)

RestrictOpt = Annotated[
    int,
    typer.Option("--restrict-vocab", help="Only the first N rows take part (0: all)."),
]
CaseOpt = Annotated[
    bool, typer.Option("--case-sensitive", help="Match words exactly (gensim: case-insensitive).")
]


def register(app: typer.Typer) -> None:
    app.add_typer(evaluate_app, name="evaluate")


@evaluate_app.command("analogies")
@command(*TABLE_OPTIONS, "format")
def analogies(
    settings: Settings,
    file: Annotated[
        str | None, typer.Argument(help="questions-words format (default: Google's set).")
    ] = None,
    method: Annotated[Method, typer.Option("--method", help="3cosadd or 3cosmul.")] = Method.cosadd,
    restrict_vocab: RestrictOpt = 300_000,
    case_sensitive: CaseOpt = False,
) -> None:
    """Analogy accuracy per section and in total (gensim's evaluate_word_analogies method)."""
    result = table_of(settings).evaluate_analogies(
        file, method=method.value, restrict_vocab=restrict_vocab, case_sensitive=case_sensitive
    )
    emit(settings.format, result.to_dict(), result.view())


@evaluate_app.command("similarity")
@command(*TABLE_OPTIONS, "format")
def similarity(
    settings: Settings,
    file: Annotated[
        str | None,
        typer.Argument(help="wordsim353 (default), simlex999, or a 'w1<TAB>w2<TAB>score' file."),
    ] = None,
    restrict_vocab: RestrictOpt = 300_000,
    case_sensitive: CaseOpt = False,
) -> None:
    """Spearman and Pearson correlation of cosine with human judgements."""
    result = table_of(settings).evaluate_similarity(
        file, restrict_vocab=restrict_vocab, case_sensitive=case_sensitive
    )
    emit(settings.format, result.to_dict(), result.view())
