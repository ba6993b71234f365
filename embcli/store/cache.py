"""The normalised on-disk cache: one directory per (model source, table) pair.

An entry holds::

    vectors.npy     float32 [V, D], every row scaled to unit length (zero rows stay zero)
    norms.npy       float32 [V], the original row norms, so dot products stay available
    tokens.json     display string of every row (see ``embcli.read.tokens``)
    tokens_*.npy    the same strings as UTF-8 bytes and offsets, to read a few rows quickly
    lookup_*.npy    single-token words and their rows, so a query needs no tokenizer
    tokenizer.json  the model's tokenizer, padding and truncation off (absent if it has none)
    meta.json       what was read and from where (a ``TableMeta``), the format version and every
                    file's size; written last, it marks the entry complete

Entries are built in a private temporary directory and renamed into place, so a reader never
sees a half-written entry; a file lock makes concurrent builders of the same entry wait for one
another and reuse the winner's copy. ``meta.json`` records every file's size: an entry whose
files disagree with it (a crash, a full disk, a hand edit) is reported and rebuilt, and so is an
entry of another format version (one written by an older embcli), with one notice.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import time
from _thread import get_ident
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from embcli.atomic import write_text
from embcli.errors import CacheProblem, EmbcliError
from embcli.store.meta import TableMeta

#: 2: typed metadata, token strings as offsets, lookups, variant groups in every entry.
FORMAT_VERSION = 2
META = "meta.json"
TMP_DIR = ".tmp"
LOCK_DIR = ".locks"
REFS_DIR = "refs"
OWNER_SUFFIX = ".owner"  # ``.tmp/<build dir>.owner``: a lock held by the process building it
UNOWNED_GRACE_S = 3600.0  # a build directory with no owner file is stale after this long


class BuildInterrupted(EmbcliError):
    """Ctrl-C during a build: its temporary directory is already gone (exit code 130)."""

    exit_code = 130


def cache_root(override: str | None = None) -> Path:
    """``--cache-dir``, else ``$EMBCLI_CACHE``, else the platform's user cache directory.

    A root that exists and is not a directory (``EMBCLI_CACHE`` set to a file) is refused here,
    in one line, so listing, clearing and every question say the same thing.
    """
    chosen = override or os.environ.get("EMBCLI_CACHE")
    if chosen:
        root = Path(chosen).expanduser()
    else:
        from platformdirs import user_cache_dir

        root = Path(user_cache_dir("embcli", appauthor=False))
    try:
        is_dir = stat.S_ISDIR(root.stat().st_mode)
    except OSError:
        return root  # not there yet: made on the first build
    if not is_dir:
        raise CacheProblem(
            f"the cache at {root} is not a directory",
            "set EMBCLI_CACHE or --cache-dir to a directory",
        )
    return root


@dataclass(frozen=True)
class Entry:
    """A complete, validated cache entry."""

    path: Path
    meta: TableMeta
    files: dict[str, int]  # name -> size in bytes, as written

    @property
    def size_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.path.rglob("*") if p.is_file())


def entry_dir(root: Path, label: str, key: str) -> Path:
    """``<root>/<last two parts of the label>--<key prefix>``: readable, and unique by key."""
    short = "--".join(label.strip("/").split("/")[-2:])
    safe = "".join(c if c.isalnum() or c in "-_." else "-" for c in short)[-60:]
    return root / f"{safe.strip('-.') or 'model'}--{key[:16]}"


def open_entry(path: Path) -> Entry:
    """Validate the entry at ``path``; raise :class:`CacheProblem` saying what is wrong."""
    try:
        data = json.loads((path / META).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CacheProblem(f"cache entry {path} is incomplete (no {META})") from None
    except (OSError, ValueError) as exc:
        raise CacheProblem(f"cache entry {path} has an unreadable {META} ({exc})") from None
    version = data.pop("format_version", None) if isinstance(data, dict) else None
    if version != FORMAT_VERSION:
        older = isinstance(version, int) and version < FORMAT_VERSION
        raise CacheProblem(
            f"cache entry {path} has format version {version}, this embcli reads {FORMAT_VERSION}"
            + (" (written by an older embcli)" if older else "")
        )
    files = data.pop("files", {})
    for name, size in files.items():
        try:
            actual = (path / name).stat().st_size
        except OSError:
            raise CacheProblem(f"cache entry {path} is missing {name}") from None
        if actual != size:
            raise CacheProblem(f"cache entry {path}: {name} has {actual} bytes, expected {size}")
    return Entry(path, TableMeta.from_dict(data, f"cache entry {path}: {META}"), files)


def find_entry(path: Path, warn: Callable[[str], None]) -> Entry | None:
    """The entry at ``path`` if it is complete; a broken one is reported, removed, and None."""
    if not path.exists():
        return None
    try:
        return open_entry(path)
    except CacheProblem as problem:
        warn(f"{problem.message}; rebuilding it")
        _remove_tree(path)
        return None


@contextmanager
def locked(root: Path, key: str) -> Iterator[None]:
    """Hold the build lock of ``key``; concurrent builders of one entry run one at a time."""
    from filelock import FileLock

    locks = _mkdirs(root / LOCK_DIR)
    with FileLock(str(locks / f"{key[:32]}.lock")):
        yield


def build_entry(
    root: Path,
    final: Path,
    write: Callable[[Path], TableMeta],
    notice: Callable[[str], None] | None = None,
) -> Entry:
    """Run ``write(tmpdir) -> meta`` in a fresh temporary directory and rename it to ``final``.

    ``write`` fills the directory and returns the metadata; this function adds the token index,
    the file sizes and the format version, writes ``meta.json`` last, and renames. On any
    failure the temporary directory is removed, so nothing half-written survives; a Ctrl-C becomes
    :class:`BuildInterrupted`. A process killed outright (SIGKILL, power loss) cannot clean up,
    so the directory has an owner lock, held for the build's lifetime, that the operating system
    releases when the process dies: :func:`sweep_stale` (run here first) removes what it finds
    unowned.
    """
    import secrets  # here, not at the top: the warm path never builds (secrets imports random)

    from filelock import FileLock

    tmp_parent = _mkdirs(root / TMP_DIR)
    sweep_stale(root, notice)
    name = f"{final.name}.{os.getpid()}.{secrets.token_hex(4)}"
    owner_file = tmp_parent / (name + OWNER_SUFFIX)
    owner = FileLock(str(owner_file))
    owner.acquire()  # before the directory exists, so a sweeper never sees it unowned
    tmp = tmp_parent / name
    try:
        tmp.mkdir()
        meta = write(tmp)
        from embcli.store.lookup import write_token_index

        write_token_index(tmp)
        files = {p.name: p.stat().st_size for p in sorted(tmp.iterdir()) if p.name != META}
        record = {**meta.to_dict(), "format_version": FORMAT_VERSION, "files": files}
        _write_json_atomic(tmp / META, record)
        try:
            os.rename(tmp, final)
        except OSError:
            if not final.exists():
                raise
            _remove_tree(tmp)  # another process finished first: keep its copy
        return open_entry(final)
    except KeyboardInterrupt:
        _remove_tree(tmp)
        raise BuildInterrupted("build interrupted; nothing was kept") from None
    except BaseException:
        _remove_tree(tmp)
        raise
    finally:
        owner.release()
        owner_file.unlink(missing_ok=True)


def sweep_stale(root: Path, notice: Callable[[str], None] | None = None) -> list[Path]:
    """Remove build directories whose builder is gone; say so through ``notice``.

    A directory is stale when its owner lock can be taken (the process that held it has exited
    or was killed). One without an owner file was left by an embcli that did not write them and
    counts as stale once untouched for :data:`UNOWNED_GRACE_S`. A live build is never touched.
    """
    from filelock import FileLock, Timeout

    tmp_parent = root / TMP_DIR
    if not tmp_parent.is_dir():
        return []
    removed: list[Path] = []
    freed = 0
    for path in sorted(tmp_parent.iterdir()):
        if path.name.endswith(OWNER_SUFFIX):
            if not (tmp_parent / path.name[: -len(OWNER_SUFFIX)]).exists():
                _remove_orphan_owner(path)
            continue
        if not path.is_dir():
            continue
        owner_file = tmp_parent / (path.name + OWNER_SUFFIX)
        if not owner_file.exists():
            try:
                if time.time() - path.stat().st_mtime < UNOWNED_GRACE_S:
                    continue
            except OSError:
                continue
            size = _tree_bytes(path)
            _remove_tree(path)
            if not path.exists():  # a read-only cache keeps it: not said as removed
                freed += size
                removed.append(path)
            continue
        lock = FileLock(str(owner_file), timeout=0)
        try:
            lock.acquire()
        except Timeout:
            continue  # its builder is alive
        except OSError:
            continue  # the lock cannot be opened (a read-only cache): nothing can be swept
        try:
            size = _tree_bytes(path)
            _remove_tree(path)
            if not path.exists():
                freed += size
                removed.append(path)
        finally:
            lock.release()
            if not path.exists():
                with suppress(OSError):
                    owner_file.unlink(missing_ok=True)
    if removed and notice:
        n = len(removed)
        notice(
            f"removed {n} build director{'y' if n == 1 else 'ies'} left by "
            f"{'an interrupted build' if n == 1 else 'interrupted builds'} "
            f"({freed / 1e6:,.1f} MB in {tmp_parent})"
        )
    return removed


def _remove_orphan_owner(path: Path) -> None:
    """An owner file whose directory is gone (a build killed between the two): drop it if free."""
    from filelock import FileLock, Timeout

    lock = FileLock(str(path), timeout=0)
    try:
        lock.acquire()
    except (Timeout, OSError):  # its builder is alive, or the cache is read-only
        return
    try:
        with suppress(OSError):
            path.unlink(missing_ok=True)
    finally:
        lock.release()


def _tree_bytes(path: Path) -> int:
    total = 0
    for p in path.rglob("*"):
        with suppress(OSError):
            total += p.stat().st_size if p.is_file() else 0
    return total


def list_entries(root: Path) -> list[Entry | CacheProblem]:
    """Every entry under ``root``, complete ones as :class:`Entry`, broken ones as problems."""
    found: list[Entry | CacheProblem] = []
    for path in entry_paths(root):
        try:
            found.append(open_entry(path))
        except CacheProblem as problem:
            found.append(problem)
    return found


def entry_paths(root: Path) -> list[Path]:
    """The directories under ``root`` that are entries (complete or not), in name order."""
    if not root.is_dir():
        return []
    return [
        path
        for path in sorted(root.iterdir())
        if path.is_dir() and "--" in path.name and not path.name.startswith(".")
    ]


def remove_entry(path: Path) -> None:
    """Remove an entry; ``OSError`` when it cannot be (a read-only cache). ``meta.json`` goes
    first, so an entry that cannot be removed whole is left marked incomplete, never as a
    complete entry missing files."""
    (path / META).unlink(missing_ok=True)
    shutil.rmtree(path)


def read_ref(root: Path, name: str) -> str | None:
    """A remembered resolution (e.g. a Hub branch to the entry key built from it)."""
    try:
        return (root / REFS_DIR / _ref_file(name)).read_text(encoding="utf-8").strip() or None
    except OSError:
        return None


def write_ref(root: Path, name: str, value: str, notice: Callable[[str], None]) -> None:
    """Remember ``name`` -> ``value``; on a cache that cannot be written, the run's one notice."""
    refs = root / REFS_DIR
    try:
        refs.mkdir(parents=True, exist_ok=True)
        write_text(refs / _ref_file(name), value + "\n")
    except OSError as exc:
        not_kept(root, exc, notice)


