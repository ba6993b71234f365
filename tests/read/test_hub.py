"""The Hub path for real: huggingface_hub talking to a hub-compatible server on 127.0.0.1.

embcli runs in subprocesses (huggingface_hub reads HF_ENDPOINT and HF_HUB_OFFLINE at import),
and the server's log says exactly which bytes were served.
"""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest
from safetensors.torch import load_file

from tests.conftest import run_subprocess
from tests.hub_server import HubServer

pytestmark = pytest.mark.slow  # a hub server and embcli in processes


@pytest.fixture
def hub(model_dirs, tmp_path):
    with HubServer() as server:
        server.add("tiny/gpt2", model_dirs["gpt2"], tag="v1")
        server.add("tiny/sharded", model_dirs["sharded"])
        server.add("tiny/gated", model_dirs["bert"], gated=True)
        yield server


def embcli(hub, tmp_path, *args, **env):
    base = {"HF_ENDPOINT": hub.url, "HF_HUB_OFFLINE": "0", "HF_HOME": str(tmp_path / "hf"),
            "EMBCLI_CACHE": str(tmp_path / "cache"), "HF_TOKEN": ""}  # fmt: skip
    return run_subprocess(*args, env={**base, **env})


def header_len(path):
    with open(path, "rb") as fh:
        return struct.unpack("<Q", fh.read(8))[0]


def table_range(path, name):
    hlen = header_len(path)
    with open(path, "rb") as fh:
        fh.seek(8)
        info = json.loads(fh.read(hlen))[name]
    lo, hi = info["data_offsets"]
    return 8 + hlen + lo, 8 + hlen + hi


def test_single_file_repo_fetches_header_and_table_only(hub, model_dirs, tmp_path):
    res = embcli(hub, tmp_path, "info", "-m", "tiny/gpt2", "-f", "json")
    assert res.code == 0, res.err
    assert res.err == ""  # no progress bar, no notice when piped
    info = json.loads(res.out)
    assert info["kind"] == "hub" and info["identity"] == hub.repos["tiny/gpt2"].sha
    weights = model_dirs["gpt2"] / "model.safetensors"
    lo, hi = table_range(weights, "transformer.wte.weight")
    served = [s for s in hub.log if s.filename == "model.safetensors" and s.method == "GET"]
    header_end = 8 + header_len(weights)
    for s in served:  # every byte served lies in the header or in the table
        assert s.end <= header_end or (lo <= s.start and s.end <= hi), (s.start, s.end)
    assert hub.bytes_served("model.safetensors") == header_end + (hi - lo)
    assert hub.bytes_served("model.safetensors") < 0.5 * weights.stat().st_size
    assert hub.bytes_served("config.json") > 0 and hub.bytes_served("tokenizer.json") > 0
    # The table is the checkpoint's.
    from embcli.store.cache import open_entry
    from embcli.store.table import EmbeddingTable

    table = EmbeddingTable(open_entry(__import__("pathlib").Path(info["cache_path"])))
    ref = load_file(str(weights))["transformer.wte.weight"].numpy()
    np.testing.assert_allclose(table.raw(np.arange(ref.shape[0])), ref, rtol=1e-6, atol=1e-7)


def test_warm_query_needs_no_network(hub, tmp_path):
    assert embcli(hub, tmp_path, "info", "-m", "tiny/gpt2").code == 0
    before = len(hub.log)
    res = embcli(hub, tmp_path, "neighbors", "king", "-m", "tiny/gpt2", "-f", "json")
    assert res.code == 0, res.err
    assert len(hub.log) == before
    offline = embcli(hub, tmp_path, "info", "-m", "tiny/gpt2", HF_HUB_OFFLINE="1")
    assert offline.code == 0, offline.err
    assert len(hub.log) == before


