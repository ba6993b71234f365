"""What the cache holds, and emptying it: ``embcli cache list`` and ``cache clear`` as results.

The front door only: which entries a clear chooses (a model's, its latest revisions, those
cached long ago) and removing them is :mod:`embcli.store.inventory`'s.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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
        from embcli.store.inventory import point_of, run_of

        groups: dict[str, list[dict[str, Any]]] = {}
        for r in self.records:
            if r["model"]:
                groups.setdefault(run_of(r), []).append(r)
        for model, items in groups.items():
            revisions = {point_of(r) for r in items}
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
    from embcli.store import cache, inventory

    root = _root(cache_dir)
    cache.sweep_stale(root, notice)
    found, broken = inventory.records(root)
    return CacheListing(str(root), found + [{"model": None, "problem": p} for _, p in broken])


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
    hold is an error (exit code 1), and so is an entry that cannot be removed (a read-only
    cache): :class:`embcli.errors.CacheProblem` names it, after the others are removed.
    """
    from embcli.api import checks
    from embcli.store import cache, inventory

    checks.optional_count("keep_latest", keep_latest)
    if older_than is not None:
        checks.number("older_than", older_than, 0)
    root = _root(cache_dir)
    cache.sweep_stale(root, notice)
    plan = inventory.plan(root, model, keep_latest, older_than)
    done = inventory.remove([Path(r["path"]) for r in plan.doomed] + plan.broken)
    if done.failed:
        raise inventory.not_removed(root, done)
    swept = cache.sweep_stale(root, notice)  # only builds whose owner is gone
    return Cleared(str(root), done.removed, model, [str(p) for p in swept],
                   kept=len(plan.chosen) - len(plan.doomed))  # fmt: skip
