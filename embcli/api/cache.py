"""What the cache holds, and emptying it: ``embcli cache list`` and ``cache clear`` as results."""

from __future__ import annotations

import os
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
                f"{r['rows']:,} x {r['dim']:,}",
                f"{r['bytes'] / 1e6:,.1f} MB",
                r["path"],
            )
            if r["model"]
            else ("(broken)", "", "", r["problem"])
            for r in self.records
        ]
        return View(
            ["model", "shape", "size", "path"],
            rows,
            caption=f"{len(self.records)} entries, {self.total_bytes / 1e6:,.1f} MB in {self.root}",
            table_hidden={"path"},
        )


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
    for item in cache.list_entries(root):
        if isinstance(item, CacheProblem):
            records.append({"model": None, "problem": item.message})
            continue
        m = item.meta
        records.append(
            {
                "model": m.model,
                "tensor": m.tensor,
                "rows": m.shape[0],
                "dim": m.shape[1],
                "source_dtype": m.source_dtype,
                "bytes": item.size_bytes,
                "path": str(item.path),
                "created": m.created,
            }
        )
    return CacheListing(str(root), records)


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

    def to_dict(self) -> dict[str, Any]:
        return {"root": self.root, "removed": self.removed, "model": self.model}

    def view(self) -> View:
        return View(["field", "value"], [("removed", self.removed), ("from", self.root)],
                    key_value=True)  # fmt: skip

    def summary(self) -> str:
        plural = "s" if self.removed != 1 else ""
        return f"removed {self.removed} cached table{plural} from {self.root}"


def clear_cache(
    cache_dir: str | os.PathLike[str] | None = None,
    model: str | None = None,
    *,
    notice: Notice | None = None,
) -> Cleared:
    """Delete cached tables: every one (and broken entries), or those of ``model`` only.

    Build directories whose builder is gone are swept too; a live build is never touched.
    Naming a model the cache does not hold is an error (exit code 1).
    """
    from embcli.errors import EmbcliError
    from embcli.store import cache

    root = _root(cache_dir)
    wanted = None
    if model is not None:
        local = Path(model).expanduser()
        wanted = {model, str(local.resolve())} if local.exists() else {model}
        if model.startswith("ollama:") and ":" not in model.removeprefix("ollama:"):
            wanted.add(model + ":latest")  # as the entry names it
    removed = 0
    for item in cache.list_entries(root):
        if isinstance(item, CacheProblem):  # a broken entry: removed when clearing all
            if wanted is None:
                removed += _remove_broken(root, item)
            continue
        label = item.meta.model
        # a GGUF chosen in a folder or Hub repo is named by the folder or repo and its file
        if wanted is None or label in wanted or any(label.startswith(w + "/") for w in wanted):
            cache.remove_entry(item.path)
            removed += 1
    swept = cache.sweep_stale(root, notice)  # only builds whose owner is gone
    if model is not None and removed == 0:
        raise EmbcliError(f"no cached table for {model}")
    return Cleared(str(root), removed, model, [str(p) for p in swept])


def _remove_broken(root: Path, problem: Any) -> int:
    from embcli.store import cache

    for path in root.iterdir():
        if str(path) in problem.message:
            cache.remove_entry(path)
            return 1
    return 0
