"""Issue 11: warm ``stats`` and ``undertrained`` on a GPT-2-shaped and a Maverick-shaped table.

Writes random cache entries straight into a temporary cache (a Gaussian table with a shared
offset, so it is anisotropic like a real one; 50,257 x 768 and 202,048 x 5,120: 4.1 GB of disk),
then times, in this process with the entry's pages warm, ``table_stats`` and
``find_undertrained`` (``--all``, a reference of 64 rows), next to a floor: one pass over the
unit matrix (its row norms) in the same session. Goals: each under 3 s on the 50,257 x 768
table and under 60 s on the 202,048 x 5,120 one (2 cores). Says whether the spectrum was exact.
Run: python bench/anatomy_speed.py [--skip-large]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from embcli.ask.anatomy import table_stats
from embcli.ask.undertrained import find_undertrained
from embcli.store import cache
from embcli.store.meta import TableMeta
from embcli.store.table import EmbeddingTable


def make_entry(root: Path, rows: int, dim: int) -> EmbeddingTable:
    rng = np.random.default_rng(0)
    offset = rng.standard_normal(dim) * 0.5

    def write(tmp: Path) -> TableMeta:
        unit = np.lib.format.open_memmap(tmp / "vectors.npy", "w+", np.float32, (rows, dim))
        norms = np.empty(rows, np.float32)
        for lo in range(0, rows, 8192):
            n = min(8192, rows - lo)
            x = rng.standard_normal((n, dim), dtype=np.float32) + offset.astype(np.float32)
            nn = np.linalg.norm(x, axis=1)
            unit[lo : lo + n] = x / nn[:, None]
            norms[lo : lo + n] = nn
        unit.flush()
        del unit
        np.save(tmp / "norms.npy", norms)
        np.save(tmp / "wordlike.npy", np.ones(rows, bool))
        np.save(tmp / "variant_group.npy", np.arange(rows, dtype=np.int32))
        (tmp / "tokens.json").write_text(json.dumps([f"w{i}" for i in range(rows)]))
        return TableMeta(
            model=f"random-{rows}x{dim}", kind="vectors", identity="bench", revision=None,
            table="input", tensor="random", tensor_option=None, shape=(rows, dim),
            source_dtype="F32", checkpoint_format="random", checkpoint_file="", model_type="",
            config_vocab_size=rows, config_hidden_size=dim, text_config=None, tied=False,
            tie_explicit=False, head_tensor=None, head_shape=None, head_dtype=None,
            tokenizer_size=None, special_ids=(), tokenizer_style="words", unk_id=None,
            zero_rows=0, created="", embcli_version="bench",
        )  # fmt: skip

    path = root / f"random--{rows}x{dim}"
    return EmbeddingTable(cache.build_entry(root, path, write))


def timed(fn) -> tuple[float, object]:
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--skip-large", action="store_true")
    args = ap.parse_args()
    shapes = [(50_257, 768, 3.0)] + ([] if args.skip_large else [(202_048, 5_120, 60.0)])
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        ref = [(i + 1, f"#{i}") for i in range(64)]  # a reference of 64 rows
        for rows, dim, goal in shapes:
            t_build, table = timed(lambda: make_entry(root, rows, dim))  # noqa: B023
            print(f"{rows:,} x {dim:,}: entry written in {t_build:.1f} s")
            floor, _ = timed(lambda: np.linalg.norm(np.asarray(table.unit), axis=1))  # noqa: B023
            t_stats, result = timed(lambda: table_stats(table))  # noqa: B023
            sp = result.spectrum
            how = "exact" if sp["exact"] else f"sampled ({sp['rows']:,} rows, {sp['method']})"
            t_under, _ = timed(
                lambda: find_undertrained(table, None, ref, k=50, all_rows=True)  # noqa: B023
            )
            for name, t in (("stats", t_stats), ("undertrained", t_under)):
                ok = "ok" if t < goal else "OVER"
                print(f"  {name:<13} {t:6.2f} s  {t / floor:6.1f}x the floor ({floor:.2f} s: one "
                      f"pass of row norms)  goal < {goal:g} s: {ok}")  # fmt: skip
            print(f"  spectrum: {how}")


if __name__ == "__main__":
    main()
