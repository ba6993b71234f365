"""``embcli.linalg``, the one home of the shared linear algebra, against float64 numpy written here.

Each function is checked against the straightforward computation (the whole matrix in float64,
an SVD, the N x N Gram form of CKA), on planted data whose answer is known where one is.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from embcli import linalg


def table(
    rows: int = 500, dim: int = 24, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A table as the cache keeps it (float32 unit rows, float32 norms), and its raw float64 rows;
    a shared offset makes it anisotropic like a real token table, and row 3 is all zeros."""
    rng = np.random.default_rng(seed)
    raw = rng.normal(size=(rows, dim)) * np.linspace(3, 0.2, dim) + 1.5
    raw[3] = 0.0
    n = np.linalg.norm(raw, axis=1)
    unit = np.divide(raw, n[:, None], out=np.zeros_like(raw), where=n[:, None] > 0)
    unit32, n32 = unit.astype(np.float32), n.astype(np.float32)
    return unit32, n32, unit32.astype(np.float64) * n32.astype(np.float64)[:, None]


def test_raw_rows_mean_and_scatter_equal_float64():
    unit, norms, raw = table()
    ids = np.flatnonzero(np.arange(len(raw)) % 3 != 0)
    np.testing.assert_array_equal(linalg.raw_rows(unit, norms, ids), raw[ids])
    assert linalg.raw_rows(unit, norms, ids, np.float32).dtype == np.float32
    np.testing.assert_allclose(linalg.mean_rows(unit, norms, ids), raw[ids].mean(0), rtol=1e-12)
    mean, centred, gram = linalg.scatter(unit, norms, ids)
    xc = raw[ids] - raw[ids].mean(0)
    scale = np.abs(xc.T @ xc).max()
    np.testing.assert_allclose(mean, raw[ids].mean(0), rtol=1e-12)
    np.testing.assert_allclose(centred, xc.T @ xc, atol=1e-6 * scale)
    np.testing.assert_allclose(gram, raw[ids].T @ raw[ids], atol=1e-6 * np.abs(gram).max())


