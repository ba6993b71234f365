"""``embcli map --serve`` end to end: the process (its URL line, Ctrl-C), and the live page in
headless Chromium (Debian's, no GPU, via Playwright) against MiniLM: the page's analogy equals
``embcli analogy``, a word not on the page is asked of the server, box and lasso selections list
the tokens inside them (checked against the coordinates computed here) and are copied and
saved. Screenshots are written to each test's tmp directory."""

from __future__ import annotations

import http.client
import itertools
import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from tests import models
from tests.e2e.test_map_browser import ARGS, CHROMIUM

pytestmark = pytest.mark.slow


def quantised(values: np.ndarray) -> np.ndarray:
    """The page's coordinates: 16-bit steps over their range (as ``map_page.quantised`` stores
    them and the page decodes them, in float32)."""
    v = np.asarray(values, np.float64)
    lo, hi = float(v.min()), float(v.max())
    span = hi - lo if hi > lo else 1.0
    q = np.clip(np.rint((v - lo) / span * 65535), 0, 65535)
    return (np.float32(lo) + q.astype(np.float32) * np.float32(span / 65535)).astype(np.float64)


# -- the process ---------------------------------------------------------------------------------


def test_serve_prints_its_url_answers_and_stops_cleanly_on_ctrl_c(tmp_path):
    pytest.importorskip("plotly")
    rng = np.random.default_rng(0)
    words = ["<unk>", "cat", "dog", *(f"w{i}" for i in range(40))]
    model = models.planted(tmp_path / "m", words, rng.normal(size=(len(words), 16)))
    env = {**os.environ, "EMBCLI_CACHE": str(tmp_path / "cache"), "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-m", "embcli", "-m", str(model), "map", "--serve", "--port", "0",
           "--clusters", "3"]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:") and url.endswith("/"), url
        port = int(url.rsplit(":", 1)[1].rstrip("/"))
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.request("GET", "/api/similarity?a=cat&b=dog")
        resp = conn.getresponse()
        got = json.loads(resp.read())
        assert resp.status == 200 and set(got) >= {"cosine", "dot"}
        # the connection stays open (keep-alive), idle, while Ctrl-C arrives
        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=30)
        err = proc.stderr.read()
        assert code == 130
        assert err == f"embcli: stopped serving {url}\n"
        assert proc.stdout.read() == ""
        conn.close()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


# -- the live page in a browser ------------------------------------------------------------------


@pytest.fixture(scope="module")
def live(minilm_dir, tmp_path_factory):
    """MiniLM's live app (every row on the page), serving in a thread; and a second one whose
    page shows a sample of 3,000 rows (for words the page lacks). The cache is the one
    test_map_browser's page was built in, so the neighbour lists are computed once."""
    pytest.importorskip("plotly")
    if not CHROMIUM.exists():
        pytest.skip("needs Debian's chromium (/usr/bin/chromium)")
    pytest.importorskip("playwright.sync_api")
    import embcli
    from embcli.api.map_app import MapApp

    cache = tmp_path_factory.getbasetemp() / "minilm-map-cache"
    table = embcli.Model(str(minilm_dir), cache_dir=cache).table()
    apps = []
    for sample in (None, 3000):
        app = MapApp(table, port=0)
        page = table.map(sample=sample, seed=5)
        app.show(page)
        threading.Thread(target=app.serve_forever, daemon=True).start()
        apps.append((app, page))
    yield apps
    for app, _ in apps:
        app.close()


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield b
        b.close()


def open_live(browser, app, tmp_path: Path):
    """The live page, every request that is not to the app's own address recorded and aborted;
    the caller asserts none was made."""
    context = browser.new_context(viewport={"width": 1280, "height": 860}, accept_downloads=True)
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=app.url.rstrip("/"))
    page = context.new_page()
    foreign: list[str] = []
    errors: list[str] = []

    def route(r):
        url = r.request.url
        if url.startswith(app.url) or url.split(":", 1)[0] in ("data", "blob"):
            r.continue_()
        else:
            foreign.append(url)
            r.abort()

    page.route("**/*", route)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(app.url)
    page.wait_for_function("window.embcliMap && window.embcliMap.state.ready", timeout=60_000)
    page.wait_for_timeout(300)
    return context, page, foreign, errors


@pytest.fixture
def full(browser, live, tmp_path):
    app, map_page = live[0]
    context, page, foreign, errors = open_live(browser, app, tmp_path)
    yield page, map_page
    assert not foreign, f"the page asked elsewhere: {foreign}"
    assert not errors, errors
    context.close()


