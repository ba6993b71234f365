"""``embcli plot`` (words in 2-D) and ``embcli positions`` (the learned position table)."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from embcli.cli.common import model_of, table_of
from embcli.cli.options import (
    MODEL_OPTIONS,
    TABLE_OPTIONS,
    CenterOpt,
    PoolOpt,
    RemoveAxisOpt,
    RemovePcsOpt,
    Settings,
    axis_to_remove,
    command,
)


class Projection(str, Enum):
    pca = "pca"
    tsne = "tsne"


def register(app: typer.Typer) -> None:
    app.command("plot")(plot)
    app.command("positions")(positions)


def _short(label: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in Path(label).name or label)


@command(*TABLE_OPTIONS)
def plot(
    settings: Settings,
    words: Annotated[list[str] | None, typer.Argument(help="Words to place.")] = None,
    group: Annotated[
        list[str] | None,
        typer.Option("--group", "-g", help="A coloured group: name=word1,word2 (repeatable)."),
    ] = None,
    groups_file: Annotated[
        str | None,
        typer.Option(
            "--groups-file",
            metavar="FILE",
            help="One group per line: 'name: w1, w2' ('-': stdin).",
            show_default=False,
        ),
    ] = None,
    method: Annotated[Projection, typer.Option("--method", help="pca or tsne.")] = Projection.pca,
    perplexity: Annotated[
        float, typer.Option("--perplexity", help="t-SNE's perplexity (1 or more).")
    ] = 30.0,
    seed: Annotated[int, typer.Option("--seed", help="t-SNE's random seed.")] = 0,
    plot: Annotated[
        Path | None,
        typer.Option(
            "--plot",
            metavar="FILE",
            help=".png, .svg, .pdf or .html (default: embcli-plot-MODEL-METHOD.png).",
            show_default=False,
        ),
    ] = None,
    pool: PoolOpt = None,
    center: CenterOpt = False,
    remove_pcs: RemovePcsOpt = 0,
    remove_axis: RemoveAxisOpt = None,
) -> None:
    """Project words to 2-D (PCA or t-SNE) and draw them, coloured by group."""
    default = Path(f"embcli-plot-{_short(settings.model)}-{method.value}.png")
    out = plot if plot is not None else default
    settings.will_write(out)
    from embcli.api.inputs import read_groups

    table_of(settings).project(
        words,
        groups=read_groups(group or [], groups_file),
        method=method.value,
        perplexity=perplexity,
        seed=seed,
        pool=pool is not None,
        center=center,
        remove_pcs=remove_pcs,
        remove_axis=axis_to_remove(remove_axis),
        plot=out,
    )
    print(out)


@command(*MODEL_OPTIONS, "file", "quant", "cache_dir")
def positions(
    settings: Settings,
    max_positions: Annotated[
        int, typer.Option("--max", help="Positions to show (2 or more).")
    ] = 256,
    plot: Annotated[
        Path | None,
        typer.Option(
            "--plot",
            metavar="FILE",
            help=".png, .svg or .pdf (default: embcli-positions-MODEL.png).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Heatmap of cosine similarity between learned position vectors, and their norms."""
    out = plot if plot is not None else Path(f"embcli-positions-{_short(settings.model)}.png")
    settings.will_write(out)
    model_of(settings).position_plot(max_positions, plot=out)
    print(out)
