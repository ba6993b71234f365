"""The safetensors reader itself (``read/safetensors_container.py``): the header against the
safetensors library's own reading, byte ranges that hold exactly the tensors written, and each
kind of damaged header refused in one line, with the numbers the file itself gives.
"""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest
from safetensors import safe_open
from safetensors.numpy import save_file

from embcli.errors import EmbcliError
from embcli.read.byte_source import LocalFile
from embcli.read.safetensors_container import parse_header, read_header

TENSORS = {
    "embed.weight": np.arange(7 * 5, dtype=np.float32).reshape(7, 5) / 3,
    "half": np.linspace(-2, 2, 12, dtype=np.float16).reshape(3, 4),
    "steps": np.arange(6, dtype=np.int64),
    "scalar": np.array(2.5, dtype=np.float64),
}
SPELLED = {np.float32: "F32", np.float16: "F16", np.int64: "I64", np.float64: "F64"}


@pytest.fixture
def written(tmp_path):
    path = tmp_path / "model.safetensors"
    save_file(TENSORS, str(path), metadata={"format": "pt"})
    return path


def test_header_and_byte_ranges_equal_what_safetensors_wrote(written):
    tensors = read_header(LocalFile(written))
    assert sorted(tensors) == sorted(TENSORS)  # __metadata__ is not a tensor
    blob = written.read_bytes()
    with safe_open(str(written), framework="np") as f:
        for name, info in tensors.items():
            ref = f.get_tensor(name)
            assert info.shape == ref.shape == TENSORS[name].shape
            assert info.dtype == SPELLED[ref.dtype.type] and info.file == written.name
            # The absolute byte range holds exactly the tensor's bytes.
            got = np.frombuffer(blob[info.start : info.end], ref.dtype).reshape(ref.shape)
            np.testing.assert_array_equal(got, TENSORS[name])
            assert info.end - info.start == ref.nbytes


def header_bytes(header: dict) -> bytes:
    raw = json.dumps(header).encode()
    return struct.pack("<Q", len(raw)) + raw


def one_line(exc: pytest.ExceptionInfo) -> str:
    line = exc.value.one_line()
    assert "\n" not in line
    return line


def test_a_truncated_file_names_the_tensor_and_the_missing_bytes(written):
    blob = written.read_bytes()
    (hlen,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8 : 8 + hlen])
    name, entry = max(
        ((n, e) for n, e in header.items() if n != "__metadata__"),
        key=lambda item: item[1]["data_offsets"][1],
    )
    cut = len(blob) - 3
    written.write_bytes(blob[:cut])
    with pytest.raises(EmbcliError) as err:
        read_header(LocalFile(written))
    needs = 8 + hlen + entry["data_offsets"][1]
    assert f"tensor {name!r} needs bytes up to {needs:,} but the file has {cut:,}" in one_line(err)


@pytest.mark.parametrize(
    ("blob", "size", "needle"),
    [
        (b"\x01\x02", None, "is not a safetensors file (only 2 bytes)"),
        (struct.pack("<Q", 10**9) + b"{}", None, "header length 1000000000 is impossible"),
        (struct.pack("<Q", 50) + b"{}", 40, "header length 50 is impossible"),
        (struct.pack("<Q", 50) + b"{}", None, "header incomplete (2 of 50 bytes read)"),
        (struct.pack("<Q", 4) + b"{no}", None, "header is not valid JSON"),
        (struct.pack("<Q", 4) + b"\xff\xfe{}", None, "header is not valid JSON"),
        (header_bytes([1, 2]), None, "header is not a JSON object"),
        (header_bytes({"w": {"dtype": "F32", "shape": [2]}}), None, "malformed header entry"),
        (header_bytes({"w": {"dtype": "F32", "shape": "x", "data_offsets": [0, 8]}}), None,
         "malformed header entry for tensor 'w'"),
        (header_bytes({"w": {"dtype": "F32", "shape": [3, 2], "data_offsets": [0, 20]}}), None,
         "tensor 'w' byte range does not match its shape"),
    ],
)  # fmt: skip
def test_damaged_headers_are_one_line(blob, size, needle):
    with pytest.raises(EmbcliError) as err:
        parse_header(blob, "m.safetensors", size)
    line = one_line(err)
    assert line.startswith("m.safetensors") and needle in line


def test_a_dtype_it_cannot_size_is_still_listed():
    # Types embcli does not read as rows (say F8_E4M3) are facts all the same: the table
    # may sit beside them in one file.
    blob = header_bytes({"x": {"dtype": "F8_E4M3", "shape": [4], "data_offsets": [0, 4]}})
    (info,) = parse_header(blob, "m.safetensors", len(blob) + 4).values()
    assert info.dtype == "F8_E4M3" and info.shape == (4,)
    assert info.start == len(blob) and info.end == len(blob) + 4