def cli_json(cli, minilm_dir, *args: str):
    ran = cli("-m", str(minilm_dir), *args, "-f", "json")
    assert ran.code == 0, ran.err
    return json.loads(ran.out)


def close(got, expected) -> None:
    from tests.api.test_map_app import same

    same(got, expected)


def test_the_pages_analogy_equals_embcli_analogy_and_is_ringed(full, cli, minilm_dir, tmp_path):
    page, map_page = full
    assert page.locator("#live").is_visible()
    page.fill("#an-a", "king")
    page.fill("#an-b", "man")
    page.fill("#an-c", "woman")
    page.press("#an-c", "Enter")
    page.wait_for_function("window.embcliMap.state.analogy", timeout=30_000)
    page.wait_for_timeout(300)
    got = page.evaluate("window.embcliMap.state.analogy")
    expected = cli_json(cli, minilm_dir, "analogy", "king", "man", "woman")
    close(got, expected)
    ids = [r["id"] for r in expected["results"]]
    listed = page.locator("#analogy-out li").evaluate_all("l => l.map(e => +e.dataset.id)")
    assert listed == ids and expected["results"][0]["token"] == "queen"
    ringed = page.evaluate("window.embcliMap.rings().answers")
    drawn = page.evaluate(f"Array.from(document.getElementById('plot').data[{ringed['trace']}].x)")
    rows = map_page.map.rows
    assert [int(rows[p]) for p in ringed["points"]] == ids
    assert drawn == pytest.approx(quantised(map_page.map.coords[:, 0])[ringed["points"]], abs=1e-6)
    page.screenshot(path=str(tmp_path / "analogy.png"))
    # similarity and an axis, from the same panel
    page.fill("#sim-a", "cat")
    page.fill("#sim-b", "dog")
    page.press("#sim-b", "Enter")
    page.wait_for_function("window.embcliMap.state.similarity", timeout=30_000)
    close(page.evaluate("window.embcliMap.state.similarity"),
          cli_json(cli, minilm_dir, "similarity", "cat", "dog"))  # fmt: skip
    assert "cosine 0.4239" in page.locator("#similarity-out").inner_text()
    page.fill("#axis-pairs", "man:woman,king:queen")
    page.press("#axis-pairs", "Enter")
    page.wait_for_function("window.embcliMap.state.axis", timeout=30_000)
    close(page.evaluate("window.embcliMap.state.axis"),
          cli_json(cli, minilm_dir, "axis", "--pairs", "man:woman,king:queen"))  # fmt: skip
    page.wait_for_timeout(300)
    page.screenshot(path=str(tmp_path / "axis.png"))
    # an unknown word: the server's one line, on the page
    page.fill("#an-c", "zzqqxx")
    page.press("#an-c", "Enter")
    page.wait_for_function(
        "document.getElementById('analogy-out').textContent.includes('not a single token')"
    )


def test_two_questions_at_once_get_their_own_answers(full, cli, minilm_dir):
    page, _ = full
    got = page.evaluate(
        "Promise.all([window.embcliMap.analogy('king', 'man', 'woman'),"
        " fetch('api/analogy?a=paris&b=france&c=italy').then(r => r.json()),"
        " fetch('api/neighbors?word=dog&k=10').then(r => r.json()),"
        " fetch('api/analogy?a=king&b=man&c=woman').then(r => r.json())])"
    )
    close(got[0], cli_json(cli, minilm_dir, "analogy", "king", "man", "woman"))
    close(got[1], cli_json(cli, minilm_dir, "analogy", "paris", "france", "italy"))
    close(got[2], cli_json(cli, minilm_dir, "neighbors", "dog"))
    close(got[3], got[0])


def test_a_word_not_on_the_page_is_asked_of_the_server(browser, live, cli, minilm_dir, tmp_path):
    app, map_page = live[1]
    assert 3000 not in map_page.map.rows  # paris is not in the sample
    context, page, foreign, errors = open_live(browser, app, tmp_path)
    try:
        assert page.evaluate("window.embcliMap.rows.length") == 3000
        page.fill("#search", "paris")
        page.press("#search", "Enter")
        page.wait_for_function("window.embcliMap.state.asked", timeout=30_000)
        page.wait_for_timeout(300)
        assert page.locator("#selected").get_attribute("data-id") == "3000"
        listed = page.locator("#neighbors li").evaluate_all("l => l.map(e => +e.dataset.id)")
        expected = cli_json(cli, minilm_dir, "neighbors", "paris")
        assert listed == [n["id"] for n in expected["neighbors"]]
        close(page.evaluate("window.embcliMap.state.asked"), expected)
        page.screenshot(path=str(tmp_path / "asked.png"))
        assert not foreign and not errors, (foreign, errors)
    finally:
        context.close()


