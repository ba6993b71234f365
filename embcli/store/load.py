"""Open a model's table: from the cache when warm, building the cache entry when cold.

The warm path resolves ``--model`` to a cache key without reading any weights (a local
directory is keyed by a stat of its files; a Hub repo by the commit its revision resolved to on
the last build) and memory-maps the entry. Only a miss imports ``embcli.store.build``.
"""

from __future__ import annotations

from pathlib import Path

from embcli.errors import EmbcliError, UsageProblem
from embcli.read.ref import ModelRef, Notice, Progress, Sinks
from embcli.read.sources import Source, resolve_hub, resolve_local
from embcli.store import cache
from embcli.store.derived import on_stderr
from embcli.store.table import EmbeddingTable

__all__ = ["ModelRef", "Notice", "Progress", "Sinks", "cached_table", "open_table"]


def open_table(
    model: ModelRef | str, *, cache_dir: str | None = None, sinks: Sinks | None = None
) -> EmbeddingTable:
    """The cached table ``model`` names (a :class:`ModelRef`, or a bare local directory, GGUF,
    Ollama name or Hub repo id for its input table), built if needed.

    ``role="output"`` opens the output head instead, cached under its own key; for a tied
    model the head is the input table, so that entry is returned and the notice sink says so.
    ``role="target"`` opens the decoder's own input table of an encoder-decoder that has one
    (FSMT's target vocabulary, T5Gemma's decoder table). Notices go to ``sinks.notice``
    (default: one line on stderr), progress to ``sinks.progress``.
    """
    ref, sinks = ModelRef.of(model), _Sinks.of(sinks)
    root = cache.cache_root(cache_dir)
    if ref.role in ("output", "target"):
        return _open_other(root, ref, sinks)
    if ref.role != "input":
        raise EmbcliError(f"unknown table {ref.role!r}: input, output or target")
    source = resolve_local(ref)
    hub_ref = None
    if source is None:  # a Hub repo id
        hub_ref = _hub_ref(ref, ref.tensor)
        known = cache.read_ref(root, hub_ref)
        if known:
            warm = _open_quietly(sinks.say, cache.entry_dir(root, ref.source, known))
            if warm is not None:
                return warm
        source = resolve_hub(ref, sinks)
    key = source.key(ref.tensor)
    # A Hub entry is named after the repo id, so the warm path finds it from the ref alone.
    path = cache.entry_dir(root, ref.source if hub_ref is not None else source.label, key)
    found = _open_quietly(sinks.say, path)
    if found is None:
        found = _build(root, key, path, source, ref, sinks)
    if hub_ref is not None:
        cache.write_ref(root, hub_ref, key, sinks.say)
    return found


class _Sinks(Sinks):
    """The sinks with the store's default notice: one ``embcli: ...`` line on stderr."""

    @classmethod
    def of(cls, sinks: Sinks | None) -> _Sinks:
        given = sinks or Sinks()
        return cls(given.notice or on_stderr, given.progress)

    @property
    def say(self) -> Notice:
        return self.notice or on_stderr


def cached_table(
    model: ModelRef | str, *, cache_dir: str | None = None, sinks: Sinks | None = None
) -> EmbeddingTable | None:
    """The input table of ``model`` if it is cached already, else None.

    Reads no checkpoint and asks no server: a local directory is keyed by a stat of its files,
    a Hub repo by the commit its last build resolved to. Callers that must know what a model
    is before deciding how to run it (a static model's ``sentences``) ask here first.
    """
    ref, say = ModelRef.of(model), _Sinks.of(sinks).say
    root = cache.cache_root(cache_dir)
    source = resolve_local(ref.but(file=None, quant=None))
    if source is not None:
        return _open_quietly(say, cache.entry_dir(root, source.label, source.key(None)))
    known = cache.read_ref(root, _hub_ref(ref.but(file=None, quant=None), None))
    return _open_quietly(say, cache.entry_dir(root, ref.source, known)) if known else None


