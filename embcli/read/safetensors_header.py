"""Read a safetensors header and memory-map a single tensor.

A safetensors file is ``<u64 little-endian header length><JSON header><raw bytes>``; the header
maps each tensor name to its dtype, shape and byte range inside the raw area. Reading the header
costs one small read, which is what lets embcli find the embedding table in a multi-gigabyte
checkpoint without touching the other weights.

We parse the header here rather than through ``safetensors.safe_open`` because (a) its numpy
backend cannot return bfloat16, the dtype of most modern checkpoints, (b) we need the absolute
byte offsets to memory-map one tensor and, for the Hub, to request just that byte range, and (c)
validating offsets against the file size is how a truncated download is caught before any use.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from embcli.errors import EmbcliError

#: safetensors dtype -> (numpy dtype used to hold the raw bytes, bytes per element)
RAW_DTYPES: dict[str, tuple[str, int]] = {
    "F64": ("<f8", 8),
    "F32": ("<f4", 4),
    "F16": ("<f2", 2),
    "BF16": ("<u2", 2),  # numpy has no bfloat16: keep the bits, widen to float32 on read
    "I64": ("<i8", 8),
    "I32": ("<i4", 4),
    "I16": ("<i2", 2),
    "I8": ("i1", 1),
    "U8": ("u1", 1),
    "BOOL": ("?", 1),
}
FLOAT_DTYPES = ("F64", "F32", "F16", "BF16")
MAX_HEADER_BYTES = 100_000_000  # the format's own limit


@dataclass(frozen=True)
class TensorEntry:
    """Where one tensor lives: file, dtype, shape and absolute byte range."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    file: Path
    start: int  # absolute offset of the first byte in the file
    end: int  # absolute offset one past the last byte

    @property
    def nbytes(self) -> int:
        return self.end - self.start


def parse_header(blob: bytes, file: Path, file_size: int | None) -> dict[str, TensorEntry]:
    """Parse ``blob`` (the file's first bytes, at least the whole header) into entries.

    ``file_size`` (when known) is checked against every tensor's byte range, so a truncated file
    is reported here with the number of missing bytes instead of failing later inside numpy.
    """
    where = file.name
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
    entries: dict[str, TensorEntry] = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        try:
            dtype = info["dtype"]
            shape = tuple(int(d) for d in info["shape"])
            lo, hi = (int(x) for x in info["data_offsets"])
        except (KeyError, TypeError, ValueError):
            raise EmbcliError(f"{where}: malformed header entry for tensor {name!r}") from None
        entry = TensorEntry(name, dtype, shape, file, base + lo, base + hi)
        if dtype in RAW_DTYPES and entry.nbytes != int(np.prod(shape)) * RAW_DTYPES[dtype][1]:
            raise EmbcliError(f"{where}: tensor {name!r} byte range does not match its shape")
        if file_size is not None and entry.end > file_size:
            raise EmbcliError(
                f"{where} is truncated: tensor {name!r} needs bytes up to {entry.end:,} "
                f"but the file has {file_size:,}",
                "download or copy the file again",
            )
        entries[name] = entry
    return entries


def read_header(path: Path) -> dict[str, TensorEntry]:
    """Read only the header of a local safetensors file (one or two small reads)."""
    try:
        size = path.stat().st_size
        with path.open("rb") as fh:
            head = fh.read(8)
            if len(head) == 8:
                (hlen,) = struct.unpack("<Q", head)
                if hlen <= MAX_HEADER_BYTES and 8 + hlen <= size:
                    head += fh.read(hlen)
    except OSError as exc:
        raise EmbcliError(f"cannot read {path}: {exc.strerror or exc}") from None
    return parse_header(head, path, size)


def memmap_tensor(entry: TensorEntry) -> np.memmap:
    """Memory-map the raw bytes of ``entry`` (bf16 comes back as uint16 bit patterns)."""
    if entry.dtype not in FLOAT_DTYPES:
        raise EmbcliError(
            f"tensor {entry.name!r} has dtype {entry.dtype}; embcli reads float tables only "
            "(F32, F16, BF16, F64)"
        )
    raw = RAW_DTYPES[entry.dtype][0]
    return np.memmap(entry.file, dtype=raw, mode="r", offset=entry.start, shape=entry.shape)


def to_float32(raw: np.ndarray, dtype: str) -> np.ndarray:
    """Convert a block of raw values (as from :func:`memmap_tensor`) to float32.

    bfloat16 is the top half of a float32, so widening is a 16-bit left shift of the bits.
    """
    if dtype == "BF16":
        return (raw.astype(np.uint32) << 16).view(np.float32)
    return np.asarray(raw, dtype=np.float32)
