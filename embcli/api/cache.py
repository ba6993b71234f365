"""What the cache holds, and emptying it: ``embcli cache list`` and ``cache clear`` as results.

A model read at several revisions (``embcli history`` over a run's checkpoints) has one entry
per revision; the listing keeps them together, in step order, and ``clear_cache`` can trim them:
keep a model's latest revisions (``keep_latest``), or drop what was cached long ago
(``older_than`` days). "Latest" is the highest step a revision's name states (``step143000``,
``checkpoint-500``); a revision without one (``main``, a tag, a local directory) counts as newer
than every step, and among equals the most recently cached is the latest.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from embcli.errors import CacheProblem
from embcli.view import Result, View

Notice = Callable[[str], None]


def _root(cache_dir: str | os.PathLike[str] | None) -> Path:
    from embcli.store import cache

    return cache.cache_root(str(cache_dir) if cache_dir is not None else None)


@dataclass
class CacheListing(Result):
    """Every cache entry (``records``; a broken one has ``model`` None and a ``problem``)."""

    root: str
    records: list[dict[str, Any]]

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.records)

    def __len__(self) -> int:
        return len(self.records)

    @property
    def total_bytes(self) -> int:
        return sum(int(r.get("bytes", 0)) for r in self.records)

    def to_dict(self) -> list[dict[str, Any]]:
        return self.records

    def view(self) -> View:
        rows = [
            (
                r["model"],
                r.get("revision") or "",
                f"{r['rows']:,} x {r['dim']:,}",
                f"{r['bytes'] / 1e6:,.1f} MB",
                r["path"],
            )
            if r["model"]
            else ("(broken)", "", "", "", r["problem"])
            for r in self.records
        ]
        n = len(self.records)
        total = f"{self.total_bytes / 1e6:,.1f} MB"
        caption = f"{n} entr{'y' if n == 1 else 'ies'}, {total} in {self.root}"
        groups: dict[str, list[dict[str, Any]]] = {}
        for r in self.records:
            if r["model"]:
                groups.setdefault(_run(r), []).append(r)
        for model, items in groups.items():
            revisions = {_point(r) for r in items}
            if len(revisions) > 1:
                size = sum(int(r["bytes"]) for r in items) / 1e6
                caption += f"; {model}: {len(revisions)} revisions, {size:,.1f} MB"
        return View(["model", "revision", "shape", "size", "path"], rows, caption=caption,
                    table_hidden={"path"})  # fmt: skip


def cache_entries(
    cache_dir: str | os.PathLike[str] | None = None, *, notice: Notice | None = None
) -> CacheListing:
    """The cached tables: model, tensor, shape, dtype, size on disk, path.

    Build directories left by killed builds are swept first (a live build's never), said
    through ``notice``.
    """
    from embcli.store import cache

    root = _root(cache_dir)
    cache.sweep_stale(root, notice)
    records: list[dict[str, Any]] = []
    broken: list[dict[str, Any]] = []
    for item in cache.list_entries(root):
        if isinstance(item, CacheProblem):
            broken.append({"model": None, "problem": item.message})
            continue
        m = item.meta
        records.append(
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
    # a model's revisions together, oldest step first (the order ``history`` reads them in)
    records.sort(key=lambda r: (_run(r), *_age_key(r)))
    return CacheListing(str(root), records + broken)


def _step(model: str, kind: str, revision: str | None) -> int | None:
    """The training step of an entry: its Hub revision's (``step1000``), or a local checkpoint
    directory's name (``runs/x/checkpoint-1000``), which ``history`` reads as one run."""
    from embcli.read.checkpoints import step_of

    if revision:
        return step_of(revision)
    return step_of(Path(model).name) if kind == "local" else None


def _run(record: dict[str, Any]) -> str:
    """What a revision belongs to: the model for a Hub revision; for a local checkpoint
    directory with a step in its name, the directory holding the run's checkpoints."""
    model = str(record["model"])
    if record.get("revision") is None and record.get("step") is not None:
        return str(Path(model).parent)
    return model


def _point(record: dict[str, Any]) -> str | None:
    """One checkpoint of a run: a Hub revision, or a local checkpoint directory."""
    return record["revision"] if record.get("revision") is not None else str(record["model"])


def _age_key(record: dict[str, Any]) -> tuple[float, str, str]:
    """Older first: by the step in the revision's name (none: newer than any), then by when
    the entry was cached."""
    step = record.get("step")
    return (math.inf if step is None else float(step), str(record.get("created") or ""),
            str(record.get("revision") or ""))  # fmt: skip


def cached_models(cache_dir: str | os.PathLike[str] | None = None) -> list[str]:
    """The models the cache holds a table of, as given to ``--model`` (for shell completion)."""
    from embcli.store import cache

    return sorted(
        {
            item.meta.model
            for item in cache.list_entries(_root(cache_dir))
            if isinstance(item, cache.Entry)
        }
    )


@dataclass
class Cleared(Result):
    """What ``clear_cache`` removed."""

    root: str
    removed: int
    model: str | None = None
    swept: list[str] = field(default_factory=list)
    kept: int = 0  # entries of the chosen model(s) a trim kept

    def to_dict(self) -> dict[str, Any]:
        return {"root": self.root, "removed": self.removed, "model": self.model,
                "kept": self.kept}  # fmt: skip

    def view(self) -> View:
        return View(["field", "value"], [("removed", self.removed), ("from", self.root)],
                    key_value=True)  # fmt: skip

    def summary(self) -> str:
        plural = "s" if self.removed != 1 else ""
        kept = f", kept {self.kept}" if self.kept else ""
        return f"removed {self.removed} cached table{plural}{kept} from {self.root}"


def clear_cache(
    cache_dir: str | os.PathLike[str] | None = None,
    model: str | None = None,
    *,
    keep_latest: int | None = None,
    older_than: float | None = None,
    notice: Notice | None = None,
) -> Cleared:
    """Delete cached tables: every one (and broken entries), or those of ``model`` only.

    ``keep_latest=N`` keeps each model's N latest revisions (every table of them: input and
    head) and deletes its others; ``older_than=DAYS`` deletes only entries cached more than
    DAYS ago. Given together, an entry goes when both say so. Build directories whose builder
    is gone are swept too; a live build is never touched. Naming a model the cache does not
    hold is an error (exit code 1).
    """
    from embcli.api import checks
    from embcli.errors import EmbcliError
    from embcli.read.checkpoints import is_glob
    from embcli.store import cache

    checks.optional_count("keep_latest", keep_latest)
    if older_than is not None:
        checks.number("older_than", older_than, 0)
    trimming = keep_latest is not None or older_than is not None
    root = _root(cache_dir)
    wanted = None
    patterns: set[str] = set()
    if model is not None:
        local = Path(model).expanduser()
        wanted = {model, str(local.resolve())} if local.exists() else {model}
        if is_glob(model) and not local.exists():  # a run's checkpoints, as history had them
            patterns.add(str(Path(local.parent).resolve() / local.name))
        if model.startswith("ollama:") and ":" not in model.removeprefix("ollama:"):
            wanted.add(model + ":latest")  # as the entry names it
    listing = cache_entries(cache_dir, notice=notice)
    chosen = [r for r in listing if r["model"] and _named(str(r["model"]), wanted, patterns)]
    if model is not None and not chosen:
        raise EmbcliError(f"no cached table for {model}")
    doomed = chosen
    if keep_latest is not None:
        doomed = [r for r in doomed if _point(r) not in _latest(chosen, _run(r), keep_latest)]
    if older_than is not None:
        cutoff = time.time() - older_than * 86400
        doomed = [r for r in doomed if _created(r) < cutoff]
    for r in doomed:
        cache.remove_entry(Path(r["path"]))
    removed = len(doomed)
    if wanted is None and not trimming:  # clearing everything: broken entries go too
        for item in cache.list_entries(root):
            if isinstance(item, CacheProblem):
                removed += _remove_broken(root, item)
    swept = cache.sweep_stale(root, notice)  # only builds whose owner is gone
    return Cleared(str(root), removed, model, [str(p) for p in swept],
                   kept=len(chosen) - len(doomed))  # fmt: skip


def _named(label: str, wanted: set[str] | None, patterns: set[str]) -> bool:
    """Whether an entry's model is one of ``wanted`` (None: every one); a GGUF chosen in a folder
    or Hub repo is named by the folder or repo and its file; ``patterns`` (globs of a run's
    checkpoint directories that are not themselves paths) match by ``fnmatch``."""
    from fnmatch import fnmatchcase

    if wanted is None or label in wanted or any(label.startswith(w + "/") for w in wanted):
        return True
    return any(fnmatchcase(label, p) for p in patterns)


def _latest(records: list[dict[str, Any]], run: str, n: int) -> set[str | None]:
    """The ``n`` latest checkpoints of ``run`` among ``records`` (see the module docstring)."""
    mine = sorted((r for r in records if _run(r) == run), key=_age_key)
    points = list(dict.fromkeys(_point(r) for r in reversed(mine)))
    return set(points[:n])


def _created(record: dict[str, Any]) -> float:
    """When the entry was cached (its ``created`` stamp, UTC), as a Unix time."""
    import calendar

    stamp = record.get("created")
    try:
        return float(calendar.timegm(time.strptime(str(stamp), "%Y-%m-%dT%H:%M:%SZ")))
    except ValueError:
        return Path(record["path"]).stat().st_mtime


def _remove_broken(root: Path, problem: Any) -> int:
    from embcli.store import cache

    for path in root.iterdir():
        if str(path) in problem.message:
            cache.remove_entry(path)
            return 1
    return 0
