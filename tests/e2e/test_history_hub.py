"""``embcli history`` over Hub revisions served by ``tests/hub_server.py``: branches ``step0``...,
listed through the refs endpoint, ``.bin``-only and safetensors repos, bytes counted per
checkpoint, a missing revision among others, and what a rerun fetches (nothing)."""

from __future__ import annotations

import json
import os
import signal
import struct
import subprocess
import sys
import time
import zipfile

import pytest

from tests import models
from tests.ask.test_history import ref_cka, ref_procrustes_cos
from tests.hub_server import HubServer
from tests.read.test_hub import embcli

pytestmark = pytest.mark.slow  # a hub server and embcli in processes

STEPS = [0, 10, 40, 160, 640, 2560]
TABLE = "model.embed_tokens.weight"


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    st = tmp_path_factory.mktemp("st")
    bins = tmp_path_factory.mktemp("bin")
    st_dirs, _, tables = models.training_run(st, STEPS, rows=200, ballast=1200)
    bin_dirs, _, _ = models.training_run(bins, STEPS, rows=200, ballast=1200,
                                         bin_steps=tuple(STEPS))  # fmt: skip
    return {"st": st_dirs, "bin": bin_dirs, "tables": tables}


@pytest.fixture
def hub(runs):
    with HubServer() as server:
        for step, st, b in zip(STEPS, runs["st"], runs["bin"], strict=True):
            server.add_revision("run/st", f"step{step}", st)
            server.add_revision("run/bin", f"step{step}", b)
        server.add_revision("run/st", "v1", runs["st"][0], tag=True)  # a tag, not a step
        yield server


def served(hub, repo, sha, name):
    """Byte ranges of file ``name`` served for commit ``sha`` of ``repo`` (GET bodies)."""
    return [(s.start, s.end) for s in hub.log if s.method == "GET" and s.repo == repo
            and s.filename == name and s.sha == sha]  # fmt: skip


def bin_spans(path):
    """(table storage span, bytes outside every storage) of a torch.save zip file."""
    with zipfile.ZipFile(path) as z:
        infos = [i for i in z.infolist() if "/data/" in i.filename]
        spans = {}
        with path.open("rb") as fh:
            for i in infos:
                fh.seek(i.header_offset)
                header = fh.read(30)
                name_len, extra_len = struct.unpack("<HH", header[26:30])
                start = i.header_offset + 30 + name_len + extra_len
                spans[i.filename] = (start, start + i.file_size)
    table_bytes = 201 * 50 * 4
    table = next(s for s in spans.values() if s[1] - s[0] == table_bytes)
    outside = path.stat().st_size - sum(e - s for s, e in spans.values())
    return table, outside


def test_bin_revisions_from_a_glob_fetch_only_each_table(hub, runs, tmp_path):
    res = embcli(hub, tmp_path, "history", "-m", "run/bin", "--revisions", "step*", "-f", "json",
                 "--sample", "50")  # fmt: skip
    assert res.code == 0, res.err
    out = json.loads(res.out)
    assert [c["revision"] for c in out["checkpoints"]] == [f"step{s}" for s in STEPS]
    assert out["model"] == "run/bin" and out["failed"] == []
    refs = [s for s in hub.log if s.filename is None]
    assert refs, "the refs and model info were asked for"
    repo = hub.repos["run/bin"]
    for step, path in zip(STEPS, runs["bin"], strict=True):
        weights = path / "pytorch_model.bin"
        (lo, hi), outside = bin_spans(weights)
        ranges = served(hub, "run/bin", repo.refs[f"step{step}"], "pytorch_model.bin")
        total = sum(e - s for s, e in ranges)
        covered = sum(max(0, min(e, hi) - max(s, lo)) for s, e in ranges)
        assert covered == hi - lo  # the table's storage, all of it
        assert hi - lo <= total <= hi - lo + outside  # and no other storage
        assert total < 0.3 * weights.stat().st_size
    tables = runs["tables"]
    for c in out["checkpoints"][1:]:
        t, last = tables[c["step"]], tables[STEPS[-1]]
        assert c["drift_last"]["cka"] == pytest.approx(ref_cka(t, last), abs=1e-6)
        assert c["drift_last"]["procrustes_cos"] == pytest.approx(
            ref_procrustes_cos(t, last), abs=1e-6
        )


