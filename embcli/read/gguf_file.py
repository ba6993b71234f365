"""GGUF files (llama.cpp, Ollama, LM Studio): the header read lazily, one tensor's rows in blocks.

A GGUF file (version 3, little-endian) is::

    "GGUF" u32 version  u64 n_tensors  u64 n_kv
    n_kv x      (string key, u32 value type, value)          # metadata; arrays hold the vocabulary
    n_tensors x (string name, u32 n_dims, u64 dims[n_dims], u32 ggml type, u64 offset)
    padding to ``general.alignment`` (default 32), then the tensor data

Strings are a u64 length and UTF-8 bytes; an array is a u32 element type, a u64 count and the
elements. Dimensions are listed fastest-first (ggml order), so ``token_embd.weight`` stored as
``[n_embd, n_vocab]`` is a numpy ``(n_vocab, n_embd)`` table whose rows are contiguous: a row is
``n_embd / block_size * type_size`` bytes, and any run of rows is one byte range.

Why not ``gguf.GGUFReader``: it memory-maps the file and turns every element of every metadata
array into its own numpy array up front (about 10 s on a 150k-token vocabulary with its merges),
and it needs a local file, where embcli also reads GGUFs on the Hub by byte ranges. Here the
header is walked once through a byte source, fetched in growing chunks; scalars are decoded, and
each array is only located (:class:`GGUFArray`). The vocabulary builder asks for the few arrays it
needs with :meth:`GGUFFile.array`. The ``gguf`` package (llama.cpp's own) still supplies the type
tables and, through :func:`gguf.quants.dequantize`, the dequantisation of every block type.

:class:`GGUFModel` is the container (one file, or the shards of a split ``-00001-of-0000N.gguf``
set) with the methods of the reader seam's ``Container``: ``names``, ``info``, ``rows``,
``vocabulary``, ``facts``.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

import numpy as np

from embcli.errors import EmbcliError
from embcli.read.byte_source import ByteSource
from embcli.read.container import TensorInfo
from embcli.read.source import GgufFiles, HubGguf, Source

if TYPE_CHECKING:
    from embcli.read.byte_source import Notice
    from embcli.read.facts import ModelFacts
    from embcli.read.vocabulary import Vocabulary

MAGIC = b"GGUF"
VERSION = 3
DEFAULT_ALIGNMENT = 32
MAX_DIMS = 4  # GGML_MAX_DIMS
#: Arrays of arrays deeper than this are refused (llama.cpp's own reader takes none at all):
#: the header is walked by recursion, and a file's nesting must not set its depth.
MAX_ARRAY_NESTING = 16
#: The fewest bytes a metadata entry (empty key, type, one-byte value) and a tensor entry (empty
#: name, one dimension, type, offset) can take: counts in the header are checked against the
#: file's size with these before anything is looped over.
MIN_KV_BYTES = 8 + 4 + 1
MIN_TENSOR_BYTES = 8 + 4 + 8 + 4 + 8
TABLE = "token_embd.weight"
HEAD = "output.weight"
SPLIT_NAME = re.compile(r"^(?P<stem>.*)-(?P<no>\d{5})-of-(?P<count>\d{5})\.gguf$", re.IGNORECASE)

#: GGUF metadata value types: id -> (struct format, size). 8 (string) and 9 (array) are variable.
SCALARS: dict[int, tuple[str, int]] = {
    0: ("<B", 1),
    1: ("<b", 1),
    2: ("<H", 2),
    3: ("<h", 2),
    4: ("<I", 4),
    5: ("<i", 4),
    6: ("<f", 4),
    7: ("<?", 1),
    10: ("<Q", 8),
    11: ("<q", 8),
    12: ("<d", 8),
}
STRING, ARRAY = 8, 9
#: numpy dtypes of numeric array elements, for decoding a whole array at once
ARRAY_DTYPES = {0: "u1", 1: "i1", 2: "<u2", 3: "<i2", 4: "<u4", 5: "<i4", 6: "<f4", 7: "?",
                10: "<u8", 11: "<i8", 12: "<f8"}  # fmt: skip


@dataclass(frozen=True)
class GGUFArray:
    """Where a metadata array lies in the header; decoded only by :meth:`GGUFFile.array`."""

    element_type: int
    count: int
    start: int  # offset of the first element
    end: int  # one past the last


@dataclass(frozen=True)
class GGUFSummary:
    """What the metadata and the tensor directory say beyond :class:`ModelFacts`: what ``info``
    and ``size`` show of a GGUF (its quantisation, context length, totals over every shard)."""

    architecture: str
    name: str | None
    n_vocab: int  # tokens in the vocabulary (the table may have more rows)
    n_embd: int
    context_length: int | None
    block_count: int | None
    file_type: str | None  # the quantisation recipe named by general.file_type ("Q4_K_M")
    table_type: str  # the ggml type of token_embd.weight ("Q6_K")
    head_type: str | None  # of output.weight; None when tied
    tied: bool  # no output.weight: the head reuses the table
    table_bytes: int
    head_bytes: int | None
    n_params: int  # elements over all tensors of all shards
    n_bytes: int  # tensor bytes over all shards
    n_tensors: int
    shards: int
    tokenizer: str | None  # tokenizer.ggml.model ("llama", "gpt2", "bert", "t5"...)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# -- the type tables (from the gguf package) -----------------------------------------------------


def _require_gguf() -> None:
    """One line, not a traceback, when the ``gguf`` package (a dependency) has gone missing."""
    try:
        import gguf  # noqa: F401
    except ImportError:
        raise EmbcliError(
            "reading GGUF files needs the gguf package (llama.cpp's own)",
            "pip install gguf",
        ) from None


def _type_name(ggml_type: int) -> str | None:
    from gguf.constants import GGMLQuantizationType

    try:
        return GGMLQuantizationType(ggml_type).name
    except ValueError:
        return None


def _quant_size(ggml_type: int) -> tuple[int, int]:
    """(elements per block, bytes per block) of a known type."""
    from gguf.constants import GGML_QUANT_SIZES, GGMLQuantizationType

    return GGML_QUANT_SIZES[GGMLQuantizationType(ggml_type)]


def file_type_name(value: Any) -> str | None:
    """``general.file_type`` as llama.cpp names it: 15 -> ``"Q4_K_M"``, 1 -> ``"F16"``."""
    from gguf.constants import LlamaFileType

    if not isinstance(value, int) or isinstance(value, bool):
        return None
    try:
        name = LlamaFileType(value).name
    except ValueError:
        return f"file type {value}"
    return name.removeprefix("MOSTLY_").removeprefix("ALL_")


@cache
def can_dequantize(ggml_type: int) -> bool:
    """Whether the installed ``gguf`` package dequantises this type (tried on one zero block)."""
    from gguf.constants import GGMLQuantizationType
    from gguf.quants import dequantize

    if ggml_type == GGMLQuantizationType.F64:
        return True  # widened here: the package has no F64 path
    if _type_name(ggml_type) is None or _type_name(ggml_type) in ("I8", "I16", "I32", "I64"):
        return False
    _, type_size = _quant_size(ggml_type)
    try:
        dequantize(np.zeros((1, type_size), np.uint8), GGMLQuantizationType(ggml_type))
    except NotImplementedError:
        return False
    return True


def dequantize_rows(raw: np.ndarray, ggml_type: int) -> np.ndarray:
    """float32 rows from their stored bytes (uint8 ``(n, row_bytes)``), exactly as llama.cpp's
    ``gguf.quants.dequantize`` gives them; a new array, never a view of the file."""
    from gguf.constants import GGMLQuantizationType
    from gguf.quants import dequantize

    raw = np.asarray(raw)  # a plain view of a memory map, so results are plain arrays
    if ggml_type == GGMLQuantizationType.F64:
        return raw.view("<f8").astype(np.float32)
    out = dequantize(raw, GGMLQuantizationType(ggml_type))
    if ggml_type == GGMLQuantizationType.F32:
        return np.array(out, dtype=np.float32)  # dequantize returns a view of ``raw`` here
    return np.asarray(out, dtype=np.float32)


#: Values per ``dequantize`` call. The package's dequantisers make several temporaries the size
#: of their input; kept within the CPU caches they run 2-3x faster than on 8,192-row blocks
#: (measured: bench/gguf_first_query.py), and the pieces run in threads, since numpy releases
#: the GIL in its large operations.
SUB_VALUES = 1 << 19
MAX_THREADS = 8


class Dequantizer:
    """Dequantises blocks of rows in pieces of :data:`SUB_VALUES`, over a thread pool."""

    def __init__(self, ggml_type: int, width: int, threads: int | None = None) -> None:
        import os
        from concurrent.futures import ThreadPoolExecutor

        self.ggml_type, self.width = ggml_type, width
        self.piece = max(1, SUB_VALUES // max(1, width))  # rows per call
        self.threads = threads or min(MAX_THREADS, os.cpu_count() or 1)
        self.pool = ThreadPoolExecutor(self.threads) if self.threads > 1 else None

    def __call__(self, raw: np.ndarray) -> np.ndarray:
        """float32 rows of ``raw`` (uint8 ``(n, row_bytes)``), as :func:`dequantize_rows`."""
        n = raw.shape[0]
        if n <= self.piece:
            return dequantize_rows(raw, self.ggml_type)
        out = np.empty((n, self.width), np.float32)

        def one(lo: int) -> None:
            out[lo : lo + self.piece] = dequantize_rows(raw[lo : lo + self.piece], self.ggml_type)

        starts = range(0, n, self.piece)
        for _ in self.pool.map(one, starts) if self.pool else map(one, starts):
            pass  # each piece fills its rows of ``out``; an exception is raised here
        return out

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)


# -- one file's header ---------------------------------------------------------------------------


class _Short(Exception):
    """The header runs past the end of the file."""


class _HeaderBytes:
    """The first bytes of a file, fetched in growing chunks as the parser walks further.

    The header's length is known only once it has been walked (its arrays hold strings of any
    length), so reads start at 256 KiB and double up to 8 MiB; inside an array of strings (the
    vocabulary, its merges) the next read is sized from the array's strings so far, so a
    128k-token vocabulary with its merges (4 MB) takes a handful of requests on the Hub and
    little is fetched past the header's end (measured: bench/gguf_first_query.py).
    """

    FIRST = 256 * 1024
    MAX_STEP = 8 * 1024 * 1024
    MAX_AHEAD = 64 * 1024 * 1024

    def __init__(self, source: ByteSource) -> None:
        self.source = source
        self.buf = bytearray()
        self.step = self.FIRST
        self.eof = False

    def need(self, end: int, ahead: int | None = None) -> None:
        """Make sure bytes ``[0, end)`` are in ``buf``; raise :class:`_Short` past the file.

        ``ahead``: bytes past ``end`` to fetch in the same request (an estimate of what the
        parser will want next); by default the growing step.
        """
        while len(self.buf) < end:
            # A remote file's size comes with the first ranged answer; asking before it would
            # cost a request of its own.
            size = self.source.size() if self.buf or self.source.path is not None else None
            if self.eof or (size is not None and end > size):
                raise _Short()
            if ahead is None:
                stop = len(self.buf) + max(end - len(self.buf), self.step)
                self.step = min(self.step * 2, self.MAX_STEP)
            else:
                stop = end + min(max(0, ahead), self.MAX_AHEAD)
            if size is not None:
                stop = min(stop, size)
            got = self.source.read(len(self.buf), stop)
            if len(got) < stop - len(self.buf):
                self.eof = True
            self.buf += got

    def u32(self, pos: int) -> int:
        self.need(pos + 4)
        return struct.unpack_from("<I", self.buf, pos)[0]

    def u64(self, pos: int) -> int:
        self.need(pos + 8)
        return struct.unpack_from("<Q", self.buf, pos)[0]

    def string(self, pos: int) -> tuple[str, int]:
        n = self.u64(pos)
        self.need(pos + 8 + n)
        return self.buf[pos + 8 : pos + 8 + n].decode("utf-8", errors="replace"), pos + 8 + n

    def skip_strings(self, pos: int, count: int) -> int:
        """The offset past ``count`` strings starting at ``pos``, without decoding them.

        When the bytes run out, the next read covers the rest of the array as estimated from
        its strings so far (5% more, and 4 KiB), rather than the next doubling step.
        """
        buf = self.buf  # a bytearray: ``need`` extends it in place
        unpack = struct.Struct("<Q").unpack_from
        start = pos
        for k in range(count):
            if pos + 8 > len(buf):
                mean = (pos - start) / k if k else 64.0
                self.need(pos + 8, ahead=int(mean * (count - k) * 1.05) + 4096)
            pos += 8 + unpack(buf, pos)[0]
        self.need(pos)
        return pos


class GGUFFile:
    """The header of one GGUF file: metadata (arrays located, not decoded) and tensor infos."""

    def __init__(self, source: ByteSource) -> None:
        _require_gguf()
        self.source = source
        self.name = source.name
        head = _HeaderBytes(source)
        try:
            self._parse(head)
        except _Short:
            size = source.size()
            have = f"the file has {size:,} bytes" if size is not None else "the file ends early"
            raise EmbcliError(
                f"{self.name} is cut short inside its GGUF header ({have})",
                "the download or copy is incomplete: fetch the file again",
            ) from None
        # keep only the header: arrays are decoded from it later without another read
        self._head = bytes(head.buf[: self.header_end])
        self._check_spans()

    def _parse(self, head: _HeaderBytes) -> None:
        try:
            head.need(4)
        except _Short:
            size = self.source.size()
            got = self.source.read(0, 4) if size else b""
            what = f"{size:,} byte{'s' if size != 1 else ''}" if size is not None else "too short"
            if got and MAGIC.startswith(got):
                raise EmbcliError(
                    f"{self.name} is not a GGUF file yet: it is cut short at {what}, fewer than "
                    "a GGUF header's 24",
                    "the download or copy is incomplete: fetch the file again",
                ) from None
            raise EmbcliError(f"{self.name} is not a GGUF file (it has only {what})") from None
        magic = bytes(head.buf[:4])
        if magic != MAGIC:
            raise EmbcliError(f"{self.name} is not a GGUF file (it starts with {magic!r})")
        head.need(24)
        version = struct.unpack_from("<I", head.buf, 4)[0]
        if version & 0xFFFF == 0 and version != 0:
            raise EmbcliError(
                f"{self.name} is a big-endian GGUF file; embcli reads little-endian GGUF files "
                "(the kind llama.cpp writes on x86 and ARM)"
            )
        if version != VERSION:
            raise EmbcliError(
                f"{self.name} is GGUF version {version}; embcli reads version {VERSION}",
                "convert the model again with a current llama.cpp",
            )
        self.version = version
        n_tensors, n_kv = struct.unpack_from("<QQ", head.buf, 8)
        self._size = size = self.source.size()
        if size is not None and 24 + n_kv * MIN_KV_BYTES + n_tensors * MIN_TENSOR_BYTES > size:
            raise EmbcliError(
                f"{self.name} is cut short inside its GGUF header, or corrupt: it counts "
                f"{n_tensors:,} tensors and {n_kv:,} metadata entries, more than the file's "
                f"{size:,} bytes can hold",
                "the download or copy is incomplete, or the file is damaged: fetch it again",
            )
        pos = 24
        self.metadata: dict[str, Any] = {}
        for _ in range(n_kv):
            key, pos = head.string(pos)
            vtype = head.u32(pos)
            self.metadata[key], pos = self._value(head, pos + 4, vtype, key)
        align = self.metadata.get("general.alignment", DEFAULT_ALIGNMENT)
        if not isinstance(align, int) or align <= 0 or align & (align - 1):
            raise EmbcliError(f"{self.name}: general.alignment {align!r} is not a power of two")
        self.alignment = align
        entries = []
        for _ in range(n_tensors):
            name, pos = head.string(pos)
            n_dims = head.u32(pos)
            if not 1 <= n_dims <= MAX_DIMS:
                raise EmbcliError(f"{self.name}: tensor {name!r} has {n_dims} dimensions")
            head.need(pos + 4 + 8 * n_dims + 12)
            dims = struct.unpack_from(f"<{n_dims}Q", head.buf, pos + 4)
            ggml_type, offset = struct.unpack_from("<IQ", head.buf, pos + 4 + 8 * n_dims)
            pos += 4 + 8 * n_dims + 12
            entries.append((name, dims, ggml_type, offset))
        self.header_end = pos
        self.data_start = -(-pos // align) * align
        self.tensors: dict[str, TensorInfo] = {}
        self.types: dict[str, int] = {}  # tensor name -> ggml type id
        for name, dims, ggml_type, offset in entries:
            self.tensors[name] = self._tensor(name, dims, ggml_type, offset)
            self.types[name] = ggml_type

    def _value(
        self, head: _HeaderBytes, pos: int, vtype: int, key: str, depth: int = 0
    ) -> tuple[Any, int]:
        if vtype in SCALARS:
            fmt, width = SCALARS[vtype]
            head.need(pos + width)
            return struct.unpack_from(fmt, head.buf, pos)[0], pos + width
        if vtype == STRING:
            return head.string(pos)
        if vtype == ARRAY:
            etype, count = head.u32(pos), head.u64(pos + 4)
            start = pos + 12
            least = SCALARS[etype][1] if etype in SCALARS else {STRING: 8, ARRAY: 12}.get(etype, 0)
            size = self._size
            if size is not None and start + count * least > size:
                raise _Short()  # more elements than the rest of the file can hold
            if etype in SCALARS:
                end = start + count * SCALARS[etype][1]
                head.need(end)
            elif etype == STRING:
                end = head.skip_strings(start, count)
            elif etype == ARRAY:
                if depth + 2 > MAX_ARRAY_NESTING:  # the arrays inside are at level depth+2
                    raise EmbcliError(
                        f"{self.name}: metadata {key!r} holds arrays nested more than "
                        f"{MAX_ARRAY_NESTING} deep; refused"
                    )
                end = start
                for _ in range(count):
                    _, end = self._value(head, end, ARRAY, key, depth + 1)
            else:
                raise EmbcliError(
                    f"{self.name}: metadata {key!r} has arrays of unknown type {etype}"
                )
            return GGUFArray(etype, count, start, end), end
        raise EmbcliError(f"{self.name}: metadata {key!r} has unknown value type {vtype}")

    def _tensor(self, name: str, dims: tuple[int, ...], ggml_type: int, offset: int) -> TensorInfo:
        """A tensor's :class:`TensorInfo`: numpy shape (ggml's dims reversed), the ggml type's
        name as dtype (``"Q4_K"``); an id the gguf package does not know is ``"type N"`` with an
        unknown size (``start == end``), refused by :meth:`GGUFModel.info`."""
        shape = tuple(reversed(dims))
        start = self.data_start + offset
        type_name = _type_name(ggml_type)
        if type_name is None:
            return TensorInfo(name, shape, f"type {ggml_type}", self.name, start, start)
        block, type_size = _quant_size(ggml_type)
        if dims[0] % block:
            raise EmbcliError(
                f"{self.name}: tensor {name!r} rows of {dims[0]} values are not whole "
                f"{type_name} blocks of {block}"
            )
        count = 1
        for d in dims:
            count *= d
        end = start + count // block * type_size
        return TensorInfo(name, shape, type_name, self.name, start, end)

    def _check_spans(self) -> None:
        """A file cut in its tensor data is reported here, before any row is read."""
        size = self.source.size()
        if size is None:
            return
        if self.tensors and self.data_start > size:
            raise EmbcliError(
                f"{self.name}: its tensor data would start at byte {self.data_start:,} "
                f"(general.alignment {self.alignment:,}), past the end of the file "
                f"({size:,} bytes)"
            )
        for t in self.tensors.values():
            if t.end > size:
                raise EmbcliError(
                    f"{self.name} is cut short: tensor {t.name!r} needs bytes up to {t.end:,} "
                    f"but the file has {size:,}",
                    "the download or copy is incomplete: fetch the file again",
                )

    # -- metadata ---------------------------------------------------------------------------

    def get(self, key: str, default: Any = None) -> Any:
        """A scalar metadata value (arrays come back as :class:`GGUFArray`; see :meth:`array`)."""
        return self.metadata.get(key, default)

    def array(self, key: str) -> list[str] | np.ndarray | None:
        """One metadata array decoded: strings as a list, numbers as numpy; None if absent."""
        ref = self.metadata.get(key)
        if not isinstance(ref, GGUFArray):
            return None
        if ref.element_type in ARRAY_DTYPES:
            dtype = np.dtype(ARRAY_DTYPES[ref.element_type])
            return np.frombuffer(self._head, dtype, ref.count, ref.start).copy()
        if ref.element_type == STRING:
            out: list[str] = []
            head, pos = self._head, ref.start
            unpack = struct.Struct("<Q").unpack_from
            for _ in range(ref.count):
                n = unpack(head, pos)[0]
                out.append(head[pos + 8 : pos + 8 + n].decode("utf-8", errors="replace"))
                pos += 8 + n
            return out
        raise EmbcliError(f"{self.name}: metadata {key!r} is an array of arrays")

    def array_length(self, key: str) -> int | None:
        ref = self.metadata.get(key)
        return ref.count if isinstance(ref, GGUFArray) else None

    @property
    def architecture(self) -> str:
        arch = self.metadata.get("general.architecture")
        return arch if isinstance(arch, str) else "unknown"

    def split(self) -> tuple[int, int]:
        """(index from 0, count) within a split set; (0, 1) for a whole file."""
        no, count = self.metadata.get("split.no", 0), self.metadata.get("split.count", 1)
        if not isinstance(no, int) or not isinstance(count, int) or not 0 <= no < count:
            raise EmbcliError(f"{self.name}: split.no {no!r} / split.count {count!r} disagree")
        return no, count


def shard_names(name: str, count: int) -> list[str]:
    """The file names of a split set, from the name of any of its shards."""
    m = SPLIT_NAME.match(name)
    if m is None:
        raise EmbcliError(
            f"{name} is a shard of a split GGUF set of {count}, but its name does not end in "
            "-NNNNN-of-NNNNN.gguf, so the other shards cannot be found"
        )
    if int(m["count"]) != count:  # the name bounds the count: five digits, never 2^64
        raise EmbcliError(
            f"{name} is named as one of {int(m['count'])} shards, but its split.count is {count}"
        )
    return [f"{m['stem']}-{i:05d}-of-{count:05d}.gguf" for i in range(1, count + 1)]


# -- the container -------------------------------------------------------------------------------


Opener = Callable[[str], ByteSource]


class GGUFModel:
    """A GGUF model: one file, or a split set followed shard by shard (only as far as needed).

    The reader seam's ``Container``. ``open_sibling`` turns a shard's file name into its byte
    source; it is needed only when a tensor asked for lies beyond the shard given (the table
    usually sits in the first).
    """

    format = "gguf"

    def __init__(self, source: ByteSource, open_sibling: Opener | None = None) -> None:
        self._open = open_sibling
        first = GGUFFile(source)
        no, count = first.split()
        self._names = shard_names(first.name, count) if count > 1 else [first.name]
        if count > 1 and self._names[no] != first.name:
            raise EmbcliError(
                f"{first.name} says it is shard {no + 1} of {count}, which its name contradicts"
            )
        self._files: dict[int, GGUFFile] = {no: first}
        self.main = first if no == 0 else self._shard(0)  # the first shard holds the metadata
        self._vocab: Vocabulary | None = None
        self._vocab_read = False

    @property
    def name(self) -> str:
        return self.main.name

    @property
    def shard_count(self) -> int:
        return len(self._names)

    def _shard(self, index: int) -> GGUFFile:
        if index not in self._files:
            if self._open is None:
                raise EmbcliError(
                    f"{self._names[index]} (shard {index + 1} of {len(self._names)}) is needed, "
                    "but only one shard was given"
                )
            shard = GGUFFile(self._open(self._names[index]))
            if shard.split() != (index, len(self._names)):
                raise EmbcliError(
                    f"{shard.name} says it is shard {shard.split()[0] + 1} of "
                    f"{shard.split()[1]}, not {index + 1} of {len(self._names)}"
                )
            self._files[index] = shard
        return self._files[index]

    def _find(self, name: str) -> tuple[GGUFFile, TensorInfo] | None:
        for i in sorted(self._files):  # shards already open first, then the rest in order
            if name in self._files[i].tensors:
                return self._files[i], self._files[i].tensors[name]
        for i in range(len(self._names)):
            if i not in self._files and name in self._shard(i).tensors:
                return self._files[i], self._files[i].tensors[name]
        return None

    def names(self) -> list[str]:
        """Every tensor's name, over all shards (each shard's header is read once)."""
        out: list[str] = []
        for i in range(len(self._names)):
            out += list(self._shard(i).tensors)
        return out

    def file_of(self, name: str) -> str:
        found = self._find(name)
        if found is None:
            raise EmbcliError(self._missing(name))
        return found[1].file

    def has(self, name: str) -> bool:
        return self._find(name) is not None

    def ggml_type(self, name: str) -> int:
        """The ggml type id of tensor ``name`` (``TensorInfo.dtype`` holds its name)."""
        found = self._find(name)
        if found is None:
            raise EmbcliError(self._missing(name))
        return found[0].types[name]

    def info(self, name: str) -> TensorInfo:
        """The tensor ``name``; one line if it is missing or of a type that cannot be read."""
        found = self._find(name)
        if found is None:
            raise EmbcliError(self._missing(name))
        shard, t = found
        if _type_name(shard.types[name]) is None:
            raise EmbcliError(
                f"{t.file}: tensor {name!r} has ggml type {shard.types[name]}, which the gguf "
                f"package {_package_version()} does not know",
                "upgrade it: pip install -U gguf",
            )
        return t

    def _missing(self, name: str) -> str:
        if name != TABLE:
            return f"{self.name} has no tensor {name!r}"
        names = self.names()
        kind = self.main.get("general.type")
        arch = self.main.architecture
        what = (
            "a vision/audio projector (mmproj), not a language model"
            if arch == "clip" or kind in ("mmproj", "clip") or "mmproj" in self.name.lower()
            else (f"a {kind}" if isinstance(kind, str) else "no token-embedding table")
        )
        sample = ", ".join(names[:3]) + (", ..." if len(names) > 3 else "")
        return (
            f"{self.name} has no token_embd.weight: it holds {len(names)} {arch} "
            f"tensor{'s' if len(names) != 1 else ''} "
            f"({sample}), {what}"
        )

    def rows(self, name: str, block_rows: int) -> Iterator[tuple[int, np.ndarray]]:
        """``(first row, float32 block)`` pairs over a 2-D tensor, dequantised block by block.

        A local file is memory-mapped and each block's bytes are touched once; a remote one is
        streamed (its byte source reports progress) and cut into blocks of whole rows. Never
        more than one block of the tensor is in memory.
        """
        t = as_table(self.info(name))
        ggml_type = self.ggml_type(name)
        if not can_dequantize(ggml_type):
            raise EmbcliError(
                f"{t.file}: tensor {name!r} is stored as {t.dtype}, which embcli cannot "
                "turn into float rows (the gguf package has no dequantiser for it)"
            )
        block_rows = max(1, int(block_rows))
        n, width = t.shape[0], row_bytes(t, ggml_type)
        source = self._source_of(t)
        dequantize = Dequantizer(ggml_type, t.shape[1])
        try:
            if source.path is not None:
                data = np.memmap(source.path, np.uint8, "r", offset=t.start, shape=(n, width))
                for r0 in range(0, n, block_rows):
                    yield r0, dequantize(data[r0 : r0 + block_rows])
                del data
            else:
                yield from self._streamed(source, t, dequantize, block_rows)
        finally:
            dequantize.close()

    def _streamed(
        self, source: ByteSource, t: TensorInfo, dequantize: Dequantizer, block_rows: int
    ) -> Iterator[tuple[int, np.ndarray]]:
        n, width = t.shape[0], row_bytes(t, dequantize.ggml_type)
        want = block_rows * width
        buf = bytearray()
        r0 = 0
        for chunk in source.stream(t.start, t.end):
            buf += chunk
            while len(buf) >= want:
                raw = np.frombuffer(bytes(buf[:want]), np.uint8).reshape(block_rows, width)
                yield r0, dequantize(raw)
                r0 += block_rows
                del buf[:want]
        if len(buf) % width or r0 + len(buf) // width != n:
            raise EmbcliError(
                f"{t.file} ended inside tensor {t.name!r} "
                f"({r0 * width + len(buf):,} of {t.nbytes:,} bytes)",
                "run the command again",
            )
        if buf:
            raw = np.frombuffer(bytes(buf), np.uint8).reshape(-1, width)
            yield r0, dequantize(raw)

    def _source_of(self, t: TensorInfo) -> ByteSource:
        for f in self._files.values():
            if f.name == t.file:
                return f.source
        raise AssertionError(t.file)  # pragma: no cover - a tensor comes from an open shard

    # -- what the metadata states -----------------------------------------------------------

    def vocabulary(self) -> Vocabulary | None:
        """The vocabulary stored in the metadata (built once; None if the file has none)."""
        if not self._vocab_read:
            from embcli.read.gguf_vocab import read_vocabulary

            self._vocab = read_vocabulary(self.main)
            self._vocab_read = True
        return self._vocab

    def facts(self) -> ModelFacts:
        """The facts the build and ``size`` need, from the metadata and the tensor directory.

        ``vocab_size`` is the table's row count (a table may be padded past the vocabulary,
        which the tokenizer's size then shows); a file without ``output.weight`` is tied, and
        says so by its contents, so the tie is explicit. ``raw`` is the scalar metadata;
        ``text`` states the same facts under the config names the rest of embcli reads
        (``families.GGUF_KEYS``), and ``model_type`` is the transformers name of the
        architecture, so a family's knowledge (positions, scaled embeddings) applies.
        """
        import math

        from embcli.read import families
        from embcli.read.facts import ModelFacts

        s = self.summary()
        table = as_table(self.info(TABLE))
        model_type = families.gguf_model_type(s.architecture)
        widths = tuple(dict.fromkeys((table.shape[1], s.n_embd)))
        text: dict[str, Any] = {
            "model_type": model_type,
            "vocab_size": table.shape[0],
            "hidden_size": s.n_embd,
            families.TIE_KEY: s.tied,
        }
        for key, names in families.GGUF_KEYS.items():
            value = self.main.get(f"{s.architecture}.{key}")
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                text.update(dict.fromkeys(names, value))
        scale = families.family(model_type).embed_scale
        raw = {k: v for k, v in self.main.metadata.items() if not isinstance(v, GGUFArray)}
        return ModelFacts(
            model_type,
            table.shape[0],
            table.shape[1],
            widths,
            tied=s.tied,
            tie_explicit=True,
            raw=raw,
            text=text,
            embed_scale=math.sqrt(s.n_embd) if scale else None,
        )

    def tensor_shapes(self) -> list[tuple[str, tuple[int, ...]]]:
        """``(name, numpy shape)`` of every tensor of every shard (headers only)."""
        return [
            (name, t.shape)
            for i in range(len(self._names))
            for name, t in self._shard(i).tensors.items()
        ]

    def describe(self) -> dict[str, Any]:
        """What the cache entry keeps of a GGUF: its summary, as the ``gguf`` section."""
        return {"gguf": self.summary().to_dict()}

    def summary(self) -> GGUFSummary:
        """Architecture, sizes, context length and quantisation, from the metadata."""
        table = as_table(self.info(TABLE))
        found = self._find(HEAD)
        head = found[1] if found is not None else None
        meta = self.main
        arch = meta.architecture

        def number(key: str) -> int | None:
            v = meta.get(f"{arch}.{key}")
            return int(v) if isinstance(v, int) and not isinstance(v, bool) else None

        n_vocab = (
            meta.array_length("tokenizer.ggml.tokens") or number("vocab_size") or table.shape[0]
        )
        n_params = n_bytes = n_tensors = 0
        for i in range(len(self._names)):
            for t in self._shard(i).tensors.values():
                count = 1
                for d in t.shape:
                    count *= d
                n_params += count
                n_bytes += t.nbytes
                n_tensors += 1
        name = meta.get("general.name")
        tokenizer = meta.get("tokenizer.ggml.model")
        return GGUFSummary(
            architecture=arch,
            name=name if isinstance(name, str) else None,
            n_vocab=int(n_vocab),
            n_embd=number("embedding_length") or table.shape[1],
            context_length=number("context_length"),
            block_count=number("block_count"),
            file_type=file_type_name(meta.get("general.file_type")),
            table_type=table.dtype,
            head_type=head.dtype if head is not None else None,
            tied=head is None,
            table_bytes=table.nbytes,
            head_bytes=head.nbytes if head is not None else None,
            n_params=n_params,
            n_bytes=n_bytes,
            n_tensors=n_tensors,
            shards=len(self._names),
            tokenizer=tokenizer if isinstance(tokenizer, str) else None,
        )


def as_table(t: TensorInfo) -> TensorInfo:
    """``t`` when it can be a table (rows x width, neither of them zero); else one line."""
    if len(t.shape) != 2:
        raise EmbcliError(f"{t.file}: tensor {t.name!r} has shape {t.shape}, not rows x width")
    if 0 in t.shape:
        raise EmbcliError(
            f"{t.file}: tensor {t.name!r} is empty ({t.shape[0]} rows of width {t.shape[1]}): "
            "there is no table to read"
        )
    return t


def row_bytes(info: TensorInfo, ggml_type: int) -> int:
    """Bytes of one row (the last numpy axis) of a tensor of a known type: whole blocks."""
    block, type_size = _quant_size(ggml_type)
    return info.shape[-1] // block * type_size


def _package_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("gguf")
    except PackageNotFoundError:  # pragma: no cover
        return "(unknown version)"


# -- the format registry's two functions (embcli.read.formats) ----------------------------------


def detect(source: Source) -> bool:
    """A GGUF model: a local file or split set, an Ollama blob, or a Hub repo's GGUF files."""
    return isinstance(source, (GgufFiles, HubGguf))


def from_source(source: Source, allow_pickle: bool, notice: Notice | None) -> GGUFModel:
    return GGUFModel(source.file(source.listing()[0]), source.file)
