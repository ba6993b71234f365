"""``embcli context`` and ``embcli sentences``: the two commands that run the model.

Thin: parse, call one :class:`embcli.api.Model` method, render. torch and transformers are
imported by the library when the model runs, so no other command pays for them.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from embcli.api.inputs import read_texts
from embcli.cli.common import model_of
from embcli.cli.options import MODEL_OPTIONS, Settings, command
from embcli.cli.output import emit
from embcli.errors import UsageProblem

DeviceOpt = Annotated[
    str, typer.Option("--device", help="Where to run the model: cpu, cuda, cuda:1, mps.")
]
MaxLengthOpt = Annotated[
    int | None,
    typer.Option(
        "--max-length",
        help="Tokens per sentence before truncation (default: the model's own limit).",
        show_default=False,
    ),
]
BatchOpt = Annotated[int, typer.Option("--batch-size", help="Sentences per forward pass.")]
FileOpt = Annotated[
    str | None,
    typer.Option(
        "--file", metavar="FILE", help="Sentences, one per line ('-': stdin).", show_default=False
    ),
]


def register(app: typer.Typer) -> None:
    app.command("context")(context)
    app.command("sentences")(sentences)


def _render(settings: Settings, result: Any) -> None:
    for note in result.notes:
        print(f"embcli: {note}", file=sys.stderr)
    emit(settings.format, result.to_dict(), result.view())


# -- context -------------------------------------------------------------------------------------


@command(*MODEL_OPTIONS, "format")
def context(
    settings: Settings,
    word: Annotated[str, typer.Argument(help="The word to follow through the layers.")],
    texts: Annotated[
        list[str] | None, typer.Argument(help="Two or more sentences that contain the word.")
    ] = None,
    file: FileOpt = None,
    occurrence: Annotated[
        int | None,
        typer.Option(
            "--occurrence", help="Which occurrence of the word (from 1).", show_default=False
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
    k: Annotated[int, typer.Option("-k", "--top", help="Nearest tokens to show.")] = 5,
    plot: Annotated[
        Path | None,
        typer.Option(
            "--plot",
            metavar="FILE",
            help="Draw cosine against layer: .png, .svg, .pdf or .html.",
            show_default=False,
        ),
    ] = None,
    max_length: MaxLengthOpt = None,
    device: DeviceOpt = "cpu",
    side: Annotated[
        str | None,
        typer.Option(
            "--side",
            metavar="encoder|decoder",
            help="Encoder-decoders: which stack reads the sentences (default: the encoder).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """How a word's vector changes with its sentence, layer by layer (runs the model).

    For every layer: the cosine of the word's vectors between each pair of sentences, beside the
    layer's baseline (mean cosine of different tokens). Then the nearest tokens at --layer: the
    logit lens for a causal LM, otherwise the nearest rows of the static table.
    """
    settings.will_write(plot)
    if texts and file is not None:
        raise UsageProblem("give sentences or --file, not both")
    items = [t for _, t in read_texts(file)] if file is not None else list(texts or [])
    result = model_of(settings).context(word, items, occurrence=occurrence, layer=layer, k=k,
                                        max_length=max_length, device=device,
                                        plot=plot, side=side)  # fmt: skip
    _render(settings, result)
    if plot is not None:
        print(f"embcli: wrote {plot}", file=sys.stderr)


# -- sentences -----------------------------------------------------------------------------------


@command(*MODEL_OPTIONS, "format")
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
        typer.Option(
            "--corpus", metavar="FILE", help="One text per line ('-': stdin).", show_default=False
        ),
    ] = None,
    k: Annotated[int, typer.Option("-k", "--top", help="Results of a --query.")] = 10,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            metavar="FILE",
            help="Write the vectors to this .npy file.",
            show_default=False,
        ),
    ] = None,
    file: FileOpt = None,
    batch_size: BatchOpt = 32,
    max_length: MaxLengthOpt = None,
    device: DeviceOpt = "cpu",
) -> None:
    """Sentence vectors as the model's sentence-transformers config makes them (runs the model).

    Prints the cosine matrix of the sentences, or with --query and --corpus the k closest lines.
    """
    searching = query is not None or corpus is not None
    if searching and (query is None or corpus is None):
        raise UsageProblem("--query and --corpus go together")
    if searching and (texts or file):
        raise UsageProblem("give sentences (or --file), or --query with --corpus, not both")
    if texts and file is not None:
        raise UsageProblem("give sentences or --file, not both")
    settings.will_write(output)
    model = model_of(settings)
    options: dict[str, Any] = {"device": device, "batch_size": batch_size,
                               "max_length": max_length, "output": output}  # fmt: skip
    if searching:
        assert query is not None and corpus is not None
        result: Any = model.search(query, read_texts(corpus), k, corpus_name=corpus, **options)
    else:
        items = [t for _, t in read_texts(file)] if file is not None else list(texts or [])
        result = model.sentences(items, **options)
    _render(settings, result)
    if output is not None:
        n = result.corpus_size if searching else len(result.sentences)
        print(f"embcli: wrote {n} vectors to {output}", file=sys.stderr)
