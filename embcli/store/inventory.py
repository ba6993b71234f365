"""What the cache holds, which entries a clear removes, and removing them.

A model read at several revisions (``embcli history`` over a run's checkpoints) has one entry
per revision; the listing keeps them together, in step order, and a clear can trim them: keep a
model's latest revisions (``keep_latest``), or drop what was cached long ago (``older_than``
days). "Latest" is the highest step a revision's name states (``step143000``,
``checkpoint-500``); a revision without one (``main``, a tag, a local directory) counts as newer
than every step, and among equals the most recently cached is the latest.

Removing is said as it happened: an entry that cannot be removed (a read-only cache) is listed
in :attr:`Removal.failed` with the reason, never counted as removed. An entry's ``meta.json``
goes first, so an entry is either whole or marked incomplete (and rebuilt on its next use).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from embcli.errors import CacheProblem, EmbcliError
from embcli.store import cache


def records(root: Path) -> tuple[list[dict[str, Any]], list[tuple[Path, str]]]:
    """The complete entries under ``root`` as records (a model's revisions together, oldest step
    first: the order ``history`` reads them in), and the broken ones as ``(path, problem)``."""
    found: list[dict[str, Any]] = []
    broken: list[tuple[Path, str]] = []
    for path in cache.entry_paths(root):
        try:
            item = cache.open_entry(path)
        except CacheProblem as problem:
            broken.append((path, problem.message))
            continue
        m = item.meta
        found.append(
            {
                "model": m.model,
                "revision": m.revision,
                "step": _step(m.model, m.kind, m.revision),
                "tensor": m.tensor,
                "rows": m.shape[0],
                "dim": m.shape[1],
                "source_dtype": m.source_dtype,
                "bytes": item.size_bytes,
                "path": str(item.path),
                "created": m.created,
            }
        )
    found.sort(key=lambda r: (run_of(r), *_age_key(r)))
    return found, broken


def _step(model: str, kind: str, revision: str | None) -> int | None:
    """The training step of an entry: its Hub revision's (``step1000``), or a local checkpoint
    directory's name (``runs/x/checkpoint-1000``), which ``history`` reads as one run."""
    from embcli.read.checkpoints import step_of

    if revision:
        return step_of(revision)
    return step_of(Path(model).name) if kind == "local" else None


def run_of(record: dict[str, Any]) -> str:
    """What a revision belongs to: the model for a Hub revision; for a local checkpoint
    directory with a step in its name, the directory holding the run's checkpoints."""
    model = str(record["model"])
    if record.get("revision") is None and record.get("step") is not None:
        return str(Path(model).parent)
    return model


def point_of(record: dict[str, Any]) -> str | None:
    """One checkpoint of a run: a Hub revision, or a local checkpoint directory."""
    return record["revision"] if record.get("revision") is not None else str(record["model"])


def _age_key(record: dict[str, Any]) -> tuple[float, str, str]:
    """Older first: by the step in the revision's name (none: newer than any), then by when
    the entry was cached."""
    step = record.get("step")
    return (math.inf if step is None else float(step), str(record.get("created") or ""),
            str(record.get("revision") or ""))  # fmt: skip


@dataclass
class Plan:
    """Which entries a clear chose (a model's, or every one) and which of them go."""

    chosen: list[dict[str, Any]]
    doomed: list[dict[str, Any]]
    broken: list[Path] = field(default_factory=list)  # removed too: a clear of everything


def plan(
    root: Path,
    model: str | None,
    keep_latest: int | None = None,
    older_than: float | None = None,
) -> Plan:
    """The entries ``model`` names (None: every one), less those ``keep_latest`` keeps (each
    model's N latest revisions) and those ``older_than`` spares (cached within DAYS days); given
    together, an entry goes when both say so. Naming a model the cache does not hold is an
    error."""
    from embcli.read.checkpoints import is_glob

    wanted = None
    patterns: set[str] = set()
    if model is not None:
        local = Path(model).expanduser()
        wanted = {model, str(local.resolve())} if local.exists() else {model}
        if is_glob(model) and not local.exists():  # a run's checkpoints, as history had them
            patterns.add(str(Path(local.parent).resolve() / local.name))
        if model.startswith("ollama:") and ":" not in model.removeprefix("ollama:"):
            wanted.add(model + ":latest")  # as the entry names it
    found, broken = records(root)
    chosen = [r for r in found if _named(str(r["model"]), wanted, patterns)]
    if model is not None and not chosen:
        raise EmbcliError(f"no cached table for {model}")
    doomed = chosen
    if keep_latest is not None:
        doomed = [r for r in doomed if point_of(r) not in _latest(chosen, run_of(r), keep_latest)]
    if older_than is not None:
        cutoff = time.time() - older_than * 86400
        doomed = [r for r in doomed if _created(r) < cutoff]
    everything = wanted is None and keep_latest is None and older_than is None
    return Plan(chosen, doomed, [path for path, _ in broken] if everything else [])


def _named(label: str, wanted: set[str] | None, patterns: set[str]) -> bool:
    """Whether an entry's model is one of ``wanted`` (None: every one); a GGUF chosen in a folder
    or Hub repo is named by the folder or repo and its file; ``patterns`` (globs of a run's
    checkpoint directories that are not themselves paths) match by ``fnmatch``."""
    from fnmatch import fnmatchcase

    if wanted is None or label in wanted or any(label.startswith(w + "/") for w in wanted):
        return True
    return any(fnmatchcase(label, p) for p in patterns)


def _latest(found: list[dict[str, Any]], run: str, n: int) -> set[str | None]:
    """The ``n`` latest checkpoints of ``run`` among ``found`` (see the module docstring)."""
    mine = sorted((r for r in found if run_of(r) == run), key=_age_key)
    points = list(dict.fromkeys(point_of(r) for r in reversed(mine)))
    return set(points[:n])


def _created(record: dict[str, Any]) -> float:
    """When the entry was cached (its ``created`` stamp, UTC), as a Unix time."""
    import calendar

    stamp = record.get("created")
    try:
        return float(calendar.timegm(time.strptime(str(stamp), "%Y-%m-%dT%H:%M:%SZ")))
    except ValueError:
        return Path(record["path"]).stat().st_mtime


@dataclass
class Removal:
    """What a clear did: entries removed, and those that could not be, with the reason."""

    removed: int = 0
    failed: list[tuple[Path, str]] = field(default_factory=list)


def remove(paths: list[Path]) -> Removal:
    """Remove each entry directory in ``paths``; one that cannot be removed stays listed."""
    done = Removal()
    for path in paths:
        try:
            cache.remove_entry(path)
        except OSError as exc:
            done.failed.append((path, exc.strerror or str(exc)))
        else:
            done.removed += 1
    return done


def not_removed(root: Path, done: Removal) -> CacheProblem:
    """The one line for a clear that left entries behind (said after what it did remove)."""
    n = len(done.failed)
    names = ", ".join(p.name for p, _ in done.failed[:3]) + (", ..." if n > 3 else "")
    reasons = "; ".join(dict.fromkeys(why.lower() for _, why in done.failed))
    removed = f"removed {done.removed}, but " if done.removed else ""
    return CacheProblem(
        f"{removed}could not remove {n} cached table{'s' if n != 1 else ''} from {root} "
        f"({reasons}): {names}",
        "the cache must be writable to clear it",
    )
