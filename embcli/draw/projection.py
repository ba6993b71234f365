"""Two-dimensional views of a few vectors: PCA (deterministic) and t-SNE (scikit-learn).

PCA is :func:`embcli.linalg.pca` (an SVD of the centred points when they are fewer than their
dimensions); each axis' sign is fixed so that its largest loading is positive, which makes the
picture the same from run to run and machine to machine. t-SNE's
perplexity must be below the number of points; it is clamped to ``(n - 1) / 3`` (scikit-learn's
rule of thumb for small sets) and the caller is told.
"""

from __future__ import annotations

import numpy as np

from embcli import linalg


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
    return model.fit_transform(x)


def position_similarity(unit: np.ndarray, limit: int) -> np.ndarray:
    """Cosine similarity between the first ``limit`` position vectors (unit rows)."""
    u = np.asarray(unit[:limit], dtype=np.float64)
    return u @ u.T
