"""The reader seam: ``--model`` to a source, byte sources, and the container a source holds.

Tables read through the seam are checked against the checkpoints in test_store_build and
test_hub; here, the pieces themselves: what a source hands out, what a byte source reads, and
what each refuses.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from safetensors.torch import load_file

from embcli.errors import EmbcliError, UsageProblem
from embcli.read.byte_source import LocalFile
from embcli.read.container import float_rows
from embcli.read.formats import open_container
from embcli.read.ref import ModelRef
from embcli.read.sources import LocalDir, VectorFile, resolve


def test_a_local_directory_hands_out_its_files(model_dirs):
    source = resolve(str(model_dirs["gpt2"]))
    assert isinstance(source, LocalDir) and source.kind == "local"
    assert source.small_file("config.json") == model_dirs["gpt2"] / "config.json"
    assert source.small_file("vocab.txt") is None
    assert "model.safetensors" in source.listing()
    assert source.file("model.safetensors").path == model_dirs["gpt2"] / "model.safetensors"
    assert source.key(None) != source.key("transformer.wte.weight")


@pytest.mark.parametrize("option", ["file", "quant"])
def test_file_and_quant_are_refused_where_there_is_nothing_to_choose(model_dirs, option):
    with pytest.raises(UsageProblem) as err:
        resolve(ModelRef(str(model_dirs["gpt2"]), **{option: "Q4_K_M"}))
    assert f"--{option} chooses a GGUF file" in err.value.one_line()


def test_local_file_reads_spans_and_says_when_missing(tmp_path):
    path = tmp_path / "blob"
    data = bytes(range(256)) * 40_000  # 10 MB: the stream comes in more than one chunk
    path.write_bytes(data)
    src = LocalFile(path)
    assert src.size() == len(data) and src.read(10, 20) == data[10:20]
    assert src.read(len(data) - 3, len(data) + 5) == data[-3:]  # the file ends first
    assert b"".join(src.stream(5, len(data) - 7)) == data[5:-7]
    missing = LocalFile(tmp_path / "nope.safetensors")
    with pytest.raises(EmbcliError, match="missing checkpoint file"):
        missing.read(0, 8)


def test_container_rows_equal_the_tensor_memory_mapped_or_streamed(model_dirs):
    source = resolve(str(model_dirs["llama"]))  # bf16
    container = open_container(source)
    name = "model.embed_tokens.weight"
    info = container.info(name)
    expected = load_file(str(model_dirs["llama"] / "model.safetensors"))[name].float().numpy()
    mapped = np.concatenate([b for _, b in container.rows(name, 7)])
    np.testing.assert_array_equal(mapped, expected)

    class Remote(LocalFile):  # the same bytes without a path: the streaming branch
        path = None  # type: ignore[assignment]

    remote = Remote(model_dirs["llama"] / "model.safetensors")
    blocks = list(float_rows(remote, info, 7))
    assert [lo for lo, _ in blocks] == list(range(0, info.shape[0], 7))
    np.testing.assert_array_equal(np.concatenate([b for _, b in blocks]), expected)


def test_a_vector_file_is_a_container_of_one_table(tmp_path):
    path = tmp_path / "v.txt"
    path.write_text("2 3\nking 1 2 3\nqueen 4 5 6\n")
    source = resolve(str(path))
    assert isinstance(source, VectorFile)
    container = open_container(source)
    assert container.names() == ["word2vec text"]
    assert container.info("word2vec text").shape == (2, 3)
    assert container.vocabulary().pieces == ["king", "queen"]
    assert container.facts().vocab_size == 2
    rows = np.concatenate([b for _, b in container.rows("word2vec text", 100)])
    np.testing.assert_array_equal(rows, [[1, 2, 3], [4, 5, 6]])


def test_table_meta_round_trips_through_meta_json(model_dirs):
    from embcli.store.load import open_table
    from embcli.store.meta import TableMeta

    table = open_table(str(model_dirs["llama"]))
    written = json.loads((table.path / "meta.json").read_text())
    assert written.pop("format_version") == 2 and set(written.pop("files")) >= {"vectors.npy"}
    assert written == table.meta.to_dict()
    meta = table.meta
    assert isinstance(meta, TableMeta) and meta.shape == table.shape
    assert meta.head_tensor == "lm_head.weight" and meta.head_shape == table.shape
    assert TableMeta.from_dict(meta.to_dict()) == meta
    newer = TableMeta.from_dict({**meta.to_dict(), "from_a_newer_embcli": 1})
    assert newer.to_dict()["from_a_newer_embcli"] == 1  # kept, not dropped on a rewrite


def test_a_model_reference_is_one_frozen_picklable_value(model_dirs):
    """``ModelRef`` can key a dict and be sent to a worker process; ``Model`` builds it once and
    a table's role and tensor are added to it, nothing else changed."""
    import dataclasses
    import pickle

    import embcli

    ref = ModelRef(str(model_dirs["gpt2"]), "main", quant="Q8_0", allow_pickle=True)
    again = pickle.loads(pickle.dumps(ref))
    assert again == ref and hash(again) == hash(ref) and {ref: 1}[again] == 1
    with pytest.raises(dataclasses.FrozenInstanceError):
        ref.role = "output"  # type: ignore[misc]
    head = ref.but(role="output")
    assert (head.role, head.source, head.quant, head.allow_pickle) == ("output", ref.source,
                                                                      "Q8_0", True)  # fmt: skip
    model = embcli.Model(str(model_dirs["gpt2"]), revision="v1", file="a.gguf", allow_pickle=True)
    assert model.ref == ModelRef(str(model_dirs["gpt2"]), "v1", "a.gguf", None, None, "input", True)
    assert (model.spec, model.revision, model.file, model.allow_pickle) == (
        model.ref.source, "v1", "a.gguf", True)  # fmt: skip
