"""safetensors checkpoints: one file, or shards listed in ``model.safetensors.index.json``.

A safetensors file is ``<u64 little-endian header length><JSON header><raw bytes>``; the header
maps each tensor name to its dtype, shape and byte range inside the raw area. Reading the header
costs two small reads, which is what lets embcli find the embedding table in a multi-gigabyte
checkpoint (or on the Hub) without touching the other weights.

We parse the header here rather than through ``safetensors.safe_open`` because (a) its numpy
backend cannot return bfloat16, the dtype of most modern checkpoints, (b) we need the absolute
byte offsets to memory-map one tensor and, for the Hub, to request just that byte range, and (c)
validating offsets against the file size is how a truncated download is caught before any use.
"""

from __future__ import annotations

import json
import struct
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from embcli.errors import EmbcliError
from embcli.read.byte_source import ByteSource
from embcli.read.container import RAW_DTYPES, FileSet, TensorInfo
from embcli.read.source import SAFETENSORS_INDEX, Source, index_file, top_level_names

if TYPE_CHECKING:
    from embcli.read.byte_source import Notice

MAX_HEADER_BYTES = 100_000_000  # the format's own limit


class SafetensorsContainer(FileSet):
    format: ClassVar[str] = "safetensors"

    def read_file(self, source: ByteSource) -> dict[str, TensorInfo]:
        return read_header(source)


def read_header(source: ByteSource) -> dict[str, TensorInfo]:
    """Every tensor of one safetensors file, from its header (one or two small reads)."""
    head = source.read(0, 8)
    size = source.size()
    if len(head) == 8:
        (hlen,) = struct.unpack("<Q", head)
        if hlen <= MAX_HEADER_BYTES and (size is None or 8 + hlen <= size):
            head += source.read(8, 8 + hlen)
    return parse_header(head, source.name, source.size())


def parse_header(blob: bytes, where: str, file_size: int | None) -> dict[str, TensorInfo]:
    """Parse ``blob`` (the file's first bytes, at least the whole header) into tensor facts.

    ``file_size`` (when known) is checked against every tensor's byte range, so a truncated file
    is reported here with the number of missing bytes instead of failing later inside numpy.
    """
    if len(blob) < 8:
        raise EmbcliError(f"{where} is not a safetensors file (only {len(blob)} bytes)")
    (hlen,) = struct.unpack("<Q", blob[:8])
    if hlen > MAX_HEADER_BYTES or (file_size is not None and 8 + hlen > file_size):
        raise EmbcliError(
            f"{where} is not a valid safetensors file (header length {hlen} is impossible)",
            "the file is truncated or corrupt: download it again",
        )
    if len(blob) < 8 + hlen:
        raise EmbcliError(f"{where}: header incomplete ({len(blob) - 8} of {hlen} bytes read)")
    try:
        header = json.loads(blob[8 : 8 + hlen])
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise EmbcliError(f"{where}: safetensors header is not valid JSON ({exc})") from None
    if not isinstance(header, dict):
        raise EmbcliError(f"{where}: safetensors header is not a JSON object")
    base = 8 + hlen
    tensors: dict[str, TensorInfo] = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        try:
            dtype = entry["dtype"]
            shape = tuple(int(d) for d in entry["shape"])
            lo, hi = (int(x) for x in entry["data_offsets"])
        except (KeyError, TypeError, ValueError):
            raise EmbcliError(f"{where}: malformed header entry for tensor {name!r}") from None
        info = TensorInfo(name, shape, dtype, where, base + lo, base + hi)
        if dtype in RAW_DTYPES and hi - lo != int(np.prod(shape)) * RAW_DTYPES[dtype][1]:
            raise EmbcliError(f"{where}: tensor {name!r} byte range does not match its shape")
        if file_size is not None and info.end > file_size:
            raise EmbcliError(
                f"{where} is truncated: tensor {name!r} needs bytes up to {info.end:,} "
                f"but the file has {file_size:,}",
                "download or copy the file again",
            )
        tensors[name] = info
    return tensors


# -- the format registry's two functions (embcli.read.formats) ----------------------------------


def detect(source: Source) -> bool:
    """``model.safetensors``, or shards with their index."""
    names = top_level_names(source)
    return SAFETENSORS_INDEX in names or any(n.endswith(".safetensors") for n in names)


def from_source(source: Source, allow_pickle: bool, notice: Notice | None) -> SafetensorsContainer:
    names = top_level_names(source)
    tensors = [n for n in names if n.endswith(".safetensors")]
    index = index_file(source, SAFETENSORS_INDEX, names)
    return SafetensorsContainer(source.label, tensors, index, source.file)
