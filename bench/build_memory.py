"""Issue 2: peak memory of a first-time cache build from a checkpoint with >= 2 GB of other
weights.

Writes a GPT-2-shaped table (50,257 x 768 float32, 154 MB) plus 2.1 GB of other tensors in one
safetensors file, then builds the cache in a fresh process. Goal: peak RSS at most twice the
table's float32 size plus 300 MB, whatever the other weights.
Run: python bench/build_memory.py [--other-gb 2.1]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np
from _measure import embcli, run
from safetensors.numpy import save_file

V, D = 50257, 768


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--other-gb", type=float, default=2.1)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        model = Path(tmp) / "big"
        model.mkdir()
        cfg = {"model_type": "gpt2", "vocab_size": V, "n_embd": D, "n_positions": 1024}
        (model / "config.json").write_text(json.dumps(cfg))
        rng = np.random.default_rng(0)
        tensors = {"transformer.wte.weight": rng.standard_normal((V, D), dtype=np.float32)}
        per = 256 * 1024 * 1024 // 4
        for i in range(int(args.other_gb * 1e9 // (per * 4)) + 1):
            tensors[f"transformer.h.{i}.mlp.weight"] = np.ones(per, dtype=np.float32)
        save_file(tensors, str(model / "model.safetensors"))
        other = sum(t.nbytes for k, t in tensors.items() if "wte" not in k)
        del tensors
        r = run([*embcli(), "info", "-m", str(model)], {"EMBCLI_CACHE": str(Path(tmp) / "c")})
        table = V * D * 4
        goal = 2 * table + 300e6
        print(f"checkpoint: table {table / 1e6:.0f} MB + other weights {other / 1e9:.2f} GB")
        print(f"first-time build: {r['wall']:.2f} s, peak RSS {r['peak'] / 1e6:.0f} MB")
        print(f"goal: <= 2 x table + 300 MB = {goal / 1e6:.0f} MB -> ratio {r['peak'] / goal:.2f}")


if __name__ == "__main__":
    main()
