"""The store's build is all or nothing (``store/cache.py:build_entry``, ``sweep_stale``), called
directly: an entry appears whole or not at all, a failure or a Ctrl-C mid-build keeps nothing,
and build directories left by a dead builder are swept while a live builder's are not.

The CLI's bad-input tests check the same through an exit code; these fail in the store.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
import pytest
from filelock import FileLock
from safetensors.numpy import load_file, save_file

from embcli.errors import EmbcliError
from embcli.store import build, cache
from embcli.store.load import open_table

TABLE = "transformer.wte.weight"


def entries(root: Path) -> list[Path]:
    return sorted(p for p in root.iterdir() if p.name not in (cache.TMP_DIR, ".locks"))


def scratch(root: Path) -> list[Path]:
    tmp = root / cache.TMP_DIR
    return sorted(tmp.iterdir()) if tmp.exists() else []


def scratch_dir(args, kwargs) -> Path:
    """The directory ``write_table`` fills: the one argument that is a path under ``.tmp``."""
    (target,) = [a for a in [*args, *kwargs.values()] if isinstance(a, Path)]
    return target


def test_the_entry_appears_only_when_whole(model_dirs, isolated_cache, monkeypatch):
    seen = {}
    write_table = build.write_table

    def watching(*args, **kwargs):
        meta = write_table(*args, **kwargs)
        # The rows and tokens are written, in a scratch directory; nothing is an entry yet.
        seen["target"] = scratch_dir(args, kwargs)
        seen["entries"] = entries(isolated_cache)
        seen["vectors"] = (seen["target"] / "vectors.npy").exists()
        return meta

    monkeypatch.setattr(build, "write_table", watching)
    table = open_table(str(model_dirs["gpt2"]))
    assert seen["target"].parent == isolated_cache / cache.TMP_DIR and seen["vectors"]
    assert seen["entries"] == []
    assert entries(isolated_cache) == [table.path] and scratch(isolated_cache) == []
    meta = json.loads((table.path / cache.META).read_text())
    assert meta["format_version"] == cache.FORMAT_VERSION
    assert meta["files"] == {
        p.name: p.stat().st_size
        for p in table.path.iterdir()
        if p.is_file() and p.name != cache.META
    }
    ref = load_file(str(model_dirs["gpt2"] / "model.safetensors"))[TABLE].astype(np.float64)
    np.testing.assert_allclose(table.raw(np.arange(ref.shape[0])), ref, rtol=1e-6, atol=1e-7)


def test_a_build_that_fails_midway_keeps_nothing_and_the_next_is_whole(tmp_path, isolated_cache):
    model = tmp_path / "m"
    model.mkdir()
    (model / "config.json").write_text(json.dumps({"vocab_size": 20000, "hidden_size": 4}))
    rows = np.random.default_rng(0).normal(size=(20000, 4)).astype(np.float32)
    bad = rows.copy()
    bad[15000, 2] = np.nan  # in a later block: earlier rows were already written
    save_file({"embed_tokens.weight": bad}, str(model / "model.safetensors"))
    with pytest.raises(EmbcliError) as err:
        open_table(str(model))
    assert "non-finite value in row 15000" in err.value.one_line()
    assert entries(isolated_cache) == [] and scratch(isolated_cache) == []

    save_file({"embed_tokens.weight": rows}, str(model / "model.safetensors"))
    table = open_table(str(model))
    np.testing.assert_allclose(table.raw(np.arange(20000)), rows, rtol=1e-6, atol=1e-7)
    assert entries(isolated_cache) == [table.path] and scratch(isolated_cache) == []


def test_ctrl_c_mid_build_keeps_nothing(model_dirs, isolated_cache, monkeypatch):
    write_table = build.write_table
    written = []

    def interrupted(*args, **kwargs):
        write_table(*args, **kwargs)  # every file written, then Ctrl-C before the rename
        written.extend(p.name for p in scratch_dir(args, kwargs).iterdir())
        raise KeyboardInterrupt

    monkeypatch.setattr(build, "write_table", interrupted)
    with pytest.raises(cache.BuildInterrupted, match="nothing was kept"):
        open_table(str(model_dirs["gpt2"]))
    assert "vectors.npy" in written
    assert entries(isolated_cache) == [] and scratch(isolated_cache) == []  # owner file too


def test_dead_builders_directories_are_swept_and_live_ones_kept(tmp_path):
    root = tmp_path / "cache"
    tmp = root / cache.TMP_DIR
    tmp.mkdir(parents=True)

    def build_dir(name: str, owner: bool) -> Path:
        path = tmp / name
        path.mkdir()
        (path / "vectors.npy").write_bytes(b"\0" * 1000)
        if owner:
            (tmp / (name + cache.OWNER_SUFFIX)).touch()
        return path

    dead = build_dir("dead.1.aa", owner=True)  # its lock is free: the builder is gone
    live = build_dir("live.2.bb", owner=True)
    old = build_dir("old.3.cc", owner=False)  # no owner file, untouched past the grace
    young = build_dir("young.4.dd", owner=False)
    past = time.time() - cache.UNOWNED_GRACE_S - 60
    os.utime(old, (past, past))
    orphan = tmp / ("gone.5.ee" + cache.OWNER_SUFFIX)  # an owner file whose directory is gone
    orphan.touch()

    heard: list[str] = []
    holder = FileLock(str(tmp / ("live.2.bb" + cache.OWNER_SUFFIX)))
    with holder:  # a live builder holds its owner lock
        removed = cache.sweep_stale(root, heard.append)
    assert sorted(removed) == sorted([dead, old])
    assert not dead.exists() and not old.exists() and not orphan.exists()
    assert live.exists() and young.exists()
    assert not (tmp / ("dead.1.aa" + cache.OWNER_SUFFIX)).exists()
    assert len(heard) == 1 and "\n" not in heard[0]
