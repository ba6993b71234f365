"""PyTorch ``.bin`` checkpoints read by byte ranges, without torch and without running code.

The reference is ``torch.load(weights_only=True)`` of the same file; on the Hub the server's log
says which bytes were served: the zip directory, ``data.pkl`` and the table's storage record.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from embcli.errors import EmbcliError
from embcli.read.formats import open_container
from embcli.read.sources import resolve
from embcli.store.load import ModelRef, open_table
from tests.conftest import run_subprocess
from tests.hostile_pickles import Evaluate, Shell
from tests.hub_server import HubServer
from tests.read.test_hub import embcli

TABLE = "transformer.wte.weight"


def bin_model(model_dirs, path: Path, state, name: str = "pytorch_model.bin", **save) -> Path:
    """The tiny GPT-2's config and tokenizer beside ``state`` saved by ``torch.save``."""
    path.mkdir(parents=True, exist_ok=True)
    for f in ("config.json", "tokenizer.json"):
        shutil.copy(model_dirs["gpt2"] / f, path / f)
    torch.save(state, path / name, **save)
    return path


def gpt2_state(model_dirs) -> dict[str, torch.Tensor]:
    """The tiny GPT-2's weights with the output head sharing the table's storage (tied)."""
    state = load_file(str(model_dirs["gpt2"] / "model.safetensors"))
    state["lm_head.weight"] = state[TABLE]
    return state


def container_rows(model: Path, name: str) -> np.ndarray:
    container = open_container(resolve(str(model)))
    return np.concatenate([block for _, block in container.rows(name, 100)])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
