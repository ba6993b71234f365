"""The restricted unpickler itself (``read/torch_pickle.py``), on the ``data.pkl`` of archives
``torch.save`` wrote: every tensor's storage, dtype, offset, shape and strides equal what torch
itself records; any other global refused by name before anything runs; malformed pickles and
objects that are not state dicts refused in one line.

The CLI's refusals (``read/test_pytorch_bin.py``, ``store/test_store_build.py``) end at an exit
code; these call :func:`load_tensors` directly.
"""

from __future__ import annotations

import io
import pickle
import zipfile
from collections import OrderedDict
from pathlib import Path

import pytest
import torch

from embcli.errors import EmbcliError
from embcli.read.torch_pickle import Refused, load_tensors
from tests.hostile_pickles import Evaluate, Shell


def data_pkl(state, tmp_path: Path) -> bytes:
    path = tmp_path / "m.bin"
    torch.save(state, path)
    with zipfile.ZipFile(path) as z:
        (name,) = [n for n in z.namelist() if n.endswith("/data.pkl")]
        return z.read(name)


def test_tensors_are_what_torch_records(tmp_path):
    base = torch.arange(60, dtype=torch.float32).reshape(12, 5)
    state = {
        "table": base,
        "tied": base,  # the same storage under a second name
        "view": base[3:],  # a view at an offset into that storage
        "transposed": base.t(),  # not row-major
        "half": torch.ones(4, 3, dtype=torch.float16),
        "bf16": torch.zeros(2, 7, dtype=torch.bfloat16),
        "ids": torch.arange(9),
        "column": torch.ones(6, 1),
    }
    tensors = load_tensors(data_pkl(state, tmp_path), "m.bin")
    assert set(tensors) == set(state)
    for name, ref in state.items():
        got = tensors[name]
        assert got.shape == tuple(ref.shape), name
        assert got.stride == ref.stride(), name
        assert got.offset == ref.storage_offset(), name
        assert got.dtype.itemsize == ref.element_size(), name
        assert got.storage.nbytes == ref.untyped_storage().nbytes(), name
        assert got.row_major == ref.is_contiguous(), name
    assert tensors["table"].storage == tensors["tied"].storage == tensors["view"].storage
    assert tensors["half"].storage.key != tensors["table"].storage.key
    assert {tensors[n].dtype.name for n in ("table", "half", "bf16", "ids")} == {
        "F32", "F16", "BF16", "I64"
    }  # fmt: skip


@pytest.mark.parametrize("wrap", ["state_dict", "model", "module", "model_state_dict"])
def test_a_state_dict_nested_under_a_known_key_is_found(tmp_path, wrap):
    inner = OrderedDict(w=torch.ones(3, 2))
    tensors = load_tensors(data_pkl({wrap: inner, "epoch": 4, "lr": 0.1}, tmp_path), "m.bin")
    assert list(tensors) == ["w"] and tensors["w"].shape == (3, 2)


@pytest.mark.parametrize("protocol", [2, pickle.DEFAULT_PROTOCOL])
@pytest.mark.parametrize(
    ("payload", "named"), [(Shell, "posix.system"), (Evaluate, "builtins.eval")]
)
def test_any_other_global_is_refused_by_name_and_nothing_runs(tmp_path, protocol, payload, named):
    marker = tmp_path / "ran"
    blob = pickle.dumps({"w": payload(marker)}, protocol=protocol)
    with pytest.raises(Refused) as err:
        load_tensors(blob, "m.bin")
    assert err.value.what == named  # named as Python 3 spells it, whatever the protocol
    assert not marker.exists()


def test_a_tensor_beside_a_foreign_object_is_still_refused(tmp_path):
    # torch.save writes the tensor's records; the foreign global comes after them in the pickle.
    blob = data_pkl({"w": torch.ones(2, 2), "extra": Shell(tmp_path / "ran")}, tmp_path)
    with pytest.raises(Refused, match=r"posix\.system"):
        load_tensors(blob, "m.bin")
    assert not (tmp_path / "ran").exists()


@pytest.mark.parametrize(
    ("make", "needle"),
    [
        (lambda blob: blob[: len(blob) // 2], "m.bin: cannot read its pickle"),
        (lambda blob: b"not a pickle at all", "m.bin: cannot read its pickle"),
        (lambda blob: pickle.dumps([1, 2, 3]), "m.bin does not hold a state dict of tensors"),
        (lambda blob: pickle.dumps({"epoch": 3, "state_dict": {}}), "m.bin holds no tensors"),
    ],
)
def test_malformed_pickles_and_other_objects_are_one_line(tmp_path, make, needle):
    blob = make(data_pkl({"w": torch.ones(2, 2)}, tmp_path))
    with pytest.raises(EmbcliError) as err:
        load_tensors(blob, "m.bin")
    line = err.value.one_line()
    assert needle in line and "\n" not in line


def test_a_persistent_id_that_is_not_a_storage_is_refused():
    class Odd(pickle.Pickler):
        def persistent_id(self, obj):
            return ("module", "os", "system", "cpu", 1) if obj == "x" else None

    buf = io.BytesIO()
    Odd(buf, protocol=2).dump({"w": "x"})
    with pytest.raises(Refused, match="persistent id"):
        load_tensors(buf.getvalue(), "m.bin")
