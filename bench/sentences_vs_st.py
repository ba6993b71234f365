"""Issue 10: ``embcli sentences`` against ``SentenceTransformer.encode`` on MiniLM.

1. Throughput, in this process: both encode the same 1,000 fixed sentences (built from the
   bundled SimLex-999 words with a seeded generator), batch size 32; the vectors must agree.
   Goal: at least the same throughput.
2. Time to the first answer, fresh processes: ``embcli sentences`` on three sentences against
   a script that loads sentence-transformers and prints the same cosine matrix.
   Goal: at most 0.8x of the sentence-transformers script's wall time.
Run: python bench/sentences_vs_st.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _measure import embcli, median_run, minilm_dir

THREE = ["A man is eating food.", "A man is eating bread.", "A plane is taking off."]
BASELINE = """
import sys
from sentence_transformers import SentenceTransformer
model = SentenceTransformer(sys.argv[1], device="cpu")
v = model.encode(sys.argv[2:])
print(v @ v.T)
"""


def fixed_sentences(n: int = 1000) -> list[str]:
    data = Path(__file__).resolve().parent.parent / "embcli" / "data" / "simlex999.txt"
    words = sorted(
        {
            w
            for line in data.read_text().splitlines()
            if not line.startswith("#")
            for w in line.split("\t")[:2]
        }
    )
    rng = random.Random(0)
    return [" ".join(rng.choices(words, k=rng.randint(4, 30))).capitalize() + "." for _ in range(n)]


def throughput(model: str, texts: list[str]) -> None:
    import torch
    from sentence_transformers import SentenceTransformer

    from embcli.run import sentences

    torch.set_num_threads(os.cpu_count() or 1)
    st = SentenceTransformer(model, device="cpu")
    enc = sentences.encoder(model)
    st.encode(texts[:64])  # warm both up
    enc.encode(texts[:64])
    t = time.perf_counter()
    ref = st.encode(texts, batch_size=32)
    base = time.perf_counter() - t
    t = time.perf_counter()
    ours = enc.encode(texts, batch_size=32)
    mine = time.perf_counter() - t
    n = len(texts)
    print(f"SentenceTransformer.encode: {n / base:7.1f} sentences/s")
    print(f"embcli sentences encoder  : {n / mine:7.1f} sentences/s")
    print(f"throughput ratio {base / mine:.2f}x of sentence-transformers (goal >= 1.0)")
    print(f"max |difference| of the vectors: {np.abs(ours - ref).max():.2e} (goal <= 1e-5)")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    model = str(minilm_dir())
    throughput(model, fixed_sentences())
    with tempfile.TemporaryDirectory() as cache:
        env = {"EMBCLI_CACHE": cache, "HF_HUB_OFFLINE": "1"}
        ours = median_run(
            [*embcli(), "sentences", "-m", model, *THREE, "-f", "json"], args.repeat, env
        )
        base = median_run([sys.executable, "-c", BASELINE, model, *THREE], args.repeat, env)
    print(f"sentence-transformers script: {base['wall']:6.2f} s  peak {base['peak'] / 1e6:5.0f} MB")
    print(f"embcli sentences (fresh)    : {ours['wall']:6.2f} s  peak {ours['peak'] / 1e6:5.0f} MB")
    print(f"first-answer wall-time ratio {ours['wall'] / base['wall']:.2f} (goal <= 0.8)")


if __name__ == "__main__":
    main()