@pytest.mark.parametrize("shape", [(40, 12), (8, 30)])
def test_pca_equals_an_svd_and_fixes_signs(shape):
    """Scatter route (more rows than columns), SVD route (fewer) and a ``Centred`` agree, with
    each axis' largest-magnitude loading positive; negating the data keeps the axes."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=shape) @ rng.normal(size=(shape[1], shape[1]))
    found = linalg.pca(x, 3)
    xc = x - x.mean(0)
    _, s, vt = np.linalg.svd(xc, full_matrices=False)
    ref_axes = vt[:3].T * np.sign(vt[:3].T[np.abs(vt[:3].T).argmax(0), range(3)])
    np.testing.assert_allclose(found.axes, ref_axes, atol=1e-9)
    np.testing.assert_allclose(found.coords, xc @ ref_axes, atol=1e-9)
    np.testing.assert_allclose(found.variances[: len(s)], s**2, rtol=1e-9, atol=1e-9)
    assert found.kept == pytest.approx((s[:3] ** 2).sum() / (s**2).sum())
    assert (found.axes[np.abs(found.axes).argmax(0), range(3)] > 0).all()
    centred = linalg.pca(linalg.Centred.of(x), 3)
    np.testing.assert_allclose(centred.coords, found.coords, atol=1e-9)
    np.testing.assert_allclose(linalg.pca(-x, 3).axes, found.axes, atol=1e-9)


def test_top_components_and_first_component_equal_an_svd():
    unit, norms, raw = table(dim=40)
    ids = np.flatnonzero(norms > 0)
    mean, comps = linalg.top_components(unit, norms, ids, 5)
    _, _, vt = np.linalg.svd(raw[ids] - raw[ids].mean(0), full_matrices=False)
    np.testing.assert_allclose(mean, raw[ids].mean(0), rtol=1e-12)
    np.testing.assert_allclose(np.abs(comps @ vt[:5].T), np.eye(5), atol=1e-6)
    first = linalg.first_component(unit, norms, ids)
    assert abs(float(first @ vt[0])) > 1 - 1e-9


def test_remove_top_is_all_but_the_top():
    unit, norms, raw = table()
    ids = np.flatnonzero(norms > 0)
    mean, comps = linalg.top_components(unit, norms, ids, 3)
    got = linalg.remove_top(raw[ids], mean, comps)
    xc = raw[ids] - raw[ids].mean(0)
    _, _, vt = np.linalg.svd(xc, full_matrices=False)
    ref = xc - xc @ vt[:3].T @ vt[:3]
    np.testing.assert_allclose(got, ref, atol=1e-6 * np.abs(xc).max())
    np.testing.assert_allclose(got @ comps.T, 0, atol=1e-6 * np.abs(xc).max())
    np.testing.assert_array_equal(linalg.remove_top(raw, None, None), raw)


def test_unit_rows_and_pair_cosines_are_safe_at_any_scale():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(6, 5))
    ref = x / np.linalg.norm(x, axis=1, keepdims=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow, no division by zero
        np.testing.assert_allclose(linalg.unit_rows(x), ref, rtol=1e-14)
        np.testing.assert_allclose(linalg.unit_rows(x * 1e300), ref, rtol=1e-14)
        np.testing.assert_allclose(linalg.unit_rows(x * 1e-300), ref, rtol=1e-12)
        assert (linalg.unit_rows(np.zeros((2, 5))) == 0).all()
        y = rng.normal(size=(6, 5))
        cos = np.einsum("ij,ij->i", ref, y / np.linalg.norm(y, axis=1, keepdims=True))
        np.testing.assert_allclose(linalg.pair_cosines(x, y), cos, rtol=1e-12)
        np.testing.assert_allclose(linalg.pair_cosines(x * 1e300, y), cos, rtol=1e-12)
        assert linalg.pair_cosines(np.zeros((1, 5)), y[:1])[0] == 0.0


def test_cka_equals_the_gram_matrix_form():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(300, 12))
    y = x[:, :7] @ rng.normal(size=(7, 20)) + 0.5 * rng.normal(size=(300, 20))
    n = len(x)
    h = np.eye(n) - np.ones((n, n)) / n  # HSIC(K, L) = tr(K H L H) / (n - 1)^2
    kx, ly = h @ (x @ x.T) @ h, h @ (y @ y.T) @ h
    ref = np.sum(kx * ly) / np.sqrt(np.sum(kx * kx) * np.sum(ly * ly))
    assert linalg.linear_cka(x, y) == pytest.approx(ref, rel=1e-10)
    perms = np.random.default_rng(9)
    shuffled = np.mean([linalg.linear_cka(x, y[perms.permutation(n)]) for _ in range(3)])
    assert linalg.shuffled_cka(x, y, seed=9, rounds=3) == pytest.approx(shuffled, rel=1e-5)


def test_procrustes_recovers_a_planted_rotation():
    rng = np.random.default_rng(5)
    q, r = np.linalg.qr(rng.normal(size=(10, 10)))
    q = q * np.sign(np.diag(r))
    x = rng.normal(size=(200, 10))
    np.testing.assert_allclose(linalg.procrustes(x, x @ q), q, atol=1e-10)


def test_whole_table_cka_and_procrustes_from_blocks_equal_float64():
    """UnitSpace + paired_products (float32 blocks) against the float64 definitions, with a zero
    row (cosine 0), more rows than one block, and several tables compared in one pass."""
    from scipy.linalg import orthogonal_procrustes

    rng = np.random.default_rng(6)
    base = rng.normal(size=(5000, 24)) + 2.0
    tables = [base + s * rng.normal(size=base.shape) for s in (0.3, 1.0, 3.0)]
    tables[1][17] = 0.0
    units = [linalg.unit_rows(t) for t in tables]
    spaces = [linalg.UnitSpace.of(u.astype(np.float32)) for u in units]
    linalg.paired_products(spaces[1], [])
    linalg.paired_products(spaces[2], [])
    found = linalg.paired_products(spaces[0], spaces[1:], block=700)
    for u, space, (cross, cross_p) in zip(units[1:], spaces[1:], found, strict=True):
        assert linalg.space_cka(spaces[0], space, cross) == pytest.approx(
            linalg.linear_cka(units[0], u), abs=1e-7
        )
        pa = linalg.unit_rows(units[0] - units[0].mean(0))
        pb = linalg.unit_rows(u - u.mean(0))
        rotation, _ = orthogonal_procrustes(pa, pb)
        expected = linalg.pair_cosines(pa @ rotation, pb).mean()
        assert linalg.aligned_cosine(cross_p, len(u)) == pytest.approx(expected, abs=1e-7)
    np.testing.assert_allclose(linalg.procrustes_of(pa.T @ pb), rotation, atol=1e-10)
