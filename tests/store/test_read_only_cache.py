"""A cache that cannot be written still answers every question, from memory, with one notice.

The store keeps what questions derive from a table (transform parameters, row lengths, the
reachability of tokens, the refs of ``--table output``). Here the cache is made truly read-only
for a real ``embcli`` process: tests run as root, which ignores permission bits, so the command
runs in a private mount namespace where the cache directory is bind-mounted read-only (a
non-root run makes the directory unwritable instead). The answers must equal those of a
writable cache, the notice must come once per run, and nothing may be written.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from embcli.store.load import open_table

READ_ONLY = "embcli: cache at {} is read-only: computed in memory, not kept"
MOUNT_RO = 'mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" && shift && exec "$@"'


def _read_only_prefix(cache: Path) -> list[str]:
    """A command prefix that runs what follows with ``cache`` read-only, or skips the test."""
    if os.geteuid() != 0:
        return []  # the caller removes the write permission bits instead
    probe = cache / ".probe"
    cmd = ["unshare", "--mount", "--propagation", "private", "sh", "-c", MOUNT_RO, "sh",
           str(cache)]  # fmt: skip
    try:
        done = subprocess.run([*cmd, "touch", str(probe)], capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        pytest.skip("no unshare here to make a read-only mount")
    if probe.exists() or b"Read-only file system" not in done.stderr:
        probe.unlink(missing_ok=True)
        pytest.skip(f"cannot make a read-only mount here: {done.stderr.decode().strip()}")
    return cmd


class Runner:
    def __init__(self, cache: Path) -> None:
        self.cache = cache
        self.prefix = _read_only_prefix(cache)

    def __call__(self, *args: object, read_only: bool) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "EMBCLI_CACHE": str(self.cache)}
        cmd = [sys.executable, "-m", "embcli", *map(str, args)]
        if read_only and not self.prefix:
            for p in [self.cache, *self.cache.rglob("*")]:
                if p.is_dir():
                    p.chmod(p.stat().st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
        try:
            return subprocess.run([*(self.prefix if read_only else []), *cmd], env=env,
                                  capture_output=True, text=True, timeout=300)  # fmt: skip
        finally:
            if read_only and not self.prefix:
                for p in [self.cache, *self.cache.rglob("*")]:
                    if p.is_dir():
                        p.chmod(p.stat().st_mode | stat.S_IWUSR)


def _answer(stdout: str) -> object:
    """A command's JSON, less the cache's size (which the kept files change)."""
    got = json.loads(stdout)
    if isinstance(got, dict):
        got.pop("cache_bytes", None)
    return got


def _listing(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): p.stat().st_size for p in root.rglob("*") if p.is_file()}


def test_every_derived_file_falls_back_to_memory_with_one_notice(model_dirs, tmp_path):
    model = model_dirs["llama"]
    cache = tmp_path / "ro-cache"
    cache.mkdir()
    run = Runner(cache)
    # Build the input table and the untied head (entries can only be built writable), then
    # forget the refs, so the read-only runs have refs to write as well as derived files.
    for args in (("info", "-m", model), ("info", "-m", model, "--table", "output")):
        assert run(*args, read_only=False).returncode == 0
    shutil.rmtree(cache / "refs")
    before = _listing(cache)
    assert not any("derived" in name for name in before)

    questions = [
        ("neighbors", "#7", "--center", "--all-tokens", "-k", "6", "-m", model, "-f", "json"),
        ("neighbors", "#7", "--remove-pcs", "2", "-k", "6", "-m", model, "-f", "json"),
        ("analogy", "#1", "#2", "#3", "--remove-pcs", "2", "--method", "3cosmul", "-m", model,
         "-f", "json"),
        ("undertrained", "-m", model, "--all", "-k", "0", "-f", "json"),
        ("info", "-m", model, "--table", "output", "-f", "json"),
    ]  # fmt: skip
    read_only = {}
    for args in questions:
        res = run(*args, read_only=True)
        assert res.returncode == 0, res.stderr
        lines = res.stderr.strip().splitlines()
        notices = [line for line in lines if "computed in memory" in line]
        assert notices == [READ_ONLY.format(cache)], res.stderr  # once, whatever was not kept
        read_only[args] = _answer(res.stdout)
    listed = run("cache", "list", "-f", "json", read_only=True)  # reads only: nothing to say
    assert listed.returncode == 0 and not listed.stderr.strip(), listed.stderr
    assert json.loads(listed.stdout)
    assert _listing(cache) == before  # nothing written, no temporary file left

    for args in questions:  # the writable cache gives the same answers, and keeps them
        res = run(*args, read_only=False)
        assert res.returncode == 0 and "computed in memory" not in res.stderr, res.stderr
        assert _answer(res.stdout) == read_only[args], args
    kept = set(_listing(cache)) - set(before)
    entry = open_table(str(model), cache_dir=str(cache)).path.name
    assert {f"{entry}/derived/mean.npy", f"{entry}/derived/abtt2.npz"} <= kept
    assert any(name.startswith("refs/") for name in kept)
    assert any(name.endswith("/derived/reach.npy") for name in kept)


def test_in_process_notice_goes_to_the_model_once(model_dirs, monkeypatch):
    """A Python caller hears the one notice through ``Model(notice=...)``; the values equal a
    float64 reference computed here from the raw rows (numpy's SVD for the components)."""
    import embcli

    heard: list[str] = []
    model = embcli.Model(str(model_dirs["llama"]), notice=heard.append)
    table = model.table()
    raw = table.embeddings.raw(np.arange(table.shape[0])).astype(np.float64)

    def refuse(*_args: object, **_kwargs: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(os, "replace", refuse)  # every atomic write fails at its rename
    got = {d: table.neighbors("#7", k=5, all_tokens=True, center=True, remove_pcs=d)
           for d in (0, 2)}  # fmt: skip
    monkeypatch.undo()
    assert heard == [f"cache at {table.embeddings.path.parent} is read-only: computed in memory, "
                     "not kept"]  # fmt: skip
    assert not (table.embeddings.path / "derived").exists() or not any(
        (table.embeddings.path / "derived").iterdir()
    )
    nonzero = np.linalg.norm(raw, axis=1) > 0
    rows = (np.arange(len(raw)) < (table.embeddings.tokenizer_size or len(raw))) & nonzero
    for d, found in got.items():
        x = raw - raw[rows].mean(axis=0)
        if d:
            _, _, vt = np.linalg.svd(x[rows], full_matrices=False)
            x = x - (x @ vt[:d].T) @ vt[:d]
        x[~nonzero] = 0.0
        n = np.linalg.norm(x, axis=1, keepdims=True)
        x = np.divide(x, n, out=np.zeros_like(x), where=n > 0)
        sims = x @ x[7]
        sims[7] = -np.inf
        order = np.argsort(-sims, kind="stable")[:5]
        assert [n.id for n in found] == order.tolist()
        np.testing.assert_allclose([n.cosine for n in found], sims[order], atol=1e-6)


@pytest.mark.slow  # processes
def test_clearing_a_read_only_cache_says_what_stayed(model_dirs, tmp_path):
    """``cache clear`` on a cache it cannot write: exit 1, one line naming the entry that could
    not be removed, nothing counted as removed; the entry is still whole and listed after."""
    model = model_dirs["llama"]
    cache = tmp_path / "ro-cache"
    cache.mkdir()
    run = Runner(cache)
    assert run("info", "-m", model, read_only=False).returncode == 0
    entry = open_table(str(model), cache_dir=str(cache)).path
    before = _listing(cache)
    for args in (("cache", "clear"), ("cache", "clear", model), ("cache", "clear", "-f", "json"),
                 ("cache", "clear", "--older-than", "0")):  # fmt: skip
        res = run(*args, read_only=True)
        assert res.returncode == 1 and res.stdout == "", (args, res.stdout)
        lines = res.stderr.strip().splitlines()
        assert len(lines) == 1 and "removed 1" not in lines[0], res.stderr
        assert lines[0].startswith(f"embcli: could not remove 1 cached table from {cache} (")
        assert entry.name in lines[0]
        assert _listing(cache) == before
    listed = run("cache", "list", "-f", "json", read_only=True)
    assert [r["path"] for r in json.loads(listed.stdout)] == [str(entry)]

    # the Python API raises embcli's own error, with the same words
    script = ("import sys\nfrom embcli.api import clear_cache\nfrom embcli.errors import "
              "CacheProblem\ntry:\n    clear_cache()\nexcept CacheProblem as exc:\n"
              "    print(exc.one_line())\n    sys.exit(7)\n")  # fmt: skip
    env = {**os.environ, "EMBCLI_CACHE": str(cache)}
    if run.prefix:
        done = subprocess.run([*run.prefix, sys.executable, "-c", script], env=env,
                              capture_output=True, text=True, timeout=300)  # fmt: skip
    else:
        pytest.skip("the API half needs a read-only mount (root)")
    assert done.returncode == 7, done.stderr
    assert done.stdout.startswith("could not remove 1 cached table") and entry.name in done.stdout
    assert _listing(cache) == before

    cleared = run("cache", "clear", read_only=False)  # writable again: it goes, and says so
    assert cleared.returncode == 0 and "removed 1 cached table" in cleared.stderr
    assert not entry.exists()


def test_a_read_only_cache_with_a_dead_build_lists_and_claims_nothing(tmp_path):
    """Build directories left by killed builds cannot be swept from a read-only cache: listing
    still works and says nothing was removed; once writable, they go, and that is said."""
    cache = tmp_path / "ro-cache"
    owned = cache / ".tmp" / "m--0123456789abcdef.1.aa"
    unowned = cache / ".tmp" / "m--0123456789abcdef.2.bb"
    for d in (owned, unowned):
        d.mkdir(parents=True)
        (d / "vectors.npy").write_bytes(b"\0" * 1000)
    (owned.parent / (owned.name + ".owner")).touch()
    old = 1_000_000_000  # long past the grace an unowned directory gets
    os.utime(unowned, (old, old))
    run = Runner(cache)
    before = _listing(cache)
    for args in (("cache", "list"), ("cache", "clear")):
        res = run(*args, read_only=True)
        assert res.returncode == 0, res.stderr
        assert "build director" not in res.stderr and "I/O error" not in res.stderr, res.stderr
        assert _listing(cache) == before
    res = run("cache", "list", read_only=False)
    assert res.returncode == 0
    assert "removed 2 build directories left by interrupted builds" in res.stderr, res.stderr
    assert not owned.exists() and not unowned.exists()