def hub_refs(root: Path, repo_id: str, notice: Callable[[str], None]) -> list[str]:
    """A Hub repo's branches and tags, remembered in the cache each time they are listed; when
    the Hub cannot be asked (offline, unreachable), the listing remembered from the last time it
    could, said as such. A cache that cannot be written remembers nothing (said once)."""
    from embcli.read import hub

    key = "\0".join(["refs", hub.hub_endpoint(), repo_id])
    try:
        names = hub.list_refs(repo_id)
    except EmbcliError as problem:
        known = read_ref(root, key)
        if known is None:
            raise
        notice(f"cannot list the refs of {repo_id} ({problem.message}): using the last listing")
        return list(json.loads(known))
    write_ref(root, key, json.dumps(names), notice)
    return names


_TOLD: set[str] = set()  # cache roots whose "not kept" notice this process has given


def not_kept(root: Path, exc: OSError, notice: Callable[[str], None]) -> None:
    """Say, once per run and cache, that what was computed is used from memory, not kept.

    Everything the store derives after a build (transform parameters, row lengths, refs,
    reachability) goes through here when it cannot be written, so a read-only cache answers
    every question and says so in one line, however many files it could not keep.
    """
    where = str(root)
    if where in _TOLD:
        return
    _TOLD.add(where)
    import errno

    if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        notice(f"cache at {where} is read-only: computed in memory, not kept")
    else:
        why = exc.strerror or str(exc)
        notice(f"cache at {where} cannot be written ({why}): computed in memory, not kept")


def _ref_file(name: str) -> str:
    import hashlib

    return hashlib.sha256(name.encode()).hexdigest()[:32]


def _write_json_atomic(path: Path, data: Any) -> None:
    write_text(path, json.dumps(data, indent=1, ensure_ascii=False))


def _mkdirs(path: Path) -> Path:
    try:
        path.mkdir(parents=True, exist_ok=True)
        # one probe per thread: builds run in threads (history --jobs)
        probe = path / f".probe-{os.getpid()}-{get_ident()}"
        probe.touch()
        probe.unlink()
    except OSError as exc:
        raise EmbcliError(
            f"cannot write the cache at {path}: {exc.strerror or exc}",
            "set EMBCLI_CACHE or --cache-dir to a writable directory",
        ) from None
    return path


def _remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
