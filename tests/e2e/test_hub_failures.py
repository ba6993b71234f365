"""When the network or a build fails: no network, silent servers, broken header reads, range-less
servers, builds killed or interrupted. Hub cases run embcli in subprocesses against
``tests/hub_server.py`` on 127.0.0.1, with the Hub timeouts set small to keep the tests short.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from safetensors.torch import load_file

from tests.conftest import run_subprocess
from tests.hub_server import HubServer, SilentServer

pytestmark = pytest.mark.slow  # hub servers, killed and interrupted processes

TABLE = "transformer.wte.weight"


@pytest.fixture
def hub(model_dirs):
    with HubServer() as server:
        server.add("tiny/gpt2", model_dirs["gpt2"])
        yield server
        server.release.set()


def hub_env(url: str, tmp_path: Path, **extra: str) -> dict[str, str]:
    return {"HF_ENDPOINT": url, "HF_HUB_OFFLINE": "0", "HF_HOME": str(tmp_path / "hf"),
            "EMBCLI_CACHE": str(tmp_path / "cache"), "HF_TOKEN": "",
            "HF_HUB_ETAG_TIMEOUT": "2", "HF_HUB_DOWNLOAD_TIMEOUT": "2", **extra}  # fmt: skip


def is_table(path: str, model_dir: Path) -> None:
    """The cached unit rows equal the checkpoint's table, normalised in float64."""
    ref = load_file(str(model_dir / "model.safetensors"))[TABLE].double().numpy()
    unit = ref / np.linalg.norm(ref, axis=1, keepdims=True)
    np.testing.assert_allclose(np.load(f"{path}/vectors.npy"), unit, atol=1e-7)


def big_range(filename: str, start: int, end: int) -> bool:
    return filename == "model.safetensors" and end - start > 50_000  # the table, not the header


# -- no network, silent servers ------------------------------------------------------------------


def test_size_without_network_falls_back_in_one_line(tmp_path):
    env = hub_env("http://127.0.0.1:9", tmp_path)  # nothing listens there: refused at once
    res = run_subprocess("size", "meta-llama/Llama-3.1-8B", "-f", "json", env=env)
    assert res.code == 0, res.err
    assert res.err.strip().splitlines() == ["embcli: no network: figures from the built-in catalog"]
    [record] = json.loads(res.out) if res.out.lstrip().startswith("[") else [json.loads(res.out)]
    assert record["config_from"] == "catalog" and record["vocab_size"] == 128256


def test_size_of_several_models_without_network_says_so_once(tmp_path):
    env = hub_env("http://127.0.0.1:9", tmp_path)
    res = run_subprocess("size", "meta-llama/Llama-3.1-8B", "mistral-7b", "-f", "json", env=env)
    assert res.code == 0, res.err
    assert res.err.strip().splitlines() == ["embcli: no network: figures from the built-in catalog"]
    assert [r["config_from"] for r in json.loads(res.out)] == ["catalog", "catalog"]


def test_size_against_a_silent_hub_asks_once(tmp_path):
    with SilentServer() as silent:
        env = hub_env(silent.url, tmp_path, HF_HUB_ETAG_TIMEOUT="1")
        res = run_subprocess("size", "meta-llama/Llama-3.1-8B", env=env)
    assert res.code == 0, res.err
    assert res.err.strip().splitlines() == ["embcli: no network: figures from the built-in catalog"]
    assert silent.accepted == 1  # one request, no retries


def test_a_hub_that_never_answers_gets_one_line_naming_it(tmp_path):
    with SilentServer() as silent:
        env = hub_env(silent.url, tmp_path, HF_HUB_ETAG_TIMEOUT="1")
        res = run_subprocess("info", "-m", "tiny/gpt2", env=env)
    assert res.code == 1
    lines = res.err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in res.err
    assert f"cannot reach the Hugging Face Hub at {silent.url}" in lines[0]
    assert "no answer within 1 s" in lines[0]


def test_a_body_that_stalls_is_resumed(hub, model_dirs, tmp_path):
    hub.only, hub.stall_after, hub.stalls_left = big_range, 20_000, 1
    res = run_subprocess("info", "-m", "tiny/gpt2", "-f", "json", env=hub_env(hub.url, tmp_path))
    assert res.code == 0, res.err
    assert "resuming" in res.err
    is_table(json.loads(res.out)["cache_path"], model_dirs["gpt2"])


# -- header reads, early ends, range-less servers ------------------------------------------------


def test_a_header_read_cut_off_is_resumed(hub, model_dirs, tmp_path):
    hub.only = lambda name, start, end: name == "model.safetensors" and start == 8
    hub.drop_after, hub.drops_left = 64, 1
    res = run_subprocess("info", "-m", "tiny/gpt2", "-f", "json", env=hub_env(hub.url, tmp_path))
    assert res.code == 0, res.err
    assert "resuming" in res.err and "internal error" not in res.err
    is_table(json.loads(res.out)["cache_path"], model_dirs["gpt2"])


