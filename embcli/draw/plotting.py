"""Drawing: a labelled scatter of words, and a position-table heatmap; PNG, SVG, PDF or HTML.

Images are drawn with matplotlib's non-interactive Agg backend. The HTML page is one file with
an inline SVG: hover a point for its word and token, scroll to zoom, drag to pan; it loads
nothing from the network.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from embcli.atomic import atomic_write, write_bytes
from embcli.errors import UsageProblem

IMAGE_SUFFIXES = (".png", ".svg", ".pdf")
PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b",
           "#e377c2", "#7f7f7f", "#bcbd22"]  # fmt: skip


@dataclass
class Point:
    label: str
    group: str
    detail: str  # e.g. the token and id, for hover text


def check_output(path: Path) -> None:
    if path.suffix.lower() not in (*IMAGE_SUFFIXES, ".html"):
        raise UsageProblem(f"cannot write {path.name}: use .png, .svg, .pdf or .html")


def scatter(points: list[Point], coords: np.ndarray, title: str, out: Path) -> Path:
    check_output(out)
    groups = list(dict.fromkeys(p.group for p in points))
    colours = {g: PALETTE[i % len(PALETTE)] for i, g in enumerate(groups)}
    if out.suffix.lower() == ".html":
        return write_bytes(out, _html(points, coords, title, colours).encode())
    return _save(scatter_figure(points, coords, title), out)


def _figure(**kwargs):
    """A matplotlib Figure with an Agg canvas, outside pyplot (no global state, any backend).

    Jupyter shows it inline; ``_save`` writes it; no window is ever opened.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(**kwargs)
    FigureCanvasAgg(fig)
    return fig


def scatter_figure(points: list[Point], coords: np.ndarray, title: str):
    """The labelled scatter as a matplotlib ``Figure`` (coloured by group, labels separated)."""
    groups = list(dict.fromkeys(p.group for p in points))
    colours = {g: PALETTE[i % len(PALETTE)] for i, g in enumerate(groups)}
    fig = _figure(figsize=(9, 7), dpi=130)
    ax = fig.subplots()
    for g in groups:
        idx = [i for i, p in enumerate(points) if p.group == g]
        ax.scatter(coords[idx, 0], coords[idx, 1], s=36, color=colours[g], label=g, alpha=0.9,
                   edgecolors="white", linewidths=0.6, zorder=3)  # fmt: skip
    span = np.ptp(coords, axis=0) + 1e-9
    texts = [
        ax.annotate(p.label, coords[i], xytext=(4, 3), textcoords="offset points", fontsize=9,
                    color="#222222", zorder=4,
                    arrowprops={"arrowstyle": "-", "color": "#bbbbbb", "lw": 0.5})
        for i, p in enumerate(points)
    ]  # fmt: skip
    ax.set_xlim(coords[:, 0].min() - 0.08 * span[0], coords[:, 0].max() + 0.18 * span[0])
    ax.set_ylim(coords[:, 1].min() - 0.08 * span[1], coords[:, 1].max() + 0.08 * span[1])
    ax.set_title(title, fontsize=11)
    ax.grid(True, color="#eeeeee", zorder=0)
    if len(groups) > 1 or groups != [""]:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, fontsize=9)
    fig.tight_layout()
    _separate_labels(fig, texts)
    return fig


def _separate_labels(fig, texts, rounds: int = 80, limit: float = 40.0) -> None:
    """Nudge overlapping labels apart vertically, measuring them as the renderer draws them.

    A leader line (drawn only once a label has moved) keeps each label tied to its point.
    """
    from matplotlib.text import Text

    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    to_points = 72.0 / fig.dpi

    def box(t):  # the text alone, not its leader line
        return Text.get_window_extent(t, renderer)

    for _ in range(rounds):
        boxes = [box(t) for t in texts]
        moved = False
        for i in range(len(texts)):
            for j in range(i):
                a, b = boxes[i], boxes[j]
                if a.x0 < b.x1 and b.x0 < a.x1 and a.y0 < b.y1 and b.y0 < a.y1:
                    up = a.y0 + a.y1 >= b.y0 + b.y1
                    shift = (b.y1 - a.y0 + 1) if up else -(a.y1 - b.y0 + 1)
                    ox, oy = texts[i].xyann
                    new = oy + shift * to_points
                    if abs(new - 3) > limit:  # give up on this pair rather than fling it away
                        continue
                    texts[i].xyann = (ox, new)
                    boxes[i] = box(texts[i])
                    moved = True
        if not moved:
            break
    for t in texts:
        if abs(t.xyann[1] - 3) < 0.5 and t.arrow_patch is not None:
            t.arrow_patch.set_visible(False)


