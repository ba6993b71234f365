"""``context --plot``: a word's cosine between sentences against the layer, one line per pair.

Takes plain arrays (this stage never runs a model): the static cosine is drawn left of layer 0
so the reader sees context pull the vectors apart, and the layer's anisotropy baseline is drawn
dashed, since a raw cosine means little without it. PNG, SVG and PDF by suffix; ``.html`` wraps
the SVG in a self-contained page.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path

from embcli.atomic import write_bytes
from embcli.draw.plotting import PALETTE, _save, check_output


def cosine_by_layer(
    labels: Sequence[str],
    static: Sequence[float],
    layers: Sequence[Sequence[float]],
    baseline: Sequence[float],
    title: str,
    out: Path,
) -> Path:
    """Draw ``layers[l][p]`` (cosine of pair ``p`` at layer ``l``) for every pair label.

    ``static[p]`` is the pair's cosine between static table rows, ``baseline[l]`` the layer's
    mean cosine between different tokens.
    """
    check_output(out)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n_layers = len(layers)
    xs = list(range(n_layers))
    fig, ax = plt.subplots(figsize=(8, 6), dpi=130)
    for p, label in enumerate(labels):
        colour = PALETTE[p % len(PALETTE)]
        ys = [layers[ly][p] for ly in xs]
        ax.plot(
            [-1, *xs],
            [static[p], *ys],
            color=colour,
            linewidth=1.8,
            marker="o",
            markersize=4,
            label=label,
        )
    ax.plot(
        xs,
        list(baseline),
        color="#777777",
        linestyle="--",
        linewidth=1.4,
        label="baseline: different tokens",
    )
    ax.axvline(-0.5, color="#dddddd", linewidth=0.8)
    ax.set_xticks([-1, *xs])
    ax.set_xticklabels(["static", *map(str, xs)])
    ax.set_xlabel("layer (0 = embedding output)")
    ax.set_ylabel("cosine")
    ax.set_title(title, fontsize=11)
    ax.grid(True, color="#eeeeee")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.13), frameon=False, fontsize=8)
    fig.tight_layout()
    if out.suffix.lower() == ".html":
        import io

        buf = io.StringIO()
        fig.savefig(buf, format="svg", bbox_inches="tight")
        plt.close(fig)
        svg = buf.getvalue()
        svg = svg[svg.find("<svg") :]
        page = (
            f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>'
            f"{html.escape(title)}</title></head><body>\n{svg}\n</body></html>\n"
        )
        return write_bytes(out, page.encode())
    return _save(fig, out)
