"""Issue 3: top-10 neighbour queries per second on a 50,257 x 768 table, in one process.

Compares embcli's batched ``queries.top_k`` with the bare matrix product (the floor) and checks
that batched answers equal one-at-a-time answers. Goal: at least 1,000 queries per second.
Run: python bench/topk_throughput.py [--queries 2000]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from embcli.ask.queries import top_k

V, D = 50257, 768


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--queries", type=int, default=2000)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    unit = rng.standard_normal((V, D), dtype=np.float32)
    unit /= np.linalg.norm(unit, axis=1, keepdims=True)
    qids = rng.choice(V, args.queries, replace=False)
    q = unit[qids]
    excl = [[int(i)] for i in qids]

    t = time.perf_counter()
    for lo in range(0, len(q), 256):
        _ = q[lo : lo + 256] @ unit.T
    matmul = time.perf_counter() - t

    t = time.perf_counter()
    ids, _ = top_k(unit, q, 10, exclude=excl)
    batched = time.perf_counter() - t

    sample = rng.choice(len(q), 50, replace=False)
    t = time.perf_counter()
    same = all(
        top_k(unit, q[i], 10, exclude=[excl[i]])[0][0].tolist() == ids[i].tolist() for i in sample
    )
    single = (time.perf_counter() - t) / len(sample)

    n = len(q)
    print(f"table {V:,} x {D}, {n:,} queries, top-10")
    print(f"matrix product alone : {n / matmul:8.0f} queries/s")
    print(f"embcli top_k batched : {n / batched:8.0f} queries/s (goal >= 1,000)")
    print(f"one query at a time  : {1 / single:8.0f} queries/s")
    print(f"batched == one-at-a-time on {len(sample)} sampled queries: {same}")


if __name__ == "__main__":
    main()