def test_safetensors_revisions_fetch_header_and_table(hub, runs, tmp_path):
    res = embcli(hub, tmp_path, "history", "-m", "run/st", "--revisions",
                 "step0,step40,step2560", "-f", "json", "--sample", "40")  # fmt: skip
    assert res.code == 0, res.err
    assert [c["step"] for c in json.loads(res.out)["checkpoints"]] == [0, 40, 2560]
    repo = hub.repos["run/st"]
    for step in (0, 40, 2560):
        weights = runs["st"][STEPS.index(step)] / "model.safetensors"
        with weights.open("rb") as fh:
            hlen = struct.unpack("<Q", fh.read(8))[0]
            header = json.loads(fh.read(hlen))
        lo, hi = (8 + hlen + x for x in header[TABLE]["data_offsets"])
        total = sum(e - s for s, e in served(hub, "run/st", repo.refs[f"step{step}"],
                                             "model.safetensors"))  # fmt: skip
        assert total == 8 + hlen + (hi - lo)
    # step10 was never asked for
    assert not served(hub, "run/st", repo.refs["step10"], "model.safetensors")


def test_a_missing_revision_is_named_and_the_others_go_on(hub, tmp_path):
    res = embcli(hub, tmp_path, "history", "-m", "run/st", "--revisions",
                 "step0,step999,step640,step2560", "-f", "json", "--sample", "30")  # fmt: skip
    assert res.code == 4, res.err
    out = json.loads(res.out)
    assert [c["revision"] for c in out["checkpoints"]] == ["step0", "step640", "step2560"]
    assert out["failed"] == [
        {"revision": "step999", "step": 999,
         "error": "revision 'step999' not found in run/st"}
    ]  # fmt: skip
    lines = res.err.strip().splitlines()
    assert "embcli: step999: revision 'step999' not found in run/st" in lines
    assert lines[-1] == "embcli: 1 of 4 checkpoints could not be read: step999"


def test_glob_matching_no_ref_names_what_exists(hub, tmp_path):
    res = embcli(hub, tmp_path, "history", "-m", "run/st", "--revisions", "ckpt*")
    assert res.code == 1
    assert "no branch or tag of run/st matches 'ckpt*'" in res.err
    assert "step0" in res.err and len(res.err.strip().splitlines()) == 1


def test_count_picks_log_spaced_revisions(hub, tmp_path):
    res = embcli(hub, tmp_path, "history", "-m", "run/st", "--revisions", "step*", "--count",
                 "4", "-f", "json", "--sample", "20")  # fmt: skip
    assert res.code == 0, res.err
    steps = [c["step"] for c in json.loads(res.out)["checkpoints"]]
    assert steps[0] == 0 and steps[-1] == 2560 and len(steps) <= 4
    assert "6 checkpoints match; reading" in res.err


def test_rerun_fetches_nothing_and_each_revision_is_warm(hub, tmp_path):
    args = ("history", "-m", "run/st", "--revisions", "step*", "-f", "json", "--sample", "30")
    first = embcli(hub, tmp_path, *args)
    assert first.code == 0, first.err
    weights = hub.bytes_served("model.safetensors")
    again = embcli(hub, tmp_path, *args)
    assert again.code == 0, again.err
    assert hub.bytes_served("model.safetensors") == weights
    assert json.loads(again.out) == json.loads(first.out)
    # offline: the refs listing remembered from the last run, the tables from the cache
    offline = embcli(hub, tmp_path, *args, HF_HUB_OFFLINE="1")
    assert offline.code == 0, offline.err
    assert json.loads(offline.out) == json.loads(first.out)
    assert "using the last listing" in offline.err
    # a revision read by history is a warm model for every other command
    before = len(hub.log)
    res = embcli(hub, tmp_path, "neighbors", "city", "-m", "run/st", "--revision", "step640",
                 "-f", "json", HF_HUB_OFFLINE="1")  # fmt: skip
    assert res.code == 0, res.err
    assert len(hub.log) == before


