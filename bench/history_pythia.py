"""Issue 20: ``embcli history`` over 154 Pythia-70m-shaped checkpoints from a local Hub server.

The repo has Pythia's 154 branches (``step0``, ``step1`` ... ``step512``, ``step1000`` ...
``step143000``; ``main`` = ``step143000``), each holding ``pytorch_model.bin`` as
``torch.save`` writes it for a GPT-NeoX with Pythia-70m's shapes: 6 layers, a 50,304 x 512
float16 input table ``gpt_neox.embed_in.weight``, an untied head of the same shape and the
attention-mask buffers, 166 MB a file as on the Hub. Only the input table differs between
checkpoints: it moves from Pythia's N(0, 0.02) initialisation to a fixed target (GloVe's first
50,303 words, 50-d, lifted to 512-d by a random orthonormal map, plus noise), row i finishing at
step ``10 ** (3 + 2 i / 50,304)`` (frequent rows first), so the report has something to find.
The vocabulary is ``<unk>`` (row 0, never trained) and those GloVe words (a WordLevel
tokenizer), in frequency order.

How the files are made cheaply (154 x 166 MB = 25.6 GB would not fit): one template is
written by ``torch.save`` with every tensor zero; each checkpoint is a *sparse* file of the
template's size holding only the template's non-zero 4 kB blocks (zip records, ``data.pkl``)
and its own table storage (51.5 MB), with the table record's CRC-32 patched in the data
descriptor and the central directory, so each file is a valid zip (checked with ``testzip``
and ``torch.load`` on one). ``config.json`` and ``tokenizer.json`` are hard links. The server
(``tests/hub_server.py``) serves each file from disk, reading the range asked for.

Measured, in one session: the cold run (``--revisions 'step*' --all``): wall time, bytes served
against the files' total, peak RssAnon of the embcli process (polled); then the warm rerun
(everything cached). ``--cluster``: then the same cold run on a 2-worker Dask ``LocalCluster``
(``--scheduler``, a fresh cache the workers share, the workers started before the timing, run
with this process's BLAS threads): wall time, bytes served, and its JSON against the local
run's. Needs about 26 GB of free disk (7.9 GB of tables, 16.6 GB of cache; 43 GB with
``--cluster``); removes everything at the end.
Run: python bench/history_pythia.py [--checkpoints N] [--cluster]   (N < 154: the first N
branches, a trial)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import zipfile
import zlib
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from tests import glove
from tests.hub_server import HubServer

ROWS, DIM, LAYERS, CONTEXT = 50304, 512, 6, 2048
STEPS = [0, *[2**i for i in range(10)], *range(1000, 143001, 1000)]  # Pythia's 154
TABLE = "gpt_neox.embed_in.weight"
BLOCK = 4096
NEED_FREE = 26e9


def pythia_state() -> dict:
    """Pythia-70m's tensors as its training checkpoints hold them, all zero (float16)."""
    import torch

    z = lambda *shape, dtype=torch.float16: torch.zeros(*shape, dtype=dtype)  # noqa: E731
    state = {TABLE: z(ROWS, DIM)}
    for i in range(LAYERS):
        p = f"gpt_neox.layers.{i}."
        for norm in ("input_layernorm", "post_attention_layernorm"):
            state[p + norm + ".weight"], state[p + norm + ".bias"] = z(DIM), z(DIM)
        state[p + "attention.bias"] = z(1, 1, CONTEXT, CONTEXT, dtype=torch.bool)
        state[p + "attention.masked_bias"] = z(())
        state[p + "attention.rotary_emb.inv_freq"] = z(16, dtype=torch.float32)
        state[p + "attention.query_key_value.weight"] = z(3 * DIM, DIM)
        state[p + "attention.query_key_value.bias"] = z(3 * DIM)
        state[p + "attention.dense.weight"], state[p + "attention.dense.bias"] = z(DIM, DIM), z(DIM)
        state[p + "mlp.dense_h_to_4h.weight"] = z(4 * DIM, DIM)
        state[p + "mlp.dense_h_to_4h.bias"] = z(4 * DIM)
        state[p + "mlp.dense_4h_to_h.weight"] = z(DIM, 4 * DIM)
        state[p + "mlp.dense_4h_to_h.bias"] = z(DIM)
    state["gpt_neox.final_layer_norm.weight"] = z(DIM)
    state["gpt_neox.final_layer_norm.bias"] = z(DIM)
    state["embed_out.weight"] = z(ROWS, DIM)
    return state


