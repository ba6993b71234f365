"""A corpus embedded once: the on-disk sentence index, written atomically, built resumably.

An index lives in the cache beside the model tables, under ``<cache>/indexes/<name>/``::

    index.json          the pointer and the facts: model, sentence settings, rows, dimension,
                        the corpus files (path, size, SHA-256), the ANN graph if any, and which
                        generation directory holds the data; written last, atomically
    g<N>/vectors.npy    float16 (or float32) [rows, dim]: each sentence vector scaled to unit
                        length (a text with no tokens stays zero), memory-mapped by a search
    g<N>/lines.npy      int64 [rows]: each row's line number in its corpus file
    g<N>/sources.npy    int32 [rows]: which corpus file (of ``index.json``'s list) it came from
    g<N>/texts.bin      the texts, UTF-8, one after another; ``offsets.npy`` int64 [rows + 1]
    g<N>/ann.usearch    the approximate-search graph, when the index has one

A generation directory is never changed once written: a build or an ``add`` writes the next
generation in a temporary directory, renames it into place, then replaces ``index.json`` (one
atomic rename), then removes the old generation. A reader that opened the old one keeps its
memory maps; a reader never sees a half-written index. Writers of one index take its lock in
``<cache>/indexes/.locks/``; what a dead writer left (an unreferenced generation, a temporary
directory) is removed by the next writer, under the lock.

Embedding is resumable: the rows are embedded in chunks, and each finished chunk is written
(atomically) to ``<cache>/indexes/.build/<name>--<key>/chunk-NNNNNN.npy``; the key covers the
model, its settings and the corpus bytes, so a build started again with the same input
continues from the last finished chunk, and one with other input starts over.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from embcli.atomic import atomic_write, write_text
from embcli.errors import EmbcliError, UsageProblem

INDEX_DIR = "indexes"
POINTER = "index.json"
BUILD_DIR = ".build"
LOCK_DIR = ".locks"
FORMAT = 1
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
DTYPES = ("float16", "float32")


class IndexProblem(EmbcliError):
    """A missing, damaged or mismatched index (exit code 1)."""


def index_root(cache: Path) -> Path:
    return cache / INDEX_DIR


def check_name(name: str) -> str:
    if not NAME.fullmatch(name or ""):
        raise UsageProblem(
            f"index name {name!r} is not usable",
            "letters, digits, '.', '_' and '-', starting with a letter or digit",
        )
    return name


# -- the corpus -----------------------------------------------------------------------------------


@dataclass
class Corpus:
    """A corpus file's non-blank lines: their line numbers, texts (stripped), and the file's
    identity (absolute path, size, SHA-256 of its bytes)."""

    path: str
    size: int
    sha256: str
    lines: list[int]
    texts: list[str]
    mtime_ns: int = 0

    def source(self, rows: int = 0) -> dict[str, Any]:
        return {"path": self.path, "bytes": self.size, "sha256": self.sha256,
                "mtime_ns": self.mtime_ns, "rows": rows + len(self.texts)}  # fmt: skip


def prefix_digest(path: str, size: int) -> str | None:
    """The SHA-256 of a file's first ``size`` bytes (None: it is shorter or unreadable)."""
    try:
        with open(path, "rb") as fh:
            data = fh.read(size)
    except OSError:
        return None
    return hashlib.sha256(data).hexdigest() if len(data) == size else None


def changed(source: dict[str, Any]) -> bool:
    """Whether a corpus file is no longer the one indexed (size and time first, then bytes)."""
    try:
        st = os.stat(source["path"])
    except OSError:
        return True
    if st.st_size != source["bytes"]:
        return True
    if st.st_mtime_ns == source.get("mtime_ns"):
        return False
    return file_digest(source["path"]) != source["sha256"]


