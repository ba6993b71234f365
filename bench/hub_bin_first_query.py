"""Issue 18: bytes and wall time of a first query on a PyTorch ``.bin`` checkpoint on the Hub.

The repo holds a randomly initialised GPT-2 small (124M parameters, real shapes: a 50,257 x 768
table) saved by ``torch.save`` as ``pytorch_model.bin`` only (as Pythia's training checkpoints
are), served by the tests' hub stand-in on 127.0.0.1. A cold ``embcli info`` reads the zip
directory, ``data.pkl`` and the table's storage record; we print those bytes against the file's
size, and the wall time against ``huggingface_hub.snapshot_download`` of the same repo in the
same session.
Run: python bench/hub_bin_first_query.py
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hub_first_query import timed

from tests import models
from tests.hub_server import HubServer


def main() -> None:
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    with tempfile.TemporaryDirectory() as tmp:
        repo = Path(tmp) / "gpt2"
        torch.manual_seed(0)
        model = GPT2LMHeadModel(GPT2Config())
        model.config.save_pretrained(repo)
        torch.save(model.state_dict(), repo / "pytorch_model.bin")
        models.byte_level_tokenizer().save(str(repo / "tokenizer.json"))
        size = (repo / "pytorch_model.bin").stat().st_size
        with HubServer() as hub:
            hub.add("bench/gpt2-bin", repo)
            env = {"HF_ENDPOINT": hub.url, "HF_HUB_OFFLINE": "0", "HF_HOME": f"{tmp}/hf1",
                   "EMBCLI_CACHE": f"{tmp}/cache"}  # fmt: skip
            ours = timed([sys.executable, "-m", "embcli", "info", "-m", "bench/gpt2-bin"], env)
            ours_bin = hub.bytes_served("pytorch_model.bin")
            requests = len([s for s in hub.log if s.filename == "pytorch_model.bin"])
            hub.log.clear()
            snap = [sys.executable, "-c",
                    "from huggingface_hub import snapshot_download; "
                    "snapshot_download('bench/gpt2-bin')"]  # fmt: skip
            theirs = timed(snap, {**env, "HF_HOME": f"{tmp}/hf2"})
    table = 50257 * 768 * 4
    print(f"pytorch_model.bin     : {size / 1e6:8.1f} MB (table {table / 1e6:.1f} MB)")
    print(f"embcli info (cold)    : {ours_bin / 1e6:8.1f} MB of it in {requests} requests, "
          f"{ours:6.2f} s")  # fmt: skip
    print(f"snapshot_download     : {size / 1e6:8.1f} MB in {theirs:6.2f} s")
    print(f"bytes ratio {ours_bin / size:.3f} of the file; beyond the table "
          f"{(ours_bin - table) / 1e3:,.1f} kB; wall-time ratio {ours / theirs:.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
