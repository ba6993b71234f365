"""The map page (draw/map_page.py) and ``Table.map``: the data rides compactly and decodes to
the numbers the map was made of, the page fetches nothing, bad arguments are said before any
work and leave no file."""

from __future__ import annotations

import base64
import json
import re

import numpy as np
import pytest

import embcli
from embcli.ask.tokenmap import FLAGS
from embcli.errors import EmbcliError, UsageProblem
from embcli.read.tokens import visible

pytest.importorskip("plotly")


@pytest.fixture
def table(model_dirs, tmp_path):
    return embcli.Model(str(model_dirs["gpt2"]), cache_dir=tmp_path / "cache").table()


def data_of(page: str) -> dict:
    m = re.search(r'<script id="map-data" type="application/json">(.*?)</script>', page, re.S)
    assert m
    assert "<" not in m.group(1)
    return json.loads(m.group(1))


def numbers(q: dict) -> np.ndarray:
    u = np.frombuffer(base64.b64decode(q["q16"]), "<u2").astype(np.float64)
    return q["lo"] + u * (q["hi"] - q["lo"]) / 65535


def test_the_page_holds_the_maps_numbers_compactly(table, tmp_path):
    page = table.map(clusters=3, k=4, output=tmp_path / "m.html")
    found = page.map
    assert (tmp_path / "m.html").read_text(encoding="utf-8") == page.html
    data = data_of(page.html)
    assert data["n"] == table.shape[0]
    for axis, name in enumerate("xy"):
        step = (data[name]["hi"] - data[name]["lo"]) / 65535
        np.testing.assert_allclose(numbers(data[name]), found.coords[:, axis], atol=step)
    ids = np.frombuffer(base64.b64decode(data["neighbors"]["data"]), "<u2").astype(np.int64)
    ids[ids == 65535] = -1
    assert np.array_equal(ids.reshape(-1, 4), found.neighbors)
    np.testing.assert_allclose(numbers(data["scores"]).reshape(-1, 4), found.scores, atol=4e-5)
    kinds = np.frombuffer(base64.b64decode(data["layers"]["kind"]["codes"]), np.uint8)
    assert np.array_equal(kinds, found.kinds)
    assert data["layers"]["cluster"]["names"] == found.cluster_names
    assert data["tokens"] == [visible(t) for t in table.tokens]
    assert data["method"] == "pca" and "explained variance" in data["parameters"]


def test_the_page_fetches_nothing(table):
    from embcli.draw.map_page import plotly_js

    page = table.map(clusters=3, k=3).html
    js = plotly_js()
    assert js in page  # plotly.js inlined whole
    ours = page.replace(js, "")
    assert not re.search(r"https?://", ours), re.findall(r"https?://\S{0,40}", ours)
    assert not re.search(r"<(script|link|img|iframe)[^>]*\s(src|href)=", ours)
    assert "@import" not in ours and "url(" not in ours


def test_jupyter_shows_the_page_in_an_iframe(table):
    page = table.map(clusters=2, k=2, sample=30)
    shown = page._repr_html_()
    assert shown.startswith("<iframe srcdoc=") and "&lt;script" in shown
    assert "30 rows" in repr(page)


@pytest.mark.parametrize(
    ("options", "param"),
    [({"method": "isomap"}, "method"), ({"sample": 1}, "sample"), ({"clusters": 0}, "clusters"),
     ({"clusters": 256}, "clusters"), ({"k": 0}, "k"),
     ({"perplexity": float("nan")}, "perplexity"), ({"umap_neighbors": 1}, "umap_neighbors"),
     ({"umap_min_dist": 1.5}, "umap_min_dist"), ({"axis": "man:woman"}, "axis"),
     ({"axis": 3}, "axis"), ({"compare": 3}, "compare")],
)  # fmt: skip
def test_bad_arguments_are_said_in_pythons_names(table, options, param):
    with pytest.raises(UsageProblem) as err:
        table.map(**options)
    assert err.value.param == param