def read_corpus(path: str | os.PathLike[str], start: int = 0) -> Corpus:
    """Read ``path`` line by line as UTF-8; blank lines are skipped. One-line errors for a
    missing or unreadable file, a binary file, an undecodable line, and no lines at all.

    ``start``: the lines after that many bytes (what was appended to a file already indexed),
    numbered as lines of the whole file; the identity is still the whole file's."""
    if str(path) == "-":
        raise UsageProblem("an index is built from a file, not stdin", "save the lines first")
    where = Path(path).expanduser()
    try:
        data = where.read_bytes()
    except IsADirectoryError:
        raise EmbcliError(f"cannot read {path}: it is a directory") from None
    except OSError as exc:
        raise EmbcliError(f"cannot read {path}: {exc.strerror or exc}") from None
    if b"\0" in data:
        raise EmbcliError(f"cannot read {path}: not a text file (it holds NUL bytes)")
    lines: list[int] = []
    texts: list[str] = []
    first = data[:start].count(b"\n") + 1
    for n, raw in enumerate(data[start:].split(b"\n"), first):
        try:
            text = raw.decode("utf-8").strip()
        except UnicodeDecodeError as exc:
            raise EmbcliError(
                f"{path} line {n} is not UTF-8 text (byte {exc.start + 1} of the line)",
                "convert the file to UTF-8 (iconv -f LATIN1 -t UTF-8)",
            ) from None
        if text:
            lines.append(n)
            texts.append(text)
    if not texts:
        raise UsageProblem(
            f"{path} has no non-blank lines" + (" after its indexed part" if start else "")
        )
    digest = hashlib.sha256(data).hexdigest()
    return Corpus(str(where.resolve()), len(data), digest, lines, texts, where.stat().st_mtime_ns)


def file_digest(path: str) -> str | None:
    """The SHA-256 of a file's bytes, or None when it cannot be read."""
    h = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    except OSError:
        return None
    return h.hexdigest()


# -- what index.json says -------------------------------------------------------------------------


@dataclass
class IndexMeta:
    """The facts of one index (``index.json``)."""

    name: str
    model: str  # the model as given to --model
    revision: str | None
    label: str  # the model as shown
    static: bool  # a static-embedding model (no torch to search)
    pooling: str
    normalized: bool
    max_length: int | None
    dim: int
    dtype: str
    rows: int
    sources: list[dict[str, Any]]  # the corpus files, in row order
    generation: int
    created: float
    ann: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)
    format: int = FORMAT

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Any, where: Path) -> IndexMeta:
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise IndexProblem(f"index at {where} has another format; build it again")
        try:
            return cls(**data)
        except TypeError as exc:
            raise IndexProblem(f"index at {where} is damaged ({exc}); build it again") from None


def read_meta(folder: Path) -> IndexMeta:
    """``<folder>/index.json``; :class:`IndexProblem` when it is missing or damaged."""
    path = folder / POINTER
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise IndexProblem(f"no index named {folder.name}", "embcli index list") from None
    except (OSError, ValueError) as exc:
        raise IndexProblem(f"index {folder.name} has an unreadable {POINTER} ({exc})") from None
    return IndexMeta.from_dict(data, folder)


# -- an index, opened for reading -----------------------------------------------------------------


class StoredIndex:
    """An index's data, memory-mapped: vectors, line numbers, texts (read lazily)."""

    def __init__(self, folder: Path, meta: IndexMeta) -> None:
        self.folder = folder
        self.meta = meta
        self.data = folder / f"g{meta.generation}"
        try:
            self.vectors = _mapped(self.data / "vectors.npy")
            self.lines = _mapped(self.data / "lines.npy")
            self.source_of = _mapped(self.data / "sources.npy")
            self.offsets = _mapped(self.data / "offsets.npy")
            self._texts = (
                np.memmap(self.data / "texts.bin", dtype=np.uint8, mode="r")
                if (self.data / "texts.bin").stat().st_size
                else np.zeros(0, np.uint8)
            )
        except (OSError, ValueError) as exc:
            raise IndexProblem(f"index {meta.name} is damaged ({exc}); build it again") from None
        if self.vectors.shape != (meta.rows, meta.dim) or len(self.lines) != meta.rows:
            raise IndexProblem(f"index {meta.name} is damaged (its files disagree with "
                               f"{POINTER}); build it again")  # fmt: skip

    @property
    def name(self) -> str:
        return self.meta.name

    def text(self, row: int) -> str:
        lo, hi = int(self.offsets[row]), int(self.offsets[row + 1])
        return bytes(self._texts[lo:hi]).decode("utf-8")

    def line(self, row: int) -> int:
        return int(self.lines[row])

    def source(self, row: int) -> str:
        return str(self.meta.sources[int(self.source_of[row])]["path"])

    def ann_path(self) -> Path | None:
        ann = self.meta.ann
        return self.data / str(ann["file"]) if ann else None