class Template:
    """The zero checkpoint: its non-zero blocks, and where the table and its CRC-32s live."""

    def __init__(self, path: Path) -> None:
        self.size = path.stat().st_size
        data = np.fromfile(path, dtype=np.uint8)
        padded = np.zeros(-(-len(data) // BLOCK) * BLOCK, np.uint8)
        padded[: len(data)] = data
        live = np.flatnonzero(padded.reshape(-1, BLOCK).any(axis=1))
        self.blocks = [(int(b) * BLOCK, data[b * BLOCK : (b + 1) * BLOCK].tobytes()) for b in live]
        with zipfile.ZipFile(path) as z:
            info = next(i for i in z.infolist() if i.file_size == ROWS * DIM * 2)
            start_dir = z.start_dir
        raw = data.tobytes()
        name_len, extra_len = struct.unpack("<HH", raw[info.header_offset + 26 :][:4])
        self.start = info.header_offset + 30 + name_len + extra_len
        end = self.start + info.file_size
        self.descriptor_crc = end + (4 if raw[end : end + 4] == b"PK\x07\x08" else 0)
        pos = start_dir  # the central directory: find the table's record
        while raw[pos : pos + 4] == b"PK\x01\x02":
            n, e, c = struct.unpack("<HHH", raw[pos + 28 : pos + 34])
            if raw[pos + 46 : pos + 46 + n].decode() == info.filename:
                self.central_crc = pos + 16
                break
            pos += 46 + n + e + c
        else:
            raise SystemExit("the table's central directory record was not found")

    def write(self, path: Path, table: np.ndarray) -> None:
        body = np.ascontiguousarray(table, dtype="<f2").tobytes()
        crc = struct.pack("<L", zlib.crc32(body))
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            os.ftruncate(fd, self.size)  # holes everywhere, then the live blocks
            for offset, block in self.blocks:
                os.pwrite(fd, block, offset)
            os.pwrite(fd, body, self.start)
            os.pwrite(fd, crc, self.descriptor_crc)
            os.pwrite(fd, crc, self.central_crc)
        finally:
            os.close(fd)


def tables(steps: list[int]):
    """Each step's table: rows move from N(0, 0.02) to the target, frequent rows first."""
    _, vectors = glove.load(ROWS - 1)
    rng = np.random.default_rng(0)
    lift = np.linalg.qr(rng.standard_normal((DIM, vectors.shape[1])))[0].T  # [50, 512]
    target = vectors @ lift / np.linalg.norm(vectors, axis=1).mean() * 0.8
    target += rng.normal(0, 0.01, target.shape)
    start = rng.normal(0, 0.02, (ROWS, DIM))
    target = np.vstack([start[:1], target])  # row 0, <unk>, is never trained
    finish = 10 ** (3 + 2 * np.arange(ROWS) / ROWS)
    for step in steps:
        a = np.minimum(1.0, step / finish)[:, None]
        yield step, (1 - a) * start + a * target


def make_repo(root: Path, steps: list[int]) -> tuple[list[Path], float]:
    import torch

    from tests.models import planted

    words, _ = glove.load(ROWS - 1)
    shared = planted(root / "shared", ["<unk>", *words], np.zeros((1, DIM), np.float32))
    config = {"model_type": "gpt_neox", "architectures": ["GPTNeoXForCausalLM"],
              "vocab_size": ROWS, "hidden_size": DIM, "num_hidden_layers": LAYERS,
              "num_attention_heads": 8, "intermediate_size": 4 * DIM,
              "max_position_embeddings": CONTEXT, "tie_word_embeddings": False,
              "torch_dtype": "float16"}  # fmt: skip
    (shared / "config.json").write_text(json.dumps(config))
    (shared / "model.safetensors").unlink()
    template = root / "template" / "pytorch_model.bin"
    template.parent.mkdir()
    torch.save(pythia_state(), template)
    tpl = Template(template)
    dirs = []
    t = time.perf_counter()
    for step, table in tables(steps):
        d = root / f"step{step}"
        d.mkdir()
        for name in ("config.json", "tokenizer.json"):
            os.link(shared / name, d / name)
        tpl.write(d / "pytorch_model.bin", table)
        dirs.append(d)
    made = time.perf_counter() - t
    check = dirs[len(dirs) // 2] / "pytorch_model.bin"
    with zipfile.ZipFile(check) as z:
        assert z.testzip() is None, "a CRC does not match"
    loaded = torch.load(check, mmap=True, weights_only=True)[TABLE]
    step, expected = next(tables([steps[len(dirs) // 2]]))
    assert np.array_equal(loaded.numpy(), expected.astype(np.float16)), step
    template.unlink()
    return dirs, made


def polled(cmd: list[str], env: dict[str, str], out: Path) -> dict:
    """Wall time and peak RssAnon of ``cmd`` (its stdout kept in ``out``)."""
    t = time.perf_counter()
    with out.open("w") as fh:
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.PIPE,
                                env={**os.environ, **env})  # fmt: skip
        peak = 0
        status = Path(f"/proc/{proc.pid}/status")
        while proc.poll() is None:
            try:
                for line in status.read_text().splitlines():
                    if line.startswith("RssAnon:"):
                        peak = max(peak, int(line.split()[1]) * 1024)
            except (OSError, ValueError, IndexError):
                pass
            time.sleep(0.05)
    err = proc.stderr.read().decode() if proc.stderr else ""
    if proc.returncode != 0:
        raise SystemExit(f"failed ({proc.returncode}): {err}")
    return {"wall": time.perf_counter() - t, "anon": peak, "err": err}


def cluster_run(cmd: list[str], env: dict[str, str], root: Path, hub: HubServer) -> tuple:
    """The cold run again on a 2-worker LocalCluster, into a fresh cache: (wall, bytes served,
    ranged requests); its JSON in ``root / "cluster.json"``."""
    import logging

    import dask
    import distributed

    env = {**env, "EMBCLI_CACHE": str(root / "cache-cluster")}
    os.environ.update(env)  # the workers are spawned with it: the Hub stand-in, the cache
    hub.log.clear()
    # the workers run with this process's BLAS threads (Dask's default is one each)
    spawn = {"distributed.nanny.pre-spawn-environ": {"MALLOC_TRIM_THRESHOLD_": 65536}}
    with dask.config.set(spawn), \
            distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                     host="127.0.0.1", scheduler_port=0, dashboard_address=None,
                                     silence_logs=logging.ERROR) as cluster:  # fmt: skip
        run = polled([*cmd, "--scheduler", cluster.scheduler_address], env, root / "cluster.json")
    requests = len([s for s in hub.log if s.filename == "pytorch_model.bin"])
    return run["wall"], hub.bytes_served("pytorch_model.bin"), requests


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--checkpoints", type=int, default=len(STEPS))
    parser.add_argument("--jobs", type=int, default=4)
    parser.add_argument("--cluster", action="store_true", help="also on a 2-worker LocalCluster")
    args = parser.parse_args()
    steps = STEPS[: args.checkpoints]
    free = shutil.disk_usage(tempfile.gettempdir()).free
    need = NEED_FREE * len(steps) / len(STEPS) * (1.65 if args.cluster else 1)
    if free < need:
        raise SystemExit(f"needs {need / 1e9:.0f} GB free in {tempfile.gettempdir()}, has "
                         f"{free / 1e9:.0f} GB")  # fmt: skip
    root = Path(tempfile.mkdtemp(prefix="embcli-history-bench-"))
    try:
        dirs, made = make_repo(root / "repo", steps)
        files = sum(p.stat().st_size for d in dirs for p in d.iterdir())
        on_disk = sum(p.stat().st_blocks * 512 for d in dirs for p in [d / "pytorch_model.bin"])
        print(f"made {len(dirs)} checkpoints in {made:.1f} s: {files / 1e9:.2f} GB as files, "
              f"{on_disk / 1e9:.2f} GB on disk (sparse)")  # fmt: skip
        with HubServer() as hub:
            for step, d in zip(steps, dirs, strict=True):
                hub.add_revision("bench/pythia-70m", f"step{step}", d, lazy=True)
            hub.add_revision("bench/pythia-70m", "main", dirs[-1], lazy=True)
            env = {"HF_ENDPOINT": hub.url, "HF_HUB_OFFLINE": "0", "HF_HOME": str(root / "hf"),
                   "EMBCLI_CACHE": str(root / "cache"), "HF_TOKEN": ""}  # fmt: skip
            cmd = [sys.executable, "-m", "embcli", "history", "-m", "bench/pythia-70m",
                   "--revisions", "step*", "--all", "--jobs", str(args.jobs), "-f", "json",
                   "--words", "the,city,london,microsoft"]  # fmt: skip
            cold = polled(cmd, env, root / "cold.json")
            served = hub.bytes_served("pytorch_model.bin")
            requests = len([s for s in hub.log if s.filename == "pytorch_model.bin"])
            hub.log.clear()
            warm = polled(cmd, env, root / "warm.json")
            warm_served = hub.bytes_served("pytorch_model.bin")
            warm_requests = len(hub.log)
            if args.cluster:
                on_cluster = cluster_run(cmd, env, root, hub)
        cache = sum(p.stat().st_size for p in (root / "cache").rglob("*") if p.is_file())
        result = json.loads((root / "cold.json").read_text())
        assert json.loads((root / "warm.json").read_text()) == result
        if args.cluster:
            same = (root / "cluster.json").read_bytes() == (root / "cold.json").read_bytes()
    finally:
        shutil.rmtree(root, ignore_errors=True)
    n = len(steps)
    table = ROWS * DIM * 2
    print(f"checkpoints           : {n} (pythia-70m shapes, {files / n / 1e6:.0f} MB .bin each)")
    print(f"cold run (--jobs {args.jobs})   : {cold['wall']:.1f} s, {cold['wall'] / n:.2f} s a "
          f"checkpoint; peak RssAnon {cold['anon'] / 2**20:,.0f} MiB")  # fmt: skip
    print(f"bytes fetched         : {served / 1e9:.2f} GB of {files / 1e9:.2f} GB "
          f"({served / files:.3f} of the files; tables {n * table / 1e9:.2f} GB; "
          f"{requests} ranged requests)")  # fmt: skip
    print(f"warm rerun            : {warm['wall']:.2f} s, {warm_served} weight bytes, "
          f"{warm_requests} requests; peak RssAnon {warm['anon'] / 2**20:,.0f} MiB")  # fmt: skip
    print(f"cache                 : {cache / 1e9:.2f} GB ({cache / n / 1e6:.0f} MB a checkpoint)")
    if args.cluster:
        wall, got, asked = on_cluster
        print(f"2-worker LocalCluster  : {wall:.1f} s, {wall / n:.2f} s a checkpoint (cold, fresh "
              f"cache); {got / 1e9:.2f} GB fetched in {asked} ranged requests; JSON "
              f"{'byte-identical to' if same else 'DIFFERENT from'} the local run's")  # fmt: skip
    words = {w["word"]: w["settle_step"] for w in result["words"]}
    quarters = [q["median_settle_step"] for q in result["sample"]["settle_by_quartile"]]
    print(f"settle steps          : {words}; sample medians by quartile {quarters}")


if __name__ == "__main__":
    main()
