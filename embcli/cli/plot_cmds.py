"""``embcli plot`` (words in 2-D) and ``embcli positions`` (the learned position table)."""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from embcli.cli.common import load
from embcli.cli.options import CenterOpt, PoolOpt, RemovePcsOpt, Settings, with_settings


class Projection(str, Enum):
    pca = "pca"
    tsne = "tsne"


def register(app: typer.Typer) -> None:
    app.command("plot")(plot)
    app.command("positions")(positions)


def _short(label: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in Path(label).name or label)


@with_settings()
def plot(
    settings: Settings,
    words: Annotated[list[str] | None, typer.Argument(help="Words to place.")] = None,
    group: Annotated[
        list[str] | None,
        typer.Option("--group", "-g", help="A coloured group: name=word1,word2 (repeatable)."),
    ] = None,
    groups_file: Annotated[
        str | None, typer.Option("--groups-file", help="One group per line: 'name: w1, w2'.")
    ] = None,
    method: Annotated[Projection, typer.Option("--method", help="pca or tsne.")] = Projection.pca,
    perplexity: Annotated[float, typer.Option("--perplexity", min=1.0)] = 30.0,
    seed: Annotated[int, typer.Option("--seed", help="t-SNE's random seed.")] = 0,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help=".png, .svg, .pdf or .html")
    ] = None,
    pool: PoolOpt = None,
    center: CenterOpt = False,
    remove_pcs: RemovePcsOpt = 0,
) -> None:
    """Project words to 2-D (PCA or t-SNE) and draw them, coloured by group."""
    from embcli.draw import plotting, wordplot
    from embcli.errors import UsageProblem

    groups = wordplot.parse_groups(group or [], groups_file)
    if words:
        groups.insert(0, ("", list(words)))
    if not any(ws for _, ws in groups):
        raise UsageProblem("name some words, --group name=w1,w2, or --groups-file FILE")
    out = output or Path(f"embcli-plot-{_short(settings.model)}-{method.value}.png")
    plotting.check_output(out)
    table = load(settings)
    picture = wordplot.project_words(
        table,
        groups,
        method=method.value,
        perplexity=perplexity,
        seed=seed,
        pool=pool is not None,
        center=center,
        remove_pcs=remove_pcs,
    )
    dropped = picture.dropped
    if dropped:
        print(f"embcli: left out {len(dropped)} word(s): {'; '.join(dropped)}", file=sys.stderr)
    for note in picture.notes:
        print(f"embcli: {note}", file=sys.stderr)
    print(picture.save(out))


@with_settings()
def positions(
    settings: Settings,
    max_positions: Annotated[int, typer.Option("--max", min=2, help="Positions to show.")] = 256,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help=".png, .svg or .pdf")
    ] = None,
) -> None:
    """Heatmap of cosine similarity between learned position vectors, and their norms."""
    from embcli.draw import wordplot

    name = wordplot.position_tensor(settings.model, settings.revision, settings.allow_pickle)
    table = load(settings.merged(tensor=name))
    out = output or Path(f"embcli-positions-{_short(settings.model)}.png")
    print(wordplot.position_plot(table, name, max_positions).save(out))
