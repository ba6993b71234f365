"""Issue 14: warm ``embcli compare`` of GloVe 6B 50d (first 50,000 words) and MiniLM, k = 10.

Goal: the whole report in under 10 s warm on 2 cores. Prints the wall time of the command in a
fresh process (median), the same with ``--sample 0`` (every shared word's neighbour list), the
floor it is measured against in the same session (the bare matrix products the report cannot
avoid), and where the time goes, stage by stage, in one process.
Run: python bench/compare_speed.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _measure import embcli, median_run, minilm_dir, run

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def stages(glove_path: str, model: str, cache: str, sample: int) -> list[tuple[str, float]]:
    """The steps of ``ask.compare.compare``, timed one by one."""
    from embcli import linalg
    from embcli.ask import compare as cmp
    from embcli.store.load import open_table

    out: list[tuple[str, float]] = []

    def tick(name: str, t: float) -> float:
        now = time.perf_counter()
        out.append((name, now - t))
        return now

    t = time.perf_counter()
    ta, tb = open_table(glove_path, cache_dir=cache), open_table(model, cache_dir=cache)
    t = tick("open both tables (memory-mapped)", t)
    rows_a = cmp.word_rows(ta.tokens, ta.wordlike, ta.style)
    rows_b = cmp.word_rows(tb.tokens, tb.wordlike, tb.style)
    vocab = cmp.shared_vocabulary(rows_a, rows_b)
    n = len(vocab.words)
    t = tick(f"match words ({n:,} shared)", t)
    ua = np.asarray(ta.unit[vocab.ids_a], np.float32)
    ub = np.asarray(tb.unit[vocab.ids_b], np.float32)
    rng = np.random.default_rng(cmp.SEED)
    q = np.sort(rng.choice(n, sample, replace=False)) if 0 < sample < n else np.arange(n)
    t = tick("gather shared rows", t)
    la = cmp.neighbor_lists(ua, q, 10)
    t = tick(f"neighbour lists in A ({len(q):,} x {n:,} x {ua.shape[1]})", t)
    lb = cmp.neighbor_lists(ub, q, 10)
    t = tick(f"neighbour lists in B ({len(q):,} x {n:,} x {ub.shape[1]})", t)
    cmp.jaccard(la, lb)
    t = tick("Jaccard", t)
    ca, cb = linalg.Centred.of(linalg.unit_rows(ua)), linalg.Centred.of(linalg.unit_rows(ub))
    t = tick("centre both sides, D x D scatter matrices (float64)", t)
    linalg.linear_cka(ca, cb)
    linalg.shuffled_cka(ca, cb)
    t = tick("CKA + 5 shuffles (D x D cross-covariances)", t)
    xa, _ = cmp.prepare(ca, None)
    xb, _ = cmp.prepare(cb, ua.shape[1])
    train, test = cmp.split(n)
    rot = linalg.procrustes(xa[train], xb[train])
    mapped = xa @ rot
    t = tick("PCA + Procrustes fit", t)
    penalty = cmp.csls_penalty(mapped, xb)
    t = tick(f"CSLS r_S ({n:,} x {n:,} x {xb.shape[1]})", t)
    cmp.translate(mapped[test], xb, penalty, 10)
    tick(f"translation top-10, cosine + CSLS ({len(test):,} queries)", t)
    return out


def floor(glove_path: str, model: str, cache: str, sample: int) -> float:
    """The bare float32 products the report needs (neighbour blocks, r_S), nothing else."""
    from embcli.ask import compare as cmp
    from embcli.store.load import open_table

    ta, tb = open_table(glove_path, cache_dir=cache), open_table(model, cache_dir=cache)
    vocab = cmp.shared_vocabulary(
        cmp.word_rows(ta.tokens, ta.wordlike, ta.style),
        cmp.word_rows(tb.tokens, tb.wordlike, tb.style),
    )
    n = len(vocab.words)
    ua = np.ascontiguousarray(ta.unit[vocab.ids_a], np.float32)
    ub = np.ascontiguousarray(tb.unit[vocab.ids_b], np.float32)
    q = np.random.default_rng(0).choice(n, min(sample or n, n), replace=False)
    low = np.ascontiguousarray(ub[:, : ua.shape[1]])
    t = time.perf_counter()
    for mat in (ua, ub):
        for lo in range(0, len(q), 256):
            _ = mat[q[lo : lo + 256]] @ mat.T
    for lo in range(0, n, 256):
        _ = low[lo : lo + 256] @ ua.T
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    from tests import glove

    model = str(minilm_dir())
    with tempfile.TemporaryDirectory() as tmp:
        cache = str(Path(tmp) / "cache")
        env = {"EMBCLI_CACHE": cache}
        path = str(glove.write_text(Path(tmp) / "glove.6B.50d.50k.txt", limit=50_000))
        cmd = [*embcli(), "compare", "-m", path, "-m", model, "-k", "10", "-f", "json"]
        run([*embcli(), "info", "-m", path], env)  # build both caches once (cold, not timed)
        run([*embcli(), "info", "-m", model], env)
        base = median_run([*embcli(), "info", "-m", model], args.repeat, env)
        warm = median_run(cmd, args.repeat, env)
        full = run([*cmd, "--sample", "0"], env)
        products = floor(path, model, cache, 5000)
        print("GloVe 6B 50d (first 50,000 words) vs all-MiniLM-L6-v2 word-like tokens, k = 10")
        print(f"warm embcli info (start-up)          {base['wall']:6.2f} s")
        print(
            f"warm compare, default --sample 5000  {warm['wall']:6.2f} s  (goal < 10 s; "
            f"{warm['wall'] / base['wall']:.1f}x start-up, peak {warm['peak'] / 2**20:.0f} MiB)"
        )
        print(f"warm compare, --sample 0 (all words) {full['wall']:6.2f} s")
        print(
            f"bare matrix products (floor)         {products:6.2f} s  "
            f"(compare = {warm['wall'] / products:.1f}x the floor)"
        )
        print("\nwhere the time goes (one process, default sample):")
        for name, sec in stages(path, model, cache, 5000):
            print(f"  {sec:6.2f} s  {name}")


if __name__ == "__main__":
    main()
