"""``embcli map``'s page in a real browser: Debian's Chromium, headless, no GPU (SwiftShader
WebGL), driven by Playwright, the page opened from ``file://`` with every other request failing
the test. Screenshots are written to each test's tmp directory."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium (/usr/bin/chromium)"),
]


@pytest.fixture(scope="module")
def minilm_map(minilm_dir, tmp_path_factory):
    """MiniLM's map page, built once for the module (its own cache), and the table."""
    pytest.importorskip("plotly")
    import embcli

    cache = tmp_path_factory.getbasetemp() / "minilm-map-cache"  # shared with test_map_serve
    table = embcli.Model(str(minilm_dir), cache_dir=cache).table()
    out = tmp_path_factory.mktemp("map") / "map.html"
    page = table.map(output=out)
    return out, page, table, cache


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield b
        b.close()


@pytest.fixture
def opened(browser, minilm_map):
    """The page opened from file://, every request that is not file:/data:/blob: recorded and
    aborted; the test fails if there was any."""
    out, page_obj, table, _ = minilm_map
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    fetched: list[str] = []
    errors: list[str] = []

    def route(r):
        url = r.request.url
        if url.split(":", 1)[0] in ("file", "data", "blob"):
            r.continue_()
        else:
            fetched.append(url)
            r.abort()

    page.route("**/*", route)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(out.as_uri())
    page.wait_for_function("window.embcliMap && window.embcliMap.state.ready", timeout=60_000)
    page.wait_for_timeout(300)
    yield page, page_obj, table
    assert not fetched, f"the page asked the network for {fetched}"
    assert not errors, errors
    page.close()


def plot_pixels(page, path: Path) -> np.ndarray:
    """A screenshot of the plot area (also written to ``path``), as an RGB array."""
    from PIL import Image

    png = page.locator("#plot").screenshot(path=str(path))
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)


def coloured(pixels: np.ndarray) -> int:
    """Pixels that are neither white-ish nor grey (the points; axes and grid are grey)."""
    spread = pixels.max(axis=2) - pixels.min(axis=2)
    return int((spread > 40).sum())


def test_page_opens_offline_and_draws_every_point(opened, tmp_path):
    page, page_obj, _ = opened
    assert page.evaluate("window.embcliMap.rows.length") == 30522
    assert page.evaluate("window.embcliMap.drawn()") == list(range(30522))
    drawn = coloured(plot_pixels(page, tmp_path / "map.png"))
    assert drawn > 20_000, f"only {drawn} coloured pixels: the points were not drawn"
    buttons = page.evaluate(
        "Array.from(document.querySelectorAll('.modebar-btn'), b => b.dataset.title)"
    )
    assert not [b for b in buttons if "share" in b.lower() or "cloud" in b.lower()], buttons
    about = page.locator("#about").inner_text()
    assert "pca" in about and "explained variance" in about
    # shown as percentages of the variance, from the fractions the page holds
    shares = page_obj.map.parameters["explained variance"]
    assert ", ".join(f"{100 * v:.1f}%" for v in shares) in about


def test_search_paris_flies_to_row_3000_with_the_neighbors_embcli_lists(
    opened, cli, minilm_dir, tmp_path
):
    page, _, _ = opened
    page.fill("#search", "paris")
    page.press("#search", "Enter")
    page.wait_for_function("window.embcliMap.state.selected >= 0")
    page.wait_for_timeout(500)
    assert page.locator("#selected").get_attribute("data-id") == "3000"
    # ringed on the map: the "selected" trace is row 3000's point, the orange rings its neighbours
    ringed = page.evaluate(
        "(() => { const d = document.getElementById('plot').data, m = window.embcliMap;"
        " const r = m.rings(), s = d[r.selected.trace], nb = d[r.neighbours.trace];"
        " return [s.x[0] === m.X[3000] && s.y[0] === m.Y[3000], nb.x.length]; })()"
    )
    assert ringed == [True, 10]
    listed = [
        int(x) for x in page.locator("#neighbors li").evaluate_all("l => l.map(e => e.dataset.id)")
    ]
    got = cli("-m", str(minilm_dir), "neighbors", "paris", "-f", "json")
    assert got.code == 0, got.err
    expected = [n["id"] for n in json.loads(got.out)["neighbors"]]
    assert listed == expected
    # flown to: the selected point is in the middle of the view
    x, _ = page.evaluate("window.embcliMap.pixel(window.embcliMap.state.selected)")
    box = page.locator("#plot").bounding_box()
    assert abs(x - (box["x"] + box["width"] / 2)) < box["width"] / 4
    plot_pixels(page, tmp_path / "paris.png")
    page.screenshot(path=str(tmp_path / "paris-page.png"))
    # the same word in capitals: the uncased vocabulary answers with the same row
    page.fill("#search", "PARIS")
    page.press("#search", "Enter")
    page.wait_for_timeout(300)
    assert page.locator("#selected").get_attribute("data-id") == "3000"
    page.fill("#search", "notawordatallzz")
    page.press("#search", "Enter")
    assert "not a single token" in page.locator("#message").inner_text()


