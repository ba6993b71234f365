"""The tensor-container interface, and what its float implementations share.

A container lists its tensors (name, shape, dtype, byte span) and yields one tensor's rows in
blocks; it reads through byte sources (:mod:`embcli.read.byte_source`) and never decides whether
they are local or remote. One implementation per format: ``safetensors_container`` (single file
and sharded), ``pytorch_container`` (``.bin`` zip archives), ``wordvectors`` (word2vec, GloVe,
fastText), GGUF. :class:`FileSet` is the part the checkpoint formats share: tensors spread over
one or more files, found through an index file (``*.index.json``) or by reading each file's
header, so a shard that does not hold a wanted tensor is never opened.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

import numpy as np

from embcli.errors import EmbcliError
from embcli.read.byte_source import ByteSource

if TYPE_CHECKING:
    from embcli.read.facts import ModelFacts
    from embcli.read.vocabulary import Vocabulary

#: dtype (safetensors spelling) -> (numpy dtype holding the raw little-endian bytes, bytes each)
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


@dataclass(frozen=True)
class TensorInfo:
    """Where one tensor lives: its file and absolute byte range, its dtype and shape.

    ``shape`` is in numpy row-major order: an embedding table is ``(rows, width)``.
    """

    name: str
    shape: tuple[int, ...]
    dtype: str  # "F32" "F16" "BF16" "F64" (safetensors spelling), or a GGUF type name
    file: str  # name of the ByteSource holding it
    start: int  # absolute offset of the first byte in that file
    end: int  # one past the last byte

    @property
    def nbytes(self) -> int:
        return self.end - self.start


class Container(Protocol):
    """The tensors of one checkpoint or vector file."""

    @property
    def format(self) -> str:
        """ "safetensors", "pytorch", "word2vec text", "GloVe text", "word2vec binary"..."""
        ...

    def names(self) -> list[str]:
        """Every tensor name; cheap (an index, or the headers)."""
        ...

    def file_of(self, name: str) -> str:
        """The file holding ``name``, from what :meth:`names` read (no other file is opened)."""
        ...

    def info(self, name: str) -> TensorInfo:
        """One tensor's facts; reads only the header of the file holding it."""
        ...

    def rows(self, name: str, block_rows: int) -> Iterator[tuple[int, np.ndarray]]:
        """``(first row, float32 [n, width])`` blocks in order, exact; never the whole tensor."""
        ...

    def vocabulary(self) -> Vocabulary | None:
        """A vocabulary stored in the container (GGUF metadata, word-vector words), or None."""
        ...

    def facts(self) -> ModelFacts | None:
        """Model facts stored in the container, or None when they come from config.json."""
        ...

    # Optional: ``describe() -> dict[str, Any]``, the facts of the container's own format the
    # cache entry keeps, keyed by section (``{"gguf": {...}}``); see :func:`describe`.


def describe(container: Container) -> dict[str, Any]:
    """The format-specific facts a container gives about itself, by section name
    (``{"gguf": quantisation, context, totals}``, ``{"static": layout and recipe}``); ``{}``
    for a container that gives none. Each section is kept in the entry's metadata under its
    name, and ``info --format json`` reports it under that key."""
    own = getattr(container, "describe", None)
    return dict(own()) if callable(own) else {}


def to_float32(raw: np.ndarray, dtype: str) -> np.ndarray:
    """Convert a block of raw values (as held by :data:`RAW_DTYPES`) to float32.

    bfloat16 is the top half of a float32, so widening is a 16-bit left shift of the bits.
    """
    if dtype == "BF16":
        return (raw.astype(np.uint32) << 16).view(np.float32)
    return np.asarray(raw, dtype=np.float32)


def check_float(info: TensorInfo) -> None:
    if info.dtype not in FLOAT_DTYPES:
        raise EmbcliError(
            f"tensor {info.name!r} has dtype {info.dtype}; embcli reads float tables only "
            "(F32, F16, BF16, F64)"
        )


def float_rows(
    source: ByteSource, info: TensorInfo, block_rows: int
) -> Iterator[tuple[int, np.ndarray]]:
    """The rows of a row-major float tensor: memory-mapped when local, streamed when remote.

    Only the block being converted is in memory (beside the page cache of a mapped file), which
    bounds peak memory whatever the size of the rest of the checkpoint. A remote tensor's bytes
    are cut into blocks as they arrive.
    """
    check_float(info)
    return stored_rows(source, info, block_rows)


