"""``embcli map``: every row of a table on one self-contained interactive page."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from embcli.cli.common import table_of
from embcli.cli.options import TABLE_OPTIONS, Settings, command


class Layout(str, Enum):
    pca = "pca"
    tsne = "tsne"


class Lists(str, Enum):
    auto = "auto"
    exact = "exact"
    ann = "ann"


def register(app: typer.Typer) -> None:
    app.command("map")(map_)


def _short(label: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in Path(label).name or label)


@command(*TABLE_OPTIONS)
def map_(
    settings: Settings,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            metavar="FILE",
            help="The page to write, .html (default: embcli-map-MODEL.html).",
            show_default=False,
        ),
    ] = None,
    sample: Annotated[
        int | None,
        typer.Option(
            "--sample",
            help="Show N rows chosen by --seed (default: every row).",
            show_default=False,
        ),
    ] = None,
    method: Annotated[
        Layout,
        typer.Option("--method", help="pca (of the unit rows) or tsne (10,000 rows at most)."),
    ] = Layout.pca,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the sample, k-means and t-SNE.")] = 0,
    clusters: Annotated[
        int, typer.Option("--clusters", help="k-means clusters of the unit rows (1 to 255).")
    ] = 20,
    k: Annotated[int, typer.Option("-k", help="Neighbours listed per row (1 to 100).")] = 10,
    perplexity: Annotated[
        float, typer.Option("--perplexity", help="t-SNE's perplexity (1 or more).")
    ] = 30.0,
    neighbors: Annotated[
        Lists,
        typer.Option(
            "--neighbors",
            help="How each row's neighbour list is found: exact, ann (an HNSW graph, usearch: "
            "recall@10 measured and shown on the page) or auto "
            "(exact where that takes about a minute here, ann beyond).",
        ),
    ] = Lists.auto,
) -> None:
    """Write one HTML page of every row of the table: zoom, hover, search, neighbours.

    The page is self-contained (plotly.js and the data inlined: it opens from file:// with no
    network). Each point is a row; colour by kind, k-means cluster, norm, id or under-trained
    score; filter by kind; search a word as embcli resolves it; click a point for its exact
    nearest rows in the full table. Coordinates, clusters and neighbours are kept in the cache,
    so a second map of the table is quick. Needs pip install 'embcli[map]'.
    """
    out = output if output is not None else Path(f"embcli-map-{_short(settings.model)}.html")
    settings.will_write(out)
    table_of(settings).map(
        sample=sample,
        method=method.value,
        seed=seed,
        clusters=clusters,
        k=k,
        perplexity=perplexity,
        output=out,
        neighbors=neighbors.value,
    )
    print(out)