def test_clicking_a_point_lists_its_neighbors(opened, tmp_path):
    page, page_obj, _ = opened
    found = page_obj.map
    xy = np.array(
        page.evaluate("Array.from(window.embcliMap.rows, (_, i) => window.embcliMap.pixel(i))")
    )
    box = page.locator("#plot").bounding_box()
    inside = (
        (xy[:, 0] > box["x"] + 60)
        & (xy[:, 0] < box["x"] + box["width"] - 60)
        & (xy[:, 1] > box["y"] + 40)
        & (xy[:, 1] < box["y"] + box["height"] - 60)
    )
    # a point with no other within 12 pixels, so the click can only mean it
    candidates = np.flatnonzero(inside)
    target = None
    for i in candidates[np.argsort(-xy[candidates, 0])]:
        d = np.hypot(*(xy - xy[i]).T)
        if (d < 12).sum() == 1:
            target = int(i)
            break
    assert target is not None
    page.mouse.move(*xy[target])
    page.wait_for_selector("#hover", state="visible", timeout=10_000)
    hover = page.locator("#hover").inner_text()
    assert found.tokens[target] in hover and f"#{found.rows[target]}" in hover
    assert "kind: " in hover and "cluster: " in hover and "norm: " in hover
    page.mouse.click(*xy[target])
    page.wait_for_function(f"window.embcliMap.state.selected === {target}", timeout=10_000)
    assert page.locator("#selected").get_attribute("data-id") == str(found.rows[target])
    listed = [
        int(v) for v in page.locator("#neighbors li").evaluate_all("l => l.map(e => e.dataset.id)")
    ]
    assert listed == found.neighbors[target].tolist()
    plot_pixels(page, tmp_path / "clicked.png")
    # a neighbour in the list is a link to its own neighbours
    page.locator("#neighbors li").first.click()
    first = int(found.neighbors[target, 0])
    page.wait_for_function(f"window.embcliMap.state.selected === {first}", timeout=10_000)
    listed = [
        int(v) for v in page.locator("#neighbors li").evaluate_all("l => l.map(e => e.dataset.id)")
    ]
    assert listed == found.neighbors[first].tolist()


def test_colour_layer_changes_the_pixels_and_kind_filter_hides_special_rows(opened, tmp_path):
    page, page_obj, _ = opened
    before = plot_pixels(page, tmp_path / "kind.png")
    page.select_option("#colour", "norm")
    page.wait_for_timeout(500)
    after = plot_pixels(page, tmp_path / "norm.png")
    assert (np.abs(before - after).sum(axis=2) > 60).sum() > 5_000
    assert "colour scale" in page.locator("#legend").inner_text()
    page.select_option("#colour", "cluster")
    page.wait_for_timeout(300)
    assert len(page.locator("#legend div").all()) > 5
    # hide the special rows: their points leave the plot data
    special = page_obj.map.kinds == 3
    assert special.any()
    page.locator('#kinds input[value="special"]').uncheck()
    page.wait_for_timeout(500)
    drawn = page.evaluate("window.embcliMap.drawn()")
    assert drawn == np.flatnonzero(~special).tolist()
    plot_pixels(page, tmp_path / "no-special.png")