def heatmap(sims: np.ndarray, norms: np.ndarray, title: str, out: Path) -> Path:
    check_output(out)
    if out.suffix.lower() == ".html":
        raise UsageProblem("positions draws images: use .png, .svg or .pdf")
    return _save(heatmap_figure(sims, norms, title), out)


def heatmap_figure(sims: np.ndarray, norms: np.ndarray, title: str):
    """The position heatmap and norm curve as a matplotlib ``Figure``."""
    fig = _figure(figsize=(12, 5.2), dpi=130)
    ax1, ax2 = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.15, 1]})
    im = ax1.imshow(sims, cmap="RdBu_r", vmin=-1, vmax=1, origin="upper", interpolation="nearest")
    ax1.set_xlabel("position")
    ax1.set_ylabel("position")
    ax1.set_title("cosine similarity between positions", fontsize=10)
    fig.colorbar(im, ax=ax1, fraction=0.046, pad=0.04)
    ax2.plot(np.arange(len(norms)), norms, color="#1f77b4", linewidth=1.2)
    ax2.set_xlabel("position")
    ax2.set_ylabel("L2 norm")
    ax2.set_title("norm of each position vector", fontsize=10)
    ax2.grid(True, color="#eeeeee")
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return fig


def _save(fig, out: Path) -> Path:
    """Write ``fig`` to ``out`` atomically (a temporary file, then a rename)."""
    check_output(out)
    fmt = out.suffix.lower().lstrip(".")
    return atomic_write(out, lambda tmp: fig.savefig(tmp, format=fmt, bbox_inches="tight"))


def _html(points: list[Point], coords: np.ndarray, title: str, colours: dict[str, str]) -> str:
    w, h, pad = 900, 640, 60
    lo, hi = coords.min(axis=0), coords.max(axis=0)
    span = np.where(hi - lo > 0, hi - lo, 1.0)
    xy = (coords - lo) / span
    xs = pad + xy[:, 0] * (w - 2 * pad - 120)
    ys = h - pad - xy[:, 1] * (h - 2 * pad)
    dots = []
    for (x, y), p in zip(zip(xs, ys, strict=True), points, strict=True):
        group = f" ({p.group})" if p.group else ""
        tip = html.escape(f"{p.label}{group} {p.detail}".strip())
        dots.append(
            f'<g><title>{tip}</title><circle cx="{x:.1f}" cy="{y:.1f}" r="5" '
            f'fill="{colours[p.group]}"/><text x="{x + 7:.1f}" y="{y - 4:.1f}">'
            f"{html.escape(p.label)}</text></g>"
        )
    legend = "".join(
        f'<g><circle cx="{w - 150}" cy="{70 + 22 * i}" r="5" fill="{c}"/>'
        f'<text x="{w - 138}" y="{74 + 22 * i}">{html.escape(g or "words")}</text></g>'
        for i, (g, c) in enumerate(colours.items())
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;margin:16px}} svg{{border:1px solid #ddd;cursor:grab}}
text{{font-size:12px;fill:#222}} h1{{font-size:16px;font-weight:normal}}</style></head>
<body><h1>{html.escape(title)}</h1>
<p>Hover a point for its token; scroll to zoom, drag to pan, double-click to reset.</p>
<svg id="plot" width="{w}" height="{h}" viewBox="0 0 {w} {h}"
 xmlns="http://www.w3.org/2000/svg">{"".join(dots)}{legend}</svg>
<script>
const svg = document.getElementById("plot");
const home = [0, 0, {w}, {h}]; let vb = home.slice(); let drag = null;
const set = () => svg.setAttribute("viewBox", vb.join(" "));
svg.addEventListener("wheel", e => {{ e.preventDefault();
  const k = e.deltaY < 0 ? 0.85 : 1 / 0.85, r = svg.getBoundingClientRect();
  const mx = vb[0] + (e.clientX - r.left) / r.width * vb[2];
  const my = vb[1] + (e.clientY - r.top) / r.height * vb[3];
  vb = [mx - (mx - vb[0]) * k, my - (my - vb[1]) * k, vb[2] * k, vb[3] * k]; set(); }});
svg.addEventListener("mousedown", e => {{ drag = [e.clientX, e.clientY, vb[0], vb[1]]; }});
window.addEventListener("mouseup", () => {{ drag = null; }});
svg.addEventListener("mousemove", e => {{ if (!drag) return;
  const r = svg.getBoundingClientRect();
  vb[0] = drag[2] - (e.clientX - drag[0]) / r.width * vb[2];
  vb[1] = drag[3] - (e.clientY - drag[1]) / r.height * vb[3]; set(); }});
svg.addEventListener("dblclick", () => {{ vb = home.slice(); set(); }});
</script></body></html>
"""
