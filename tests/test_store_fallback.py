"""``--center`` / ``--remove-pcs`` on a cache that cannot be written: computed in memory instead.

The references are computed here from the raw vectors in float64 (numpy's SVD for the principal
directions), independently of ``EmbeddingTable``'s blocked scatter-matrix code.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from embcli.store.load import open_table


def _reference(table, remove_pcs: int) -> np.ndarray:
    raw = np.asarray(table.unit, np.float64) * np.asarray(table.norms, np.float64)[:, None]
    rows = np.arange(len(raw)) < (table.tokenizer_size or len(raw))
    use = rows & (np.asarray(table.norms) > 0)
    x = raw - raw[use].mean(axis=0)
    if remove_pcs:
        _, _, vt = np.linalg.svd(x[use], full_matrices=False)
        x = x - (x @ vt[:remove_pcs].T) @ vt[:remove_pcs]
    x[np.asarray(table.norms) == 0] = 0.0
    n = np.linalg.norm(x, axis=1, keepdims=True)
    return np.divide(x, n, out=np.zeros_like(x), where=n > 0)


def _refuse(*_args, **_kwargs):
    raise PermissionError(13, "Permission denied")


@pytest.mark.parametrize("remove_pcs", [0, 2])
def test_transforms_fall_back_to_memory_on_a_read_only_cache(model_dirs, monkeypatch, remove_pcs):
    table = open_table(str(model_dirs["llama"]))
    before = sorted(p.name for p in table.path.iterdir())
    # root ignores a read-only directory's permissions, so make the rename itself fail
    monkeypatch.setattr(os, "replace", _refuse)
    unit, transform = table.transformed(True, remove_pcs)
    monkeypatch.undo()
    assert sorted(p.name for p in table.path.iterdir()) == before  # nothing cached, no temp left
    assert not isinstance(unit, np.memmap) and unit.dtype == np.float32
    np.testing.assert_allclose(unit, _reference(table, remove_pcs), rtol=1e-5, atol=1e-6)
    assert transform.removed == remove_pcs and transform.mean is not None

    cached, again = open_table(str(model_dirs["llama"])).transformed(True, remove_pcs)
    assert isinstance(cached, np.memmap)  # a writable cache keeps it, with the same numbers
    np.testing.assert_array_equal(np.asarray(cached), unit)
    np.testing.assert_array_equal(again.mean, transform.mean)


@pytest.mark.parametrize("center", [False, True])
def test_a_removed_axis_falls_back_to_memory_too(model_dirs, monkeypatch, center):
    """``--remove-axis``: the axis projected out of every (centred) row, in memory when the cache
    cannot be written, then cached under the axis's hash with the same numbers."""
    table = open_table(str(model_dirs["llama"]))
    rng = np.random.default_rng(1)
    axis = rng.normal(size=table.shape[1])
    if center:
        table.transformed(True)  # the centred copy is cached already; the axis is not
    before = sorted(p.name for p in table.path.iterdir())
    monkeypatch.setattr(os, "replace", _refuse)
    unit, transform = table.transformed(center, 0, axis)
    monkeypatch.undo()
    assert sorted(p.name for p in table.path.iterdir()) == before
    assert not isinstance(unit, np.memmap) and unit.dtype == np.float32
    x = _reference(table, 0) if center else _unit_raw(table)
    g = axis / np.linalg.norm(axis)
    want = x - np.outer(x @ g, g)
    n = np.linalg.norm(want, axis=1, keepdims=True)
    want = np.divide(want, n, out=np.zeros_like(want), where=n > 0)
    np.testing.assert_allclose(unit, want, rtol=1e-5, atol=2e-6)
    assert "axis removed" in transform.caption()

    cached, again = open_table(str(model_dirs["llama"])).transformed(center, 0, axis)
    assert isinstance(cached, np.memmap) and str(cached.filename).endswith(
        f"axis-{again.key()}.npy"
    )
    np.testing.assert_array_equal(np.asarray(cached), unit)
    np.testing.assert_array_equal(again.axis, transform.axis)


def _unit_raw(table) -> np.ndarray:
    raw = np.asarray(table.unit, np.float64) * np.asarray(table.norms, np.float64)[:, None]
    n = np.linalg.norm(raw, axis=1, keepdims=True)
    return np.divide(raw, n, out=np.zeros_like(raw), where=n > 0)
