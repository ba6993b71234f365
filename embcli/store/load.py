"""Open a model's table: from the cache when warm, building the cache entry when cold.

The warm path resolves ``--model`` to a cache key without reading any weights (a local
directory is keyed by a stat of its files; a Hub repo by the commit its revision resolved to on
the last build) and memory-maps the entry. Only a miss imports ``embcli.store.build``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from embcli.read.sources import Source, hub_endpoint, resolve_hub, resolve_local
from embcli.store import cache
from embcli.store.table import EmbeddingTable

Notice = Callable[[str], None]
Progress = Callable[[int, int, str], None]  # (done, total, "rows" or "bytes")


def _stderr(message: str) -> None:
    print(f"embcli: {message}", file=sys.stderr)


def open_table(
    model: str,
    *,
    tensor: str | None = None,
    revision: str | None = None,
    allow_pickle: bool = False,
    cache_dir: str | None = None,
    notice: Notice = _stderr,
    progress: Progress | None = None,
) -> EmbeddingTable:
    """The cached table of ``model`` (a local directory or a Hub repo id), built if needed."""
    root = cache.cache_root(cache_dir)
    source = resolve_local(model)
    ref = None
    if source is None:  # a Hub repo id
        ref = "\0".join([hub_endpoint(), model, revision or "", tensor or ""])
        known = cache.read_ref(root, ref)
        if known:
            warm = _open_quietly(cache.entry_dir(root, model, known))
            if warm is not None:
                return warm
        source = resolve_hub(model, revision)
    key = source.key(tensor)
    path = cache.entry_dir(root, source.label, key)
    table = _open_quietly(path)
    if table is None:
        table = _build(root, key, path, source, tensor, allow_pickle, notice, progress)
    if ref is not None:
        cache.write_ref(root, ref, key)
    return table


def _open_quietly(path: Path) -> EmbeddingTable | None:
    try:
        return EmbeddingTable(cache.open_entry(path))
    except cache.CacheProblem:
        return None


def _build(
    root: Path,
    key: str,
    path: Path,
    source: Source,
    tensor: str | None,
    allow_pickle: bool,
    notice: Notice,
    progress: Progress | None,
) -> EmbeddingTable:
    from embcli.store.build import write_table

    with cache.locked(root, key):
        entry = cache.find_entry(path, notice)  # another process may have built it meanwhile
        if entry is None:
            entry = cache.build_entry(
                root,
                path,
                lambda tmp: write_table(source, tmp, tensor, allow_pickle, progress, notice),
            )
        return EmbeddingTable(entry)
