"""PyTorch ``.bin`` checkpoints, read by byte ranges without torch and without running code.

``torch.save`` (since PyTorch 1.6) writes a zip archive: ``<name>/data.pkl``, the pickled state
dict, whose tensors refer to storages by key; ``<name>/data/<key>``, each storage's raw bytes,
stored uncompressed and 64-byte aligned; ``<name>/byteorder``. So a table can be read like a
safetensors tensor: the zip's end records and central directory (the last bytes of the file;
:mod:`zipfile` parses them through a file object whose reads are byte-source reads, and never
reads a member), then ``data.pkl`` (unpickled by :mod:`embcli.read.torch_pickle`, which maps
tensor names to storages and runs nothing), then one storage's local header (30 bytes) and its
bytes. On the Hub that is the directory, the pickle and the table, not the file; Pythia's
training checkpoints, for one, exist only as ``.bin``.

Two cases still need ``torch.load``, and only with ``--allow-pickle`` (full unpickling runs
code): the legacy format written before 1.6 (one pickle stream, no archive), and a pickle that
asks for more than tensors and plain containers. A remote file is then downloaded whole, to a
scratch directory removed at exit.
"""

from __future__ import annotations

import io
import struct
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from embcli.errors import EmbcliError
from embcli.read.byte_source import ByteSource
from embcli.read.container import FileSet, TensorInfo, check_float, float_rows
from embcli.read.source import PYTORCH_INDEX, Source, index_file, top_level_names
from embcli.read.torch_pickle import NESTED_KEYS, Refused, Tensor, load_tensors

if TYPE_CHECKING:
    from embcli.read.byte_source import Notice

LOCAL_HEADER = struct.Struct("<4s5H3L2H")  # a zip local file header: 30 bytes
#: The zip64 end record (56 bytes), its locator (20) and the end record (22): torch.save always
#: writes all three, so one read of the last 98 bytes finds the central directory.
TAIL_BYTES = 98
TRUST_HINT = "if you trust its author, re-run with --allow-pickle (torch.load: it runs code)"
_TORCH_TO_ST = {
    "torch.float32": "F32",
    "torch.float16": "F16",
    "torch.bfloat16": "BF16",
    "torch.float64": "F64",
}


@dataclass(eq=False)
class PyTorchContainer(FileSet):
    """``pytorch_model.bin`` or its shards; zip archives by ranges, legacy files by torch."""

    format: ClassVar[str] = "pytorch"
    allow_pickle: bool = False
    #: file -> its tensors as ``torch.load`` returned them (``--allow-pickle`` only)
    _loaded: dict[str, dict[str, Any]] = field(default_factory=dict, init=False, repr=False)
    _archives: dict[str, TorchArchive] = field(default_factory=dict, init=False, repr=False)

    def read_file(self, source: ByteSource) -> Mapping[str, TensorInfo]:
        try:
            archive = TorchArchive(source)
            self._archives[source.name] = archive
            return archive
        except Refused as refused:
            if not self.allow_pickle:
                raise EmbcliError(
                    f"{source.name}: its pickle asks for {refused.what}, which a checkpoint of "
                    "tensors never needs; refused without running it",
                    TRUST_HINT,
                ) from None
        except LegacyFormat:
            if not self.allow_pickle:
                raise EmbcliError(
                    f"{source.name} is a PyTorch file in the legacy (pre-1.6) format, which can "
                    "only be read by unpickling it",
                    TRUST_HINT,
                ) from None
        return self._torch_load(source)

    def rows(self, name: str, block_rows: int) -> Iterator[tuple[int, np.ndarray]]:
        file = self.file_of(name)
        if file in self._loaded:
            return _torch_rows(self._loaded[file][name], block_rows)
        info = self.info(name)
        check_float(info)
        tensor = self._archives[file].tensors[name]
        if tensor.row_major:
            return float_rows(self.source(name), info, block_rows)
        if not self.allow_pickle:
            raise EmbcliError(
                f"tensor {name!r} in {file} is not stored row by row (strides {tensor.stride} "
                f"for shape {tensor.shape})",
                "re-save it with .contiguous(), or re-run with --allow-pickle to use torch.load",
            )
        self._torch_load(self.source(name))
        return _torch_rows(self._loaded[file][name], block_rows)

    def _torch_load(self, source: ByteSource) -> dict[str, TensorInfo]:
        """Read a whole file with ``torch.load`` (``--allow-pickle`` only)."""
        state = load_torch_state(source.local_copy())
        self._loaded[source.name] = state
        infos = {}
        for name, t in state.items():
            dtype = _TORCH_TO_ST.get(str(t.dtype), str(t.dtype))
            nbytes = int(t.numel()) * int(t.element_size())
            infos[name] = TensorInfo(name, tuple(t.shape), dtype, source.name, 0, nbytes)
        return infos


