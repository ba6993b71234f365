"""``embcli compare``: two tables side by side (the math is in ``embcli.ask.compare``)."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from embcli.cli.common import load, read_lines
from embcli.cli.options import Settings, Table, with_settings
from embcli.cli.output import emit
from embcli.errors import UsageProblem

if TYPE_CHECKING:
    from embcli.ask.compare import CompareResult

PLOT_QUERIES = 300  # query words whose neighbour ranks the --plot scatter shows


def register(app: typer.Typer) -> None:
    app.command("compare")(compare)


@with_settings()
def compare(
    settings: Settings,
    model: Annotated[
        list[str] | None,
        typer.Option(
            "--model",
            "-m",
            help="Give twice: A, then B. Once with --tensor-b: the same model's other tensor.",
            show_default=False,
        ),
    ] = None,
    tensor_b: Annotated[
        str | None,
        typer.Option(
            "--tensor-b", help="B's checkpoint tensor (e.g. lm_head.weight).", show_default=False
        ),
    ] = None,
    table_b: Annotated[
        Table | None,
        typer.Option(
            "--table-b",
            help="B's table: input or output (the output head), for -m given once.",
            show_default=False,
            case_sensitive=False,
        ),
    ] = None,
    k: Annotated[int, typer.Option("-k", "--top", min=1, help="Neighbours per word.")] = 10,
    words: Annotated[
        Path | None,
        typer.Option(
            "--words", help="Compare only these words (one per line).", show_default=False
        ),
    ] = None,
    case_sensitive: Annotated[
        bool, typer.Option("--case-sensitive", help="Match words with their case (Paris != paris).")
    ] = False,
    sample: Annotated[
        int,
        typer.Option(
            "--sample",
            min=0,
            help="Compare the neighbour lists of this many shared words (0: all).",
        ),
    ] = 5000,
    show: Annotated[
        int,
        typer.Option(
            "--show", min=0, help="List the N words agreeing most and least, and N translations."
        ),
    ] = 0,
    plot: Annotated[
        Path | None,
        typer.Option(
            "--plot",
            help="Draw Jaccard@k and neighbour ranks (.png, .svg, .pdf).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Compare two tables: shared words, neighbour agreement, CKA, Procrustes alignment.

    Words are matched by their text (leading space, ▁ and case as each tokenizer writes a word).
    """
    from embcli.ask.compare import compare as run_compare

    names = list(model or [])
    if len(names) > 2:
        raise UsageProblem(f"--model given {len(names)} times: give A and B")
    if len(names) <= 1 and (tensor_b is not None or table_b is not None):  # the same model
        names = [names[0] if names else settings.model] * 2
    if len(names) != 2:
        raise UsageProblem(
            "compare needs two tables: -m A -m B, or -m A with --tensor-b NAME or "
            "--table-b output for the same model's other table"
        )
    if plot is not None and plot.suffix.lower() not in (".png", ".svg", ".pdf"):
        raise UsageProblem(f"cannot write {plot.name}: use .png, .svg or .pdf")
    word_list = _read_words(words) if words is not None else None
    settings_a = settings.merged(model=names[0])
    same = names[1] == names[0]
    settings_b = replace(
        settings_a,
        model=names[1],
        tensor=tensor_b,
        table=table_b,
        revision=settings_a.revision if same else None,
    )
    table_a = load(settings_a)
    table_b = load(settings_b)
    result = run_compare(
        table_a,
        table_b,
        k,
        case_sensitive=case_sensitive,
        words=word_list,
        sample=sample,
        show=show,
        plot_sample=PLOT_QUERIES if plot is not None else 0,
    )
    if word_list is not None:
        v = result.vocab
        for side, missing, label in (("A", v.missing_a, table_a.label),
                                     ("B", v.missing_b, table_b.label)):  # fmt: skip
            if missing:
                ex = ", ".join(missing[:5]) + (", ..." if len(missing) > 5 else "")
                print(
                    f"embcli: {len(missing):,} of {v.listed:,} listed words are not word-like "
                    f"tokens of {side} ({label}): {ex}; using the {result.shared:,} shared",
                    file=sys.stderr,
                )
    if plot is not None:
        from embcli.draw.compare_plot import compare_plot

        compare_plot(result.scores, result.k, result.ranks, _plot_title(result), plot)
        print(f"embcli: wrote {plot}", file=sys.stderr)
    emit(settings_a.format, result.to_dict(), result.view())


def _plot_title(result: CompareResult) -> str:
    return f"A: {_short(result.a['model'])}   B: {_short(result.b['model'])}"


def _short(label: str) -> str:
    return label if len(label) <= 40 else "..." + label[-37:]


def _read_words(path: Path) -> list[str]:
    out = [line.strip() for _, line in read_lines(str(path))]
    if not out:
        raise UsageProblem(f"{path.name} lists no words")
    return out