# -- box and lasso selection (live page here; the script is the same offline) ------------------


def plot_geometry(page) -> dict:
    return page.evaluate(
        "(() => { const L = document.getElementById('plot')._fullLayout,"
        " b = document.getElementById('plot').getBoundingClientRect();"
        " return {left: b.left + L._size.l, top: b.top + L._size.t, w: L._size.w, h: L._size.h,"
        " xr: L.xaxis.range, yr: L.yaxis.range}; })()"
    )


def pixels_of(map_page, g: dict) -> np.ndarray:
    """Each point's place on the screen, computed here from the page's coordinates."""
    x = quantised(map_page.map.coords[:, 0])
    y = quantised(map_page.map.coords[:, 1])
    px = g["left"] + (x - g["xr"][0]) / (g["xr"][1] - g["xr"][0]) * g["w"]
    py = g["top"] + (g["yr"][1] - y) / (g["yr"][1] - g["yr"][0]) * g["h"]
    return np.stack([px, py], axis=1)


def drag(page, path: list[tuple[float, float]]) -> None:
    page.mouse.move(*path[0])
    page.mouse.down()
    for a, b in itertools.pairwise(path):
        for t in np.linspace(0, 1, 8)[1:]:
            page.mouse.move(a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t)
    page.mouse.up()
    page.wait_for_timeout(500)


def edge_distance(points: np.ndarray, polygon: np.ndarray) -> np.ndarray:
    """Each point's distance to the polygon's nearest edge."""
    best = np.full(len(points), np.inf)
    for a, b in zip(polygon, np.roll(polygon, -1, axis=0), strict=True):
        ab = b - a
        t = np.clip(((points - a) @ ab) / (ab @ ab), 0, 1)
        best = np.minimum(best, np.hypot(*(points - (a + t[:, None] * ab)).T))
    return best


def check_selection(page, map_page, polygon: np.ndarray, tmp_path: Path, name: str) -> list[int]:
    from matplotlib.path import Path as Polygon

    xy = pixels_of(map_page, plot_geometry(page))
    inside = Polygon(polygon).contains_points(xy)
    sure = edge_distance(xy, polygon) > 1.5  # a point on the edge may go either way
    chosen = page.evaluate("window.embcliMap.state.selection")
    picked = np.zeros(len(xy), bool)
    picked[chosen] = True
    assert inside.sum() > 30, "the shape holds too few points to mean anything"
    assert np.array_equal(picked[sure], inside[sure])
    rows = map_page.map.rows
    assert chosen == sorted(chosen, key=lambda i: rows[i])  # listed by row id
    count = page.locator("#selection-count").inner_text()
    assert count == f"{len(chosen)} tokens selected"
    shown = page.locator("#selection-list li[data-id]").evaluate_all(
        "l => l.map(e => +e.dataset.id)"
    )
    assert shown == [int(rows[i]) for i in chosen][:500]
    page.screenshot(path=str(tmp_path / f"{name}.png"))
    return chosen


def test_box_selection_lists_the_tokens_inside_and_saves_them(full, tmp_path):
    page, map_page = full
    page.select_option("#drag", "select")
    g = plot_geometry(page)
    x0, y0 = g["left"] + g["w"] * 0.12, g["top"] + g["h"] * 0.30
    x1, y1 = g["left"] + g["w"] * 0.22, g["top"] + g["h"] * 0.42
    drag(page, [(x0, y0), (x1, y1)])
    box = np.array([(x0, y0), (x1, y0), (x1, y1), (x0, y1)])
    chosen = check_selection(page, map_page, box, tmp_path, "box")
    tokens = [map_page.map.tokens[i] for i in chosen]
    with page.expect_download() as got:
        page.click("#save-txt")
    saved = Path(got.value.path()).read_text("utf-8")
    assert got.value.suggested_filename == "embcli-selection.txt"
    assert saved == "".join(t + "\n" for t in tokens)
    with page.expect_download() as got:
        page.click("#save-tsv")
    lines = Path(got.value.path()).read_text("utf-8").splitlines()
    assert lines[0].split("\t")[:4] == ["id", "token", "x", "y"]
    assert [int(line.split("\t")[0]) for line in lines[1:]] == [
        int(map_page.map.rows[i]) for i in chosen
    ]
    page.click("#copy")
    page.wait_for_function("document.getElementById('message').textContent.startsWith('copied')")
    assert page.evaluate("navigator.clipboard.readText()") == saved


