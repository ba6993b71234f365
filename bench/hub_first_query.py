"""Issue 5: bytes and wall time of a first query against a local hub server, GPT-2-shaped repo.

The repo holds a randomly initialised GPT-2 small (124M parameters, real shapes: a 50,257 x 768
table in a 498 MB float32 checkpoint) served by the tests' hub stand-in on 127.0.0.1. We compare
a cold ``embcli info`` (which fetches config, tokenizer, the safetensors header and the table's
byte range) with ``huggingface_hub.snapshot_download`` of the same repo, in the same session.
Goal: at most 0.3 of the bytes.
Run: python bench/hub_first_query.py
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests import models
from tests.hub_server import HubServer


def timed(cmd: list[str], env: dict[str, str]) -> float:
    t = time.perf_counter()
    subprocess.run(cmd, env={**os.environ, **env}, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t


def _as_published(path: Path) -> None:
    """Rewrite the checkpoint in the layout of openai-community/gpt2's 548 MB model.safetensors:
    unprefixed names and the 12 causal-mask buffers ``h.N.attn.bias`` [1, 1, 1024, 1024]."""
    import torch
    from safetensors.torch import load_file, save_file

    state = {k.removeprefix("transformer."): v for k, v in load_file(str(path)).items()}
    for i in range(12):
        state[f"h.{i}.attn.bias"] = torch.tril(torch.ones(1024, 1024)).view(1, 1, 1024, 1024)
    save_file(state, str(path), metadata={"format": "pt"})


def main() -> None:
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    with tempfile.TemporaryDirectory() as tmp:
        repo = Path(tmp) / "gpt2"
        torch.manual_seed(0)
        GPT2LMHeadModel(GPT2Config()).save_pretrained(repo)
        _as_published(repo / "model.safetensors")
        models.byte_level_tokenizer().save(str(repo / "tokenizer.json"))
        with HubServer() as hub:
            hub.add("bench/gpt2", repo)
            env = {"HF_ENDPOINT": hub.url, "HF_HUB_OFFLINE": "0", "HF_HOME": f"{tmp}/hf1",
                   "EMBCLI_CACHE": f"{tmp}/cache"}  # fmt: skip
            ours = timed([sys.executable, "-m", "embcli", "info", "-m", "bench/gpt2"], env)
            ours_bytes = hub.bytes_served()
            hub.log.clear()
            snap = [sys.executable, "-c",
                    "from huggingface_hub import snapshot_download; "
                    "snapshot_download('bench/gpt2')"]  # fmt: skip
            theirs = timed(snap, {**env, "HF_HOME": f"{tmp}/hf2"})
            theirs_bytes = hub.bytes_served()
    print(f"snapshot_download     : {theirs_bytes / 1e6:8.1f} MB in {theirs:6.2f} s")
    print(f"embcli info (cold)    : {ours_bytes / 1e6:8.1f} MB in {ours:6.2f} s")
    print(f"bytes ratio {ours_bytes / theirs_bytes:.3f} (goal <= 0.3); "
          f"wall-time ratio {ours / theirs:.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
