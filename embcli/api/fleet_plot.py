"""The comparison picture of a :class:`~embcli.api.fleet.FleetResult` (``--plot FILE`` with
several models): what each question's JSON says, per model, drawn by
:mod:`embcli.draw.fleet_plot`.

- ``stats``: one panel per figure (mean cosines raw and after removal, effective rank,
  isotropy, median row norm), one bar per model;
- ``neighbors``: each query's neighbours as a grid, model x rank, shaded by score;
- ``undertrained``: how many candidates and unreachable rows each model lists;
- ``size``: each model's table in bytes at each dtype.

The numbers are the JSON's own (``FleetResult.to_dict()``), so the picture says what the
output says. A model that failed keeps its place in the order given, with no bar and the word
"failed" where its bar would be; a model that missed the query is a row saying so.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from embcli.api import checks
from embcli.api.defaults import IMAGE_SUFFIXES
from embcli.errors import UsageProblem

if TYPE_CHECKING:
    from embcli.api.fleet import FleetResult, ModelAnswer

#: ``size``'s dtypes drawn, and their names in the legend.
SIZE_DTYPES = ("float32", "float16", "int8", "int4")
#: ``stats``' figures drawn: a panel's title and where its value is in the JSON.
STATS_PANELS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("mean cosine of random pairs (raw)", ("anisotropy", "raw", "mean")),
    ("mean cosine, top PCs removed", ("anisotropy", "after_removal", "mean")),
    ("effective rank", ("effective_rank",)),
    ("isotropy I(W)", ("isotropy",)),
    ("median row norm", ("norms", "median")),
)


def check_plot(question: str, plot: str | os.PathLike[str]) -> Path:
    """The picture file for ``question`` asked of many models, checked before any work: a
    question without a comparison picture is refused (``plot``)."""
    if question not in DRAWN:
        raise UsageProblem(
            f"plot draws one model's table for {question}: give one model "
            f"(several models are drawn for {', '.join(sorted(DRAWN))})",
            param="plot",
        )
    return checks.output_file(plot, IMAGE_SUFFIXES, f"{question} --plot")


def figure(result: FleetResult) -> Any:
    """The comparison picture of ``result`` (a matplotlib ``Figure``), or None when no model
    answered. Failed models are drawn as such (``data`` None, ``error`` set)."""
    if result.question not in DRAWN:
        raise UsageProblem(f"no picture of {result.question} across models", param="plot")
    shown = [a for a in result.answers if a.error is not None or a.data is not None]
    if not any(a.error is None for a in shown):
        return None
    return DRAWN[result.question](shown)


def plot(result: FleetResult, out: str | os.PathLike[str]) -> Path | None:
    """Write :func:`figure` to ``out`` (.png/.svg/.pdf, atomically); None when no model
    answered (nothing written)."""
    path = check_plot(result.question, out)
    fig = figure(result)
    if fig is None:
        return None
    from embcli.draw.fleet_plot import save

    return save(fig, path)


def _failed(answers: list[ModelAnswer]) -> list[str | None]:
    """What to write where a model's bar would be: "failed" for a model that failed."""
    return ["failed" if a.error is not None else None for a in answers]


def _dig(data: Any, keys: tuple[str, ...]) -> float | None:
    for key in keys:
        if not isinstance(data, dict) or data.get(key) is None:
            return None
        data = data[key]
    return float(data)


def stats_values(answers: list[ModelAnswer]) -> list[tuple[str, list[float | None]]]:
    """``stats``' panels: each figure's title and its value per model (None: not stated)."""
    return [(title, [_dig(a.data, keys) for a in answers]) for title, keys in STATS_PANELS]


def _stats(answers: list[ModelAnswer]) -> Any:
    from embcli.draw.fleet_plot import metric_bars

    return metric_bars([a.model for a in answers], stats_values(answers), "stats across models",
                       notes=_failed(answers))  # fmt: skip


def neighbor_values(
    answers: list[ModelAnswer],
) -> list[tuple[str, list[list[tuple[str, float]] | None]]]:
    """Each query (in the order asked) and, per model, its neighbours' (token, score) by rank;
    None for a model that did not resolve it."""
    queries: list[str] = []
    found: dict[tuple[int, str], list[tuple[str, float]]] = {}
    for i, a in enumerate(answers):
        if a.data is None:  # failed
            continue
        for record in a.data if isinstance(a.data, list) else [a.data]:  # several queries, one
            query = str(record["query"])
            queries += [query] if query not in queries else []
            found[(i, query)] = [(str(n["token"]), float(n.get("cosine", n.get("score", 0.0))))
                                 for n in record["neighbors"]]  # fmt: skip
    return [(q, [found.get((i, q)) for i in range(len(answers))]) for q in queries]


def _neighbors(answers: list[ModelAnswer]) -> Any:
    from embcli.draw.fleet_plot import neighbor_grid

    grids = neighbor_values(answers)
    if not grids:  # every query missed by every model
        return None
    return neighbor_grid([a.model for a in answers], grids, "nearest neighbours per model",
                         notes=_failed(answers))  # fmt: skip


def undertrained_values(answers: list[ModelAnswer]) -> list[tuple[str, list[float | None]]]:
    """How many rows each model lists as candidates and as unreachable (capped by ``k``);
    None for a model that failed."""
    return [(name, [None if a.data is None else float(len(a.data[name])) for a in answers])
            for name in ("candidates", "unreachable")]  # fmt: skip


def _undertrained(answers: list[ModelAnswer]) -> Any:
    from embcli.draw.fleet_plot import grouped_bars

    return grouped_bars([a.model for a in answers], undertrained_values(answers),
                        "under-trained tokens per model (each list stops at -k; -k 0: all)",
                        "rows listed", notes=_failed(answers))  # fmt: skip


def size_values(answers: list[ModelAnswer]) -> tuple[list[tuple[str, list[float | None]]], str]:
    """Each model's table in bytes at each of ``SIZE_DTYPES``, in one unit (kB, MB or GB,
    chosen by the largest) and that unit's name; None for a model that failed."""
    raw = [(d, [None if a.data is None else float(a.data["bytes"][d]) for a in answers])
           for d in SIZE_DTYPES]  # fmt: skip
    largest = max((v for _, values in raw for v in values if v is not None), default=0.0)
    unit, name = next(((u, n) for u, n in ((1e9, "GB"), (1e6, "MB")) if largest >= u),
                      (1e3, "kB"))  # fmt: skip
    return [(d, [None if v is None else v / unit for v in values]) for d, values in raw], name


def _size(answers: list[ModelAnswer]) -> Any:
    from embcli.draw.fleet_plot import grouped_bars

    series, unit = size_values(answers)
    return grouped_bars([a.model for a in answers], series,
                        "embedding table memory per model", f"table memory ({unit})",
                        notes=_failed(answers))  # fmt: skip


#: The questions drawn across models, and how.
DRAWN: dict[str, Callable[[list[ModelAnswer]], Any]] = {
    "stats": _stats,
    "neighbors": _neighbors,
    "undertrained": _undertrained,
    "size": _size,
}
