"""Two-dimensional views of a few vectors: PCA (deterministic) and t-SNE (scikit-learn).

PCA is an SVD of the centred points; each axis' sign is fixed so that its largest loading is
positive, which makes the picture the same from run to run and machine to machine. t-SNE's
perplexity must be below the number of points; it is clamped to ``(n - 1) / 3`` (scikit-learn's
rule of thumb for small sets) and the caller is told.
"""

from __future__ import annotations

import numpy as np


def pca_2d(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Coordinates ``[n, 2]`` on the first two principal axes, and their explained variance."""
    x = np.asarray(points, dtype=np.float64)
    x = x - x.mean(axis=0)
    _, s, vt = np.linalg.svd(x, full_matrices=False)
    k = min(2, vt.shape[0])
    axes = vt[:k]
    signs = np.sign(axes[np.arange(k), np.abs(axes).argmax(axis=1)])
    axes = axes * signs[:, None]
    coords = x @ axes.T
    if k < 2:
        coords = np.hstack([coords, np.zeros((len(x), 2 - k))])
    total = float((s**2).sum()) or 1.0
    explained = np.zeros(2)
    explained[:k] = s[:k] ** 2 / total
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