def test_table_equals_torch_load(model_dirs, tmp_path, dtype):
    state = {k: v.to(dtype) for k, v in gpt2_state(model_dirs).items()}
    model = bin_model(model_dirs, tmp_path / "m", state)
    ref = torch.load(model / "pytorch_model.bin", weights_only=True)[TABLE].float().numpy()
    np.testing.assert_array_equal(container_rows(model, TABLE), ref)
    table = open_table(str(model))
    assert table.meta.checkpoint_format == "pytorch" and table.meta.tensor == TABLE
    assert table.meta.source_dtype == {torch.float32: "F32", torch.float16: "F16",
                                          torch.bfloat16: "BF16"}[dtype]  # fmt: skip
    np.testing.assert_allclose(table.raw(np.arange(ref.shape[0])), ref, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("wrap", ["state_dict", "model"])
def test_nested_state_dicts(model_dirs, tmp_path, wrap):
    state = gpt2_state(model_dirs)
    model = bin_model(model_dirs, tmp_path / "m", {wrap: OrderedDict(state), "epoch": 3})
    np.testing.assert_array_equal(container_rows(model, TABLE), state[TABLE].numpy())


def test_tensors_of_other_dtypes_do_not_stop_the_table(model_dirs, tmp_path):
    state = gpt2_state(model_dirs)
    others = {
        "ids": torch.tensor([1, 2, 3], dtype=torch.int32).to(torch.uint16),  # untyped storage, v3
        "scale": torch.ones(4).to(torch.float8_e4m3fn),
        "steps": torch.arange(6),
    }
    model = bin_model(model_dirs, tmp_path / "m", {**state, **others})
    container = open_container(resolve(str(model)))
    assert container.info("ids").dtype == "U16" and container.info("ids").nbytes == 6
    assert container.info("scale").dtype == "F8_E4M3" and container.info("steps").dtype == "I64"
    np.testing.assert_array_equal(container_rows(model, TABLE), state[TABLE].numpy())
    with pytest.raises(EmbcliError, match="float tables only"):
        next(iter(container.rows("ids", 10)))


def test_shared_storage_is_one_record_read_for_both_names(model_dirs, tmp_path):
    state = gpt2_state(model_dirs)
    model = bin_model(model_dirs, tmp_path / "m", state)
    with zipfile.ZipFile(model / "pytorch_model.bin") as z:
        records = [n for n in z.namelist() if "/data/" in n]
    assert len(records) == len({id(v.untyped_storage()) for v in state.values()})  # tied: shared
    container = open_container(resolve(str(model)))
    table, head = container.info(TABLE), container.info("lm_head.weight")
    assert (table.start, table.end) == (head.start, head.end)
    np.testing.assert_array_equal(container_rows(model, "lm_head.weight"), state[TABLE].numpy())


def test_a_view_into_a_storage_is_read_at_its_offset(model_dirs, tmp_path):
    whole = gpt2_state(model_dirs)[TABLE]
    rows = whole.shape[0] - 20
    both = torch.cat([torch.ones(5, whole.shape[1]), whole[:rows]])
    model = bin_model(model_dirs, tmp_path / "m", {"x.weight": both, TABLE: both[5:]})
    cfg = json.loads((model / "config.json").read_text())
    (model / "config.json").write_text(json.dumps({**cfg, "vocab_size": rows}))
    np.testing.assert_array_equal(container_rows(model, TABLE), whole[:rows].numpy())


def test_sharded_checkpoint_opens_only_the_shard_with_the_table(model_dirs, tmp_path):
    state = gpt2_state(model_dirs)
    model = tmp_path / "m"
    rest = {k: v for k, v in state.items() if k not in (TABLE, "lm_head.weight")}
    bin_model(model_dirs, model, rest, "pytorch_model-00001-of-00002.bin")
    bin_model(model_dirs, model, {TABLE: state[TABLE]}, "pytorch_model-00002-of-00002.bin")
    weight_map = {k: "pytorch_model-00001-of-00002.bin" for k in rest}
    weight_map[TABLE] = "pytorch_model-00002-of-00002.bin"
    index = {"metadata": {}, "weight_map": weight_map}
    (model / "pytorch_model.bin.index.json").write_text(json.dumps(index))
    (model / "pytorch_model-00001-of-00002.bin").write_bytes(b"\xff" * 64)  # never opened
    table = open_table(str(model))
    assert table.meta.checkpoint_file == "pytorch_model-00002-of-00002.bin"
    np.testing.assert_allclose(table.raw(np.arange(table.shape[0])), state[TABLE].numpy(),
                               rtol=1e-6, atol=1e-7)  # fmt: skip


@pytest.mark.slow  # a process
def test_reading_imports_no_torch(model_dirs, tmp_path):
    model = bin_model(model_dirs, tmp_path / "m", gpt2_state(model_dirs))
    probe = (
        "import sys\n"
        "from embcli.store.load import open_table\n"
        f"open_table({str(model)!r})\n"
        "print('TORCH', 'torch' in sys.modules)\n"
    )
    env = {**os.environ, "EMBCLI_CACHE": str(tmp_path / "c")}
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    assert "TORCH False" in proc.stdout


@pytest.mark.parametrize(("payload", "global_name"), [(Shell, "posix.system"),
                                                       (Evaluate, "builtins.eval")])  # fmt: skip
def test_a_pickle_that_runs_code_is_refused_and_runs_nothing(
    model_dirs, tmp_path, cli, isolated_cache, payload, global_name
):
    marker = tmp_path / "ran"
    state = {**gpt2_state(model_dirs), "extra": payload(marker)}
    model = bin_model(model_dirs, tmp_path / "m", state)
    res = cli("info", "-m", model)
    assert res.code == 1 and len(res.err.strip().splitlines()) == 1, res.err
    assert global_name in res.err and "--allow-pickle" in res.err
    assert not marker.exists()
    assert not [p for p in isolated_cache.iterdir() if "--" in p.name]


def test_legacy_format_needs_allow_pickle(model_dirs, tmp_path, cli):
    state = gpt2_state(model_dirs)
    model = bin_model(model_dirs, tmp_path / "m", state, _use_new_zipfile_serialization=False)
    res = cli("info", "-m", model)
    assert res.code == 1 and len(res.err.strip().splitlines()) == 1
    assert "legacy" in res.err and "--allow-pickle" in res.err
    ok = cli("info", "-m", model, "--allow-pickle", "-f", "json")
    assert ok.code == 0, ok.err
    table = open_table(ModelRef(str(model), allow_pickle=True))
    np.testing.assert_allclose(table.raw(np.arange(table.shape[0])), state[TABLE].numpy(),
                               rtol=1e-6, atol=1e-7)  # fmt: skip


def test_non_contiguous_table_is_refused_in_one_line(model_dirs, tmp_path, cli):
    table = gpt2_state(model_dirs)[TABLE]
    strided = table.t().contiguous().t()  # same values, column-major strides
    model = bin_model(model_dirs, tmp_path / "m", {TABLE: strided})
    res = cli("info", "-m", model)
    assert res.code == 1 and len(res.err.strip().splitlines()) == 1
    assert "not stored row by row" in res.err
    read = open_table(ModelRef(str(model), allow_pickle=True))  # torch.load reads it
    np.testing.assert_allclose(read.raw(np.arange(read.shape[0])), table.numpy(),
                               rtol=1e-6, atol=1e-7)  # fmt: skip


def test_big_endian_and_truncated_archives_are_one_line(model_dirs, tmp_path, cli):
    model = bin_model(model_dirs, tmp_path / "m", gpt2_state(model_dirs))
    path = model / "pytorch_model.bin"
    original = path.read_bytes()
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(tmp_path / "big.bin", "w") as dst:
        for info in src.infolist():  # the same archive claiming big-endian data
            data = b"big" if info.filename.endswith("/byteorder") else src.read(info)
            dst.writestr(info.filename, data, compress_type=zipfile.ZIP_STORED)
    path.write_bytes((tmp_path / "big.bin").read_bytes())
    res = cli("info", "-m", model)
    assert res.code == 1 and "big-endian" in res.err and len(res.err.strip().splitlines()) == 1
    path.write_bytes(original[: len(original) // 2])
    res = cli("info", "-m", model)
    assert res.code == 1 and "truncated" in res.err and len(res.err.strip().splitlines()) == 1


def zip_regions(path: Path) -> dict[str, tuple[int, int]]:
    """Byte ranges of the zip directory (central directory and end records), of data.pkl's
    member and of the table's storage member (each: local header, name, extra, data)."""
    from embcli.read.byte_source import LocalFile
    from embcli.read.pytorch_container import TorchArchive

    key = TorchArchive(LocalFile(path)).tensors[TABLE].storage.key
    with zipfile.ZipFile(path) as z:
        infos = sorted(z.infolist(), key=lambda i: i.header_offset)
        directory = (z.start_dir, path.stat().st_size)
    ends = [i.header_offset for i in infos[1:]] + [directory[0]]
    members = {i.filename: (i.header_offset, end) for i, end in zip(infos, ends, strict=True)}
    pickle = next(name for name in members if name.endswith("/data.pkl"))
    record = pickle.removesuffix("data.pkl") + f"data/{key}"
    return {"directory": directory, "pickle": members[pickle], "table": members[record]}


@pytest.mark.slow  # a hub server
def test_hub_bin_serves_directory_pickle_and_table_only(model_dirs, tmp_path):
    state = gpt2_state(model_dirs)
    model = bin_model(model_dirs, tmp_path / "repo", state)
    weights = model / "pytorch_model.bin"
    with zipfile.ZipFile(weights) as z:
        pickle_bytes = len(z.read(next(n for n in z.namelist() if n.endswith("/data.pkl"))))
    regions = zip_regions(weights)
    with HubServer() as hub:
        hub.add("tiny/bin", model)
        res = embcli(hub, tmp_path, "info", "-m", "tiny/bin", "-f", "json")
        assert res.code == 0, res.err
        assert res.err == ""
        served = [s for s in hub.log if s.filename == weights.name and s.method == "GET"]
    for s in served:  # every byte served is the directory, the pickle or the table's record
        assert any(lo <= s.start and s.end <= hi for lo, hi in regions.values()), (s, regions)

    def within(region: str) -> int:
        lo, hi = regions[region]
        return sum(s.nbytes for s in served if lo <= s.start < hi)

    assert within("directory") == regions["directory"][1] - regions["directory"][0]
    assert within("pickle") == 30 + pickle_bytes  # its local header's fixed part, its bytes
    assert within("table") == 30 + state[TABLE].numel() * 4  # likewise, once
    assert sum(s.nbytes for s in served) < 0.5 * weights.stat().st_size
    info = json.loads(res.out)
    assert info["tensor"] == TABLE and info["checkpoint_file"] == weights.name
    vectors = np.load(Path(info["cache_path"]) / "vectors.npy")
    ref = state[TABLE].double().numpy()
    np.testing.assert_allclose(vectors, ref / np.linalg.norm(ref, axis=1, keepdims=True), atol=1e-7)


@pytest.mark.slow  # a hub server
def test_hub_bin_without_ranges_falls_back_to_the_whole_file(model_dirs, tmp_path):
    state = gpt2_state(model_dirs)
    model = bin_model(model_dirs, tmp_path / "repo", state)
    with HubServer() as hub:
        hub.add("tiny/bin", model)
        hub.ranges = False
        res = embcli(hub, tmp_path, "info", "-m", "tiny/bin", "-f", "json")
    assert res.code == 0, res.err
    assert res.err.strip().splitlines() == [
        "embcli: the server does not serve byte ranges: downloading all of pytorch_model.bin"
    ]
    vectors = np.load(Path(json.loads(res.out)["cache_path"]) / "vectors.npy")
    ref = state[TABLE].double().numpy()
    np.testing.assert_allclose(vectors, ref / np.linalg.norm(ref, axis=1, keepdims=True), atol=1e-7)
    assert not [p for p in (tmp_path / "hf").iterdir() if p.name.startswith("embcli-whole-file-")]


@pytest.mark.slow  # a process
def test_warm_bin_query_is_local(model_dirs, tmp_path):
    model = bin_model(model_dirs, tmp_path / "m", gpt2_state(model_dirs))
    env = {"EMBCLI_CACHE": str(tmp_path / "c")}
    assert run_subprocess("info", "-m", model, env=env).code == 0
    res = run_subprocess("neighbors", "king", "-k", "3", "-m", model, env=env)
    assert res.code == 0 and res.err == ""
