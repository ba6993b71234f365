"""Issue 10: ``embcli context`` with 8 sentences against a plain transformers script.

The baseline loads MiniLM with ``AutoModel``/``AutoTokenizer`` and runs the same padded forward
pass with ``output_hidden_states=True``, then prints each layer's cosines of "bank" between the
sentences. Both run in fresh processes in this session.
Goals: no slower, peak memory at most the baseline's (measured with ``-k 0``, the same work;
the default run, which also ranks the static table for the nearest tokens, is shown too).
Run: python bench/context_vs_transformers.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import sys
import tempfile

from _measure import embcli, median_run, minilm_dir

SENTENCES = [
    "She sat on the river bank and watched the water.",
    "He paid the cheque into the bank on Monday.",
    "The bank raised its interest rates again.",
    "They walked along the bank of the canal.",
    "The central bank cut rates to fight the recession.",
    "Fish gathered near the muddy bank.",
    "I need to call my bank about the card.",
    "Snow piled up against the bank of the road.",
]
BASELINE = """
import sys
import torch
from transformers import AutoModel, AutoTokenizer
path, word, texts = sys.argv[1], sys.argv[2], sys.argv[3:]
tok = AutoTokenizer.from_pretrained(path)
model = AutoModel.from_pretrained(path).eval()
enc = tok(texts, padding=True, return_tensors="pt")
with torch.inference_mode():
    hs = model(**enc, output_hidden_states=True).hidden_states
wid = tok.convert_tokens_to_ids(word)
pos = [row.tolist().index(wid) for row in enc["input_ids"]]
for layer, h in enumerate(hs):
    v = torch.nn.functional.normalize(torch.stack([h[i, p] for i, p in enumerate(pos)]), dim=1)
    print(layer, (v @ v.T).triu(1).sum().item())
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    model = str(minilm_dir())
    cmd = [*embcli(), "context", "-m", model, "bank", *SENTENCES, "-f", "json"]
    with tempfile.TemporaryDirectory() as cache:
        env = {"EMBCLI_CACHE": cache, "HF_HUB_OFFLINE": "1"}
        same = median_run([*cmd, "-k", "0"], args.repeat, env)
        full = median_run(cmd, args.repeat, env)
        base = median_run(
            [sys.executable, "-c", BASELINE, model, "bank", *SENTENCES], args.repeat, env
        )
    print(f"transformers script        : {base['wall']:6.2f} s  peak {base['peak'] / 1e6:5.0f} MB")
    for name, ours in (("embcli context -k 0", same), ("embcli context (nearest)", full)):
        print(
            f"{name:<27}: {ours['wall']:6.2f} s  peak {ours['peak'] / 1e6:5.0f} MB   "
            f"wall {ours['wall'] / base['wall']:.2f}x, memory {ours['peak'] / base['peak']:.2f}x"
            " of the script (goal <= 1.0)"
        )
    print(
        "(-k 0 does the script's work; the default also scores the whole static table for the"
        " nearest tokens, which reads every row of it)"
    )


if __name__ == "__main__":
    main()
