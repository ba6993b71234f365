"""Atomic file writes: a temporary name beside the target, then a rename into place.

A reader (another embcli process, a plotting viewer, a script polling for the file) must never
see half a file, and a failed or interrupted write must not leave debris behind. So every file
embcli writes goes first to ``.<name>.<pid>.tmp`` in the target's directory (same filesystem, so
the rename is atomic; the process id keeps two writers of the same target apart), is renamed over
the target with :func:`os.replace`, and the temporary file is removed whatever goes wrong.

A process killed outright (SIGKILL, the OOM killer, power loss) cannot remove its temporary
file, so every write first sweeps the target's directory for temporary files of writers that
are gone (:func:`sweep_stale`). The owner is the process id in the name, checked for liveness:
it needs no lock file beside every write and no import on the paths that write, and a pid the
system has since reused only delays the sweep (a live process's file is never touched). The
check sees this machine's processes only, so a directory written at once from several machines
(a network share) may lose another machine's unfinished temporary file; embcli's writers do not
share directories that way.

Errors are left as :class:`OSError`: callers know whether a failure is the user's problem
(an :class:`embcli.errors.EmbcliError`) or one to work around (a read-only cache). Its
``filename`` is the target's, never the temporary name the user did not give.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path

TEMP_NAME = re.compile(r"^\.(?P<name>.+)\.(?P<pid>[0-9]+)\.tmp$")

#: Every file this process renamed into place, in order: what an interrupted command can say it
#: wrote (``written_since``).
_WRITTEN: list[Path] = []


def written_since(mark: int) -> list[Path]:
    """Files renamed into place since ``len(written_since(0))`` was ``mark``."""
    return list(_WRITTEN[mark:])


def temp_path(path: Path) -> Path:
    """The temporary name this process writes ``path`` under before renaming it into place."""
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def atomic_write(
    path: Path, write: Callable[[Path], object], notice: Callable[[str], None] | None = None
) -> Path:
    """Call ``write(tmp)`` to fill a temporary file, then rename it to ``path``; returns ``path``.

    ``write`` receives the temporary path (not an open handle) so it can use any writer that
    wants a file name (``np.save``, ``fig.savefig``, ``Path.write_text``). ``notice`` hears
    about temporary files of dead writers removed from the directory (see :func:`sweep_stale`).
    """
    return atomic_write_all({path: write}, notice)[0]


def atomic_write_all(
    writers: Mapping[Path, Callable[[Path], object]], notice: Callable[[str], None] | None = None
) -> list[Path]:
    """Write several files to temporary names, then rename them all into place at the end.

    Used for files that belong together (vectors and their labels): none is renamed unless all
    were written, so a failure leaves the old pair (or nothing), never a new file beside an old one.
    """
    for directory in dict.fromkeys(Path(target).parent for target in writers):
        swept = sweep_stale(directory)
        if swept and notice is not None:
            size = sum(n for _, n in swept)
            notice(
                f"removed {len(swept)} temporary file{'s' if len(swept) > 1 else ''} left by an "
                f"interrupted write ({size / 1e6:,.1f} MB in {directory})"
            )
    done: list[Path] = []
    target: Path | None = None
    try:
        for target, write in writers.items():
            tmp = temp_path(Path(target))
            done.append(tmp)
            write(tmp)
        for tmp, target in zip(done, writers, strict=True):
            os.replace(tmp, target)
            _WRITTEN.append(Path(target))
    except OSError as exc:  # name the file the caller asked for, not its temporary name
        named = exc.filename
        if target is not None and named is not None and TEMP_NAME.match(Path(str(named)).name):
            exc.filename, exc.filename2 = str(target), None
        raise
    finally:
        for tmp in done:
            tmp.unlink(missing_ok=True)
    return [Path(p) for p in writers]


def sweep_stale(directory: Path) -> list[tuple[Path, int]]:
    """Remove temporary files (``.<name>.<pid>.tmp``) in ``directory`` whose writer is gone;
    returns each one removed with its size. Never raises: a sweep is housekeeping."""
    if os.name != "posix":  # os.kill(pid, 0) is a liveness test on POSIX only
        return []
    removed: list[tuple[Path, int]] = []
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return removed
    for entry in entries:
        found = TEMP_NAME.match(entry.name)
        if found is None or int(found["pid"]) == os.getpid() or _alive(int(found["pid"])):
            continue
        try:
            if not entry.is_file(follow_symlinks=False):
                continue
            size = entry.stat(follow_symlinks=False).st_size
            os.unlink(entry.path)
        except OSError:
            continue
        removed.append((Path(entry.path), size))
    return removed


def _alive(pid: int) -> bool:
    """Whether process ``pid`` exists on this machine (signal 0 checks without sending)."""
    if pid <= 0:
        return True  # not a process id a writer has: leave the file alone
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: it exists, as another user
        return True
    return True


def write_bytes(path: Path, data: bytes) -> Path:
    """``path.write_bytes(data)``, atomically."""
    return atomic_write(path, lambda tmp: tmp.write_bytes(data))


def write_text(path: Path, text: str) -> Path:
    """``path.write_text(text, encoding="utf-8")``, atomically."""
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))
