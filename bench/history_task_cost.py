"""What one ``history`` checkpoint costs once its table is in the cache: the map task's arithmetic
(``read_checkpoint``: statistics, the space's mean and scatter norm) and the pair task's
(``compare_checkpoint``: CKA and Procrustes with the previous and the last checkpoint over all
rows, 1,000 sampled rows' top-10 lists, four words' neighbours), each on fresh memos, in this
process. With ``bench/history_pythia.py``'s per-checkpoint wall time this splits a checkpoint's
time into reading and arithmetic, which scale differently with the table's width (reading as
rows x dim, the D x D products as rows x dim^2): the basis of the on-paper estimate for
Pythia-12B in docs/many-models.md.

Run: python bench/history_task_cost.py [--rows 50304] [--dim 512] [--repeat 2]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=50304)
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    from embcli.api import Model
    from embcli.ask import history as h
    from tests.models import planted

    root = Path(tempfile.mkdtemp(prefix="embcli-task-cost-"))
    try:
        rng = np.random.default_rng(0)
        words = ["<unk>", *[f"w{i}" for i in range(args.rows - 1)]]
        tables = []
        t = time.perf_counter()
        for name in ("prev", "this", "last"):
            d = planted(root / name, words, rng.normal(0, 0.02, (args.rows, args.dim)))
            tables.append(Model(str(d), cache_dir=str(root / "cache")).embeddings())
        build = (time.perf_counter() - t) / 3
        prev, this, last = tables
        found = h.reference(last, ["w1", "w10", "w100", "w1000"], 1000)
        rows = [w[1] for w in found["words"]]
        h.read_checkpoint(prev), h.read_checkpoint(last)  # their scatter norms, as in a run
        read_s, compare_s = [], []
        memo = this.derived.directory / "memo-history.json"
        for _ in range(args.repeat):
            memo.unlink(missing_ok=True)  # nothing kept: each task computes everything
            t = time.perf_counter()
            h.read_checkpoint(this)
            read_s.append(time.perf_counter() - t)
            t = time.perf_counter()
            h.compare_checkpoint(this, prev, last, found["queries"], rows, 10)
            compare_s.append(time.perf_counter() - t)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(f"table                 : {args.rows:,} x {args.dim:,} (float32 in, cache build "
          f"{build:.2f} s a table)")  # fmt: skip
    print(f"map task arithmetic   : {min(read_s):.2f} s (read_checkpoint; best of {args.repeat})")
    print(f"pair task arithmetic  : {min(compare_s):.2f} s (compare_checkpoint; best of "
          f"{args.repeat})")  # fmt: skip


if __name__ == "__main__":
    main()