def test_refs_endpoint_lists_branches_and_tags(hub, tmp_path):
    code = (
        "from huggingface_hub import HfApi; r = HfApi().list_repo_refs('run/st'); "
        "print(sorted(b.name for b in r.branches), [t.name for t in r.tags])"
    )
    env = {**os.environ, "HF_ENDPOINT": hub.url, "HF_HUB_OFFLINE": "0", "HF_TOKEN": ""}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    branches = sorted(["main", *[f"step{s}" for s in STEPS]])
    assert out.stdout.strip() == f"{branches} ['v1']"


def test_cache_list_groups_revisions_and_clear_trims_them(hub, tmp_path):
    res = embcli(hub, tmp_path, "history", "-m", "run/st", "--revisions", "step*", "--sample", "0")
    assert res.code == 0, res.err
    assert embcli(hub, tmp_path, "info", "-m", "run/bin", "--revision", "step10").code == 0
    listed = json.loads(embcli(hub, tmp_path, "cache", "list", "-f", "json").out)
    assert [(r["model"], r["revision"]) for r in listed] == [
        ("run/bin", "step10"),
        *[("run/st", f"step{s}") for s in STEPS],
    ]
    table = embcli(hub, tmp_path, "cache", "list", "-f", "table")
    assert "run/st: 6 revisions" in table.out
    # nothing is old enough yet
    kept = embcli(hub, tmp_path, "cache", "clear", "-m", "run/st", "--keep-latest", "2",
                  "--older-than", "1")  # fmt: skip
    assert kept.code == 0 and "removed 0 cached tables, kept 6" in kept.err
    trim = embcli(hub, tmp_path, "cache", "clear", "-m", "run/st", "--keep-latest", "2")
    assert trim.code == 0 and "removed 4 cached tables, kept 2" in trim.err
    listed = json.loads(embcli(hub, tmp_path, "cache", "list", "-f", "json").out)
    assert [r["revision"] for r in listed] == ["step10", "step640", "step2560"]
    old = embcli(hub, tmp_path, "cache", "clear", "--older-than", "0")
    assert old.code == 0 and "removed 3 cached tables" in old.err
    bad = embcli(hub, tmp_path, "cache", "clear", "-m", "run/st", "--keep-latest", "-1")
    assert bad.code == 2 and "--keep-latest" in bad.err


def test_ctrl_c_keeps_finished_checkpoints_and_a_rerun_fetches_the_rest(hub, tmp_path):
    """One table held mid-transfer by the server, the others cached, then Ctrl-C."""
    hub.only = lambda name, start, end: name == "model.safetensors" and end - start > 10_000
    hub.stall_after, hub.stalls_left = 2_000, 1
    env = {**os.environ, "HF_ENDPOINT": hub.url, "HF_HUB_OFFLINE": "0", "HF_TOKEN": "",
           "HF_HOME": str(tmp_path / "hf"), "EMBCLI_CACHE": str(tmp_path / "cache"),
           "HF_HUB_DOWNLOAD_TIMEOUT": "120"}  # fmt: skip
    args = ["history", "-m", "run/st", "--revisions", "step*", "-f", "json", "--sample", "20"]
    proc = subprocess.Popen([sys.executable, "-m", "embcli", *args], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    cache = tmp_path / "cache"
    try:
        for _ in range(1200):
            done = [p for p in cache.glob("*--*") if (p / "meta.json").exists()]
            if hub.stalled.is_set() and len(done) == len(STEPS) - 1:
                break
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.1)
        else:
            raise AssertionError("the other checkpoints were never cached")
        proc.send_signal(signal.SIGINT)
        time.sleep(2)  # the run stops; then the held transfer ends and its fetch sees it
        hub.release.set()
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert err.strip().splitlines()[-1].startswith("embcli: interrupted")
    assert not [p for p in (cache / ".tmp").iterdir() if p.is_dir()]
    assert len([p for p in cache.glob("*--*") if (p / "meta.json").exists()]) == len(STEPS) - 1
    hub.only, hub.stalls_left = None, 0
    before = hub.bytes_served("model.safetensors")
    again = embcli(hub, tmp_path, *args)
    assert again.code == 0, again.err
    fetched = hub.bytes_served("model.safetensors") - before
    table = 201 * 50 * 4
    assert table <= fetched < 2 * table  # one table (and its header), not six
    assert len(json.loads(again.out)["checkpoints"]) == len(STEPS)
