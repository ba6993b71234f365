"""``embcli stats`` against float64 numpy: the full SVD of the real MiniLM table, the sampled
statistics recomputed from the documented sampling protocol, and planted duplicates."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file
from scipy.special import logsumexp


def _cos(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.einsum("ij,ij->i", a, b) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def _ci(v: np.ndarray) -> tuple[float, float, float]:
    half = 1.96 * v.std(ddof=1) / np.sqrt(len(v))
    return v.mean(), v.mean() - half, v.mean() + half


def test_stats_of_minilm_equal_float64_numpy(cli, minilm_dir):
    res = cli("stats", "-m", minilm_dir, "-f", "json", "--samples", "4000", "--seed", "7")
    assert res.code == 0, res.err
    got = json.loads(res.out)
    w = load_file(str(minilm_dir / "model.safetensors"))["embeddings.word_embeddings.weight"]
    w = w.astype(np.float64)
    rows, dim = w.shape
    assert (got["rows"], got["dim"]) == (rows, dim)
    norms = np.linalg.norm(w, axis=1)
    q = np.quantile(norms, [0.25, 0.5, 0.75])
    want = [norms.min(), q[0], q[1], q[2], norms.max()]
    have = [got["norms"][k] for k in ("min", "q1", "median", "q3", "max")]
    np.testing.assert_allclose(have, want, rtol=1e-6)
    assert got["norms"]["argmin"] == norms.argmin() and got["norms"]["argmax"] == norms.argmax()
    assert got["zero_rows"] == int((norms == 0).sum())
    assert got["duplicate_rows"]["exact"] == rows - len(np.unique(w, axis=0))

    # Spectrum: the full SVD of the centred table (every row is a tokenizer row, none is zero).
    mean = w.mean(axis=0)
    _, s, vt = np.linalg.svd(w - mean, full_matrices=False)
    var = s**2
    for k in (1, 10, 100):
        assert got["variance_share"][str(k)] == pytest.approx(var[:k].sum() / var.sum(), rel=1e-6)
    p = s / s.sum()
    assert got["effective_rank"] == pytest.approx(np.exp(-(p * np.log(p)).sum()), rel=1e-6)
    # Isotropy: c over +-eigenvectors of W^T W (the right singular vectors of raw W).
    _, _, raw_vt = np.linalg.svd(w, full_matrices=False)
    log_z = logsumexp(np.concatenate([w @ raw_vt.T, -(w @ raw_vt.T)], axis=1), axis=0)
    assert got["isotropy"] == pytest.approx(np.exp(log_z.min() - log_z.max()), rel=1e-5)
    assert got["spectrum"]["exact"] is True

    # Anisotropy: the documented protocol (numpy default_rng(seed); i uniform over the word-like
    # rows, j = i + uniform(1, m) mod m), recomputed here in float64.
    info = json.loads(cli("info", "-m", minilm_dir, "-f", "json").out)
    pool = np.flatnonzero(np.load(Path(info["cache_path"]) / "wordlike.npy") & (norms > 0))
    rng = np.random.default_rng(7)
    m = len(pool)
    i = rng.integers(0, m, 4000)
    j = (i + rng.integers(1, m, 4000)) % m
    a, b = w[pool[i]], w[pool[j]]
    d = got["anisotropy"]["removed_pcs"]
    assert d == round(dim / 100)
    top = vt[:d].T

    def removed(x):
        c = x - mean
        return c - (c @ top) @ top.T

    refs = {
        "raw": _cos(a, b),
        "centered": _cos(a - mean, b - mean),
        "after_removal": _cos(removed(a), removed(b)),
    }
    assert got["anisotropy"]["samples"] == 4000
    for key, values in refs.items():
        mean_, lo, hi = _ci(values)
        assert got["anisotropy"][key]["mean"] == pytest.approx(mean_, abs=1e-9)
        np.testing.assert_allclose(got["anisotropy"][key]["ci95"], [lo, hi], atol=1e-9)


def test_duplicates_and_zero_rows_match_brute_force(cli, tmp_path):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((1500, 16))
    x[100] = x[7]  # exact duplicates
    x[900] = x[7]
    x[1200] = x[33]
    for src, dst in [(5, 300), (40, 800), (41, 1499), (77, 1000)]:  # near: cosine ~ 0.99999
        x[dst] = x[src] + 1e-3 * rng.standard_normal(16)
    x[[50, 60]] = 0.0
    path = tmp_path / "vecs.txt"
    lines = [f"{len(x)} 16"] + [
        f"w{i} " + " ".join(repr(float(v)) for v in r) for i, r in enumerate(x)
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    res = cli("stats", "-m", path, "-f", "json")
    assert res.code == 0, res.err
    got = json.loads(res.out)
    live = np.linalg.norm(x, axis=1) > 0
    assert got["zero_rows"] == int((~live).sum())
    xs = x.astype(np.float32).astype(np.float64)
    exact = np.zeros(len(x), bool)
    near = np.zeros(len(x), bool)
    u = xs / np.where(live, np.linalg.norm(xs, axis=1), 1)[:, None]
    sims = u @ u.T
    for jj in range(len(x)):
        if not live[jj]:
            continue
        earlier = np.flatnonzero(live[:jj])
        exact[jj] = any(np.array_equal(xs[ii], xs[jj]) for ii in earlier)
        near[jj] = not exact[jj] and bool((sims[earlier, jj] >= 0.999).any())
    assert got["duplicate_rows"] == {"exact": int(exact.sum()), "near": int(near.sum()),
                                     "near_cosine": 0.999}  # fmt: skip
    assert exact.sum() == 3 and near.sum() == 4


def test_stats_plot_and_output_table(cli, model_dirs, tmp_path):
    out = tmp_path / "s.png"
    res = cli("stats", "-m", model_dirs["llama"], "--table", "output", "--plot", out, "-f", "json")
    assert res.code == 0, res.err
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    got = json.loads(res.out)
    assert got["table"] == "output"
    from safetensors.torch import load_file as load_torch

    head = load_torch(str(model_dirs["llama"] / "model.safetensors"))["lm_head.weight"]
    n = np.linalg.norm(head.float().numpy().astype(np.float64), axis=1)
    assert got["norms"]["max"] == pytest.approx(n.max(), rel=1e-6)
    bad = cli("stats", "-m", model_dirs["llama"], "--plot", tmp_path / "s.html")
    assert bad.code == 2 and "png" in bad.err
    shown = cli("stats", "-m", model_dirs["llama"], "-f", "table").out
    assert "effective rank" in shown and "isotropy" in shown


def test_sampled_spectrum_equals_numpy_on_a_wide_sample():
    from embcli.ask.anatomy import sampled_spectrum

    rng = np.random.default_rng(5)
    x = rng.standard_normal((120, 200)) * np.linspace(2, 0.1, 200) + 0.3
    mean, vals, comps, iso = sampled_spectrum(x, 3)
    _, s, vt = np.linalg.svd(x - x.mean(axis=0), full_matrices=False)
    np.testing.assert_allclose(mean, x.mean(axis=0))
    np.testing.assert_allclose(vals[: len(s)], s**2, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(np.abs(comps.T @ vt[:3].T), np.eye(3), atol=1e-8)
    _, evecs = np.linalg.eigh(x.T @ x)  # all 200 directions, the null space included
    scores = x @ evecs
    log_z = logsumexp(np.concatenate([scores, -scores], axis=1), axis=0)
    assert iso == pytest.approx(np.exp(log_z.min() - log_z.max()), rel=1e-8)


def test_stats_checks_its_inputs_in_one_line(minilm_dir, tmp_path):
    """The API gets the CLI's checks: no NaN mean from 0 pairs, no numpy error from 1 row."""
    import embcli
    from embcli.errors import EmbcliError, UsageProblem

    t = embcli.load(minilm_dir)
    for samples in (0, 1):
        with pytest.raises(UsageProblem, match="samples must be at least 2"):
            t.stats(samples=samples)
    with pytest.raises(UsageProblem, match=r"^remove_pcs must be 0 or more"):
        t.stats(remove_pcs=-1)
    lone = tmp_path / "lone.txt"
    lone.write_text("2 3\nalpha 1 2 3\nbeta 0 0 0\n", encoding="utf-8")
    with pytest.raises(EmbcliError, match="1 non-zero row") as err:
        embcli.load(lone).stats()
    assert "\n" not in err.value.one_line()
