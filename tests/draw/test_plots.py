"""plot and positions: projections against references, valid files, planted clusters apart."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import numpy as np
import pytest
from safetensors.torch import load_file

from embcli.ask.projection import clamp_perplexity, pca_2d, position_similarity, tsne_2d
from embcli.store.load import ModelRef, open_table
from tests import models

CLUSTERS = {"animals": ["cat", "dog", "horse", "cow"], "colours": ["red", "blue", "green", "pink"],
            "cities": ["paris", "rome", "tokyo", "lima"]}  # fmt: skip


@pytest.fixture
def clustered(tmp_path):
    """Three tight clusters around far-apart centres, planted in a model's table."""
    rng = np.random.default_rng(11)
    words, rows = ["<unk>"], [rng.normal(size=16)]
    for c, ws in enumerate(CLUSTERS.values()):
        centre = np.zeros(16)
        centre[c * 5] = 10.0
        for w in ws:
            words.append(w)
            rows.append(centre + rng.normal(scale=0.5, size=16))
    return models.planted(tmp_path / "clusters", words, np.stack(rows)), words


def test_pca_equals_an_svd_reference_up_to_sign():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(30, 8)) @ rng.normal(size=(8, 8))
    coords, explained = pca_2d(x)
    centred = x - x.mean(0)
    vals, vecs = np.linalg.eigh(centred.T @ centred)  # independent: covariance eigenvectors
    ref = centred @ vecs[:, ::-1][:, :2]
    for k in range(2):
        assert np.allclose(coords[:, k], ref[:, k], atol=1e-9) or np.allclose(
            coords[:, k], -ref[:, k], atol=1e-9
        )
    assert explained == pytest.approx(vals[::-1][:2] / vals.sum())
    again, _ = pca_2d(x)
    np.testing.assert_array_equal(coords, again)  # deterministic, signs included


def separated(coords, labels) -> bool:
    """Every point's nearest other point lies in its own cluster."""
    d = np.linalg.norm(coords[:, None] - coords[None], axis=-1)
    np.fill_diagonal(d, np.inf)
    return all(labels[i] == labels[int(d[i].argmin())] for i in range(len(coords)))


def test_planted_clusters_stay_apart(clustered):
    model, words = clustered
    table = open_table(str(model))
    ids = [words.index(w) for ws in CLUSTERS.values() for w in ws]
    labels = [g for g, ws in CLUSTERS.items() for _ in ws]
    x = np.asarray(table.unit[ids])
    assert separated(pca_2d(x)[0], labels)
    perplexity, note = clamp_perplexity(30, len(ids))
    assert perplexity == pytest.approx(11 / 3) and "too large for 12 points" in note
    assert separated(tsne_2d(x, perplexity, seed=0), labels)


@pytest.mark.parametrize("suffix", [".png", ".svg", ".pdf", ".html"])
def test_plot_writes_valid_files(cli, clustered, tmp_path, suffix):
    model, _ = clustered
    out = tmp_path / f"map{suffix}"
    args = [f"--group={g}={','.join(ws)}" for g, ws in CLUSTERS.items()]
    res = cli("plot", *args, "nosuchword", "-m", model, "--plot", out)
    assert res.code == 0, res.err
    assert res.out.strip() == str(out)
    assert "left out 1 word(s): nosuchword" in res.err
    data = out.read_bytes()
    if suffix == ".png":
        assert data[:8] == b"\x89PNG\r\n\x1a\n"
    elif suffix == ".pdf":
        assert data[:5] == b"%PDF-"
    elif suffix == ".svg":
        assert ET.fromstring(data).tag.endswith("svg")
    else:
        text = data.decode()
        assert "<svg" in text and "<title>cat (animals)" in text
        assert "src=" not in text and "<link" not in text  # nothing fetched at view time
    assert not list(tmp_path.glob(".*tmp*"))


def test_plot_default_name_groups_file_and_errors(cli, clustered, tmp_path, monkeypatch):
    model, _ = clustered
    monkeypatch.chdir(tmp_path)
    groups = tmp_path / "groups.txt"
    groups.write_text("# groups\nanimals: cat, dog, horse\ncolours: red, blue\n")
    res = cli("plot", "--groups-file", groups, "--method", "tsne", "-m", model)
    assert res.code == 0, res.err
    assert (tmp_path / res.out.strip()).is_file() and "perplexity" in res.err
    assert cli("plot", "cat", "dog", "red", "-m", model, "--plot", tmp_path / "x.gif").code == 2
    assert cli("plot", "cat", "zzz", "-m", model).code == 3  # fewer than 3 points
    assert cli("plot", "--group", "nogroup", "-m", model).code == 2


def test_positions_heatmap_equals_reference(cli, model_dirs, tmp_path):
    out = tmp_path / "pos.png"
    res = cli("positions", "-m", model_dirs["gpt2"], "--max", "40", "--plot", out)
    assert res.code == 0, res.err
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    wpe = load_file(str(model_dirs["gpt2"] / "model.safetensors"))["transformer.wpe.weight"]
    ref = wpe.double().numpy()[:40]
    ref /= np.linalg.norm(ref, axis=1, keepdims=True)
    table = open_table(ModelRef(str(model_dirs["gpt2"]), tensor="transformer.wpe.weight"))
    np.testing.assert_allclose(position_similarity(table.unit, 40), ref @ ref.T, atol=1e-6)
    np.testing.assert_allclose(table.norms[:40], np.linalg.norm(wpe.numpy()[:40], axis=1),
                               rtol=1e-6)  # fmt: skip


def test_positions_of_a_rotary_model_is_one_line(cli, model_dirs):
    res = cli("positions", "-m", model_dirs["llama"])
    assert res.code == 1 and len(res.err.strip().splitlines()) == 1
    assert "no learned position table: rotary" in res.err


def test_pictures_are_plot_only_the_old_output_spelling_is_gone(
    cli, model_dirs, clustered, tmp_path
):
    """``plot -o`` and ``positions -o`` were spellings of the unreleased 0.1.0: refused as any
    unknown option is, nothing written."""
    model, _ = clustered
    for args, out in (
        (("plot", "cat", "dog", "red", "-m", model), tmp_path / "p.svg"),
        (("positions", "-m", model_dirs["gpt2"], "--max", "8"), tmp_path / "q.png"),
    ):
        res = cli(*args, "-o", out)
        assert res.code == 2 and "No such option: -o" in res.err, res.err
        assert not out.exists()


# -- plot titles ---------------------------------------------------------------------------------


def test_plot_titles_a_local_model_by_parent_and_name(cli, minilm_dir, tmp_path):
    out = tmp_path / "map.html"
    res = cli("plot", "paris", "london", "berlin", "king", "-m", minilm_dir, "--plot", out)
    assert res.code == 0, res.err
    text = out.read_text()
    assert f"{minilm_dir.parent.name}/{minilm_dir.name}: PCA" in text