def test_the_layers_ride_in_the_page(table, model_dirs, tmp_path):
    pairs = "man:woman,king:queen,prince:princess"
    page = table.map(clusters=2, k=3, axis=pairs, compare=str(model_dirs["gpt2"]))
    found, data = page.map, data_of(page.html)
    layers = data["layers"]
    codes, names = found.categories["under-trained"]
    assert layers["under-trained"]["type"] == "category"
    assert layers["under-trained"]["names"] == names == list(FLAGS)
    got = np.frombuffer(base64.b64decode(layers["under-trained"]["codes"]), np.uint8)
    assert np.array_equal(got, codes)
    name = "axis man:woman, king:queen, prince:princess"
    assert layers[name]["type"] == "number" and "missing" not in layers[name]
    step = (layers[name]["hi"] - layers[name]["lo"]) / 65535
    np.testing.assert_allclose(numbers(layers[name]), found.numbers[name], atol=step)
    assert name in data["parameters"] and "B" in data["parameters"]
    # B is the same model: every row its own match, cosine 1 and the same neighbours
    np.testing.assert_allclose(found.numbers["cosine with B"], 1.0, atol=1e-6)
    assert np.all(found.numbers["Jaccard@3 with B"] == 1.0)
    # a constant layer is that one value (lo == hi), not a made-up range of 1 to 2
    for layer in ("cosine with B", "Jaccard@3 with B"):
        assert layers[layer]["lo"] == layers[layer]["hi"] == 1.0, layer
        assert np.all(numbers(layers[layer]) == 1.0)


def test_a_constant_number_layer_is_its_one_value():
    from embcli.draw.map_page import number_layer

    for values in ([0.25] * 4, [1.0, 1.0000000000000004, np.nan, 0.9999999999999998]):
        layer = number_layer(np.array(values))
        assert layer["lo"] == layer["hi"] == values[0]
        got = numbers(layer)
        assert np.all(got == values[0])
    assert number_layer(np.array([1.0, 1.001]))["hi"] == 1.001  # a real range stays one


def test_a_number_layer_says_which_rows_have_no_value():
    from embcli.draw.map_page import number_layer

    values = np.array([0.5, np.nan, -1.0, 2.0, np.nan])
    layer = number_layer(values)
    missing = np.frombuffer(base64.b64decode(layer["missing"]), np.uint8)
    assert missing.tolist() == [0, 1, 0, 0, 1]
    assert layer["lo"] == -1.0 and layer["hi"] == 2.0
    np.testing.assert_allclose(numbers(layer)[[0, 2, 3]], [0.5, -1.0, 2.0], atol=3 / 65535)
    assert "missing" not in number_layer(np.array([1.0, 2.0]))


def test_a_missing_axis_word_is_said_and_named_on_the_page(table):
    heard: list[str] = []
    model = embcli.Model(table.model.spec, cache_dir=table.model.cache_dir, notice=heard.append)
    page = model.table().map(clusters=2, k=2, axis="man:woman,king:queen,zebra:horse")
    assert any("axis: not in the table, skipped: zebra" in n for n in heard)
    assert any("zebra" in n for n in page.map.notes)


def test_a_bad_output_is_said_before_the_work_and_leaves_nothing(table, tmp_path, monkeypatch):
    from embcli.ask import tokenmap

    monkeypatch.setattr(tokenmap, "token_map", lambda *a, **k: pytest.fail("worked first"))
    with pytest.raises(EmbcliError, match=r"use \.html"):
        table.map(output=tmp_path / "m.txt")
    with pytest.raises(EmbcliError):
        table.map(output=tmp_path / "no" / "such" / "m.html")
    (tmp_path / "mdir").mkdir()
    with pytest.raises(UsageProblem, match=f"^cannot write {re.escape(str(tmp_path / 'mdir'))}: "
                       "it is a directory$"):  # fmt: skip
        table.map(output=tmp_path / "mdir")
    with pytest.raises(EmbcliError, match=r"^compare: no such model directory") as err:
        table.map(compare=str(tmp_path / "nonexistent"))
    assert err.value.param == "compare"
    assert [p.name for p in tmp_path.glob("m*")] == ["mdir"]


def test_cli_says_which_option_a_bad_path_belongs_to(cli, model_dirs, tmp_path):
    bad = cli("map", "-m", model_dirs["gpt2"], "-o", tmp_path)
    assert bad.code == 2 and bad.err == f"embcli: cannot write {tmp_path}: it is a directory\n"
    out = tmp_path / "page.html"
    bad = cli("map", "-m", model_dirs["gpt2"], "-o", out, "--compare", tmp_path / "nonexistent")
    assert bad.code == 1 and bad.out == "" and not out.exists()
    assert bad.err == f"embcli: --compare: no such model directory: {tmp_path / 'nonexistent'}\n"


def test_the_page_knows_the_tables_row_count(table):
    data = data_of(table.map(sample=40, clusters=2, k=2).html)
    assert data["n"] == 40 and data["table_rows"] == table.shape[0]


