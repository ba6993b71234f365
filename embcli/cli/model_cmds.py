"""``embcli context`` and ``embcli sentences``: the two commands that run the model.

Thin: parse, call one function in :mod:`embcli.run`, render. ``embcli.run`` (torch and
transformers) is imported inside the commands, so no other command pays for it.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from embcli.cli import common
from embcli.cli.options import Settings, with_settings
from embcli.cli.output import emit
from embcli.errors import UsageProblem

DeviceOpt = Annotated[
    str, typer.Option("--device", help="Where to run the model: cpu, cuda, cuda:1, mps.")
]
MaxLengthOpt = Annotated[
    int | None,
    typer.Option(
        "--max-length",
        min=1,
        help="Tokens per sentence before truncation (default: the model's own limit).",
        show_default=False,
    ),
]
BatchOpt = Annotated[int, typer.Option("--batch-size", min=1, help="Sentences per forward pass.")]


def register(app: typer.Typer) -> None:
    app.command("context")(context)
    app.command("sentences")(sentences)


def read_lines(source: str) -> list[tuple[int, str]]:
    """``(line number, text)`` of the non-blank lines, stripped; a ``# `` line is text here."""
    return [(n, line.strip()) for n, line in common.read_lines(source, comments=False)]


def _no_table_options(settings: Settings) -> None:
    """--tensor and --table pick a table; these commands run the whole model instead."""
    if settings.tensor is not None or settings.table is not None:
        raise UsageProblem("--tensor and --table do not apply: this command runs the whole model")


def _notes(notes: list[str]) -> None:
    for note in notes:
        print(f"embcli: {note}", file=sys.stderr)


