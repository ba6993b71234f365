"""Argument checks of the library, made once: the CLI relies on them and adds none of its own.

Each check raises :class:`~embcli.errors.UsageProblem` (exit code 2) with one line naming the
parameter as Python spells it (``k``, ``remove_pcs``: ``remove_pcs must be 0 or more, not -1``)
and that name in the error's ``param``; the CLI says the same line with its option's spelling
(``--remove-pcs``, :func:`embcli.cli.errors.explain`). They run before a table is opened or a
model is loaded, so a bad argument is said at once, never after minutes of work.
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from embcli.errors import EmbcliError, UsageProblem


def count(name: str, value: object, minimum: int = 0, maximum: int | None = None,
          why: str | None = None) -> int:  # fmt: skip
    """A whole number of at least ``minimum`` (``True`` is not a count) and, where a larger one
    could not finish or be held in memory, at most ``maximum`` (``why`` says why, as a hint);
    ``name`` is the parameter's."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise UsageProblem(f"{name} takes a whole number, not {value!r}", param=name)
    if value < minimum:
        least = "0 or more" if minimum == 0 else f"at least {minimum}"
        raise UsageProblem(f"{name} must be {least}, not {value}", param=name)
    if maximum is not None and value > maximum:
        raise UsageProblem(f"{name} must be at most {maximum:,}, not {value:,}", why, param=name)
    return value


def optional_count(name: str, value: object, minimum: int = 0) -> int | None:
    return None if value is None else count(name, value, minimum)


def number(name: str, value: object, low: float | None = None, high: float | None = None) -> float:
    """A finite number within ``[low, high]``: NaN and infinities fail every range check."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise UsageProblem(f"{name} takes a number, not {value!r}", param=name)
    x = float(value)
    if not math.isfinite(x):
        raise UsageProblem(f"{name} must be a finite number, not {value}", param=name)
    if (low is not None and x < low) or (high is not None and x > high):
        if low is not None and high is not None:
            span = f"between {low:g} and {high:g}"
        else:
            span = f"at least {low:g}" if low is not None else f"at most {high:g}"
        raise UsageProblem(f"{name} must be {span}, not {value}", param=name)
    return x


def choice(name: str, value: object, choices: Sequence[str]) -> str:
    if value not in choices:
        raise UsageProblem(f"{name} must be {' or '.join(choices)}, not {value!r}", param=name)
    return str(value)


def word(value: object, what: str = "a word") -> str:
    """Words are text: ``5`` is a programming slip, said as such (``'#5'`` is row 5)."""
    if not isinstance(value, str):
        hint = f" (row {value} is '#{value}')" if isinstance(value, int) else ""
        raise UsageProblem(f"{what} is text, not {type(value).__name__} {value!r}{hint}")
    return value


def vector(value: object) -> Any:
    """Numbers of one vector, as a float64 array (its width and values are checked where the
    table is known)."""
    import numpy as np

    if isinstance(value, (str, bytes)):
        raise UsageProblem(f"a vector is numbers, not {type(value).__name__} {value!r}")
    try:
        return np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise UsageProblem(f"a vector is numbers, not {type(value).__name__}") from None


def texts(value: object, what: str = "sentences") -> list[str]:
    """A list of texts; one string would otherwise be read letter by letter."""
    if isinstance(value, str):
        raise UsageProblem(f"give a list of {what}, not one string")
    if isinstance(value, bytes) or not isinstance(value, Iterable):
        raise UsageProblem(f"give a list of {what}, not {type(value).__name__} {value!r}")
    items: list[str] = list(value)
    for item in items:
        word(item, f"each of the {what}")
    return items


def output_file(path: str | os.PathLike[str], suffixes: Sequence[str], what: str) -> Path:
    """A file this command may write: a known suffix, in a directory that exists and is writable.

    Checked before any work, so a typo in a path never costs the minutes a model run or a
    comparison takes. ``what`` names the picture or file in the message ("stats --plot").
    """
    out = Path(path).expanduser()
    try:
        is_dir = out.is_dir()
    except OSError as exc:  # a name too long for the file system
        raise EmbcliError(f"cannot write {out}: {exc.strerror or exc}") from None
    if is_dir:  # said first, naming the path given: its suffix is not the problem
        raise UsageProblem(f"cannot write {out}: it is a directory")
    if out.suffix.lower() not in suffixes:
        raise UsageProblem(f"cannot write {out.name}: use {_or(suffixes)} ({what})")
    writable_directory(out.parent if str(out.parent) else Path("."), out)
    return out


def writable_directory(directory: Path, target: Path | None = None) -> None:
    """``directory`` exists and this process may create files in it (an I/O problem: exit 1).

    Asked by creating (and at once removing) the temporary file a write of ``target`` would
    create (:func:`embcli.atomic.temp_path`): permission bits do not say it for root, a
    read-only mount or ``/proc``, and the failure is then said before the work, naming the
    file the user gave, never after it with the temporary file's name."""
    from embcli.atomic import temp_path

    shown = target or directory
    try:
        if not directory.exists():
            raise EmbcliError(f"cannot write {shown}: no such directory {directory}")
        if not directory.is_dir():
            raise EmbcliError(f"cannot write {shown}: {directory} is not a directory")
    except OSError as exc:  # a name too long, a loop of links...
        raise EmbcliError(f"cannot write {shown}: {exc.strerror or exc}") from None
    if not os.access(directory, os.W_OK | os.X_OK):
        raise EmbcliError(f"cannot write {shown}: permission denied in {directory}")
    probe = temp_path(directory / (target.name if target is not None else "probe"))
    try:
        os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        return  # this process's own temporary file (a write under way): the place is writable
    except OSError as exc:
        raise EmbcliError(f"cannot write {shown}: {exc.strerror or exc}") from None
    with contextlib.suppress(OSError):
        os.unlink(probe)