def _mapped(path: Path) -> np.ndarray:
    from embcli.store.npy import mapped

    return np.asarray(mapped(path))


def open_index(cache: Path, name: str) -> StoredIndex:
    """The index ``name``; one retry when a writer replaced it between two reads."""
    folder = index_root(cache) / check_name(name)
    for attempt in range(2):
        meta = read_meta(folder)
        try:
            return StoredIndex(folder, meta)
        except IndexProblem:
            if attempt or read_meta(folder).generation == meta.generation:
                raise
    raise AssertionError("unreachable")


def list_indexes(cache: Path) -> list[IndexMeta | IndexProblem]:
    root = index_root(cache)
    found: list[IndexMeta | IndexProblem] = []
    if not root.is_dir():
        return found
    for folder in sorted(root.iterdir()):
        if folder.is_dir() and not folder.name.startswith(".") and (folder / POINTER).exists():
            try:
                found.append(read_meta(folder))
            except IndexProblem as problem:
                found.append(problem)
    return found


def find_for_corpus(cache: Path, model: str, revision: str | None, digest: str) -> IndexMeta | None:
    """A complete index of ``model`` built from one file with this SHA-256, if there is one."""
    for meta in list_indexes(cache):
        if (
            isinstance(meta, IndexMeta)
            and meta.model == model
            and meta.revision == revision
            and len(meta.sources) == 1
            and meta.sources[0]["sha256"] == digest
        ):
            return meta
    return None


def size_bytes(cache: Path, name: str) -> int:
    folder = index_root(cache) / name
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


# -- writing --------------------------------------------------------------------------------------


@contextmanager
def locked(cache: Path, name: str) -> Iterator[Path]:
    """Hold index ``name``'s writer lock; yields its folder (which may not exist yet)."""
    from filelock import FileLock

    root = index_root(cache)
    try:
        (root / LOCK_DIR).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise EmbcliError(
            f"cannot write the cache at {root}: {exc.strerror or exc}",
            "set EMBCLI_CACHE or --cache-dir to a writable directory",
        ) from None
    with FileLock(str(root / LOCK_DIR / f"{name}.lock")):
        folder = root / name
        _sweep(folder)
        yield folder


def _sweep(folder: Path) -> None:
    """Under the lock: remove generations ``index.json`` does not name (a dead writer's)."""
    if not folder.is_dir():
        return
    try:
        keep = f"g{read_meta(folder).generation}"
    except IndexProblem:
        keep = None
    for child in folder.iterdir():
        if child.is_dir() and child.name != keep:
            shutil.rmtree(child, ignore_errors=True)


class Chunks:
    """The resumable part of a build: finished chunks of unit vectors, kept until the end.

    ``key`` names the work (model, settings, corpus bytes, rows already indexed); chunks of
    another key are another build's and are removed when this one starts.
    """

    def __init__(self, cache: Path, name: str, key: str, chunk_rows: int) -> None:
        parent = index_root(cache) / BUILD_DIR
        parent.mkdir(parents=True, exist_ok=True)
        self.folder = parent / f"{name}--{key[:24]}-{chunk_rows}"
        for other in parent.glob(f"{name}--*"):
            if other != self.folder and other.name.rsplit("--", 1)[0] == name:
                shutil.rmtree(other, ignore_errors=True)
        self.folder.mkdir(exist_ok=True)
        self.chunk_rows = chunk_rows

    def path(self, i: int) -> Path:
        return self.folder / f"chunk-{i:06d}.npy"

    def done(self, i: int, rows: int, dim: int | None) -> bool:
        """Whether chunk ``i`` was finished (and reads back whole)."""
        path = self.path(i)
        if not path.is_file():
            return False
        try:
            arr = np.load(path, mmap_mode="r")
        except (OSError, ValueError):
            return False
        return arr.shape[0] == rows and (dim is None or arr.shape[1] == dim)

    def write(self, i: int, unit: np.ndarray) -> None:
        atomic_write(self.path(i), lambda tmp: _save(tmp, unit))

    def read(self, i: int) -> np.ndarray:
        return np.asarray(np.load(self.path(i), mmap_mode="r"))

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def _save(tmp: Path, array: np.ndarray) -> None:
    with tmp.open("wb") as fh:
        np.save(fh, array)


