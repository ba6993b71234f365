"""Issue 3: warm ``embcli neighbors paris`` against the snippet people paste today.

The baseline is a fresh Python process that loads MiniLM with
``transformers.AutoModel.from_pretrained``, takes its input embeddings, and ranks with
scikit-learn's ``cosine_similarity`` + ``argsort``. Both run in this session, side by side.
Goals: at least 15x less wall time, at most a third of the baseline's peak memory.
Run: python bench/neighbors_vs_transformers.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import sys
import tempfile

from _measure import embcli, median_run, minilm_dir, run

BASELINE = """
import sys
from sklearn.metrics.pairwise import cosine_similarity
from transformers import AutoModel, AutoTokenizer
path = sys.argv[1]
tok = AutoTokenizer.from_pretrained(path)
model = AutoModel.from_pretrained(path)
emb = model.get_input_embeddings().weight.detach().numpy()
i = tok.convert_tokens_to_ids("paris")
sims = cosine_similarity(emb[i : i + 1], emb)[0]
for j in sims.argsort()[::-1][1:11]:
    print(tok.convert_ids_to_tokens(int(j)), sims[j])
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    model = str(minilm_dir())
    with tempfile.TemporaryDirectory() as cache:
        env = {"EMBCLI_CACHE": cache, "HF_HUB_OFFLINE": "1"}
        run([*embcli(), "info", "-m", model], env)
        ours = median_run([*embcli(), "neighbors", "paris", "-m", model], args.repeat, env)
        base = median_run([sys.executable, "-c", BASELINE, model], args.repeat, env)
    print(f"transformers + sklearn : {base['wall']:6.2f} s  peak {base['peak'] / 1e6:6.0f} MB")
    print(f"embcli neighbors (warm): {ours['wall']:6.2f} s  peak {ours['peak'] / 1e6:6.0f} MB")
    print(f"wall-time ratio {base['wall'] / ours['wall']:.1f}x faster (goal >= 15x)")
    print(f"peak-memory ratio {ours['peak'] / base['peak']:.2f} of baseline (goal <= 0.33)")


if __name__ == "__main__":
    main()