def stored_rows(
    source: ByteSource, info: TensorInfo, block_rows: int
) -> Iterator[tuple[int, np.ndarray]]:
    """:func:`float_rows` for any dtype of :data:`RAW_DTYPES`, widened to float32 unchecked.

    For containers whose tables are stored as integers on purpose (model2vec's int8 tables).
    """
    raw_dtype, width = RAW_DTYPES[info.dtype]
    inner = info.shape[1:]
    if source.path is not None:
        raw = np.memmap(source.path, dtype=raw_dtype, mode="r", offset=info.start, shape=info.shape)
        for lo in range(0, info.shape[0], block_rows):
            yield lo, to_float32(raw[lo : lo + block_rows], info.dtype)
        del raw
        return
    block_bytes = width * int(np.prod(inner)) * block_rows
    pending = bytearray()
    row = 0
    for chunk in source.stream(info.start, info.end):
        pending += chunk
        while len(pending) >= block_bytes:
            yield row, _block(pending[:block_bytes], raw_dtype, info)
            del pending[:block_bytes]
            row += block_rows
    if pending:
        yield row, _block(pending, raw_dtype, info)


def _block(data: bytearray, raw_dtype: str, info: TensorInfo) -> np.ndarray:
    flat = np.frombuffer(bytes(data), dtype=raw_dtype)
    return to_float32(flat.reshape(-1, *info.shape[1:]), info.dtype)


@dataclass(eq=False)
class FileSet:
    """Tensors spread over files named in an index (``weight_map``), or one file's tensors.

    Subclasses say how one file lists its tensors (:meth:`read_file`). Files are opened lazily
    and each at most once; with an index, only the files holding the tensors asked about are.
    """

    format: ClassVar[str] = "?"
    label: str  # the source's label, for messages
    files: list[str]  # the weight files (used when there is no index)
    index: Path | None  # ``*.index.json``: tensor name -> file
    _open_file: Callable[[str], ByteSource]
    _weight_map: dict[str, str] | None = field(default=None, init=False, repr=False)
    _tensors: dict[str, Mapping[str, TensorInfo]] = field(
        default_factory=dict, init=False, repr=False
    )

    def read_file(self, source: ByteSource) -> Mapping[str, TensorInfo]:
        """The tensors of one file (a mapping may compute each one's span when asked)."""
        raise NotImplementedError

    def weight_map(self) -> dict[str, str]:
        """tensor name -> file name, from the index when there is one (no file is opened)."""
        if self._weight_map is None:
            if self.index is not None:
                try:
                    data = json.loads(self.index.read_text(encoding="utf-8"))
                    self._weight_map = {str(k): str(v) for k, v in data["weight_map"].items()}
                except (OSError, ValueError, KeyError, AttributeError) as exc:
                    raise EmbcliError(f"cannot read {self.index.name}: {exc}") from None
            else:
                self._weight_map = {}
                for file in self.files:
                    for name in self._file_tensors(file):
                        self._weight_map[name] = file
        return self._weight_map

    def names(self) -> list[str]:
        return list(self.weight_map())

    def file_of(self, name: str) -> str:
        try:
            return self.weight_map()[name]
        except KeyError:
            raise EmbcliError(f"no tensor named {name!r} in {self.label}") from None

    def source(self, name: str) -> ByteSource:
        """The byte source of the file holding ``name``."""
        return self._open_file(self.file_of(name))

    def info(self, name: str) -> TensorInfo:
        file = self.file_of(name)
        tensors = self._file_tensors(file)
        if name not in tensors:
            raise EmbcliError(f"{file} does not contain {name!r} although the index says so")
        return tensors[name]

    def rows(self, name: str, block_rows: int) -> Iterator[tuple[int, np.ndarray]]:
        return float_rows(self.source(name), self.info(name), block_rows)

    def vocabulary(self) -> Vocabulary | None:
        return None

    def facts(self) -> ModelFacts | None:
        return None

    def _file_tensors(self, file: str) -> Mapping[str, TensorInfo]:
        if file not in self._tensors:
            self._tensors[file] = self.read_file(self._open_file(file))
        return self._tensors[file]
