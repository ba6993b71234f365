"""``embcli.history`` as a map over checkpoints and a reduce over pairs (``embcli.api.runs``):
threads of this process or a Dask cluster give the same report, byte for byte in JSON; a task
that fails is that checkpoint's error, never a wrong number; Ctrl-C says what was done."""

from __future__ import annotations

import json
import os
import signal
import time

import pytest

import embcli
from embcli.api import runs
from embcli.errors import EmbcliError, Interrupted
from tests import models
from tests.ask.test_history import STEPS, WORDS, ref_cka

ARGS = {"words": WORDS, "sample": 300}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("run")
    _, _, tables = models.training_run(root, STEPS)
    cache = tmp_path_factory.mktemp("cache")
    result = embcli.history(str(root / "checkpoint-*"), cache_dir=cache, jobs=1, **ARGS)
    return {"glob": str(root / "checkpoint-*"), "tables": tables, "result": result,
            "json": json.dumps(result.to_dict())}  # fmt: skip


def test_threads_give_the_one_at_a_time_report(run, tmp_path):
    """Four checkpoints at once (cold: each read into a fresh cache) or one at a time."""
    seen: list[tuple[int, int, str]] = []
    again = embcli.history(run["glob"], cache_dir=tmp_path / "c", jobs=4,
                           progress=lambda *a: seen.append(a), **ARGS)  # fmt: skip
    assert json.dumps(again.to_dict()) == run["json"]
    assert seen[-1] == (len(STEPS), len(STEPS), "checkpoints")
    assert [d for d, _, _ in seen] == sorted(d for d, _, _ in seen)


def test_a_task_carries_references_and_returns_small_results(run, tmp_path):
    """What crosses to a worker and back: a reference and options; lists of numbers."""
    import pickle

    ref = embcli.Model(run["glob"].replace("*", str(STEPS[-1]))).ref
    task = pickle.dumps((runs.read_task, ref, str(tmp_path), 0))
    assert len(task) < 1000
    read = runs.read_task(ref, str(tmp_path / "c"), 0)
    assert read["read"]["shape"] == list(run["tables"][STEPS[-1]].shape)
    found = runs.reference_task(ref, str(tmp_path / "c"), WORDS, 300, 0)
    words = [w[1] for w in found["words"]]
    compared = runs.compare_task(ref, None, ref, str(tmp_path / "c"), found["queries"], words, 10)
    size = len(pickle.dumps(compared))
    assert size < 300 * 10 * 8 + 20_000  # the sample's lists and the words': no table
    assert compared["compared"]["drift"][0]["cka"] == pytest.approx(1.0, abs=1e-9)


def test_a_comparison_that_fails_is_that_checkpoints_error(run, tmp_path, monkeypatch):
    """The checkpoint is named in ``failed`` and left out of drift; the others' numbers are
    those of the full run (the next one's Jaccard from it is unknown: null, not a guess)."""
    real = runs.compare_task
    broken = run["glob"].replace("*", "160")

    def compare_task(ref, *args, **kwargs):
        if ref.source == broken:
            raise RuntimeError("boom\nmore")
        return real(ref, *args, **kwargs)

    monkeypatch.setattr(runs, "compare_task", compare_task)
    result = embcli.history(run["glob"], cache_dir=tmp_path / "c", **ARGS)
    assert result.failed == [{"revision": "checkpoint-160", "step": 160,
                              "error": "compare: RuntimeError: boom"}]  # fmt: skip
    full = {c.revision: c for c in run["result"].checkpoints}
    for c in result.checkpoints:
        if c.revision == "checkpoint-160":
            assert c.excluded and c.drift_prev is None and c.drift_last is None
            assert c.stats == full[c.revision].stats
            continue
        assert c.drift_last == full[c.revision].drift_last, c.revision
        if c.revision == "checkpoint-320":  # its previous is 160: CKA known, Jaccard not
            assert c.drift_prev["cka"] == full[c.revision].drift_prev["cka"]
            assert c.drift_prev["jaccard"] is None
        else:
            assert c.drift_prev == full[c.revision].drift_prev, c.revision


def test_ctrl_c_says_which_checkpoints_were_done(run, tmp_path):
    def stop(done: int, total: int, unit: str) -> None:
        if done == 3:
            raise KeyboardInterrupt

    with pytest.raises(Interrupted) as caught:
        embcli.history(run["glob"], cache_dir=tmp_path / "c", jobs=1, progress=stop, **ARGS)
    said = str(caught.value)
    assert said.startswith(f"interrupted; 3 of {len(STEPS)} checkpoints done (")
    assert "; not done: " in said and "kept in the cache" in said
    # a rerun reads only what is missing and gives the full report
    again = embcli.history(run["glob"], cache_dir=tmp_path / "c", **ARGS)
    assert json.dumps(again.to_dict()) == run["json"]


