"""Open a model's table: from the cache when warm, building the cache entry when cold.

The warm path resolves ``--model`` to a cache key without reading any weights (a local
directory is keyed by a stat of its files; a Hub repo by the commit its revision resolved to on
the last build) and memory-maps the entry. Only a miss imports ``embcli.store.build``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

from embcli.errors import EmbcliError, UsageProblem
from embcli.read.sources import Source, resolve_hub, resolve_local
from embcli.store import cache
from embcli.store.derived import on_stderr
from embcli.store.table import EmbeddingTable

Notice = Callable[[str], None]
Progress = Callable[[int, int, str], None]  # (done, total, "rows" or "bytes")


def open_table(
    model: str,
    *,
    tensor: str | None = None,
    revision: str | None = None,
    allow_pickle: bool = False,
    cache_dir: str | None = None,
    notice: Notice = on_stderr,
    progress: Progress | None = None,
    table: str = "input",
    file: str | None = None,
    quant: str | None = None,
) -> EmbeddingTable:
    """The cached table of ``model`` (a local directory, GGUF, Ollama name or Hub repo id),
    built if needed; ``file``/``quant`` choose a GGUF model in a directory or Hub repo.

    ``table="output"`` opens the output head instead, cached under its own key; for a tied
    model the head is the input table, so that entry is returned and ``notice`` says so.
    ``table="target"`` opens the decoder's own input table of an encoder-decoder that has one
    (FSMT's target vocabulary, T5Gemma's decoder table).
    """
    choice = Choice(file, quant)
    if table in ("output", "target"):
        return _open_other(
            model, table, tensor, revision, allow_pickle, cache_dir, notice, progress, choice
        )
    if table != "input":
        raise EmbcliError(f"unknown table {table!r}: input, output or target")
    root = cache.cache_root(cache_dir)
    source = resolve_local(model, file=file, quant=quant)
    ref = None
    if source is None:  # a Hub repo id
        ref = _hub_ref(model, revision, tensor, choice)
        known = cache.read_ref(root, ref)
        if known:
            warm = _open_quietly(notice, cache.entry_dir(root, model, known))
            if warm is not None:
                return warm
        source = resolve_hub(
            model, revision, file=file, quant=quant, notice=notice, progress=progress
        )
    key = source.key(tensor)
    # A Hub entry is named after the repo id, so the warm path finds it from the ref alone.
    path = cache.entry_dir(root, model if ref is not None else source.label, key)
    found = _open_quietly(notice, path)
    if found is None:
        found = _build(root, key, path, source, tensor, allow_pickle, notice, progress)
    if ref is not None:
        cache.write_ref(root, ref, key, notice)
    return found


class Choice(NamedTuple):
    """``--file``/``--quant``: which GGUF model of a directory or Hub repo."""

    file: str | None
    quant: str | None

    def parts(self) -> list[str]:
        """Extra parts of a Hub ref, only when given (older refs stay valid)."""
        return [f"{k}={v}" for k, v in self._asdict().items() if v is not None]


def cached_table(
    model: str,
    *,
    revision: str | None = None,
    cache_dir: str | None = None,
    notice: Notice = on_stderr,
) -> EmbeddingTable | None:
    """The input table of ``model`` if it is cached already, else None.

    Reads no checkpoint and asks no server: a local directory is keyed by a stat of its files,
    a Hub repo by the commit its last build resolved to. Callers that must know what a model
    is before deciding how to run it (a static model's ``sentences``) ask here first.
    """
    root = cache.cache_root(cache_dir)
    source = resolve_local(model)
    if source is not None:
        return _open_quietly(notice, cache.entry_dir(root, source.label, source.key(None)))
    known = cache.read_ref(root, _hub_ref(model, revision, None))
    return _open_quietly(notice, cache.entry_dir(root, model, known)) if known else None


def _hub_ref(
    model: str, revision: str | None, tensor: str | None, choice: Choice | None = None
) -> str:
    """The ref remembering which entry a Hub repo's revision (and tensor or head, and GGUF
    file choice) built."""
    from embcli.read.hub import hub_endpoint

    parts = choice.parts() if choice is not None else []
    return "\0".join([hub_endpoint(), model, revision or "", tensor or "", *parts])


def _open_other(
    model: str,
    role: str,
    tensor: str | None,
    revision: str | None,
    allow_pickle: bool,
    cache_dir: str | None,
    notice: Notice,
    progress: Progress | None,
    choice: Choice,
) -> EmbeddingTable:
    """The output head of ``model`` (its own entry when untied, the input table when tied), or
    its target table (``role="target"``).

    A ref (like the Hub branch refs) remembers which entry answered, so the warm path reads no
    checkpoint header; only a miss probes the config and headers (``read.probe``).
    """
    if tensor is not None:
        raise UsageProblem(f"--tensor names the table to read; leave out --table {role} with it")
    root = cache.cache_root(cache_dir)
    source = resolve_local(model, file=choice.file, quant=choice.quant)
    hub_name = None
    if source is None:
        ref = _hub_ref(model, revision, role, choice)
        known = cache.read_ref(root, ref)
        found = _open_quietly(notice, cache.entry_dir(root, model, known)) if known else None
        if found is not None:
            return _tied_notice(found, notice)
        source = resolve_hub(
            model, revision, file=choice.file, quant=choice.quant, notice=notice,
            progress=progress,
        )  # fmt: skip
        hub_name = model
    else:
        ref = "\0".join([role, source.key(None)])
        known = cache.read_ref(root, ref)
        found = _open_quietly(notice, cache.entry_dir(root, source.label, known)) if known else None
        if found is not None:
            return _tied_notice(found, notice)
    from embcli.read.probe import probe_head, probe_target

    head: str | None
    if role == "target":
        head, tied = probe_target(source, allow_pickle, notice), False
    else:
        head, tied = probe_head(source, allow_pickle, notice)
    if tied:
        found = open_table(
            model,
            revision=revision,
            allow_pickle=allow_pickle,
            cache_dir=cache_dir,
            notice=notice,
            progress=progress,
            file=choice.file,
            quant=choice.quant,
        )
        cache.write_ref(root, ref, source.key(None), notice)
        return _tied_notice(found, notice)
    if head is None:
        raise EmbcliError(f"{model} has an untied output head, but its checkpoint stores none")
    key = source.key("\0".join([role, head]))
    path = cache.entry_dir(root, hub_name or source.label, key)
    found = _open_quietly(notice, path)
    if found is None:
        found = _build(root, key, path, source, head, allow_pickle, notice, progress, role)
    cache.write_ref(root, ref, key, notice)
    return found


def _tied_notice(table: EmbeddingTable, notice: Notice) -> EmbeddingTable:
    if table.meta.table == "input":
        notice(f"the output head of {table.label} is tied to its input table: using that table")
    return table


def _open_quietly(notice: Notice, path: Path) -> EmbeddingTable | None:
    try:
        return EmbeddingTable(cache.open_entry(path), notice)
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
    table: str = "input",
) -> EmbeddingTable:
    from embcli.store.build import write_table

    with cache.locked(root, key):
        entry = cache.find_entry(path, notice)  # another process may have built it meanwhile
        if entry is None:
            entry = cache.build_entry(
                root,
                path,
                lambda tmp: write_table(source, tmp, tensor, allow_pickle, progress, notice, table),
                notice,
            )
        return EmbeddingTable(entry, notice)
