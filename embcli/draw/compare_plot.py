"""The picture of ``embcli compare``: how far two tables agree about neighbours.

Left, the distribution of Jaccard@k over the compared words (with the mean); right, for a sample
of words, each neighbour's similarity rank in A against its rank in B on log axes: points on the
diagonal are neighbours both spaces agree on, points far off it are what makes lists differ.
Takes arrays only; matplotlib (Agg) is imported here, lazily.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from embcli.draw.plotting import _save, check_output
from embcli.errors import UsageProblem


def compare_plot(
    jaccard: np.ndarray,
    k: int,
    ranks: tuple[np.ndarray, np.ndarray] | None,
    title: str,
    out: Path,
) -> Path:
    check_output(out)
    if out.suffix.lower() == ".html":
        raise UsageProblem("compare draws images: use .png, .svg or .pdf")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 5.2), dpi=130)
    # Jaccard of two k-lists takes the values m / (2k - m), m = 0..k: one bar per value.
    values = np.array([m / (2 * k - m) for m in range(k + 1)])
    counts = np.array([(np.isclose(jaccard, v)).sum() for v in values])
    share = counts / max(1, len(jaccard))
    ax1.bar(np.arange(k + 1), share, color="#1f77b4", width=0.8)
    ax1.set_xticks(np.arange(k + 1))
    ax1.set_xticklabels([f"{m}\n{v:.2f}" for m, v in enumerate(values)], fontsize=7)
    ax1.set_xlabel(f"shared neighbours of {k}  /  Jaccard@{k}")
    ax1.set_ylabel("share of words")
    mean = float(np.mean(jaccard)) if len(jaccard) else float("nan")
    ax1.set_title(f"neighbour agreement over {len(jaccard):,} words (mean {mean:.3f})",
                  fontsize=10)  # fmt: skip
    ax1.grid(True, axis="y", color="#eeeeee")
    if ranks is not None and len(ranks[0]):
        ra, rb = ranks
        top = max(int(ra.max()), int(rb.max()), 2)
        # ranks are integers: a +-20% log jitter keeps the points at ranks 1..10 apart
        rng = np.random.default_rng(0)
        jx, jy = np.exp(rng.uniform(-0.2, 0.2, (2, len(ra))))
        ax2.scatter(ra * jx, rb * jy, s=4, alpha=0.25, color="#d62728", edgecolors="none")
        ax2.plot([1, top], [1, top], color="#888888", linewidth=0.8, linestyle="--")
        ax2.axvline(k + 0.5, color="#bbbbbb", linewidth=0.6)
        ax2.axhline(k + 0.5, color="#bbbbbb", linewidth=0.6)
        ax2.set_xscale("log")
        ax2.set_yscale("log")
        ax2.set_xlim(0.7, top * 1.3)
        ax2.set_ylim(0.7, top * 1.3)
        ax2.set_xlabel("rank in A (1 = nearest; jittered)")
        ax2.set_ylabel("rank in B (jittered)")
        ax2.set_title(f"each sampled word's top-{k} in A or B: rank in A vs rank in B",
                      fontsize=10)  # fmt: skip
    else:
        ax2.set_axis_off()
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return _save(fig, out)
