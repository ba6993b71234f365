"""Words in 2-D and the position table: the questions ``plot`` and ``positions`` draw.

:func:`project_words` resolves the words, projects their vectors (PCA or t-SNE) and returns a
:class:`Projected` (drawn by :class:`embcli.draw.wordplot.WordPlot`). Words that do not resolve
are left out and listed in ``dropped``; fewer than three words left is an error.
:func:`position_tensor` finds a model's learned position table (GPT-2, BERT) from its config,
and :func:`position_similarities` the cosines between its first rows.

Two-dimensional views of a few vectors: PCA (deterministic) and t-SNE (scikit-learn).

PCA is :func:`embcli.linalg.pca` (an SVD of the centred points when they are fewer than their
dimensions); each axis' sign is fixed so that its largest loading is positive, which makes the
picture the same from run to run and machine to machine. t-SNE's
perplexity must be below the number of points; it is clamped to ``(n - 1) / 3`` (scikit-learn's
rule of thumb for small sets) and the caller is told.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from embcli import linalg
from embcli.errors import EmbcliError, UnresolvedWord, UsageProblem

if TYPE_CHECKING:
    from embcli.read.ref import ModelRef
    from embcli.store.table import EmbeddingTable, Space

Groups = list[tuple[str, list[str]]]


def title_name(label: str) -> str:
    """A local model by its directory's parent and name (``pkg/model``), a Hub id as it is."""
    path = Path(label)
    return "/".join(path.parts[-2:]) if path.is_absolute() else label


def pca_2d(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Coordinates ``[n, 2]`` on the first two principal axes, and their explained variance."""
    found = linalg.pca(points, 2)
    k = found.axes.shape[1]
    coords = np.zeros((len(found.coords), 2))
    coords[:, :k] = found.coords
    explained = np.zeros(2)
    explained[:k] = found.explained
    return coords, explained


def clamp_perplexity(perplexity: float, n: int) -> tuple[float, str | None]:
    """A perplexity t-SNE accepts for ``n`` points, and a note when it had to change."""
    limit = max(1.0, (n - 1) / 3)
    if perplexity <= limit:
        return perplexity, None
    return limit, (
        f"perplexity {perplexity:g} is too large for {n} points; used {limit:g} "
        "(t-SNE needs perplexity below the number of points; about a third keeps it stable)"
    )


def tsne_2d(points: np.ndarray, perplexity: float, seed: int) -> np.ndarray:
    from sklearn.manifold import TSNE

    x = np.asarray(points, dtype=np.float64)
    model = TSNE(n_components=2, perplexity=perplexity, random_state=seed, init="pca",
                 metric="cosine")  # fmt: skip
    coords: np.ndarray = model.fit_transform(x)
    return coords


def position_similarity(unit: np.ndarray, limit: int) -> np.ndarray:
    """Cosine similarity between the first ``limit`` position vectors (unit rows)."""
    u = np.asarray(unit[:limit], dtype=np.float64)
    sims: np.ndarray = u @ u.T
    return sims


@dataclass
class Projected:
    """Projected words: ``coords[i]`` places ``words[i]`` (of group ``groups[i]``; ``details[i]``
    names its token rows)."""

    words: list[str]
    groups: list[str]
    details: list[str]
    coords: np.ndarray
    title: str
    dropped: list[str] = field(default_factory=list)  # "word (reason)"
    notes: list[str] = field(default_factory=list)  # e.g. a clamped t-SNE perplexity


def project_words(
    table: EmbeddingTable,
    groups: Groups | Mapping[str, Sequence[str]],
    *,
    method: str = "pca",
    perplexity: float = 30.0,
    seed: int = 0,
    pool: bool = False,
    space: Space | None = None,
) -> Projected:
    """Resolve the words of ``groups`` (name -> words; name '' for ungrouped) and project them,
    in ``space`` (the table's own rows when None; :mod:`embcli.ask.space`)."""
    from embcli.ask.words import resolve
    from embcli.store.space import Transform

    if method not in ("pca", "tsne"):
        raise UsageProblem(f"method must be pca or tsne, not {method!r}")
    items = list(groups.items()) if isinstance(groups, Mapping) else list(groups)
    if not any(ws for _, ws in items):
        raise UsageProblem("name some words, --group name=w1,w2, or --groups-file FILE")
    transform = space.transform if space is not None else Transform()  # identity: no option
    words, names, details, vectors, dropped = [], [], [], [], []
    for name, ws in items:
        for w in ws:
            try:
                r = resolve(table, w, pool=pool)
            except UnresolvedWord as exc:
                dropped.append(f"{w} ({exc.message.split(': ', 1)[-1]})")
                continue
            detail = "+".join(f"{table.tokens[i]!r} #{i}" for i in r.ids)
            words.append(w)
            names.append(name)
            details.append(detail + (" pooled" if r.pooled else ""))
            vectors.append(r.unit(table, transform))
    if len(words) < 3:
        raise UnresolvedWord(
            f"a plot needs at least 3 words in the table; {len(words)} given"
            + (f" of {len(words) + len(dropped)}" if dropped else ""),
            f"left out: {'; '.join(dropped)}" if dropped else None,
        )
    x = np.stack(vectors)
    notes = []
    if method == "pca":
        coords, explained = pca_2d(x)
        how = f"PCA (explained variance {explained[0]:.0%} + {explained[1]:.0%})"
    else:
        used, note = clamp_perplexity(perplexity, len(words))
        if note:
            notes.append(note)
        coords = tsne_2d(x, used, seed)
        how = f"t-SNE (perplexity {used:g}, seed {seed}, cosine)"
    done = f", {transform.caption()}" if transform.caption() else ""
    title = f"{title_name(table.label)}: {how}{done}"
    return Projected(words, names, details, coords, title, dropped, notes)


@dataclass
class PositionSimilarity:
    """Cosines between the first ``len(norms)`` learned position vectors, and their norms."""

    tensor: str
    sims: np.ndarray
    norms: np.ndarray
    title: str


def position_similarities(
    table: EmbeddingTable, tensor: str, max_positions: int = 256
) -> PositionSimilarity:
    """The heatmap data of a position table opened as a table (``open_table(tensor=...)``)."""
    limit = min(max_positions, table.shape[0])
    sims = position_similarity(table.unit, limit)
    norms = np.asarray(table.norms[:limit])
    title = f"{title_name(table.label)}: {tensor}, first {limit} of {table.shape[0]}"
    return PositionSimilarity(tensor, sims, norms, title)


def position_tensor(ref: ModelRef) -> str:
    """The checkpoint name of the learned position table, or a one-line reason there is none."""
    from embcli.ask.sizing import position_info
    from embcli.read.probe import find_position_tensor

    cfg, name = find_position_tensor(ref)
    model = ref.source
    if name is None:
        _, why = position_info(cfg)
        raise EmbcliError(
            f"{model} ({cfg.model_type}) has no learned position table: "
            f"{why.removeprefix('none: ')} positions are computed, not stored"
        )
    return name