class LegacyFormat(Exception):
    """A PyTorch file written in the pre-1.6 format (a bare pickle stream)."""


class TorchArchive(Mapping[str, TensorInfo]):
    """The tensors of one ``torch.save`` zip archive, as byte spans of its storage records.

    Opening it reads the central directory and ``data.pkl``; a tensor's span is known once its
    storage's local header has been read (30 bytes, when the tensor is first asked about).
    """

    def __init__(self, source: ByteSource) -> None:
        self.source = source
        self.name = source.name
        members = self._directory()
        pickles = [m for m in members if m.count("/") == 1 and m.endswith("/data.pkl")]
        if len(pickles) != 1:
            raise EmbcliError(f"{self.name} is a zip archive but not a PyTorch checkpoint")
        self.prefix = pickles[0].removesuffix("data.pkl")
        self.members = members
        order = members.get(self.prefix + "byteorder")
        # The record holds "little" or "big" (torch.load assumes little without one); its size
        # says which without reading it.
        if order is not None and order.file_size == len("big"):
            raise EmbcliError(f"{self.name} was saved big-endian; embcli reads little-endian only")
        if order is not None and order.file_size != len("little"):
            raise EmbcliError(f"{self.name}: its byteorder record is neither little nor big")
        pkl = self._span(members[pickles[0]])
        data = source.read(*pkl)
        if len(data) != pkl[1] - pkl[0]:
            raise EmbcliError(f"{self.name} is truncated (in data.pkl)")
        self.tensors: dict[str, Tensor] = load_tensors(data, self.name)
        self._starts: dict[str, int] = {}

    # -- the Mapping: tensor name -> TensorInfo ------------------------------------------------
    def __getitem__(self, name: str) -> TensorInfo:
        tensor = self.tensors[name]
        storage = tensor.storage
        item = tensor.dtype.itemsize
        record = self.members.get(f"{self.prefix}data/{storage.key}")
        if record is None:
            raise EmbcliError(f"{self.name}: tensor {name!r} names a storage the archive lacks")
        start, end = self._storage_span(storage.key, record)
        if end - start != storage.nbytes:
            raise EmbcliError(f"{self.name}: the storage of tensor {name!r} has the wrong size")
        first = start + tensor.offset * item
        extent = 1 + sum((n - 1) * s for n, s in zip(tensor.shape, tensor.stride, strict=True))
        last = first + (extent if all(tensor.shape) else 0) * item
        if last > end:
            raise EmbcliError(f"{self.name}: tensor {name!r} runs past its storage")
        return TensorInfo(name, tensor.shape, tensor.dtype.name, self.name, first, last)

    def __iter__(self) -> Iterator[str]:
        return iter(self.tensors)

    def __len__(self) -> int:
        return len(self.tensors)

    def __contains__(self, name: object) -> bool:
        return name in self.tensors

    # -- the archive --------------------------------------------------------------------------
    def _directory(self) -> dict[str, zipfile.ZipInfo]:
        """The central directory, read through :class:`_RangeReader` (the file's last bytes)."""
        reader = _RangeReader(self.source)
        try:
            with zipfile.ZipFile(reader) as archive:
                members = {info.filename: info for info in archive.infolist()}
        except (zipfile.BadZipFile, ValueError, EOFError, struct.error):
            # a directory that does not parse (zipfile's own checks, names that do not decode,
            # records of the wrong size)
            head = self.source.read(0, 4)
            if head[:1] == b"\x80":  # a pickle's PROTO opcode: torch's legacy format
                raise LegacyFormat(self.name) from None
            if head[:2] == b"PK":
                raise EmbcliError(
                    f"{self.name} is truncated or corrupt (no zip directory at its end)",
                    "download or copy the file again",
                ) from None
            raise EmbcliError(f"{self.name} is not a PyTorch checkpoint") from None
        except _OutsideFile:
            raise EmbcliError(
                f"{self.name} is not a readable zip archive: its directory points outside the file",
                "download or copy the file again",
            ) from None
        size = self.source.size() or 0
        for info in members.values():
            if not 0 <= info.header_offset < size:
                raise EmbcliError(
                    f"{self.name} is not a readable zip archive: its directory places "
                    f"{info.filename} at byte {info.header_offset:,}, outside the file's "
                    f"{size:,} bytes",
                    "download or copy the file again",
                )
        return members

    def _span(self, info: zipfile.ZipInfo) -> tuple[int, int]:
        """The byte range of one member's data (its local header read, nothing else)."""
        if info.compress_type != zipfile.ZIP_STORED or info.compress_size != info.file_size:
            raise EmbcliError(f"{self.name}: {info.filename} is compressed; torch.save never is")
        header = self.source.read(info.header_offset, info.header_offset + LOCAL_HEADER.size)
        if len(header) < LOCAL_HEADER.size:
            raise EmbcliError(f"{self.name} is truncated (at {info.filename})")
        fields = LOCAL_HEADER.unpack(header)
        if fields[0] != b"PK\x03\x04":
            raise EmbcliError(f"{self.name}: no local header where {info.filename} should be")
        start = info.header_offset + LOCAL_HEADER.size + fields[9] + fields[10]
        end = start + info.file_size
        size = self.source.size()
        if size is not None and end > size:
            raise EmbcliError(
                f"{self.name} is truncated: {info.filename} needs bytes up to {end:,} but the "
                f"file has {size:,}",
                "download or copy the file again",
            )
        return start, end

    def _storage_span(self, key: str, info: zipfile.ZipInfo) -> tuple[int, int]:
        if key not in self._starts:
            self._starts[key] = self._span(info)[0]
        return self._starts[key], self._starts[key] + info.file_size


