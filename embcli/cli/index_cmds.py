"""``embcli index build|add|list|rm`` and ``embcli search``: a corpus embedded once, searched often.

Thin: parse, call one :mod:`embcli.api.index` method, render.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from embcli.api.inputs import read_texts
from embcli.cli.common import model_of, notice
from embcli.cli.options import MODEL_OPTIONS, Settings, command
from embcli.cli.output import emit
from embcli.errors import UsageProblem

index_app = typer.Typer(
    help="Embed a corpus once into the cache (build, add), list and remove indexes.",
    no_args_is_help=True,
)

CorpusArg = Annotated[str, typer.Argument(metavar="CORPUS", help="A text file, one text a line.")]
DeviceOpt = Annotated[
    str, typer.Option("--device", help="Where a transformer runs: cpu, cuda, cuda:1, mps.")
]
BatchOpt = Annotated[
    int | None,
    typer.Option(
        "--batch-size",
        help="Lines per encoder call (default: 1024 for a static model, 32 for a transformer).",
        show_default=False,
    ),
]


def register(app: typer.Typer) -> None:
    app.add_typer(index_app, name="index")
    app.command("search")(search)


def _index(name: str, settings: Settings):  # -> embcli.api.index.Index
    from embcli.api.index import Index

    return Index(name, cache_dir=settings.cache_dir, notice=notice)


@index_app.command("build")
@command(*MODEL_OPTIONS, "cache_dir", "format")
def build(
    settings: Settings,
    corpus: CorpusArg,
    name: Annotated[
        str | None,
        typer.Option(
            "--name", help="The index's name (default: the file's stem).", show_default=False
        ),
    ] = None,
    ann: Annotated[
        bool | None,
        typer.Option(
            "--ann/--no-ann",
            help="Also build an HNSW graph for approximate search (usearch; default: from "
            "200,000 float16 or 2,000,000 float32 rows).",
            show_default=False,
        ),
    ] = None,
    dtype: Annotated[
        str, typer.Option("--dtype", help="How the vectors are stored: float16 or float32.")
    ] = "float16",
    batch_size: BatchOpt = None,
    max_length: Annotated[
        int | None,
        typer.Option(
            "--max-length",
            help="Tokens per line before truncation (default: the model's own limit).",
            show_default=False,
        ),
    ] = None,
    device: DeviceOpt = "cpu",
) -> None:
    """Embed CORPUS once with the model's sentence settings and keep it in the cache.

    Resumable: an interrupted build continues from its last finished chunk when run again.
    """
    model = model_of(settings)
    index = model.index(corpus, name, ann=ann, dtype=dtype, batch_size=batch_size,
                        max_length=max_length, device=device)  # fmt: skip
    result = index.summary()
    emit(settings.format, result.to_dict(), result.view())


@index_app.command("add")
@command("cache_dir", "format")
def add(
    settings: Settings,
    corpus: CorpusArg,
    index: Annotated[
        str, typer.Option("--index", metavar="NAME", help="The index to add the lines to.")
    ],
    batch_size: BatchOpt = None,
    device: DeviceOpt = "cpu",
) -> None:
    """Embed CORPUS's lines after an index's rows; the rows it has are not embedded again.

    A file already in the index that has grown: only its new lines.
    """
    from embcli.cli.progress import progress_bar

    found = _index(index, settings)
    found.progress = progress_bar(found.model)
    result = found.add(corpus, batch_size=batch_size, device=device).summary()
    emit(settings.format, result.to_dict(), result.view())


@index_app.command("list")
@command("cache_dir", "format")
def list_(settings: Settings) -> None:
    """The indexes of the cache: model, rows, dimension, storage, search, size, corpus."""
    from embcli.api.index import indexes

    result = indexes(settings.cache_dir)
    emit(settings.format, result.to_dict(), result.view())


@index_app.command("rm")
@command("cache_dir")
def rm(
    settings: Settings,
    name: Annotated[str, typer.Argument(metavar="NAME", help="The index to remove.")],
) -> None:
    """Remove an index from the cache (and the kept chunks of an unfinished build of it)."""
    from embcli.api.index import Index

    whole = Index.discard(name, settings.cache_dir)
    what = f"index {name}" if whole else f"the unfinished build of index {name}"
    print(f"embcli: removed {what}", file=sys.stderr)


@command("cache_dir", "format")
def search(
    settings: Settings,
    queries: Annotated[
        list[str] | None,
        typer.Argument(metavar="QUERY...", help="Texts to search for ('-': one a line on stdin)."),
    ] = None,
    index: Annotated[
        str | None,
        typer.Option(
            "--index",
            metavar="NAME",
            help="The index to search (embcli index list).",
            show_default=False,
        ),
    ] = None,
    query: Annotated[
        list[str] | None,
        typer.Option(
            "--query",
            help="A text to search for ('-': one a line on stdin); repeatable.",
            show_default=False,
        ),
    ] = None,
    k: Annotated[int, typer.Option("-k", "--top", help="Results per query.")] = 10,
    exact: Annotated[
        bool,
        typer.Option("--exact", help="Search every vector even when the index has an HNSW graph."),
    ] = False,
    model: Annotated[
        str | None,
        typer.Option(
            "--model",
            "-m",
            help="Refuse the index unless it was built with this model.",
            show_default=False,
        ),
    ] = None,
    device: DeviceOpt = "cpu",
) -> None:
    """The k lines of an index closest to each query, from its memory-mapped vectors.

    Exact by default; approximate (HNSW) when the index has a graph, and the output says which.
    """
    if index is None:
        raise UsageProblem("name the index: --index NAME (embcli index list)")
    given = [*(queries or []), *(query or [])]
    if not given:
        raise UsageProblem("give one or more queries, or '-' to read them from stdin")
    texts: list[str] = []
    for q in given:
        texts += [t for _, t in read_texts("-")] if q == "-" else [q]
    if not texts:
        raise UsageProblem("stdin holds no queries")
    from embcli.api.index import Index

    found = Index(index, cache_dir=settings.cache_dir, notice=notice, model=model)
    result = found.search(texts, k, exact=exact, device=device)
    for note in result.notes:
        notice(note)
    emit(settings.format, result.to_dict(), result.view())
    notice(f"{result.how} over {result.rows:,} rows")