def test_sharded_repo_reads_only_the_shard_with_the_table(hub, model_dirs, tmp_path):
    res = embcli(hub, tmp_path, "info", "-m", "tiny/sharded", "-f", "json")
    assert res.code == 0, res.err
    assert json.loads(res.out)["checkpoint_file"] == "model-00002-of-00003.safetensors"
    assert hub.bytes_served("model-00001-of-00003.safetensors") == 0
    assert hub.bytes_served("model-00003-of-00003.safetensors") == 0
    shard = model_dirs["sharded"] / "model-00002-of-00003.safetensors"
    lo, hi = table_range(shard, "model.embed_tokens.weight")
    assert hub.bytes_served(shard.name) == 8 + header_len(shard) + (hi - lo)


def test_revision_resolves_to_the_commit_that_keys_the_cache(hub, tmp_path):
    main = json.loads(embcli(hub, tmp_path, "info", "-m", "tiny/gpt2", "-f", "json").out)
    tag = json.loads(
        embcli(hub, tmp_path, "info", "-m", "tiny/gpt2", "--revision", "v1", "-f", "json").out
    )
    assert tag["identity"] == main["identity"] and tag["cache_path"] == main["cache_path"]
    bad = embcli(hub, tmp_path, "info", "-m", "tiny/gpt2", "--revision", "nope")
    assert bad.code == 1 and "revision 'nope' not found" in bad.err


@pytest.mark.parametrize(
    ("repo", "env", "needle"),
    [
        ("tiny/missing", {}, "no model repo tiny/missing"),
        ("tiny/gated", {}, "gated"),
        ("tiny/gpt2", {"HF_ENDPOINT": "http://127.0.0.1:9"}, "cannot reach the Hugging Face Hub"),
        ("tiny/gpt2", {"HF_HUB_OFFLINE": "1"}, "HF_HUB_OFFLINE"),
    ],
)
def test_hub_errors_are_one_line(hub, tmp_path, repo, env, needle):
    res = embcli(hub, tmp_path, "info", "-m", repo, **env)
    assert res.code == 1
    lines = res.err.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0] and "Traceback" not in res.err


def test_gated_repo_with_token(hub, tmp_path):
    res = embcli(hub, tmp_path, "info", "-m", "tiny/gated", HF_TOKEN="hf_test")
    assert res.code == 0, res.err


def test_dropped_connection_is_resumed(hub, model_dirs, tmp_path):
    hub.drop_after, hub.drops_left = 20_000, 1
    res = embcli(hub, tmp_path, "info", "-m", "tiny/gpt2", "-f", "json")
    assert res.code == 0, res.err
    assert "resuming" in res.err
    info = json.loads(res.out)
    vectors = np.load(f"{info['cache_path']}/vectors.npy")
    ref = load_file(str(model_dirs["gpt2"] / "model.safetensors"))["transformer.wte.weight"]
    ref = ref.double().numpy()
    np.testing.assert_allclose(vectors, ref / np.linalg.norm(ref, axis=1, keepdims=True), atol=1e-7)


def test_connection_that_keeps_dropping_leaves_no_entry(hub, tmp_path):
    hub.drop_after, hub.drops_left = 20_000, 100
    res = embcli(hub, tmp_path, "info", "-m", "tiny/gpt2")
    assert res.code == 1 and "broke off" in res.err.strip().splitlines()[-1]
    cache = tmp_path / "cache"
    assert not [p for p in cache.iterdir() if "--" in p.name]
    assert not list((cache / ".tmp").iterdir())
    hub.drops_left = 0
    assert embcli(hub, tmp_path, "info", "-m", "tiny/gpt2").code == 0  # starts clean


def test_server_without_ranges_falls_back_to_whole_file(hub, model_dirs, tmp_path):
    hub.ranges = False
    res = embcli(hub, tmp_path, "info", "-m", "tiny/gpt2", "-f", "json")
    assert res.code == 0, res.err
    assert "does not serve byte ranges" in res.err
    size = (model_dirs["gpt2"] / "model.safetensors").stat().st_size
    assert hub.bytes_served("model.safetensors") >= size


