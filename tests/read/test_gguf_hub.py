"""A GGUF repo on the Hub stand-in (tests/hub_server.py): the header and the table, by ranges.

embcli runs in subprocesses (huggingface_hub reads HF_ENDPOINT at import); the server's log says
which bytes of which file were served.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from embcli.read.byte_source import LocalFile
from embcli.read.gguf_file import GGUFFile, GGUFModel
from tests import gguf_files as G
from tests import models
from tests.cli.test_bad_input import assert_one_line_error, no_leftovers
from tests.hub_server import HubServer
from tests.read.test_gguf import table
from tests.read.test_hub import embcli
from tests.store.test_gguf_table import assert_neighbours

pytestmark = pytest.mark.slow  # a hub server and embcli in processes

REPO = "me/Tiny-GGUF"
FIRST_CHUNK = 256 * 1024  # the header reader's first request (gguf_file._HeaderBytes.FIRST)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Two quantisations of one model, a split set in a folder, a projector and a README."""
    root = tmp_path_factory.mktemp("gguf-repo")
    vocab = G.spm_vocab(models.metaspace_tokenizer())
    n = len(vocab.tokens)
    # A large tensor between the header and the table: it must never be fetched.
    big = G.named(G.random_blocks(2048, 4096, "Q4_K", seed=1), "blk.0.ffn_up.weight")
    head = G.named(G.random_blocks(n, 256, "Q6_K", seed=2), "output.weight")
    out = {"vocab": vocab, "tables": {}}
    for qtype, name in (("Q4_K", "Tiny-Q4_K_M.gguf"), ("Q8_0", "Tiny-Q8_0.gguf")):
        t = table(n, 256, qtype, seed=len(name))
        G.write(root / name, [big, t, head], vocab, meta={"general.file_type": 15})
        out["tables"][name] = t
    (root / "split").mkdir()
    t = table(n, 256, "Q5_K", seed=9)
    G.write(root / "split" / "Tiny-Q5_K_M.gguf", [big, t, head], vocab, split_max_tensors=1)
    out["tables"]["split"] = t
    G.write(root / "mmproj-Tiny-f16.gguf", [G.named(table(16, 256, "F16"), "v.patch_embd.weight")])
    (root / "README.md").write_text("# Tiny GGUF\n")
    out["root"] = root
    return out


@pytest.fixture
def hub(files):
    root = files["root"]
    with HubServer() as server:
        repo = server.add(REPO, root)
        for shard in sorted((root / "split").iterdir()):  # served from a folder of its own name
            repo.files[f"Tiny-Q5_K_M/{shard.name}"] = repo.files.pop(f"split/{shard.name}")
        yield server


def served(hub, name):
    return [s for s in hub.log if s.filename == name]


def test_header_and_table_only(hub, files, tmp_path):
    name = "Tiny-Q4_K_M.gguf"
    res = embcli(hub, tmp_path, "info", "-m", REPO, "--quant", "Q4_K_M", "-f", "json")
    assert res.code == 0, res.err
    info = json.loads(res.out)
    assert info["checkpoint_file"] == name and info["kind"] == "hub"
    assert info["identity"] == f"{hub.repos[REPO].sha}:{name}"
    model = GGUFModel(LocalFile(files["root"] / name))
    t = model.info("token_embd.weight")
    header = model.main.header_end
    size = (files["root"] / name).stat().st_size
    log = served(hub, name)
    assert all(s.method == "GET" for s in log)  # no HEAD: the size came with the first range
    reads = [(s.start, s.end) for s in log]
    head_reads = [r for r in reads if r[0] < header]
    table_reads = [r for r in reads if r[0] >= header]
    assert head_reads[0][0] == 0 and head_reads[-1][1] >= header
    assert sum(b - a for a, b in head_reads) <= header + FIRST_CHUNK
    assert sum(b - a for a, b in table_reads) == t.nbytes
    assert all(t.start <= a and b <= t.end for a, b in table_reads)
    assert hub.bytes_served(name) < 0.25 * size
    for other in ("Tiny-Q8_0.gguf", "mmproj-Tiny-f16.gguf", "README.md"):
        assert hub.bytes_served(other) == 0
    # the rows are the file's
    answer = embcli(hub, tmp_path, "neighbors", "#171", "-m", REPO, "--quant", "Q4_K_M",
                    "--all-tokens", "-k", "6", "-f", "json")  # fmt: skip
    assert answer.code == 0, answer.err
    assert_neighbours(json.loads(answer.out), files["tables"][name].dequantized(), 6)


