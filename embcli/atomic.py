"""Atomic file writes: a temporary name beside the target, then a rename into place.

A reader (another embcli process, a plotting viewer, a script polling for the file) must never
see half a file, and a failed or interrupted write must not leave debris behind. So every file
embcli writes goes first to ``.<name>.<pid>.tmp`` in the target's directory (same filesystem, so
the rename is atomic; the process id keeps two writers of the same target apart), is renamed over
the target with :func:`os.replace`, and the temporary file is removed whatever goes wrong.

Errors are left as :class:`OSError`: callers know whether a failure is the user's problem
(an :class:`embcli.errors.EmbcliError`) or one to work around (a read-only cache).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path

#: Every file this process renamed into place, in order: what an interrupted command can say it
#: wrote (``written_since``).
_WRITTEN: list[Path] = []


def written_since(mark: int) -> list[Path]:
    """Files renamed into place since ``len(written_since(0))`` was ``mark``."""
    return list(_WRITTEN[mark:])


def temp_path(path: Path) -> Path:
    """The temporary name this process writes ``path`` under before renaming it into place."""
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def atomic_write(path: Path, write: Callable[[Path], object]) -> Path:
    """Call ``write(tmp)`` to fill a temporary file, then rename it to ``path``; returns ``path``.

    ``write`` receives the temporary path (not an open handle) so it can use any writer that
    wants a file name (``np.save``, ``fig.savefig``, ``Path.write_text``).
    """
    return atomic_write_all({path: write})[0]


def atomic_write_all(writers: Mapping[Path, Callable[[Path], object]]) -> list[Path]:
    """Write several files to temporary names, then rename them all into place at the end.

    Used for files that belong together (vectors and their labels): none is renamed unless all
    were written, so a failure leaves the old pair (or nothing), never a new file beside an old one.
    """
    done: list[Path] = []
    try:
        for target, write in writers.items():
            tmp = temp_path(Path(target))
            done.append(tmp)
            write(tmp)
        for tmp, target in zip(done, writers, strict=True):
            os.replace(tmp, target)
            _WRITTEN.append(Path(target))
    finally:
        for tmp in done:
            tmp.unlink(missing_ok=True)
    return [Path(p) for p in writers]


def write_bytes(path: Path, data: bytes) -> Path:
    """``path.write_bytes(data)``, atomically."""
    return atomic_write(path, lambda tmp: tmp.write_bytes(data))


def write_text(path: Path, text: str) -> Path:
    """``path.write_text(text, encoding="utf-8")``, atomically."""
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))
