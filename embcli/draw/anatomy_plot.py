"""The picture of ``embcli stats --plot``: norms, the singular value spectrum, and the cosines
of random pairs before and after centring (matplotlib, imported only here)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from embcli.draw.plotting import _figure, _save
from embcli.errors import UsageProblem


def stats_figure(
    norms: np.ndarray, eigenvalues: np.ndarray, cosines: dict[str, np.ndarray], title: str
):
    """Three panels: histogram of row norms, singular values (log), cosine distributions."""
    fig = _figure(figsize=(14, 4.4), dpi=120)
    ax1, ax2, ax3 = fig.subplots(1, 3)
    live = np.asarray(norms, np.float64)
    ax1.hist(live, bins=100, color="#1f77b4")
    ax1.set_xlabel("row norm")
    ax1.set_ylabel("rows")
    ax1.set_title("norms of the rows", fontsize=10)
    s = np.sqrt(np.clip(eigenvalues, 0, None))
    s = s[s > 0]
    ax2.semilogy(np.arange(1, len(s) + 1), s, color="#d62728", linewidth=1.2)
    ax2.set_xlabel("principal component")
    ax2.set_ylabel("singular value (centred rows)")
    ax2.set_title("singular value spectrum", fontsize=10)
    ax2.grid(True, color="#eeeeee")
    colours = {"raw": "#7f7f7f", "centered": "#1f77b4", "after_removal": "#2ca02c"}
    names = {"raw": "raw", "centered": "centred", "after_removal": "top PCs removed"}
    every = np.concatenate([np.asarray(v, np.float64) for v in cosines.values()] or [np.zeros(1)])
    lo, hi = np.quantile(every, [0.0005, 0.9995]) if every.size > 1 else (-1.0, 1.0)
    bins = np.linspace(min(lo, 0.0), max(hi, 0.0) + 1e-9, 101)
    for key, values in cosines.items():
        ax3.hist(values, bins=bins, histtype="step", linewidth=1.4, color=colours.get(key),
                 label=f"{names.get(key, key)} (mean {np.mean(values):.3f})")  # fmt: skip
    ax3.axvline(0, color="#cccccc", linewidth=0.8)
    ax3.set_xlabel("cosine of a random pair of word-like rows")
    ax3.set_ylabel("pairs")
    ax3.set_title("anisotropy", fontsize=10)
    ax3.legend(fontsize=8)
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return fig


def stats_plot(
    norms: np.ndarray,
    eigenvalues: np.ndarray,
    cosines: dict[str, np.ndarray],
    title: str,
    out: Path,
) -> Path:
    if out.suffix.lower() not in (".png", ".svg", ".pdf"):
        raise UsageProblem(f"cannot write {out.name}: stats --plot draws .png, .svg or .pdf")
    return _save(stats_figure(norms, eigenvalues, cosines, title), out)