class _OutsideFile(Exception):
    """zipfile asked for a position before the file's start: its records point outside it."""


class _RangeReader(io.RawIOBase):
    """A read-only file object over a byte source, for :mod:`zipfile`'s directory parsing.

    zipfile seeks to the end, reads the end records backwards, then the central directory in one
    read; the last :data:`TAIL_BYTES` are fetched once and served from memory.
    """

    def __init__(self, source: ByteSource) -> None:
        self.source = source
        size = source.size()
        if size is None:
            raise EmbcliError(f"cannot tell the size of {source.name}")
        self.end = size
        self.pos = 0
        self.tail_start = max(0, size - TAIL_BYTES)
        self.tail: bytes | None = None

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.pos, io.SEEK_END: self.end}[whence]
        if base + offset < 0:
            raise _OutsideFile()
        self.pos = base + offset
        return self.pos

    def readinto(self, buffer: Any) -> int:
        want = min(len(buffer), max(0, self.end - self.pos))
        if want == 0:
            return 0
        stop = self.pos + want
        data = b""
        if self.pos < self.tail_start:
            data = self.source.read(self.pos, min(stop, self.tail_start))
        if stop > self.tail_start:
            if self.tail is None:
                self.tail = self.source.read(self.tail_start, self.end)
            data += self.tail[max(0, self.pos - self.tail_start) : stop - self.tail_start]
        buffer[: len(data)] = data
        self.pos += len(data)
        return len(data)


def _torch_rows(tensor: Any, block_rows: int) -> Iterator[tuple[int, np.ndarray]]:
    import torch

    for lo in range(0, tensor.shape[0], block_rows):
        yield lo, tensor[lo : lo + block_rows].to(torch.float32).numpy()


def load_torch_state(path: Path) -> dict[str, Any]:
    """``torch.load`` with full unpickling (only with ``--allow-pickle``): the tensors.

    Memory-mapped where the format allows (the zip archive), read whole otherwise (legacy).
    """
    try:
        import torch
    except ImportError:
        raise EmbcliError(
            f"{path.name} can only be read by torch.load, and torch is not installed",
            "pip install torch, or convert the model to safetensors",
        ) from None
    try:
        try:
            state = torch.load(path, map_location="cpu", weights_only=False, mmap=True)
        except RuntimeError as exc:
            if "mmap" not in str(exc):  # the legacy format cannot be memory-mapped
                raise
            state = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise EmbcliError(f"cannot read {path.name}: {first}") from None
    while isinstance(state, dict) and not any(isinstance(v, torch.Tensor) for v in state.values()):
        nested = next((state[k] for k in NESTED_KEYS if isinstance(state.get(k), dict)), None)
        if nested is None:
            break
        state = nested
    if not isinstance(state, dict):
        raise EmbcliError(f"{path.name} does not hold a state dict of tensors")
    return {k: v for k, v in state.items() if isinstance(v, torch.Tensor)}


# -- the format registry's two functions (embcli.read.formats) ----------------------------------


def _pickles(names: list[str]) -> list[str]:
    return [n for n in names if n.endswith(".bin") and n.startswith(("pytorch_model", "model"))]


def detect(source: Source) -> bool:
    """``pytorch_model.bin``, or shards with their index."""
    names = top_level_names(source)
    return PYTORCH_INDEX in names or bool(_pickles(names))


def from_source(source: Source, allow_pickle: bool, notice: Notice | None) -> PyTorchContainer:
    names = top_level_names(source)
    index = index_file(source, PYTORCH_INDEX, names)
    return PyTorchContainer(source.label, _pickles(names), index, source.file, allow_pickle)