def test_lasso_selection_lists_the_tokens_inside(full, tmp_path):
    page, map_page = full
    page.select_option("#drag", "lasso")
    g = plot_geometry(page)
    corners = [(0.10, 0.25), (0.30, 0.35), (0.14, 0.60)]
    path = [(g["left"] + g["w"] * a, g["top"] + g["h"] * b) for a, b in corners]
    drag(page, [*path, path[0]])
    check_selection(page, map_page, np.array(path), tmp_path, "lasso")
    # a click elsewhere ends the selection: the list goes
    page.select_option("#drag", "pan")
    page.evaluate("window.embcliMap.setSelection([])")
    assert page.locator("#selection").is_hidden()


def test_selection_works_offline_too(browser, live, tmp_path):
    """The same script on the page written by ``map -o`` (file://, no server): a box lists its
    tokens; the live panel stays hidden."""
    _, map_page = live[0]
    out = tmp_path / "map.html"
    map_page.save(out)
    page = browser.new_page(viewport={"width": 1280, "height": 860})
    try:
        page.goto(out.as_uri())
        page.wait_for_function("window.embcliMap && window.embcliMap.state.ready", timeout=60_000)
        assert page.locator("#live").is_hidden()
        page.select_option("#drag", "select")
        g = plot_geometry(page)
        x0, y0 = g["left"] + g["w"] * 0.5, g["top"] + g["h"] * 0.4
        x1, y1 = g["left"] + g["w"] * 0.7, g["top"] + g["h"] * 0.6
        drag(page, [(x0, y0), (x1, y1)])
        box = np.array([(x0, y0), (x1, y0), (x1, y1), (x0, y1)])
        check_selection(page, map_page, box, tmp_path, "offline-box")
    finally:
        page.close()


# -- a page of 262,144 rows ----------------------------------------------------------------------


def test_a_page_of_262144_rows_draws_every_point_and_lists_32_bit_neighbours(browser, tmp_path):
    """A Gemma-sized page (random data of ``page_data``'s shape): every point drawn, colours
    switch, and a row's neighbours (32-bit ids past 65,535 rows) are the ones the page holds.
    How fast it draws is bench/map_serve.py's to say."""
    pytest.importorskip("plotly")
    from embcli.ask.tokenmap import KINDS, TokenMap
    from embcli.draw.map_page import MapPage

    n, k = 262_144, 10
    rng = np.random.default_rng(0)
    tokens = [f"t{i}" for i in range(n)]
    found = TokenMap(
        label="big", role="input", shape=(n, 2304), rows=np.arange(n, dtype=np.int64),
        coords=rng.normal(size=(n, 2)).astype(np.float32), tokens=tokens,
        kinds=rng.integers(0, len(KINDS), n).astype(np.uint8),
        norms=rng.uniform(0.5, 2, n).astype(np.float32),
        clusters=rng.integers(0, 20, n).astype(np.int16),
        cluster_names=[f"{c}: a b c" for c in range(20)], undertrained=None,
        neighbors=rng.integers(0, n, (n, k)),
        scores=-np.sort(-rng.uniform(0.2, 0.9, (n, k)), axis=1).astype(np.float32),
        extra_tokens={}, search={t: i for i, t in enumerate(tokens)}, lowercase=False,
        method="pca", parameters={"explained variance": [0.05, 0.03]},
    )  # fmt: skip
    out = tmp_path / "big.html"
    MapPage(found).save(out)
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        page.goto(out.as_uri(), timeout=120_000)
        page.wait_for_function("window.embcliMap && window.embcliMap.state.ready", timeout=120_000)
        assert page.evaluate("window.embcliMap.drawn().length") == n
        from tests.e2e.test_map_browser import coloured, plot_pixels

        assert coloured(plot_pixels(page, tmp_path / "big.png")) > 50_000
        assert "5.0%, 3.0%" in page.locator("#about").inner_text()
        target = int(np.flatnonzero(found.neighbors.max(axis=1) > 65_535)[0])
        page.evaluate(f"window.embcliMap.search('t{target}')")
        page.wait_for_function(f"window.embcliMap.state.selected === {target}", timeout=30_000)
        listed = page.locator("#neighbors li").evaluate_all("l => l.map(e => +e.dataset.id)")
        assert listed == found.neighbors[target].tolist()
        assert max(listed) > 65_535  # ids only 32 bits hold
        dtype = "JSON.parse(document.getElementById('map-data').textContent).neighbors.dtype"
        assert page.evaluate(dtype) == "i32"
        page.select_option("#colour", "norm")
        page.wait_for_timeout(500)
        assert page.evaluate("window.embcliMap.drawn().length") == n
        plot_pixels(page, tmp_path / "big-norm.png")
        assert not errors, errors
    finally:
        page.close()