def test_a_header_read_that_keeps_failing_is_one_network_line(hub, tmp_path):
    hub.only = lambda name, start, end: name == "model.safetensors" and start == 8
    hub.drop_after, hub.drops_left = 64, 100
    res = run_subprocess("info", "-m", "tiny/gpt2", env=hub_env(hub.url, tmp_path))
    assert res.code == 1
    last = res.err.strip().splitlines()[-1]
    assert "broke off" in last and "model.safetensors" in last and "Traceback" not in res.err


def test_a_body_that_ends_early_is_resumed_with_a_notice(hub, model_dirs, tmp_path):
    hub.only, hub.short_after, hub.shorts_left = big_range, 30_000, 1
    res = run_subprocess("info", "-m", "tiny/gpt2", "-f", "json", env=hub_env(hub.url, tmp_path))
    assert res.code == 0, res.err
    assert "ended early at 30,000 bytes; resuming" in res.err
    is_table(json.loads(res.out)["cache_path"], model_dirs["gpt2"])


def test_range_less_fallback_keeps_no_copy_of_the_weights(hub, model_dirs, tmp_path):
    hub.ranges = False
    res = run_subprocess("info", "-m", "tiny/gpt2", "-f", "json", env=hub_env(hub.url, tmp_path))
    assert res.code == 0, res.err
    assert "does not serve byte ranges" in res.err
    is_table(json.loads(res.out)["cache_path"], model_dirs["gpt2"])
    hf = tmp_path / "hf"
    assert [p for p in hf.rglob("*.safetensors")] == []
    assert [p for p in hf.iterdir() if p.name.startswith("embcli-whole-file-")] == []


# -- builds killed or interrupted ----------------------------------------------------------------


def start_stalled_build(hub, tmp_path) -> tuple[subprocess.Popen, Path]:
    """A real build, held mid-table by the server until ``hub.release`` is set."""
    hub.only, hub.stall_after, hub.stalls_left = big_range, 20_000, 1
    hub.stalled.clear()
    env = {**os.environ, **hub_env(hub.url, tmp_path, HF_HUB_DOWNLOAD_TIMEOUT="120")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "embcli", "info", "-m", "tiny/gpt2"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    scratch = tmp_path / "cache" / ".tmp"
    for _ in range(600):
        dirs = [p for p in scratch.glob("*") if p.is_dir()] if scratch.is_dir() else []
        if dirs and hub.stalled.is_set() and (dirs[0] / "vectors.npy").exists():
            return proc, dirs[0]
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.1)
    proc.kill()
    raise AssertionError("the build never reached the table")


def cache_cmd(hub, tmp_path, *args: str):
    return run_subprocess("cache", *args, env=hub_env(hub.url, tmp_path))


def test_a_killed_build_leaves_nothing_that_list_or_the_next_build_keeps(hub, tmp_path):
    proc, leftover = start_stalled_build(hub, tmp_path)
    try:
        live = cache_cmd(hub, tmp_path, "list")  # a live build's directory is never touched
        assert live.code == 0 and "removed" not in live.err and leftover.is_dir()
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
    assert leftover.is_dir()  # SIGKILL: no chance to clean up
    listed = cache_cmd(hub, tmp_path, "list")
    assert listed.code == 0
    assert "removed 1 build directory left by an interrupted build" in listed.err
    assert not leftover.exists() and not list(leftover.parent.iterdir())

    proc, leftover = start_stalled_build(hub, tmp_path)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    hub.release.set()
    hub.stalls_left = 0
    res = run_subprocess("info", "-m", "tiny/gpt2", env=hub_env(hub.url, tmp_path))
    assert res.code == 0, res.err
    assert "removed 1 build directory left by an interrupted build" in res.err
    assert not leftover.exists()


def test_cache_clear_removes_a_killed_builds_directory(hub, tmp_path):
    proc, leftover = start_stalled_build(hub, tmp_path)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    res = cache_cmd(hub, tmp_path, "clear")
    assert res.code == 0, res.err
    assert "removed 1 build directory left by an interrupted build" in res.err
    assert not leftover.exists()


def test_ctrl_c_during_a_build_says_so_and_keeps_nothing(hub, tmp_path):
    proc, leftover = start_stalled_build(hub, tmp_path)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert err.strip().splitlines() == ["embcli: build interrupted; nothing was kept"]
    assert not leftover.exists() and not list(leftover.parent.iterdir())
    assert not [p for p in (tmp_path / "cache").iterdir() if "--" in p.name]
