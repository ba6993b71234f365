"""Words in 2-D and the position table, as objects: what ``plot`` and ``positions`` draw.

:func:`project_words` resolves the words, projects their vectors (PCA or t-SNE) and returns a
:class:`WordPlot` that can make a matplotlib ``Figure`` (shown inline by Jupyter) or write a
PNG/SVG/PDF/HTML file. Words that do not resolve are left out and listed in ``dropped``; fewer
than three words left is an error. :func:`position_plot` does the same for the learned position
table of a model (GPT-2, BERT), found from its config.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from embcli.errors import EmbcliError, UnresolvedWord, UsageProblem
from embcli.store.table import EmbeddingTable, Space, Transform

if TYPE_CHECKING:
    from matplotlib.figure import Figure

Groups = list[tuple[str, list[str]]]


def title_name(label: str) -> str:
    """A local model by its directory's parent and name (``pkg/model``), a Hub id as it is."""
    path = Path(label)
    return "/".join(path.parts[-2:]) if path.is_absolute() else label


@dataclass
class WordPlot:
    """Projected words: ``coords[i]`` places ``points[i]`` (label, group, token detail)."""

    points: list[Any]  # plotting.Point
    coords: np.ndarray
    title: str
    dropped: list[str] = field(default_factory=list)  # "word (reason)"
    notes: list[str] = field(default_factory=list)  # e.g. a clamped t-SNE perplexity

    def figure(self) -> Figure:
        """The scatter as a matplotlib ``Figure`` (Jupyter shows it inline)."""
        from embcli.draw import plotting

        fig: Figure = plotting.scatter_figure(self.points, self.coords, self.title)
        return fig

    def save(self, out: str | Path) -> Path:
        """Write ``.png``, ``.svg``, ``.pdf`` or an interactive ``.html`` page, atomically."""
        from embcli.draw import plotting

        return plotting.scatter(self.points, self.coords, self.title, Path(out))


def project_words(
    table: EmbeddingTable,
    groups: Groups | Mapping[str, Sequence[str]],
    *,
    method: str = "pca",
    perplexity: float = 30.0,
    seed: int = 0,
    pool: bool = False,
    space: Space | None = None,
) -> WordPlot:
    """Resolve the words of ``groups`` (name -> words; name '' for ungrouped) and project them,
    in ``space`` (the table's own rows when None; :mod:`embcli.ask.space`)."""
    from embcli.ask.words import resolve
    from embcli.draw import plotting, projection

    if method not in ("pca", "tsne"):
        raise UsageProblem(f"method must be pca or tsne, not {method!r}")
    items = list(groups.items()) if isinstance(groups, Mapping) else list(groups)
    if not any(ws for _, ws in items):
        raise UsageProblem("name some words, --group name=w1,w2, or --groups-file FILE")
    transform = space.transform if space is not None else Transform()  # identity: no option
    points, vectors, dropped = [], [], []
    for name, ws in items:
        for w in ws:
            try:
                r = resolve(table, w, pool=pool)
            except UnresolvedWord as exc:
                dropped.append(f"{w} ({exc.message.split(': ', 1)[-1]})")
                continue
            detail = "+".join(f"{table.tokens[i]!r} #{i}" for i in r.ids)
            points.append(plotting.Point(w, name, detail + (" pooled" if r.pooled else "")))
            vectors.append(r.unit(table, transform))
    if len(points) < 3:
        raise UnresolvedWord(
            f"a plot needs at least 3 words in the table; {len(points)} given"
            + (f" of {len(points) + len(dropped)}" if dropped else ""),
            f"left out: {'; '.join(dropped)}" if dropped else None,
        )
    x = np.stack(vectors)
    notes = []
    if method == "pca":
        coords, explained = projection.pca_2d(x)
        how = f"PCA (explained variance {explained[0]:.0%} + {explained[1]:.0%})"
    else:
        used, note = projection.clamp_perplexity(perplexity, len(points))
        if note:
            notes.append(note)
        coords = projection.tsne_2d(x, used, seed)
        how = f"t-SNE (perplexity {used:g}, seed {seed}, cosine)"
    done = f", {transform.caption()}" if transform is not None else ""
    title = f"{title_name(table.label)}: {how}{done}"
    return WordPlot(points, coords, title, dropped, notes)


@dataclass
class PositionPlot:
    """Cosines between the first ``len(norms)`` learned position vectors, and their norms."""

    tensor: str
    sims: np.ndarray
    norms: np.ndarray
    title: str

    def figure(self) -> Figure:
        """The heatmap as a matplotlib ``Figure`` (Jupyter shows it inline)."""
        from embcli.draw import plotting

        fig: Figure = plotting.heatmap_figure(self.sims, self.norms, self.title)
        return fig

    def save(self, out: str | Path) -> Path:
        from embcli.draw import plotting

        return plotting.heatmap(self.sims, self.norms, self.title, Path(out))


def position_plot(table: EmbeddingTable, tensor: str, max_positions: int = 256) -> PositionPlot:
    """The heatmap data of a position table opened as a table (``open_table(tensor=...)``)."""
    from embcli.draw import projection

    limit = min(max_positions, table.shape[0])
    sims = projection.position_similarity(table.unit, limit)
    norms = np.asarray(table.norms[:limit])
    title = f"{title_name(table.label)}: {tensor}, first {limit} of {table.shape[0]}"
    return PositionPlot(tensor, sims, norms, title)


def position_tensor(model: str, revision: str | None = None, allow_pickle: bool = False) -> str:
    """The checkpoint name of the learned position table, or a one-line reason there is none."""
    from embcli.ask.sizing import position_info
    from embcli.read.probe import find_position_tensor

    cfg, name = find_position_tensor(model, revision, allow_pickle)
    if name is None:
        _, why = position_info(cfg)
        raise EmbcliError(
            f"{model} ({cfg.model_type}) has no learned position table: "
            f"{why.removeprefix('none: ')} positions are computed, not stored"
        )
    return name