def static_table(
    ref: ModelRef, *, cache_dir: str | None = None, sinks: Sinks | None = None
) -> EmbeddingTable | None:
    """The cached input table of a static-embedding model (model2vec, sentence-transformers'
    StaticEmbedding), built on first use; None for a model that must run to embed text.

    A cached table answers from its metadata; otherwise the model's small files say
    (``modules.json``, ``config.json``), so a transformer's table is never built here.
    """
    ref = ref.but(role="input", tensor=None)
    warm = cached_table(ref, cache_dir=cache_dir, sinks=sinks)
    if warm is not None:
        return warm if warm.meta.static else None
    from embcli.read.sources import resolve
    from embcli.read.static_model import static_layout

    source = resolve(ref.but(file=None, quant=None), sinks)
    if static_layout(source.small_file) is None:
        return None
    return open_table(ref, cache_dir=cache_dir, sinks=sinks)


def _hub_ref(ref: ModelRef, what: str | None) -> str:
    """The ref remembering which entry a Hub repo's revision (and tensor or head, and GGUF
    file choice) built."""
    from embcli.read.hub import hub_endpoint

    parts = [hub_endpoint(), ref.source, ref.revision or "", what or ""]
    return "\0".join([*parts, *ref.choice_parts()])


def _open_other(root: Path, ref: ModelRef, sinks: _Sinks) -> EmbeddingTable:
    """The output head of ``ref`` (its own entry when untied, the input table when tied), or
    its target table (``role="target"``).

    A ref (like the Hub branch refs) remembers which entry answered, so the warm path reads no
    checkpoint header; only a miss probes the config and headers (``read.probe``).
    """
    role = ref.role
    if ref.tensor is not None:
        raise UsageProblem(f"--tensor names the table to read; leave out --table {role} with it")
    source = resolve_local(ref)
    hub_name = None
    if source is None:
        known_ref = _hub_ref(ref, role)
        known = cache.read_ref(root, known_ref)
        found = (
            _open_quietly(sinks.say, cache.entry_dir(root, ref.source, known)) if known else None
        )
        if found is not None:
            return _tied_notice(found, sinks.say)
        source = resolve_hub(ref, sinks)
        hub_name = ref.source
    else:
        known_ref = "\0".join([role, source.key(None)])
        known = cache.read_ref(root, known_ref)
        found = (
            _open_quietly(sinks.say, cache.entry_dir(root, source.label, known)) if known else None
        )
        if found is not None:
            return _tied_notice(found, sinks.say)
    from embcli.read.probe import probe_head, probe_target

    head: str | None
    if role == "target":
        head, tied = probe_target(source, ref.allow_pickle, sinks.say), False
    else:
        head, tied = probe_head(source, ref.allow_pickle, sinks.say)
    if tied:
        found = open_table(ref.but(role="input"), cache_dir=str(root), sinks=sinks)
        cache.write_ref(root, known_ref, source.key(None), sinks.say)
        return _tied_notice(found, sinks.say)
    if head is None:
        raise EmbcliError(f"{ref.source} has an untied output head, but its checkpoint stores none")
    key = source.key("\0".join([role, head]))
    path = cache.entry_dir(root, hub_name or source.label, key)
    found = _open_quietly(sinks.say, path)
    if found is None:
        found = _build(root, key, path, source, ref.but(tensor=head), sinks)
    cache.write_ref(root, known_ref, key, sinks.say)
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
    root: Path, key: str, path: Path, source: Source, ref: ModelRef, sinks: _Sinks
) -> EmbeddingTable:
    """Build the entry of ``ref`` (its ``tensor`` the table to read) at ``path``."""
    from embcli.store.build import write_table

    with cache.locked(root, key):
        entry = cache.find_entry(path, sinks.say)  # another process may have built it meanwhile
        if entry is None:
            entry = cache.build_entry(
                root, path, lambda tmp: write_table(source, tmp, ref, sinks), sinks.say
            )
        return EmbeddingTable(entry, sinks.say)
