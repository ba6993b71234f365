"""The map page: one self-contained HTML file of every row of a table (``embcli map``).

The page is drawn by plotly.js (a ``scattergl`` trace: WebGL, which headless Chromium draws
through SwiftShader without a GPU), inlined whole from the ``plotly`` package, so it opens from
``file://`` with no network at all. The data rides in the page compactly: coordinates, norms,
scores and neighbour cosines as uint16 quantised over their range, kinds and clusters as uint8,
neighbour ids as uint16 (int32 past 65,535 rows), each base64 in one JSON document; only the
token strings and the search table are JSON text. A small script of our own decodes them and
wires the search box, the colour and kind controls, hover and click.
"""

from __future__ import annotations

import base64
import html
import json
import os
from importlib import resources
from typing import Any

import numpy as np

from embcli.ask.tokenmap import KINDS, TokenMap
from embcli.errors import EmbcliError

KIND_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#7f7f7f")
CLUSTER_COLOURS = (
    "#1f77b4",
    "#aec7e8",
    "#ff7f0e",
    "#ffbb78",
    "#2ca02c",
    "#98df8a",
    "#d62728",
    "#ff9896",
    "#9467bd",
    "#c5b0d5",
    "#8c564b",
    "#c49c94",
    "#e377c2",
    "#f7b6d2",
    "#7f7f7f",
    "#c7c7c7",
    "#bcbd22",
    "#dbdb8d",
    "#17becf",
    "#9edae5",
)
Q = 65535  # the largest uint16: quantised values are lo + q / Q * (hi - lo)


def plotly_js() -> str:
    """plotly.js, from the installed ``plotly`` package (the ``map`` extra)."""
    try:
        from plotly.offline import get_plotlyjs
    except ImportError:
        raise EmbcliError(
            "the map needs plotly, which is not installed", "pip install 'embcli[map]'"
        ) from None
    js: str = get_plotlyjs()
    return js


def _b64(a: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(a).tobytes()).decode("ascii")


def quantised(
    values: np.ndarray, lo: float | None = None, hi: float | None = None
) -> dict[str, Any]:
    """``values`` as uint16 steps over ``[lo, hi]`` (their own range by default), base64.

    Values of their own range that are all one number (to 12 significant digits: float noise,
    a cosine of 1.0000000000000004, is no range) are stored as that number with ``lo == hi``,
    every step 0, rather than given a made-up range."""
    v = np.asarray(values, np.float64)
    finite = v[np.isfinite(v)]
    own = lo is None and hi is None and len(finite) > 0
    lo = float(finite.min()) if lo is None and len(finite) else (lo or 0.0)
    hi = float(finite.max()) if hi is None and len(finite) else (hi if hi is not None else 1.0)
    if own and (hi == lo or float(f"{lo:.12g}") == float(f"{hi:.12g}")):
        one = float(f"{lo:.12g}")
        return {"lo": one, "hi": one, "q16": _b64(np.zeros(len(v), "<u2"))}
    span = hi - lo if hi > lo else 1.0
    q = np.clip(np.rint((np.nan_to_num(v, nan=lo) - lo) / span * Q), 0, Q).astype("<u2")
    return {"lo": lo, "hi": lo + span, "q16": _b64(q)}


def number_layer(values: np.ndarray) -> dict[str, Any]:
    """A number layer; rows without a value (NaN) are stored at ``lo`` and listed in
    ``missing``, one byte per row (1: no value), base64, when there are any."""
    v = np.asarray(values, np.float64)
    out = {"type": "number", **quantised(v)}
    absent = ~np.isfinite(v)
    if absent.any():
        out["missing"] = _b64(absent.astype(np.uint8))
    return out


def page_data(found: TokenMap) -> dict[str, Any]:
    """The page's data document (see the module docstring)."""
    n_rows = found.shape[0]
    wide = n_rows > Q - 1
    ids = (
        found.neighbors.astype("<i4")
        if wide
        else np.where(found.neighbors < 0, Q, found.neighbors).astype("<u2")
    )
    layers: dict[str, Any] = {
        "kind": {
            "type": "category",
            "codes": _b64(found.kinds.astype(np.uint8)),
            "names": list(KINDS),
        },
        "cluster": {
            "type": "category",
            "codes": _b64(found.clusters.astype(np.uint8)),
            "names": found.cluster_names,
        },
        "norm": {"type": "number", **quantised(found.norms)},
        "id": {"type": "number", **quantised(found.rows)},
    }
    if found.undertrained is not None:
        layers["under-trained score"] = {"type": "number", **quantised(found.undertrained)}
    for name, (codes, names) in found.categories.items():
        layers[name] = {"type": "category", "codes": _b64(codes.astype(np.uint8)), "names": names}
    for name, values in found.numbers.items():
        layers[name] = number_layer(values)
    return {
        "title": f"{found.label} ({found.role} table, {found.shape[0]:,} x {found.shape[1]:,})",
        "method": found.method,
        "parameters": found.parameters,
        "notes": found.notes,
        "n": len(found.rows),
        "table_rows": n_rows,
        "rows": _b64(found.rows.astype("<i4")),
        "x": quantised(found.coords[:, 0]),
        "y": quantised(found.coords[:, 1]),
        "tokens": found.tokens,
        "layers": layers,
        "k": int(found.neighbors.shape[1]),
        "neighbors": {"dtype": "i32" if wide else "u16", "data": _b64(ids)},
        "scores": quantised(found.scores, -1.0, 1.0),
        "extra": {str(i): t for i, t in found.extra_tokens.items()},
        "search": found.search,
        "lowercase": found.lowercase,
        "words": found.words,
        "fold": found.fold,
        "kinds": list(KINDS),
        "kind_colours": list(KIND_COLOURS),
        "cluster_colours": list(CLUSTER_COLOURS),
    }


class MapPage:
    """A map of one table as a self-contained HTML page: ``.save(path)``, ``.html``; shown
    inline in Jupyter (in an ``iframe``, so its script runs apart from the notebook's)."""

    def __init__(self, found: TokenMap) -> None:
        self.map = found
        self.html = render(page_data(found), plotly_js())

    def __repr__(self) -> str:
        size = len(self.html.encode("utf-8")) / 1e6
        return f"MapPage({self.map.label!r}, {len(self.map.rows):,} rows, {size:.1f} MB)"

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the page (through a temporary file, so no half-written page is left)."""
        from pathlib import Path

        from embcli.atomic import atomic_write

        text = self.html.encode("utf-8")
        atomic_write(Path(path), lambda tmp: tmp.write_bytes(text))

    def _repr_html_(self) -> str:
        doc = html.escape(self.html, quote=True)
        return f'<iframe srcdoc="{doc}" style="width:100%;height:720px;border:0"></iframe>'


def render(data: dict[str, Any], plotly: str) -> str:
    """The page: our HTML, plotly.js and our script, the data as one JSON document."""
    # every "<" as \u003c: no token ("</script>", "<!--") can end or bend the script element
    doc = json.dumps(data, ensure_ascii=False, separators=(",", ":")).replace("<", "\\u003c")
    title = html.escape(data["title"])
    data_dir = resources.files("embcli") / "data"
    page, script = (
        (data_dir / name).read_text("utf-8") for name in ("map-page.html", "map-page.js")
    )
    return (
        page.replace("@TITLE@", title)
        .replace("@PLOTLY@", plotly.replace("</script", "<\\/script"))
        .replace("@DATA@", doc)
        .replace("@SCRIPT@", script)
    )
