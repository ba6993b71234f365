"""``embcli map``: every row of a table on one self-contained interactive page."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from embcli.cli.common import table_of
from embcli.cli.options import TABLE_OPTIONS, Settings, command
from embcli.errors import Interrupted, UsageProblem


class Layout(str, Enum):
    pca = "pca"
    tsne = "tsne"
    umap = "umap"


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
        typer.Option(
            "--method",
            help="pca (of the unit rows), umap (by cosine; 100,000 rows at most) or tsne "
            "(10,000 rows at most).",
        ),
    ] = Layout.pca,
    seed: Annotated[
        int, typer.Option("--seed", help="Seed of the sample, k-means, UMAP and t-SNE.")
    ] = 0,
    clusters: Annotated[
        int, typer.Option("--clusters", help="k-means clusters of the unit rows (1 to 255).")
    ] = 20,
    k: Annotated[int, typer.Option("-k", help="Neighbours listed per row (1 to 100).")] = 10,
    perplexity: Annotated[
        float, typer.Option("--perplexity", help="t-SNE's perplexity (1 or more).")
    ] = 30.0,
    umap_neighbors: Annotated[
        int, typer.Option("--umap-neighbors", help="UMAP's n_neighbors (2 to 200).")
    ] = 15,
    umap_min_dist: Annotated[
        float, typer.Option("--umap-min-dist", help="UMAP's min_dist (0 to 1).")
    ] = 0.1,
    axis: Annotated[
        list[str] | None,
        typer.Option(
            "--axis",
            metavar="PAIRS",
            help="A layer of every row's score on the axis these pairs make, as embcli axis "
            "--pairs takes them: a:b,c:d, a file with one pair a line, or a section of the "
            "bundled analogy set.",
            show_default=False,
        ),
    ] = None,
    compare: Annotated[
        list[str] | None,
        typer.Option(
            "--compare",
            metavar="MODEL",
            help="Layers of each row's cosine with its row in this other table B (named as "
            "-m names a model: a GGUF quantisation, a fine-tune, a checkpoint) and of the "
            "Jaccard@k of its neighbour lists in both.",
            show_default=False,
        ),
    ] = None,
    serve: Annotated[
        bool,
        typer.Option(
            "--serve",
            help="Serve the page as a live local app (neighbours of any word, analogy, "
            "similarity, axis: docs/map.md) and print its URL; Ctrl-C stops it.",
        ),
    ] = False,
    port: Annotated[
        int | None,
        typer.Option(
            "--port",
            help="With --serve: the port (default: 8765; 0: any free one).",
            show_default=False,
        ),
    ] = None,
    host: Annotated[
        str | None,
        typer.Option(
            "--host",
            help="With --serve: the address to listen on (default: 127.0.0.1, this machine only).",
            show_default=False,
        ),
    ] = None,
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
    network). Each point is a row; colour by kind, k-means cluster, norm, id, under-trained
    score or flag (as undertrained finds them), and with --axis a semantic axis, with --compare
    the cosine and neighbour agreement with another table; filter by kind; search a word as
    embcli resolves it; click a point for its exact nearest rows in the full table. The layout,
    clusters and neighbours are kept in the cache, so a second map of the table is quick. With
    --serve, the page is served on 127.0.0.1 (--port, --host) as a live app that also asks the
    table: neighbours of any word, a - b + c, similarity, an axis from pairs (JSON endpoints,
    docs/map.md). Needs pip install 'embcli[map]'.
    """
    from embcli.api import inputs

    for name, given, what in (("--compare", compare, "table"), ("--axis", axis, "axis")):
        if given is not None and len(given) > 1:
            raise UsageProblem(
                f"{name} takes one {what}; it was given {len(given)} times "
                f"({', '.join(given)}): make one map per {what}"
            )
    if not serve and (host is not None or port is not None):
        raise UsageProblem("--host and --port go with --serve")
    if serve and output is not None:
        raise UsageProblem("--serve serves the page: leave out --output, or --serve")
    table = table_of(settings)
    app = None
    if serve:
        from embcli.api.map_app import MapApp

        # bound first: a port in use is said before the minutes of work
        app = MapApp(table, host, 8765 if port is None else port)
        out = None
    else:
        out = output if output is not None else Path(f"embcli-map-{_short(settings.model)}.html")
        settings.will_write(out)
    page = table.map(
        sample=sample,
        method=method.value,
        seed=seed,
        clusters=clusters,
        k=k,
        perplexity=perplexity,
        umap_neighbors=umap_neighbors,
        umap_min_dist=umap_min_dist,
        axis=inputs.axis_pairs(axis[0]) if axis else None,
        compare=compare[0] if compare else None,
        output=out,
        neighbors=neighbors.value,
    )
    if app is None:
        print(out)
        return
    app.show(page)
    print(app.url, flush=True)
    try:
        app.serve_forever()
    except KeyboardInterrupt:
        raise Interrupted(f"stopped serving {app.url}") from None
