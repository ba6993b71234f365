"""Words in 2-D and the position table, drawn: what ``plot`` and ``positions`` write.

The numbers are asked in :mod:`embcli.ask.projection` (words resolved and projected, position
cosines); a :class:`WordPlot` or :class:`PositionPlot` holds them and can make a matplotlib
``Figure`` (shown inline by Jupyter) or write a PNG/SVG/PDF (and, for words, HTML) file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from embcli.ask.projection import PositionSimilarity, Projected


@dataclass
class WordPlot:
    """Projected words: ``coords[i]`` places ``points[i]`` (label, group, token detail)."""

    points: list[Any]  # plotting.Point
    coords: np.ndarray
    title: str
    dropped: list[str] = field(default_factory=list)  # "word (reason)"
    notes: list[str] = field(default_factory=list)  # e.g. a clamped t-SNE perplexity

    @classmethod
    def of(cls, projected: Projected) -> WordPlot:
        """The picture of what :func:`embcli.ask.projection.project_words` found."""
        from embcli.draw.plotting import Point

        points = [
            Point(w, g, d)
            for w, g, d in zip(projected.words, projected.groups, projected.details, strict=True)
        ]
        return cls(points, projected.coords, projected.title, projected.dropped, projected.notes)

    def figure(self) -> Figure:
        """The scatter as a matplotlib ``Figure`` (Jupyter shows it inline)."""
        from embcli.draw import plotting

        fig: Figure = plotting.scatter_figure(self.points, self.coords, self.title)
        return fig

    def save(self, out: str | Path) -> Path:
        """Write ``.png``, ``.svg``, ``.pdf`` or an interactive ``.html`` page, atomically."""
        from embcli.draw import plotting

        return plotting.scatter(self.points, self.coords, self.title, Path(out))


@dataclass
class PositionPlot:
    """Cosines between the first ``len(norms)`` learned position vectors, and their norms."""

    tensor: str
    sims: np.ndarray
    norms: np.ndarray
    title: str

    @classmethod
    def of(cls, found: PositionSimilarity) -> PositionPlot:
        """The heatmap of what :func:`embcli.ask.projection.position_similarities` found."""
        return cls(found.tensor, found.sims, found.norms, found.title)

    def figure(self) -> Figure:
        """The heatmap as a matplotlib ``Figure`` (Jupyter shows it inline)."""
        from embcli.draw import plotting

        fig: Figure = plotting.heatmap_figure(self.sims, self.norms, self.title)
        return fig

    def save(self, out: str | Path) -> Path:
        from embcli.draw import plotting

        return plotting.heatmap(self.sims, self.norms, self.title, Path(out))
