"""``embcli plot`` (words in 2-D) and ``embcli positions`` (the learned position table)."""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path
from typing import Annotated

import numpy as np
import typer

from embcli.cli.common import load
from embcli.cli.options import CenterOpt, PoolOpt, Settings, with_settings
from embcli.errors import EmbcliError, UnresolvedWord, UsageProblem


class Projection(str, Enum):
    pca = "pca"
    tsne = "tsne"


def register(app: typer.Typer) -> None:
    app.command("plot")(plot)
    app.command("positions")(positions)


def _short(label: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in Path(label).name or label)


def parse_groups(specs: list[str], file: str | None) -> list[tuple[str, list[str]]]:
    """``name=w1,w2`` options and ``name: w1, w2`` file lines, in order."""
    groups: list[tuple[str, list[str]]] = []
    for spec in specs:
        name, sep, words = spec.partition("=")
        if not sep or not name.strip():
            raise UsageProblem(f"--group takes name=word1,word2 (got {spec!r})")
        groups.append((name.strip(), [w.strip() for w in words.split(",") if w.strip()]))
    if file is not None:
        try:
            lines = Path(file).read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise EmbcliError(f"cannot read {file}: {exc.strerror or exc}") from None
        for n, line in enumerate(lines, 1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            name, sep, words = line.partition(":")
            if not sep:
                raise UsageProblem(f"{file} line {n}: expected 'name: word1, word2, ...'")
            groups.append((name.strip(), [w.strip() for w in words.split(",") if w.strip()]))
    return groups


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
) -> None:
    """Project words to 2-D (PCA or t-SNE) and draw them, coloured by group."""
    from embcli.ask.words import resolve
    from embcli.draw import plotting, projection

    groups = parse_groups(group or [], groups_file)
    if words:
        groups.insert(0, ("", list(words)))
    if not any(ws for _, ws in groups):
        raise UsageProblem("name some words, --group name=w1,w2, or --groups-file FILE")
    out = output or Path(f"embcli-plot-{_short(settings.model)}-{method.value}.png")
    plotting.check_output(out)
    table = load(settings)
    mean = table.centered()[1] if center else None
    points, vectors, dropped = [], [], []
    for name, ws in groups:
        for w in ws:
            try:
                r = resolve(table, w, pool=pool is not None)
            except UnresolvedWord as exc:
                dropped.append(f"{w} ({exc.message.split(': ', 1)[-1]})")
                continue
            detail = "+".join(f"{table.tokens[i]!r} #{i}" for i in r.ids)
            points.append(plotting.Point(w, name, detail + (" pooled" if r.pooled else "")))
            vectors.append(r.unit(table, mean))
    if dropped:
        print(f"embcli: left out {len(dropped)} word(s): {'; '.join(dropped)}", file=sys.stderr)
    if len(points) < 3:
        raise UnresolvedWord(f"only {len(points)} word(s) resolved; a plot needs at least 3")
    x = np.stack(vectors)
    if method is Projection.pca:
        coords, explained = projection.pca_2d(x)
        how = f"PCA (explained variance {explained[0]:.0%} + {explained[1]:.0%})"
    else:
        used, note = projection.clamp_perplexity(perplexity, len(points))
        if note:
            print(f"embcli: {note}", file=sys.stderr)
        coords = projection.tsne_2d(x, used, seed)
        how = f"t-SNE (perplexity {used:g}, seed {seed}, cosine)"
    title = f"{Path(table.label).name or table.label}: {how}{', centred' if center else ''}"
    print(plotting.scatter(points, coords, title, out))


@with_settings()
def positions(
    settings: Settings,
    max_positions: Annotated[int, typer.Option("--max", min=2, help="Positions to show.")] = 256,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help=".png, .svg or .pdf")
    ] = None,
) -> None:
    """Heatmap of cosine similarity between learned position vectors, and their norms."""
    from embcli.draw import plotting, projection

    name = position_tensor(settings)
    table = load(settings.merged(tensor=name))
    limit = min(max_positions, table.shape[0])
    sims = projection.position_similarity(table.unit, limit)
    norms = np.asarray(table.norms[:limit])
    out = output or Path(f"embcli-positions-{_short(settings.model)}.png")
    title = f"{Path(table.label).name or table.label}: {name}, first {limit} of {table.shape[0]}"
    print(plotting.heatmap(sims, norms, title, out))


def position_tensor(settings: Settings) -> str:
    """The checkpoint name of the learned position table, or a one-line reason there is none."""
    from embcli.ask.sizing import position_info
    from embcli.read.checkpoint import open_source_checkpoint
    from embcli.read.modelconfig import ModelConfig
    from embcli.read.sources import resolve_hub, resolve_local

    source = resolve_local(settings.model) or resolve_hub(settings.model, settings.revision)
    if source.kind == "vectors":
        raise EmbcliError(f"{settings.model} is a word-vector file: it has no position table")
    cfg = ModelConfig.load(source.fetch("config.json"))
    spec = cfg.position_table()
    if spec is None:
        _, why = position_info(cfg)
        raise EmbcliError(
            f"{settings.model} ({cfg.model_type}) has no learned position table: "
            f"{why.removeprefix('none: ')} positions are computed, not stored"
        )
    ckpt = open_source_checkpoint(source, settings.allow_pickle, None, None)
    suffix = spec[1]
    names = [n for n in ckpt.names() if n == suffix or n.endswith("." + suffix)]
    if not names:
        raise EmbcliError(f"no tensor ending in {suffix} in {settings.model}")
    return sorted(names, key=len)[0]