def test_warm_query_needs_no_network(hub, files, tmp_path):
    args = ["-m", REPO, "--file", "Tiny-Q8_0.gguf"]
    assert embcli(hub, tmp_path, "info", *args).code == 0
    before = len(hub.log)
    res = embcli(hub, tmp_path, "neighbors", "Rome", *args, "-f", "json", HF_HUB_OFFLINE="1")
    assert res.code == 0, res.err
    assert len(hub.log) == before
    # another quantisation of the same repo is another entry
    other = embcli(hub, tmp_path, "info", "-m", REPO, "--quant", "Q4_K_M", "-f", "json")
    first = embcli(hub, tmp_path, "info", *args, "-f", "json", HF_HUB_OFFLINE="1")
    assert json.loads(other.out)["cache_path"] != json.loads(first.out)["cache_path"]


def test_split_set_in_a_folder(hub, files, tmp_path):
    res = embcli(hub, tmp_path, "neighbors", "#57", "-m", REPO, "--quant", "Q5_K_M",
                 "--all-tokens", "-k", "5", "-f", "json")  # fmt: skip
    assert res.code == 0, res.err
    assert_neighbours(json.loads(res.out), files["tables"]["split"].dequantized(), 5)
    shards = sorted((files["root"] / "split").iterdir())
    assert len(shards) == 3  # big, table, head: one tensor a shard
    data = GGUFFile(LocalFile(shards[1])).tensors["token_embd.weight"]
    for i, shard in enumerate(shards):
        header = GGUFFile(LocalFile(shard)).header_end
        got = hub.bytes_served(f"Tiny-Q5_K_M/{shard.name}")
        tensor_bytes = data.nbytes if i == 1 else 0
        assert got <= header + FIRST_CHUNK + tensor_bytes, (shard.name, got)
    big = shards[0]  # the metadata and the 4.7 MB tensor: its header only
    assert hub.bytes_served(f"Tiny-Q5_K_M/{big.name}") < 0.1 * big.stat().st_size


def test_choices_that_fail_are_one_line(hub, tmp_path):
    cache = tmp_path / "cache"
    res = embcli(hub, tmp_path, "info", "-m", REPO)
    assert_one_line_error(res, "holds 3 GGUF models", "Q4_K_M", code=2)
    res = embcli(hub, tmp_path, "info", "-m", REPO, "--quant", "IQ2_XS")
    assert_one_line_error(res, "matches --quant IQ2_XS", "Q8_0")
    res = embcli(hub, tmp_path, "info", "-m", REPO, "--file", "Tiny-Q2_K.gguf")
    assert_one_line_error(res, "has no file 'Tiny-Q2_K.gguf'")
    assert no_leftovers(cache)
    assert sum(hub.bytes_served(n) for n in hub.repos[REPO].files) == 0


def test_row_values_match_the_hub_file(hub, files, tmp_path):
    """The cached raw rows are the dequantised rows (norms times unit rows, float32)."""
    res = embcli(hub, tmp_path, "info", "-m", REPO, "--quant", "Q8_0", "-f", "json")
    from pathlib import Path

    path = Path(json.loads(res.out)["cache_path"])
    unit = np.load(path / "vectors.npy")
    norms = np.load(path / "norms.npy")
    want = files["tables"]["Tiny-Q8_0.gguf"].dequantized().astype(np.float64)
    np.testing.assert_allclose(unit * norms[:, None], want, rtol=1e-6, atol=1e-6)
