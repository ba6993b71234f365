"""Classic word-vector files as a tensor container: word2vec (text and binary), GloVe, fastText.

Formats:

- word2vec / fastText ``.vec`` text: a header line ``<words> <dims>``, then ``word v1 ... vD``;
- GloVe text: the same lines without a header;
- word2vec binary (``.bin``): the header line, then per word ``word<space>`` and D little-endian
  float32 values, optionally followed by a newline.

The whole file is parsed once, in blocks of lines (numbers converted by numpy, not per value in
Python), into the normalised cache; later uses memory-map it. Every problem names its line:
a wrong number of values, a value that is not a number, a header that disagrees with the body,
a duplicate word. As a container (:class:`WordVectors`) the file holds one tensor, named after
its format, whose vocabulary is its words.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from embcli.errors import EmbcliError
from embcli.read.container import TensorInfo
from embcli.read.facts import ModelFacts
from embcli.read.source import Source, VectorFile
from embcli.read.vocabulary import Vocabulary

if TYPE_CHECKING:
    from embcli.read.byte_source import Notice

BLOCK_LINES = 50_000
Blocks = Callable[[], Iterator[tuple[int, np.ndarray]]]
Parsed = tuple[list[str], Blocks, int, int, str]


def read_vectors(path: Path) -> Parsed:
    """Open a vector file: (words, blocks, rows, dims, format).

    The words are returned whole (they are needed for the duplicate check); ``blocks()``
    iterates over ``(first row, float32 block)`` so that the caller can normalise and write the
    vectors without a second full copy.
    """
    if path.suffix.lower() == ".bin":
        return _read_binary(path)
    return _read_text(path)


def _read_text(path: Path) -> Parsed:
    data = _read_bytes(path)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        at = data[: exc.start].count(b"\n") + 1
        raise EmbcliError(
            f"{path.name} line {at}: not UTF-8 text (a binary file? use .bin)"
        ) from None
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    first = lines[0].split() if lines else []
    header = len(first) == 2 and all(t.isdigit() for t in first)
    start = 1 if header else 0
    body = lines[start:]
    if not body:
        raise EmbcliError(f"{path.name} holds no vectors")
    dims = len(body[0].rstrip().split(" ")) - 1
    fmt = "word2vec text" if header else "GloVe text"
    if header:
        n_words, n_dims = int(first[0]), int(first[1])
        if n_dims != dims:
            raise EmbcliError(
                f"{path.name} line 2: {dims} values, but the header says {n_dims} dimensions"
            )
        if n_words != len(body):
            raise EmbcliError(
                f"{path.name}: the header says {n_words:,} words but the file has {len(body):,}"
            )
    if dims < 1:
        raise EmbcliError(f"{path.name} line {start + 1}: a word without values")
    words: list[str] = []
    rests: list[str] = []
    for line in body:
        word, _, rest = line.rstrip().partition(" ")
        words.append(word)
        rests.append(rest)
    _check_duplicates(words, path, start)

    def blocks() -> Iterator[tuple[int, np.ndarray]]:
        for lo in range(0, len(rests), BLOCK_LINES):
            chunk = rests[lo : lo + BLOCK_LINES]
            yield lo, _parse_block(chunk, dims, path, lo + start + 1)

    return words, blocks, len(words), dims, fmt


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise EmbcliError(f"cannot read {path}: {exc.strerror or exc}") from None


def _parse_block(rests: list[str], dims: int, path: Path, first_line: int) -> np.ndarray:
    """Convert a block of value strings at once; on a mismatch, find and name the bad line."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            values = np.fromstring(" ".join(rests), dtype=np.float32, sep=" ")
        except ValueError:  # numpy 2 raises on text that is not a number
            values = np.empty(0, dtype=np.float32)
    if values.size == len(rests) * dims and np.isfinite(values).all():
        return values.reshape(len(rests), dims)
    for i, rest in enumerate(rests):
        parts = rest.split()
        where = f"{path.name} line {first_line + i}"
        if len(parts) != dims:
            raise EmbcliError(f"{where}: {len(parts)} values, expected {dims}")
        try:
            row = [float(p) for p in parts]
        except ValueError:
            bad = next(p for p in parts if not is_number(p))
            raise EmbcliError(f"{where}: {bad!r} is not a number") from None
        if not all(np.isfinite(row)):
            raise EmbcliError(f"{where}: a value is not finite")
    raise EmbcliError(f"{path.name}: could not parse lines {first_line}-{first_line + len(rests)}")


