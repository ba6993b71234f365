"""The picture of ``embcli axis --plot``: words placed by their cosine with one or two axes.

Two axes: each word at (score on the first, score on the second), labelled, with the zero lines,
each axis named by its two ends (the classic gender-by-age picture). One axis: a strip, the
words on a vertical line at their score, each label as near its point as the labels' heights
allow (the least-squares placement without overlaps, found by isotonic regression, a line from
label to point), so that a cluster of twenty words at one end stays readable.
Takes an :class:`~embcli.ask.axis.AxisScores`; matplotlib (Agg) is imported here, lazily.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from embcli.ask.axis import AxisScores
from embcli.ask.directions import Direction
from embcli.ask.words import shortlist
from embcli.draw.plotting import IMAGE_SUFFIXES, Point, _figure, _save, scatter_figure
from embcli.errors import UsageProblem

LABEL_PT = 11.0  # vertical room one label of the strip takes, in points


def axis_plot(result: AxisScores, title: str, out: Path) -> Path:
    """Write the picture of ``result`` to ``out`` (.png, .svg or .pdf), atomically."""
    if out.suffix.lower() not in IMAGE_SUFFIXES:
        raise UsageProblem(f"cannot write {out.name}: axis --plot draws .png, .svg or .pdf")
    return _save(axis_figure(result, title), out)


def axis_figure(result: AxisScores, title: str) -> Any:
    """The picture as a matplotlib ``Figure``: two axes a scatter, one a strip."""
    if not result.words:
        raise UsageProblem("no words to draw")
    space = f", {result.space}" if result.space else ""
    if result.second is not None:
        return _two_axes(result, f"{title}{space}")
    return _strip(result, f"{title}{space}")


def ends(direction: Direction) -> tuple[str, str]:
    """The words at the negative and the positive end of an axis, for its label."""
    if direction.pairs is not None:
        return (shortlist([a for a, _ in direction.pairs], 3),
                shortlist([b for _, b in direction.pairs], 3))  # fmt: skip
    if direction.poles is not None:
        return shortlist(direction.poles["from"], 3), shortlist(direction.poles["to"], 3)
    return "-", "+"


def _axis_label(direction: Direction, vertical: bool = False) -> str:
    low, high = ends(direction)
    how = direction.method
    arrow = ("↓", "↑") if vertical else ("←", "→")
    return f"{arrow[0]} {low}      cosine with the axis ({how})      {high} {arrow[1]}"


def _two_axes(result: AxisScores, title: str) -> Any:
    points = [Point(w.word, "", "") for w in result.words]
    coords = np.array([[w.score, w.score2] for w in result.words], dtype=np.float64)
    fig = scatter_figure(points, coords, title)
    ax = fig.axes[0]
    ax.axhline(0.0, color="#999999", lw=0.8, zorder=1)
    ax.axvline(0.0, color="#999999", lw=0.8, zorder=1)
    ax.set_xlabel(_axis_label(result.axis), fontsize=9)
    ax.set_ylabel(_axis_label(result.second, vertical=True), fontsize=9)  # type: ignore[arg-type]
    return fig


def _strip(result: AxisScores, title: str) -> Any:
    words = sorted(result.words, key=lambda w: w.score)
    scores = np.array([w.score for w in words], dtype=np.float64)
    height = max(4.5, min(40.0, 1.2 + len(words) * LABEL_PT / 72 * 1.15))
    fig = _figure(figsize=(5.2, height), dpi=130)
    ax = fig.subplots()
    lo, hi = float(scores.min()), float(scores.max())
    pad = 0.06 * (hi - lo) + 1e-3
    bottom, top = lo - pad, hi + pad
    ax.set_xlim(-0.08, 1.0)
    ax.set_ylim(bottom, top)
    fig.tight_layout(rect=(0, 0.03, 1, 0.94))
    axes_pt = ax.get_window_extent().height * 72.0 / fig.dpi
    for _ in range(3):  # labels pushed past an end widen the range, which shrinks the gap
        gap = LABEL_PT * (top - bottom) / axes_pt  # one label's height in data units
        placed = _without_overlaps(scores, gap)
        bottom, top = min(bottom, placed[0] - gap / 2), max(top, placed[-1] + gap / 2)
    ax.set_ylim(bottom, top)
    ax.scatter(np.zeros(len(words)), scores, s=28, color="#1f77b4", zorder=3,
               edgecolors="white", linewidths=0.6)  # fmt: skip
    for w, y, at in zip(words, scores, placed, strict=True):
        ax.plot([0.02, 0.16], [y, at], color="#bbbbbb", lw=0.5, zorder=2)
        ax.text(0.18, at, f"{w.word}  {w.score:+.3f}", va="center", fontsize=8.5, color="#222222")
    if lo < 0 < hi:
        ax.axhline(0.0, color="#999999", lw=0.8, zorder=1)
    ax.set_xticks([])
    for side in ("top", "right", "bottom"):
        ax.spines[side].set_visible(False)
    low, high = ends(result.axis)
    ax.set_ylabel(f"cosine with the axis ({result.axis.method})", fontsize=9)
    ax.text(0.0, 1.01, f"↑ {high}", transform=ax.transAxes, fontsize=9, va="bottom")
    ax.text(0.0, -0.01, f"↓ {low}", transform=ax.transAxes, fontsize=9, va="top")
    fig.suptitle(title, fontsize=10)
    return fig


def _without_overlaps(y: np.ndarray, gap: float) -> np.ndarray:
    """Positions ``p`` for labels wanted at ascending ``y``, at least ``gap`` apart, as close to
    ``y`` as possible (least squares): ``p_i = i gap + q_i`` with ``q`` the isotonic
    (non-decreasing) regression of ``y_i - i gap``."""
    from sklearn.isotonic import isotonic_regression

    steps = gap * np.arange(len(y), dtype=np.float64)
    return steps + isotonic_regression(np.asarray(y, np.float64) - steps, increasing=True)