def _or(suffixes: Sequence[str]) -> str:
    items = list(suffixes)
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " or " + items[-1]


# -- axes: pairs, poles, a direction to remove ---------------------------------------------------


def axis_pairs(name: str, value: object) -> list[tuple[str, str]]:
    """The pairs an axis is built from: a section of the bundled analogy set (``family``),
    ``"a:b,c:d"``, or a list of ``"a:b"`` strings or ``(a, b)`` tuples; two or more distinct
    pairs, none of one word twice. ``name`` is the parameter the messages name (``pairs2``)."""
    from embcli.ask.pairs import check_pairs, pairs_from

    if not isinstance(value, (str, list, tuple)):
        raise UsageProblem(f"{name} takes pairs such as 'man:woman,he:she', "
                           f"not {type(value).__name__}", param=name)  # fmt: skip
    try:
        return check_pairs(pairs_from(value), name)
    except UsageProblem as exc:
        said = exc.message if exc.message.startswith(name) else f"{name}: {exc.message}"
        raise UsageProblem(said, exc.hint, param=name) from None


def poles(name: str, value: object) -> tuple[list[str], list[str]]:
    """Two poles ``(from_words, to_words)``, each a list of words or a comma-separated string;
    ``name`` is the parameter (``poles2``)."""
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise UsageProblem(f"{name} takes two word lists, (from_words, to_words)", param=name)
    out = []
    for side, words in zip(("from", "to"), value, strict=False):
        what = f"words of the {side} pole of {name}"
        items = words.split(",") if isinstance(words, str) else texts(words, what)
        kept = [w.strip() for w in items if w.strip()]
        if not kept:
            raise UsageProblem(f"{name}: the {side} pole is empty: a pole needs one or more "
                               "words", param=name)  # fmt: skip
        out.append(kept)
    return out[0], out[1]


def axis_to_remove(value: object) -> object:
    """What ``remove_axis`` takes: pairs (as :func:`axis_pairs`), or a finite vector (a numpy
    array, e.g. ``table.axis(...).vector``); None: nothing removed."""
    if value is None:
        return None
    import numpy as np

    if isinstance(value, np.ndarray):
        if value.ndim != 1 or not np.issubdtype(value.dtype, np.number):
            raise UsageProblem(f"remove_axis takes one vector, not an array of shape "
                               f"{value.shape}", param="remove_axis")  # fmt: skip
        if not np.all(np.isfinite(value)) or not np.any(value):
            raise UsageProblem("remove_axis: the vector is zero or holds NaN or infinite values",
                               param="remove_axis")  # fmt: skip
        return value
    return axis_pairs("remove_axis", value)