def test_tsne_of_too_many_rows_is_refused_with_the_way_out(table, monkeypatch):
    from embcli.ask import tokenmap

    monkeypatch.setattr(tokenmap, "TSNE_MAX_ROWS", 50)
    with pytest.raises(UsageProblem, match="t-SNE of 420 rows would take too long") as err:
        table.map(method="tsne")
    assert err.value.param == "method" and "--sample 50" in (err.value.hint or "")
    found = table.map(method="tsne", sample=50, clusters=2, k=2).map
    assert found.coords.shape == (50, 2) and found.parameters["perplexity"] <= 49 / 3


def test_without_plotly_the_map_says_how_to_get_it(table, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "plotly.offline", None)
    with pytest.raises(EmbcliError, match="needs plotly") as err:
        table.map()
    assert err.value.hint == "pip install 'embcli[map]'"


def test_without_umap_learn_the_umap_layout_says_how_to_get_it(table, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "umap" else real(name, *a))  # fmt: skip
    with pytest.raises(EmbcliError, match="umap layout needs umap-learn") as err:
        table.map(method="umap")
    assert err.value.hint == "pip install 'embcli[map]'"


def test_cli_map_with_axis_and_compare_layers(cli, model_dirs, tmp_path):
    out = tmp_path / "page.html"
    res = cli("map", "-m", model_dirs["gpt2"], "-o", out, "--clusters", "2", "-k", "3",
              "--axis", "man:woman,king:queen", "--compare", model_dirs["llama"])  # fmt: skip
    assert res.code == 0, res.err
    layers = data_of(out.read_text(encoding="utf-8"))["layers"]
    assert {"axis man:woman, king:queen", "under-trained", "Jaccard@3 with B"} <= set(layers)
    assert "aligned cosine with B" in layers  # another vocabulary: matched by word, aligned
    assert "rows shown have none" in res.err  # said on stderr, as notices are
    bad = cli("map", "-m", model_dirs["gpt2"], "-o", out, "--axis", "man:woman")
    assert bad.code == 2 and bad.err.count("\n") == 1 and "--axis" in bad.err


def test_cli_map_writes_the_page(cli, model_dirs, tmp_path):
    out = tmp_path / "page.html"
    res = cli("map", "-m", model_dirs["gpt2"], "-o", out, "--sample", "40", "--clusters", "3")
    assert res.code == 0, res.err
    assert res.out.strip() == str(out)
    assert data_of(out.read_text(encoding="utf-8"))["n"] == 40
    bad = cli("map", "-m", model_dirs["gpt2"], "-o", tmp_path / "x.png")
    assert bad.code == 2 and bad.err.count("\n") == 1 and "use .html" in bad.err
    bad = cli("map", "-m", model_dirs["gpt2"], "--clusters", "0", "-o", out)
    assert bad.code == 2 and "--clusters must be at least 1" in bad.err


def test_building_the_neighbor_lists_reports_progress(model_dirs, tmp_path):
    heard: list[tuple[int, int, str]] = []
    model = embcli.Model(str(model_dirs["gpt2"]), cache_dir=tmp_path / "c",
                         progress=lambda d, t, u: heard.append((d, t, u)))  # fmt: skip
    table = model.table()
    table.map(clusters=2, k=2)
    lists = [(d, t) for d, t, u in heard if u == "neighbour lists"]
    assert lists and lists[-1] == (table.shape[0], table.shape[0])
    heard.clear()
    table.map(clusters=2, k=2)  # kept: nothing to compute again
    assert not [h for h in heard if h[2] == "neighbour lists"]


@pytest.mark.parametrize(
    ("option", "first", "second", "what"),
    [("--compare", "llama", "gpt2", "table"), ("--axis", "man:woman", "he:she", "axis")],
)
def test_a_repeated_compare_or_axis_is_refused_not_dropped(cli, model_dirs, tmp_path, option,
                                                         first, second, what):  # fmt: skip
    out = tmp_path / "page.html"
    first = str(model_dirs[first]) if option == "--compare" else first
    second = str(model_dirs[second]) if option == "--compare" else second
    bad = cli("map", "-m", model_dirs["gpt2"], "-o", out, option, first, option, second)
    assert bad.code == 2 and bad.out == ""
    assert bad.err.count("\n") == 1
    assert bad.err.startswith(f"embcli: {option} takes one {what}; it was given 2 times")
    assert not out.exists()
