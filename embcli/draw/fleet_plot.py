"""Pictures of one question asked of many models (``embcli stats -m A -m B --plot FILE``):
figures across models as bars (one panel per figure, one bar per model; or a group of bars per
model), and a word's neighbours per model as a grid (model x rank, the token in each cell,
shaded by its score). Models are listed top to bottom in the order given; long names are cut
in the middle so every panel stays readable."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from embcli.draw.plotting import PALETTE, _figure, _save

#: Longest model name shown whole on an axis; longer ones keep their start and end.
NAME_WIDTH = 36


def short_name(name: str, width: int = NAME_WIDTH) -> str:
    """``name`` cut in the middle to ``width`` characters (a path keeps its last part)."""
    if len(name) <= width:
        return name
    tail = width * 2 // 3
    return name[: width - tail - 1] + "\u2026" + name[-tail:]


def _names(models: Sequence[str]) -> list[str]:
    shown = [short_name(m) for m in models]
    if len(set(shown)) < len(shown):  # two names cut alike: number them
        shown = [f"{i + 1}. {s}" for i, s in enumerate(shown)]
    return shown


def _height(models: int, per: float = 0.32, least: float = 2.6) -> float:
    return max(least, 1.2 + per * models)


def _label_at(ax, value: float, y: float, text: str, fontsize: float) -> None:
    """``text`` just beyond a horizontal bar's end: to the right of a positive bar, to the
    left of a negative one (so it never sits on the bar or the zero line)."""
    left = value < 0
    ax.annotate(text, (value, y), xytext=(-3 if left else 3, 0), textcoords="offset points",
                va="center", ha="right" if left else "left", fontsize=fontsize)  # fmt: skip


def metric_bars(models: Sequence[str], panels: Sequence[tuple[str, Sequence[float | None]]],
                title: str, notes: Sequence[str | None] | None = None):  # fmt: skip
    """One panel per figure (``panels``: its name and one value per model, None where a model
    has none), a horizontal bar per model, the value written at its end; where a model has no
    value, its ``notes`` entry ("failed") or "none"."""
    notes = list(notes) if notes is not None else [None] * len(models)
    columns = min(len(panels), 3)
    rows = -(-len(panels) // columns)
    fig = _figure(figsize=(5.2 * columns + 1.6, _height(len(models)) * rows), dpi=120)
    axes = np.atleast_1d(fig.subplots(rows, columns, squeeze=False)).ravel()
    y = np.arange(len(models))
    names = _names(models)
    for n, (ax, (label, values)) in enumerate(zip(axes, panels, strict=False)):
        heights = [np.nan if v is None else float(v) for v in values]
        ax.barh(y, np.nan_to_num(heights), color=PALETTE[n % len(PALETTE)], height=0.6,
                gid=label)  # fmt: skip
        for i, v in enumerate(heights):
            said, at = (notes[i] or "none", 0.0) if np.isnan(v) else (f"{v:.4g}", v)
            _label_at(ax, at, i, said, 8)
        ax.set_yticks(y, names if n % columns == 0 else [""] * len(names), fontsize=8)
        ax.invert_yaxis()
        ax.set_title(label, fontsize=10)
        ax.axvline(0, color="#999999", linewidth=0.6)
        ax.grid(True, axis="x", color="#eeeeee")
        ax.set_axisbelow(True)
        ax.margins(x=0.18)
    for ax in axes[len(panels) :]:
        ax.set_visible(False)
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return fig


def grouped_bars(models: Sequence[str], series: Sequence[tuple[str, Sequence[float | None]]],
                 title: str, xlabel: str, notes: Sequence[str | None] | None = None):  # fmt: skip
    """One panel: for each model a group of horizontal bars, one per series (a legend names
    them), the value written at each bar's end; a model without values (None) has its
    ``notes`` entry ("failed") in place of its group."""
    notes = list(notes) if notes is not None else [None] * len(models)
    fig = _figure(figsize=(9.5, _height(len(models), 0.22 * len(series) + 0.2)), dpi=120)
    ax = fig.subplots()
    y = np.arange(len(models))
    width = 0.8 / max(len(series), 1)
    for n, (label, values) in enumerate(series):
        at = y - 0.4 + width * (n + 0.5)
        shown = [v for v in values if v is not None]
        ax.barh([p for p, v in zip(at, values, strict=True) if v is not None], shown,
                height=width * 0.92, color=PALETTE[n % len(PALETTE)], label=label,
                gid=label)  # fmt: skip
        for pos, v in zip(at, values, strict=True):
            if v is not None:
                _label_at(ax, v, pos, f"{v:,.4g}", 7)
    for i, note in enumerate(notes):
        if all(values[i] is None for _, values in series):
            _label_at(ax, 0.0, i, note or "none", 8)
    ax.set_yticks(y, _names(models), fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel(xlabel)
    ax.grid(True, axis="x", color="#eeeeee")
    ax.set_axisbelow(True)
    ax.margins(x=0.15)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, fontsize=8)
    ax.set_title(title, fontsize=11)
    fig.tight_layout()
    return fig


def neighbor_grid(models: Sequence[str],
                  grids: Sequence[tuple[str, Sequence[Sequence[tuple[str, float]] | None]]],
                  title: str, notes: Sequence[str | None] | None = None):  # fmt: skip
    """One panel per query: a row per model, a column per rank, each cell the neighbour's
    token and score, shaded by the score (a model without the query: a row saying so, its
    ``notes`` entry ("failed") or "not in this model")."""
    notes = list(notes) if notes is not None else [None] * len(models)
    ranks = max((len(r) for _, rows in grids for r in rows if r), default=1)
    fig = _figure(figsize=(2.6 + 1.25 * ranks, sum(_height(len(models), 0.42, 1.6)
                                                  for _ in grids)), dpi=120)  # fmt: skip
    axes = np.atleast_1d(fig.subplots(len(grids), 1, squeeze=False)).ravel()
    scores = [s for _, rows in grids for r in rows if r for _, s in r]
    low, high = (min(scores), max(scores)) if scores else (0.0, 1.0)
    if high - low < 1e-9:
        low, high = low - 0.5, high + 0.5
    for ax, (query, rows) in zip(axes, grids, strict=True):
        shade = np.full((len(models), ranks), np.nan)
        for i, row in enumerate(rows):
            for j, (_, score) in enumerate(row or ()):
                shade[i, j] = score
        image = ax.imshow(shade, cmap="Blues", vmin=low, vmax=high + 0.35 * (high - low),
                          aspect="auto", interpolation="nearest")  # fmt: skip
        for i, row in enumerate(rows):
            if not row:
                ax.text(-0.4, i, notes[i] or "not in this model", va="center", fontsize=8,
                        color="#999999")  # fmt: skip
            for j, (token, score) in enumerate(row or ()):
                ax.text(j, i, f"{_cell(token)}\n{score:.3f}", ha="center", va="center",
                        fontsize=7)  # fmt: skip
        ax.set_xticks(np.arange(ranks), [str(r + 1) for r in range(ranks)], fontsize=8)
        ax.set_yticks(np.arange(len(models)), _names(models), fontsize=8)
        ax.set_xlabel("rank")
        ax.set_title(f"neighbours of {query}", fontsize=10)
        fig.colorbar(image, ax=ax, fraction=0.03, pad=0.02, label="score")
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return fig


def _cell(token: str, width: int = 12) -> str:
    """A token as a cell shows it: spaces visible, cut to ``width``."""
    shown = token.replace(" ", "\u2423").replace("\n", "\\n")
    return shown if len(shown) <= width else shown[: width - 1] + "\u2026"


def save(fig: object, out: Path) -> Path:
    """Write a figure of this module to ``out`` (.png/.svg/.pdf), atomically."""
    return _save(fig, out)