TYPED = """
import sys, embcli
from embcli import errors
try:
    embcli.load(sys.argv[1], revision=sys.argv[2] or None)
except errors.HubProblem as exc:
    print(type(exc).__name__, isinstance(exc, errors.EmbcliError), exc.exit_code)
"""


@pytest.mark.parametrize(
    ("repo", "revision", "env", "kind"),
    [
        ("tiny/missing", "", {}, "HubNotFound"),
        ("tiny/gated", "", {}, "HubGated"),
        ("tiny/gpt2", "nope", {}, "HubRevisionNotFound"),
        ("tiny/gpt2", "", {"HF_ENDPOINT": "http://127.0.0.1:9"}, "HubUnreachable"),
        ("tiny/gpt2", "", {"HF_HUB_OFFLINE": "1"}, "HubOffline"),
    ],
)
def test_hub_failures_are_typed_for_python_callers(hub, tmp_path, repo, revision, env, kind):
    """Each cause is its own subclass of ``errors.HubProblem`` (an ``EmbcliError``, exit 1)."""
    import os
    import subprocess
    import sys

    base = {"HF_ENDPOINT": hub.url, "HF_HUB_OFFLINE": "0", "HF_HOME": str(tmp_path / "hf"),
            "EMBCLI_CACHE": str(tmp_path / "cache"), "HF_TOKEN": ""}  # fmt: skip
    proc = subprocess.run([sys.executable, "-c", TYPED, repo, revision], capture_output=True,
                          text=True, env={**os.environ, **base, **env}, timeout=120)  # fmt: skip
    assert proc.stdout.split() == [kind, "True", "1"], proc.stderr


def test_size_tells_a_gated_repo_from_a_missing_one(hub, model_dirs, tmp_path):
    """``size`` asks the Hub for a catalog model's config: a gated repo is said (the user must
    accept its licence), not hidden behind the catalog's figures; a repo the Hub does not have
    falls back to the catalog, saying why; a repo it has is sized from its own config and
    safetensors headers."""
    hub.add("openai-community/gpt2", model_dirs["gpt2"], gated=True)
    gated = embcli(hub, tmp_path, "size", "gpt2")
    assert gated.code == 1 and gated.out == ""
    assert gated.err.strip().splitlines() == [
        "embcli: openai-community/gpt2 is gated (accept its licence on the Hub and set HF_TOKEN)"
    ]
    missing = embcli(hub, tmp_path, "size", "mistral-7b", "-f", "json")
    assert missing.code == 0, missing.err
    record = json.loads(missing.out)
    assert record["config_from"] == "catalog" and "Hub not used (no model repo" in record["note"]
    own = embcli(hub, tmp_path, "size", "tiny/gpt2", "-f", "json")
    assert own.code == 0, own.err
    record = json.loads(own.out)
    expected = sum(
        t.numel() for t in load_file(str(model_dirs["gpt2"] / "model.safetensors")).values()
    )
    assert record["config_from"] == "hub" and record["total_params"] == expected
    assert record["params_method"] == "safetensors headers (Hub metadata)"


def test_running_a_hub_model_fetches_it_through_the_hub_client(hub, model_dirs, tmp_path):
    """``context -m REPO`` downloads what the forward pass needs (read/hub.py's snapshot) and
    runs it; a repo the Hub does not have is one line."""
    res = embcli(hub, tmp_path, "context", "-m", "tiny/gpt2", "cat", "the cat sat", "a cat ran",
                 "-f", "json", "-k", "0")  # fmt: skip
    assert res.code == 0, res.err
    assert json.loads(res.out)["word"] == "cat"
    fetched = {s.filename for s in hub.log if s.method == "GET"}
    assert "config.json" in fetched and "model.safetensors" in fetched
    missing = embcli(hub, tmp_path, "context", "-m", "tiny/missing", "cat", "the cat", "a cat")
    assert missing.code == 1 and len(missing.err.strip().splitlines()) == 1, missing.err
    assert "no model repo tiny/missing" in missing.err