def is_number(text: str) -> bool:
    """True if ``text`` parses as a float (a vector component, not a word)."""
    try:
        float(text)
    except ValueError:
        return False
    return True


def _check_duplicates(words: list[str], path: Path, offset: int) -> None:
    if len(set(words)) == len(words):
        return
    seen: dict[str, int] = {}
    for n, w in enumerate(words, offset + 1):
        if w in seen:
            raise EmbcliError(
                f"{path.name} line {n}: duplicate word {w!r} (first on line {seen[w]})"
            )
        seen[w] = n


def _read_binary(path: Path) -> Parsed:
    data = _read_bytes(path)
    nl = data.find(b"\n")
    head = data[:nl].split() if nl > 0 else []
    if len(head) != 2 or not all(t.isdigit() for t in head):
        raise EmbcliError(f"{path.name} line 1: expected a '<words> <dims>' header")
    n_words, dims = int(head[0]), int(head[1])
    pos = nl + 1
    words: list[str] = []
    vectors = np.empty((n_words, dims), dtype=np.float32)
    width = 4 * dims
    for i in range(n_words):
        while pos < len(data) and data[pos : pos + 1] == b"\n":
            pos += 1
        space = data.find(b" ", pos)
        if space < 0 or space + 1 + width > len(data):
            raise EmbcliError(
                f"{path.name}: the header says {n_words:,} words but the file ends after {i:,}"
            )
        try:
            words.append(data[pos:space].decode("utf-8"))
        except UnicodeDecodeError:
            raise EmbcliError(f"{path.name} word {i + 1}: not valid UTF-8") from None
        vectors[i] = np.frombuffer(data, dtype="<f4", count=dims, offset=space + 1)
        pos = space + 1 + width
    if data[pos:].strip():
        raise EmbcliError(f"{path.name}: data after the {n_words:,} words the header announces")
    if not np.isfinite(vectors).all():
        bad = int(np.argwhere(~np.isfinite(vectors))[0][0])
        raise EmbcliError(f"{path.name} word {bad + 1} ({words[bad]!r}): a value is not finite")
    _check_duplicates(words, path, 0)
    return words, lambda: iter([(0, vectors)]), n_words, dims, "word2vec binary"


class WordVectors:
    """A word-vector file as a container: one table, its words as the vocabulary.

    The file is parsed once, when first asked about; :meth:`rows` then streams the vectors.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._parsed: Parsed | None = None

    def _parse(self) -> Parsed:
        if self._parsed is None:
            self._parsed = read_vectors(self.path)
        return self._parsed

    @property
    def format(self) -> str:
        return self._parse()[4]

    def names(self) -> list[str]:
        return [self.format]

    def file_of(self, name: str) -> str:
        return self.path.name

    def info(self, name: str) -> TensorInfo:
        _, _, rows, dims, fmt = self._parse()
        dtype = "text" if "text" in fmt else "F32"
        return TensorInfo(fmt, (rows, dims), dtype, self.path.name, 0, self.path.stat().st_size)

    def rows(self, name: str, block_rows: int) -> Iterator[tuple[int, np.ndarray]]:
        """The vectors in the blocks the parser makes (``block_rows`` does not apply)."""
        return self._parse()[1]()

    def vocabulary(self) -> Vocabulary:
        return Vocabulary(self._parse()[0], None, "words")

    def facts(self) -> ModelFacts:
        _, _, rows, dims, _ = self._parse()
        return ModelFacts("word-vectors", rows, dims, (dims,), tied=False, tie_explicit=False)


# -- the format registry's two functions (embcli.read.formats) ----------------------------------


def detect(source: Source) -> bool:
    """A word2vec, GloVe or fastText file (``--model`` named one)."""
    return isinstance(source, VectorFile)


def from_source(source: Source, allow_pickle: bool, notice: Notice | None) -> WordVectors:
    assert isinstance(source, VectorFile)
    return WordVectors(source.path)
