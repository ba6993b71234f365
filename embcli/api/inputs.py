"""What users hand over as files: one reader for every list of lines, and the parsers on top.

``--among``, ``--words``, ``--pairs``, ``--file``, ``--reference``, ``--groups-file``,
``--corpus``, ``--targets``/``--attributes`` and the axis options (``--pairs``, ``--from``,
``--to``, ``--remove-axis``) all read a file (``-`` is stdin) through :func:`read_lines`, so
they agree on encoding (UTF-8, a leading byte-order mark dropped; anything else is one line
saying so), on blank lines (skipped) and on comments (``#`` or ``# ...`` lines; ``#123`` is a
row id and ``#word`` a word, so both are kept). The parsers turn those lines into what the
questions take: words, pairs, analogy questions, groups, texts, a vector. Nothing here opens a
table, so a bad file is said before any work.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from embcli.errors import EmbcliError, UsageProblem

if TYPE_CHECKING:
    import numpy as np

Source = str | os.PathLike[str]
Groups = list[tuple[str, list[str]]]
#: Longer than this, a value is no file's name on common file systems (NAME_MAX is 255 bytes
#: a component; PATH_MAX 4,096 a path): an inline list, whatever it holds.
MAX_NAME = 4096


def read_text(source: Source) -> str:
    """The whole text of a file, or of stdin for ``-``; one line for every way it can fail."""
    name = str(source)
    try:
        if name == "-":  # bytes, decoded below as a file is: the locale's decoding may not be
            if sys.stdin is None:  # started with stdin closed (<&-)
                raise EmbcliError("cannot read stdin: it is closed")
            stdin = getattr(sys.stdin, "buffer", None)  # strict (surrogateescape under C)
            if stdin is None:  # a text stream put in its place (tests, embedding)
                return str(sys.stdin.read()).removeprefix("\ufeff")
            data = bytes(stdin.read())
            name = "stdin"
        else:
            data = Path(name).expanduser().read_bytes()
    except IsADirectoryError:
        raise EmbcliError(f"cannot read {name}: it is a directory") from None
    except OSError as exc:
        raise EmbcliError(f"cannot read {name}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:  # a text stream put in stdin's place, in another encoding
        raise EmbcliError(f"cannot read {name}: not UTF-8 text") from None
    if b"\0" in data:
        raise EmbcliError(f"cannot read {name}: not a text file (it holds NUL bytes)")
    # a byte-order mark (Windows editors write one) is no part of the first line's word or spec
    data = data.removeprefix(b"\xef\xbb\xbf")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise EmbcliError(f"cannot read {name}: not UTF-8 text (byte {exc.start:,})") from None


def read_lines(source: Source, comments: bool = True) -> list[tuple[int, str]]:
    """``(line number, text)`` of the lines that carry something, from a file or stdin (``-``).

    Blank lines are skipped, and so are comments unless ``comments`` is False (files of free
    text, such as sentences, and token lists, where ``#`` may be a token): a line that is ``#``
    or starts with ``# `` (after leading space). The text is the line without its line break,
    otherwise as written (a leading space can matter to a tokenizer); callers strip it where it
    cannot.
    """
    out = []
    for n, line in enumerate(read_text(source).split("\n"), 1):
        line = line.rstrip("\r")
        stripped = line.strip()
        if stripped and not (comments and (stripped == "#" or stripped.startswith("# "))):
            out.append((n, line))
    return out


def read_words(source: Source) -> list[str]:
    """One word (or ``#id``) per line, surrounding space stripped."""
    words = [line.strip() for _, line in read_lines(source)]
    if not words:
        raise UsageProblem(f"{'stdin' if str(source) == '-' else source} lists no words")
    return words


def read_texts(source: Source) -> list[tuple[int, str]]:
    """Free text, one item per line (sentences, a corpus): ``#`` starts no comment here."""
    return [(n, line.strip()) for n, line in read_lines(source, comments=False)]


def read_pairs(source: Source) -> list[tuple[str, str]]:
    """Word pairs, tab- (or space-) separated, one per line."""
    out = []
    for n, line in read_lines(source):
        parts = line.split("\t") if "\t" in line else line.split()
        if len(parts) < 2:
            raise UsageProblem(f"line {n} of {source}: expected two tab-separated words")
        out.append((parts[0].strip(), parts[1].strip()))
    return out


def is_file(value: str) -> bool:
    """Whether an option that takes words inline or from a file (``--words doctor,nurse`` or
    ``--words jobs.txt``) names a file: ``-`` (stdin), a file that exists, or something written
    as a path (a ``/``, or a ``.txt``/``.tsv``/``.csv``/``.lst`` name) that is not a list, so
    that a mistyped file name is said as a missing file rather than looked up as a word.

    A value with a comma that names no file is a list (``km/h,mph``), and so is one too long to
    be a file's name (hundreds of pairs): probing it is not allowed to fail (``File name too
    long``) or to be taken for a file that does not exist."""
    if value == "-":
        return True
    try:
        if Path(value).expanduser().is_file():
            return True
    except (OSError, ValueError):  # ENAMETOOLONG, a NUL byte...: no such file can exist
        return False
    if "," in value or len(value) > MAX_NAME:
        return False
    if "/" in value or os.sep in value:
        return True
    return Path(value).suffix.lower() in (".txt", ".tsv", ".csv", ".lst")


def word_list(value: str, option: str) -> list[str]:
    """Words given inline, comma-separated (``doctor,nurse``), or one per line of a file;
    ``option`` names the option in a message (``--from``)."""
    if is_file(value):
        return read_words(value)
    words = _split_words(value)
    if not words:
        raise UsageProblem(f"{option}: {value!r} lists no words")
    return words


def axis_pairs(value: str) -> str | list[tuple[str, str]]:
    """An axis's pairs as given: a file's lines (``a b`` or ``a:b``, one pair a line; ``-``:
    stdin) read into pairs, or the text itself (``a:b,c:d`` or a section of the analogy set),
    which the library parses."""
    if not is_file(value):
        return value
    from embcli.ask.pairs import parse_pair_lines

    pairs = parse_pair_lines(read_lines(value), "stdin" if value == "-" else value)
    if not pairs:
        raise UsageProblem(f"{value} lists no pairs")
    return pairs


def read_questions(source: Source) -> list[list[str]]:
    """Analogy questions ``a b c [expected]``, one per line; ``: section`` lines are skipped.

    Each is checked here, so a bad line is said (with its number) before a table is opened.
    """
    from embcli.ask.answers import check_analogy

    out = []
    for n, line in read_lines(source):
        if line.startswith(":"):
            continue
        words = line.split()
        check_analogy(words, f"line {n} of {source}: ")
        out.append(words)
    return out


def read_groups(specs: Sequence[str] = (), file: Source | None = None) -> Groups:
    """Coloured groups of words: ``name=w1,w2`` options, then ``name: w1, w2`` lines of a file."""
    groups: Groups = []
    for spec in specs:
        name, sep, words = spec.partition("=")
        if not sep or not name.strip():
            raise UsageProblem(f"--group takes name=word1,word2 (got {spec!r})")
        groups.append((name.strip(), _split_words(words)))
    if file is not None:
        for n, line in read_lines(file):
            name, sep, words = line.partition(":")
            if not sep:
                raise UsageProblem(f"{file} line {n}: expected 'name: word1, word2, ...'")
            groups.append((name.strip(), _split_words(words)))
    return groups


def _split_words(text: str) -> list[str]:
    return [w.strip() for w in text.split(",") if w.strip()]


def parse_vector(text: str, source: str = "the vector") -> np.ndarray:
    """A vector written as numbers separated by spaces, commas or newlines (float64)."""
    import numpy as np

    parts = text.replace(",", " ").replace("[", " ").replace("]", " ").split()
    if not parts:
        raise UsageProblem(f"{source} holds no numbers")
    try:
        return np.array([float(p) for p in parts], dtype=np.float64)
    except ValueError:
        from embcli.read.wordvectors import is_number

        bad = next(p for p in parts if not is_number(p))
        raise UsageProblem(f"{source}: {bad[:40]!r} is not a number") from None


def read_vector(source: Source) -> np.ndarray:
    """A vector from stdin (``-``: numbers), a ``.npy`` file (1-D, or one row) or a text file."""
    import numpy as np

    name = str(source)
    if name == "-":
        return parse_vector(read_text("-"), "the vector on stdin")
    path = Path(name).expanduser()
    if path.suffix.lower() != ".npy":
        return parse_vector(read_text(path), name)
    try:
        arr = np.asarray(np.load(path, allow_pickle=False))
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        raise EmbcliError(f"cannot read a vector from {path}: {reason}") from None
    if arr.ndim == 2 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim != 1 or not np.issubdtype(arr.dtype, np.number):
        raise UsageProblem(f"{path} holds a {arr.dtype} array of shape {arr.shape}: need one row")
    return arr.astype(np.float64)