def test_rows_without_a_value_are_grey_others_in_their_bin(browser, model_dirs, tmp_path):
    """A --compare layer against a table with another vocabulary: rows B lacks have no value.
    The page draws them in their own grey group, never in the scale's lowest bin, and every
    other row in the bin its value falls in (values computed in Python)."""
    pytest.importorskip("plotly")
    import embcli

    table = embcli.Model(str(model_dirs["gpt2"]), cache_dir=tmp_path / "c").table()
    out = tmp_path / "compare.html"
    found = table.map(clusters=2, k=3, compare=str(model_dirs["llama"]), output=out).map
    name = next(n for n in found.numbers if n.startswith("aligned cosine"))
    values = np.asarray(found.numbers[name], np.float64)
    none = np.flatnonzero(~np.isfinite(values))
    assert 0 < len(none) < len(values)  # some rows have no match in B, some have
    page = browser.new_page(viewport={"width": 1000, "height": 700})
    page.goto(out.as_uri())
    page.wait_for_function("window.embcliMap && window.embcliMap.state.ready", timeout=60_000)
    page.evaluate(f"window.embcliMap.setColour({json.dumps(name)})")
    groups = page.evaluate("window.embcliMap.groups()")
    grey = [g for g in groups if g["name"] == "no value"]
    assert len(grey) == 1 and sorted(grey[0]["members"]) == none.tolist()
    assert "no value" in page.locator("#legend").inner_text()
    have = values[np.isfinite(values)]
    lo, hi = have.min(), have.max()
    step = (hi - lo) / 65535  # the page holds 16-bit steps of the range
    for g in groups:
        if g["name"] == "no value":
            continue
        a, b = (float(x) for x in g["name"].split(" to "))
        v = values[g["members"]]
        assert np.all(np.isfinite(v))
        slack = 2 * step + 1e-3 * max(abs(a), abs(b))
        assert np.all(v >= a - slack) and np.all(v <= b + slack)
    page.screenshot(path=str(tmp_path / "no-value.png"))
    page.close()


def test_a_word_vector_page_searches_as_embcli_and_draws_a_constant_layer_in_one_colour(
    browser, cli, tmp_path
):
    """A GloVe-like text file (no tokenizer): ``Paris`` finds ``paris`` as ``embcli neighbors``
    does; ``--compare`` with itself makes constant layers (cosine 1, Jaccard 1), drawn in one
    colour with the value in the legend and no colour bar; ``#N`` past the table is said so."""
    pytest.importorskip("plotly")
    import embcli

    words = ["the", "paris", "Berlin", "BERLIN", "rome", "france", "germany", "italy", "cat",
             "dog", "king", "queen"]  # fmt: skip
    w = np.random.default_rng(4).normal(size=(len(words), 8))
    vec = tmp_path / "vec.txt"
    lines = [f"{t} " + " ".join(f"{v:.6g}" for v in row) for t, row in zip(words, w, strict=True)]
    vec.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "words.html"
    table = embcli.Model(str(vec), cache_dir=tmp_path / "c").table()
    table.map(clusters=2, k=3, compare=str(vec), output=out)
    page = browser.new_page(viewport={"width": 1000, "height": 700})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(out.as_uri())
    page.wait_for_function("window.embcliMap && window.embcliMap.state.ready", timeout=60_000)
    for typed in ("Paris", "berlin", "ROME"):
        got = cli("-m", str(vec), "neighbors", typed, "-f", "json")
        assert got.code == 0, got.err
        want = json.loads(got.out)["tokens"][0]["id"]
        page.fill("#search", typed)
        page.press("#search", "Enter")
        page.wait_for_timeout(300)
        assert page.locator("#selected").get_attribute("data-id") == str(want), typed
    page.fill("#search", "#99999")
    page.press("#search", "Enter")
    page.wait_for_timeout(200)
    said = page.locator("#message").inner_text()
    assert said == f"#99999 is not a row id of this table (0..{len(words) - 1})"
    for name in ("cosine with B", "Jaccard@3 with B"):
        page.evaluate(f"window.embcliMap.setColour({json.dumps(name)})")
        page.wait_for_timeout(200)
        groups = page.evaluate("window.embcliMap.groups()")
        assert [g["name"] for g in groups] == ["1.000"]
        assert len(groups[0]["members"]) == len(words)
        assert "every row 1.000" in page.locator("#legend").inner_text()
        bars = page.evaluate(
            "document.getElementById('plot').data.filter(t => t.marker && t.marker.showscale)"
            ".length"
        )
        assert bars == 0
    page.screenshot(path=str(tmp_path / "constant.png"))
    assert not errors, errors
    page.close()