def test_an_unreachable_scheduler_is_one_line_quickly(run, cli, monkeypatch):
    pytest.importorskip("distributed")
    for how in ("option", "environment"):
        start = time.monotonic()
        if how == "option":
            res = cli("history", "-m", run["glob"], "--scheduler", "tcp://127.0.0.1:1")
        else:
            monkeypatch.setenv("DASK_SCHEDULER_ADDRESS", "tcp://127.0.0.1:1")
            res = cli("history", "-m", run["glob"])
        assert time.monotonic() - start < 15
        assert res.code == 1, res.err
        lines = res.err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(
            "embcli: cannot reach the Dask scheduler at tcp://127.0.0.1:1"
        )


# -- on a Dask cluster ----------------------------------------------------------------------------


def test_a_dask_cluster_gives_the_local_report(cluster, run, tmp_path, monkeypatch):
    """Cold on the cluster (its workers read every checkpoint into the shared cache), then the
    CLI on the cluster against the CLI in threads: the same JSON, byte for byte. The workers
    kept every result in the checkpoints' memos: a rerun here reads and computes nothing."""
    cache = tmp_path / "c"
    remote = embcli.history(run["glob"], cache_dir=cache, scheduler=cluster.scheduler_address,
                            **ARGS)  # fmt: skip
    assert remote.failed == []
    assert json.dumps(remote.to_dict()) == run["json"]
    import embcli.ask.history as h
    import embcli.store.build as build

    def refuse(*args, **kwargs):
        raise AssertionError("recomputed")

    with monkeypatch.context() as patched:
        for module, name in ((build, "write_table"), (h, "checkpoint_stats"), (h, "drift"),
                             (h, "neighbor_lists"), (h, "top_k")):  # fmt: skip
            patched.setattr(module, name, refuse)
        again = embcli.history(run["glob"], cache_dir=cache, **ARGS)
    assert json.dumps(again.to_dict()) == run["json"]
    from tests.conftest import run_subprocess

    args = ["history", "-m", run["glob"], "--words", ",".join(WORDS), "--sample", "300",
            "-f", "json", "--cache-dir", str(tmp_path / "cli")]  # fmt: skip
    on_cluster = run_subprocess(*args, "--scheduler", cluster.scheduler_address)
    local = run_subprocess(*args)
    assert on_cluster.code == 0 and local.code == 0, on_cluster.err + local.err
    assert on_cluster.out == local.out
    assert json.loads(local.out) == json.loads(run["json"])


def test_a_worker_killed_mid_history_never_gives_a_wrong_number(cluster, run, tmp_path):
    import distributed

    with distributed.Client(cluster.scheduler_address, set_as_default=False) as watcher:
        pids = list(watcher.run(os.getpid).values())
    assert len(pids) == 2
    killed: list[int] = []

    def kill_one(done: int, total: int, unit: str) -> None:
        if not killed:  # after the first checkpoint is done, while the others are worked on
            os.kill(pids[0], signal.SIGKILL)
            killed.append(pids[0])

    start = time.monotonic()
    result = embcli.history(run["glob"], cache_dir=tmp_path / "c", progress=kill_one,
                            scheduler=cluster.scheduler_address, **ARGS)  # fmt: skip
    assert killed and time.monotonic() - start < 240
    full = {c.revision: c.to_dict() for c in run["result"].checkpoints}
    failed = {f["revision"] for f in result.failed}
    for c in result.checkpoints:  # rescheduled: still right; or named as failed
        assert c.revision in failed or c.to_dict() == full[c.revision], c.revision
    for f in result.failed:
        assert f["error"]
    if not failed:
        assert json.dumps(result.to_dict()) == run["json"]


def test_none_read_is_one_error(tmp_path):
    models.training_run(tmp_path, [0, 40], rows=60)
    for d in tmp_path.glob("checkpoint-*"):
        (d / "model.safetensors").write_bytes(b"not a checkpoint")
    with pytest.raises(EmbcliError, match="none of the 2 checkpoints could be read"):
        embcli.history(str(tmp_path / "checkpoint-*"), sample=10)


def test_drift_prev_matches_float64_through_the_map(run):
    """The reduce pairs each checkpoint with the one before it (a spot check; the full check
    against float64 numpy is tests/ask/test_history.py's)."""
    c = run["result"].checkpoints[3]
    want = ref_cka(run["tables"][STEPS[3]], run["tables"][STEPS[2]])
    assert c.drift_prev["cka"] == pytest.approx(want, abs=1e-6)
