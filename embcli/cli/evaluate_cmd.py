"""``embcli evaluate analogies|similarity``: standard benchmarks, comparable with gensim's."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Annotated, Any

import typer

from embcli.cli.common import load
from embcli.cli.options import Settings, with_settings
from embcli.cli.output import View, emit
from embcli.cli.progress import build_progress
from embcli.errors import EmbcliError

evaluate_app = typer.Typer(
    help="Standard benchmarks: analogy accuracy, word-similarity correlation.",
    no_args_is_help=True,
)
BUNDLED = {
    "google": "questions-words.txt",
    "questions-words": "questions-words.txt",
    "wordsim353": "wordsim353.tsv",
    "simlex999": "simlex999.txt",
    "simlex": "simlex999.txt",
}

RestrictOpt = Annotated[
    int,
    typer.Option("--restrict-vocab", min=0, help="Only the first N rows take part (0: all)."),
]
CaseOpt = Annotated[
    bool, typer.Option("--case-sensitive", help="Match words exactly (gensim: case-insensitive).")
]


def register(app: typer.Typer) -> None:
    app.add_typer(evaluate_app, name="evaluate")


def _benchmark(name: str | None, default: str) -> Path:
    chosen = name or default
    if chosen.lower() in BUNDLED:
        return Path(str(resources.files("embcli") / "data" / BUNDLED[chosen.lower()]))
    path = Path(chosen).expanduser()
    if not path.is_file():
        raise EmbcliError(
            f"no benchmark file {chosen}", f"bundled: {', '.join(sorted(set(BUNDLED)))}"
        )
    return path


@evaluate_app.command("analogies")
@with_settings()
def analogies(
    settings: Settings,
    file: Annotated[
        str | None, typer.Argument(help="questions-words format (default: Google's set).")
    ] = None,
    method: Annotated[str, typer.Option("--method", help="3cosadd or 3cosmul.")] = "3cosadd",
    restrict_vocab: RestrictOpt = 300_000,
    case_sensitive: CaseOpt = False,
) -> None:
    """Analogy accuracy per section and in total (gensim's evaluate_word_analogies method)."""
    from embcli.ask.evaluate import evaluate_analogies
    from embcli.errors import UsageProblem

    if method not in ("3cosadd", "3cosmul"):
        raise UsageProblem(f"--method must be 3cosadd or 3cosmul, not {method!r}")
    path = _benchmark(file, "google")
    table = load(settings)
    with build_progress(table.label) as progress:
        report = evaluate_analogies(
            table, path, restrict_vocab or None, method, not case_sensitive, progress
        )
    rows = [_section_row(s) for s in report["sections"]] + [_section_row(report["total"])]
    asked = report["total"]["answered"] + report["total"]["skipped"]
    caption = (
        f"{table.label}: {method}, {report['vocabulary']}, "
        f"{'case-insensitive' if not case_sensitive else 'case-sensitive'}; "
        f"coverage {report['coverage']:.1%} of {asked:,} questions"
    )
    emit(
        settings.format,
        report,
        View(["section", "correct", "answered", "skipped", "accuracy"], rows, caption=caption),
    )


def _section_row(s: dict[str, Any]) -> tuple[Any, ...]:
    acc = f"{s['accuracy']:.4f}" if s["accuracy"] is not None else ""
    return (s["section"], s["correct"], s["answered"], s["skipped"], acc)


@evaluate_app.command("similarity")
@with_settings()
def similarity(
    settings: Settings,
    file: Annotated[
        str | None,
        typer.Argument(help="wordsim353 (default), simlex999, or a 'w1<TAB>w2<TAB>score' file."),
    ] = None,
    restrict_vocab: RestrictOpt = 300_000,
    case_sensitive: CaseOpt = False,
) -> None:
    """Spearman and Pearson correlation of cosine similarity with human judgements."""
    from embcli.ask.evaluate import evaluate_pairs

    path = _benchmark(file, "wordsim353")
    table = load(settings)
    r = evaluate_pairs(table, path, restrict_vocab or None, not case_sensitive)
    rows = [
        ("benchmark", path.name),
        ("pairs used", f"{r['pairs']:,}"),
        ("out of vocabulary", f"{r['oov_pairs']:,} pairs ({r['oov_ratio']:.1%})"),
        ("Spearman", f"{r['spearman']:.4f} (p = {r['spearman_p']:.2g})"),
        ("Pearson", f"{r['pearson']:.4f} (p = {r['pearson_p']:.2g})"),
        ("vocabulary", r["vocabulary"]),
    ]
    emit(settings.format, r, View(["field", "value"], rows, key_value=True))