def work_key(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def unit_rows(vectors: np.ndarray, dtype: str) -> np.ndarray:
    """Each vector scaled to unit length in float64, then stored as ``dtype``; zero stays zero."""
    v = np.asarray(vectors, np.float64)
    n = np.linalg.norm(v, axis=1, keepdims=True)
    return np.divide(v, n, out=np.zeros_like(v), where=n > 0).astype(dtype)


def write_generation(
    folder: Path,
    meta: IndexMeta,
    parts: list[np.ndarray],
    lines: np.ndarray,
    sources: np.ndarray,
    texts: list[str],
    extra: Callable[[Path, np.ndarray], dict[str, Any] | None] | None = None,
    base: StoredIndex | None = None,
) -> IndexMeta:
    """Write generation ``meta.generation`` (``base``'s rows, then ``parts``), rename it into
    place, then point ``index.json`` at it and remove the old one. Call under :func:`locked`.

    ``extra(data_dir, vectors)`` adds files beside the vectors (the ANN graph) and returns
    what ``index.json`` says of them.
    """
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / f"g{meta.generation}"
    tmp = folder / f".g{meta.generation}.{os.getpid()}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        old_rows = base.meta.rows if base is not None else 0
        vectors = np.lib.format.open_memmap(
            tmp / "vectors.npy", mode="w+", dtype=np.dtype(meta.dtype), shape=(meta.rows, meta.dim)
        )
        at = 0
        if base is not None:
            for lo in range(0, old_rows, 65536):
                hi = min(old_rows, lo + 65536)
                vectors[lo:hi] = base.vectors[lo:hi]
            at = old_rows
        for part in parts:
            vectors[at : at + len(part)] = part
            at += len(part)
        if at != meta.rows:
            raise EmbcliError(f"index {meta.name}: {at} rows written, {meta.rows} expected")
        vectors.flush()
        old_lines = np.asarray(base.lines) if base is not None else np.zeros(0, np.int64)
        old_sources = np.asarray(base.source_of) if base is not None else np.zeros(0, np.int32)
        np.save(tmp / "lines.npy", np.concatenate([old_lines, lines]).astype(np.int64))
        np.save(tmp / "sources.npy", np.concatenate([old_sources, sources]).astype(np.int32))
        encoded = [t.encode("utf-8") for t in texts]
        sizes = np.fromiter((len(b) for b in encoded), np.int64, len(encoded))
        with (tmp / "texts.bin").open("wb") as fh:
            if base is not None:
                fh.write(base._texts[: int(base.offsets[-1])].tobytes())
            fh.write(b"".join(encoded))
        start = int(base.offsets[-1]) if base is not None else 0
        new_offsets = start + np.concatenate([[0], np.cumsum(sizes)])
        old_offsets = np.asarray(base.offsets[:-1]) if base is not None else np.zeros(0, np.int64)
        np.save(tmp / "offsets.npy", np.concatenate([old_offsets, new_offsets]).astype(np.int64))
        if extra is not None:
            meta.ann = extra(tmp, np.asarray(vectors))
        del vectors
        os.rename(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    meta.created = time.time()
    write_text(folder / POINTER, json.dumps(meta.to_dict(), indent=1, ensure_ascii=False))
    _sweep(folder)
    return meta


def unfinished(cache: Path, name: str) -> list[Path]:
    """The kept chunks of an interrupted build or add of index ``name``."""
    parent = index_root(cache) / BUILD_DIR
    if not parent.is_dir():
        return []
    return [p for p in parent.glob(f"{name}--*") if p.name.rsplit("--", 1)[0] == name]


def remove_index(cache: Path, name: str) -> IndexMeta | None:
    """Remove index ``name`` (renamed away first, so a reader sees it whole or not at all) and
    the chunks of an interrupted build of it; None when only such chunks were there."""
    with locked(cache, check_name(name)) as folder:
        pending = unfinished(cache, name)
        for path in pending:
            shutil.rmtree(path, ignore_errors=True)
        if pending and not (folder / POINTER).exists():
            return None
        meta = read_meta(folder)
        gone = folder.with_name(f".removed-{name}.{os.getpid()}")
        os.rename(folder, gone)
        shutil.rmtree(gone, ignore_errors=True)
        return meta