@contextmanager
def _progress(label: str) -> Iterator[Any]:
    """A rich bar on a terminal's stderr for long corpora; nothing when piped."""
    if not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    bar = Progress(
        "{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    task = bar.add_task(label, total=None)
    with bar:
        yield lambda done, total: bar.update(task, completed=done, total=total)


# -- context -------------------------------------------------------------------------------------


@with_settings()
def context(
    settings: Settings,
    word: Annotated[str, typer.Argument(help="The word to follow through the layers.")],
    texts: Annotated[
        list[str] | None, typer.Argument(help="Two or more sentences that contain the word.")
    ] = None,
    file: Annotated[
        str | None,
        typer.Option("--file", help="Sentences, one per line ('-': stdin).", show_default=False),
    ] = None,
    occurrence: Annotated[
        int | None,
        typer.Option(
            "--occurrence", min=1, help="Which occurrence of the word (from 1).", show_default=False
        ),
    ] = None,
    layer: Annotated[
        int | None,
        typer.Option(
            "--layer",
            help="Layer for the nearest tokens (default: the last; "
            "0 = embedding output; negative counts from the end).",
            show_default=False,
        ),
    ] = None,
    k: Annotated[int, typer.Option("-k", "--top", min=0, help="Nearest tokens to show.")] = 5,
    plot: Annotated[
        Path | None,
        typer.Option(
            "--plot",
            help="Draw cosine against layer: .png, .svg, .pdf or .html.",
            show_default=False,
        ),
    ] = None,
    max_length: MaxLengthOpt = None,
    device: DeviceOpt = "cpu",
) -> None:
    """How a word's vector changes with its sentence, layer by layer (runs the model).

    For every layer: the cosine of the word's vectors between each pair of sentences, beside the
    layer's baseline (mean cosine of different tokens). Then the nearest tokens at --layer: the
    logit lens for a causal LM, otherwise the nearest rows of the static table.
    """
    _no_table_options(settings)
    if texts and file is not None:
        raise UsageProblem("give sentences or --file, not both")
    items = [t for _, t in read_lines(file)] if file is not None else list(texts or [])
    if len(items) < 2:
        raise UsageProblem("context needs a word and two or more sentences (or --file)")
    if plot is not None:
        from embcli.draw import plotting

        plotting.check_output(plot)
    from embcli.run import context as run_context
    from embcli.run import model as run_model

    loaded = run_model.load(
        settings.model, settings.revision, settings.allow_pickle, device, with_head=True
    )
    result, _, _ = run_context.analyse(loaded, word, items, occurrence, layer, k, max_length)
    _notes(result.notes)
    emit(settings.format, result.to_dict(), result.view())
    if plot is not None:
        _draw(result, plot)


def _draw(result: Any, out: Path) -> None:
    from embcli.draw.context_plot import cosine_by_layer
    from embcli.draw.wordplot import title_name
    from embcli.run.context import excerpt

    spans = {s.index: (s.spans[0][0], s.spans[-1][1]) for s in result.sentences}
    texts = {s.index: s.text for s in result.sentences}

    def short(i: int) -> str:
        return excerpt(texts[i], spans[i])

    labels = [f"{p['a']}-{p['b']}: {short(p['a'])} / {short(p['b'])}" for p in result.static_pairs]
    path = cosine_by_layer(
        labels,
        [p["cosine"] for p in result.static_pairs],
        [[p["cosine"] for p in ly["pairs"]] for ly in result.layers],
        [ly["baseline"] for ly in result.layers],
        f"{result.word!r} in context: {title_name(result.model)}",
        out,
    )
    print(f"embcli: wrote {path}", file=sys.stderr)


# -- sentences -----------------------------------------------------------------------------------


@with_settings()
def sentences(
    settings: Settings,
    texts: Annotated[list[str] | None, typer.Argument(help="Sentences to compare.")] = None,
    query: Annotated[
        str | None,
        typer.Option(
            "--query", help="Rank the lines of --corpus against this text.", show_default=False
        ),
    ] = None,
    corpus: Annotated[
        str | None,
        typer.Option("--corpus", help="One text per line ('-': stdin).", show_default=False),
    ] = None,
    k: Annotated[int, typer.Option("-k", "--top", min=1, help="Results of a --query.")] = 10,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output", "-o", help="Write the vectors to this .npy file.", show_default=False
        ),
    ] = None,
    file: Annotated[
        str | None,
        typer.Option("--file", help="Sentences, one per line ('-': stdin).", show_default=False),
    ] = None,
    batch_size: BatchOpt = 32,
    max_length: MaxLengthOpt = None,
    device: DeviceOpt = "cpu",
) -> None:
    """Sentence vectors as the model's sentence-transformers config makes them (runs the model).

    Prints the cosine matrix of the sentences, or with --query and --corpus the k closest lines.
    """
    _no_table_options(settings)
    searching = query is not None or corpus is not None
    if searching and (query is None or corpus is None):
        raise UsageProblem("--query and --corpus go together")
    if searching and (texts or file):
        raise UsageProblem("give sentences (or --file), or --query with --corpus, not both")
    if texts and file is not None:
        raise UsageProblem("give sentences or --file, not both")
    if output is not None and output.suffix.lower() != ".npy":
        raise UsageProblem(f"cannot write {output.name}: --output takes a .npy file")
    from embcli.run import sentences as run_sentences

    opts: dict[str, Any] = {
        "revision": settings.revision,
        "allow_pickle": settings.allow_pickle,
        "device": device,
        "max_length": max_length,
        "batch_size": batch_size,
    }
    if searching:
        assert query is not None and corpus is not None
        lines = read_lines(corpus)
        with _progress(f"Embedding {len(lines)} lines") as progress:
            result, vectors = run_sentences.search_corpus(
                settings.model, query, lines, k, corpus=corpus, progress=progress, **opts
            )
    else:
        items = [t for _, t in read_lines(file)] if file is not None else list(texts or [])
        result, vectors = run_sentences.compare_sentences(settings.model, items, **opts)
    _notes(result.notes)
    if output is not None:
        run_sentences.save_npy(output, vectors)
        print(f"embcli: wrote {len(vectors)} vectors to {output}", file=sys.stderr)
    emit(settings.format, result.to_dict(), result.view())
