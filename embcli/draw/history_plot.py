"""The picture of ``embcli history``: a table's statistics and drift over training steps, and
when its words settle.

Six panels share the step axis: mean row norm, anisotropy, effective rank, isotropy (log), the
drift from the previous checkpoint (solid) and to the last (dashed: CKA, Procrustes cosine,
Jaccard@10), and the settle steps of the sampled words by quartile of row id (frequent tokens
first), with each ``--words`` word marked. Steps that span two decades or more are drawn on a
*symlog* axis (matplotlib's ``symlog``): linear from 0 to the first positive step, logarithmic
above, so step 0 (the random start) is drawn at its own place rather than dropped as log(0).
Checkpoints without a step in their name are drawn at their position, labelled by name.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from embcli.ask.history import HistoryResult
from embcli.draw.plotting import _figure, _save, check_output
from embcli.errors import UsageProblem

COLOURS = {"cka": "#1f77b4", "procrustes_cos": "#d62728", "jaccard": "#2ca02c"}
LABELS = {"cka": "linear CKA", "procrustes_cos": "Procrustes cosine", "jaccard": "Jaccard@10"}
SPAN_FOR_LOG = 100  # largest / smallest positive step from which the axis is symlog


def step_axis(steps: list[int | None]) -> tuple[np.ndarray, dict[str, Any]]:
    """x positions of the checkpoints and how to scale and label the axis."""
    if not steps or any(s is None for s in steps):
        return np.arange(len(steps), dtype=float), {"scale": "linear", "label": "checkpoint"}
    x = np.array(steps, dtype=float)
    positive = x[x > 0]
    if len(positive) and positive.max() / positive.min() >= SPAN_FOR_LOG:
        thresh = float(positive.min())
        label = f"training step (symlog: linear 0 to {thresh:g}, log above)"
        return x, {"scale": "symlog", "linthresh": thresh, "label": label}
    return x, {"scale": "linear", "label": "training step"}


def _scale(ax: Any, axis: dict[str, Any], which: str = "x") -> None:
    setter = ax.set_xscale if which == "x" else ax.set_yscale
    if axis["scale"] == "symlog":
        setter("symlog", linthresh=axis["linthresh"], linscale=0.5)
    else:
        setter(axis["scale"])


def history_plot(result: HistoryResult, out: Path) -> Path:
    check_output(out)
    if out.suffix.lower() == ".html":
        raise UsageProblem("history draws images: use .png, .svg or .pdf")
    records = result.checkpoints
    x_all, axis = step_axis([c.step for c in records])
    included = [i for i, c in enumerate(records) if c.excluded is None]
    fig = _figure(figsize=(13, 8.5), dpi=110)
    axes = fig.subplots(2, 3)
    panels = [
        ("mean_norm", "mean row norm", False),
        ("anisotropy", "anisotropy (mean raw cosine of random word pairs)", False),
        ("effective_rank", "effective rank", False),
        ("isotropy", "isotropy I(W) (1 = isotropic)", True),
    ]
    for ax, (key, title, log_y) in zip(axes.flat[:4], panels, strict=True):
        values = np.array([c.stats[key] for c in records], dtype=float)
        ax.plot(x_all, values, marker="o", markersize=3, color="#444444", linewidth=1.2)
        excluded = [i for i, c in enumerate(records) if c.excluded]
        if excluded:
            ax.plot(x_all[excluded], values[excluded], "x", color="#d62728",
                    label="other shape (no drift)")  # fmt: skip
            ax.legend(fontsize=7)
        if log_y and (values > 0).all():
            ax.set_yscale("log")
        ax.set_title(title, fontsize=9)
        _decorate(ax, axis, x_all, records)
    ax = axes.flat[4]
    for key in ("cka", "procrustes_cos", "jaccard"):
        for which, style, to in (("drift_prev", "-", "previous"), ("drift_last", "--", "last")):
            found = [(i, getattr(records[i], which) or {}) for i in included]
            pts = [(x_all[i], d[key]) for i, d in found if d.get(key) is not None]
            if pts:
                xs, ys = zip(*pts, strict=True)
                ax.plot(xs, ys, style, color=COLOURS[key], linewidth=1.2, marker=".",
                        label=f"{LABELS[key]}, {to}")  # fmt: skip
    ax.set_ylim(-0.02, 1.02)
    ax.set_title("drift: from the previous checkpoint (solid), to the last (dashed)", fontsize=9)
    ax.legend(fontsize=6.5, loc="lower right")
    _decorate(ax, axis, x_all, records)
    _settle_panel(axes.flat[5], result, axis, x_all, included)
    fig.suptitle(f"{result.model} ({result.table} table): {len(records)} checkpoints",
                 fontsize=11)  # fmt: skip
    fig.tight_layout()
    return _save(fig, out)


def _decorate(ax: Any, axis: dict[str, Any], x: np.ndarray, records: list[Any]) -> None:
    _scale(ax, axis)
    if axis["scale"] == "symlog":  # no room for negative steps
        ax.set_xlim(x.min() - 0.3 * axis["linthresh"], x.max() * 1.4)
    ax.set_xlabel(axis["label"], fontsize=8)
    ax.tick_params(labelsize=7)
    ax.grid(True, color="#eeeeee")
    if axis["label"] == "checkpoint":
        ax.set_xticks(x)
        ax.set_xticklabels([c.revision for c in records], rotation=60, fontsize=6, ha="right")


def _settle_panel(
    ax: Any, result: HistoryResult, axis: dict[str, Any], x_all: np.ndarray, included: list[int]
) -> None:
    """Settle steps of the sample, one column per quartile of row id, and the ``--words``."""
    x_inc = x_all[included]
    quarters = result.sample.get("settle_by_quartile") or []
    settle = result.sample_settle
    if len(settle) and quarters:
        rng = np.random.default_rng(0)
        for q in range(4):
            mine = x_inc[settle[result.sample_quartile == q]]
            if not len(mine):
                continue
            jitter = rng.uniform(-0.28, 0.28, len(mine))
            ax.scatter(q + 1 + jitter, mine, s=5, alpha=0.3, color="#1f77b4", edgecolors="none")
            ax.plot([q + 0.62, q + 1.38], [np.median(mine)] * 2, color="#d62728", linewidth=2)
        ax.set_xticks(range(1, 5))
        ax.set_xticklabels(
            [f"Q{q['quartile']}\nids {q['ids'][0]:,}-\n{q['ids'][1]:,}" for q in quarters],
            fontsize=6.5,
        )
        ax.set_xlim(0.4, 4.6 + (0.9 if result.words else 0))
    for w, word in enumerate(result.words):
        if word.settle is not None:
            y = x_inc[word.settle]
            ax.plot([4.85], [y], marker="D", color="#9467bd", markersize=4)
            ax.annotate(word.word, (4.85, y), xytext=(5, -2 + 6 * (w % 3)),
                        textcoords="offset points", fontsize=7, color="#9467bd")  # fmt: skip
    _scale(ax, axis, "y")
    ax.set_ylabel(axis["label"].replace("training ", ""), fontsize=7)
    ax.tick_params(labelsize=7)
    ax.grid(True, axis="y", color="#eeeeee")
    n = result.sample.get("size", 0)
    ax.set_title(f"settle step of {n:,} sampled word-like tokens\nby quartile of row id "
                 "(red: median; diamonds: --words)", fontsize=9)  # fmt: skip
