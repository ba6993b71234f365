"""``embcli.Index``: a corpus embedded once, kept in the cache, searched from memory-mapped vectors.

:meth:`embcli.Model.index` builds one (``embcli index build``), :class:`Index` opens one by name
(``embcli search --index``), :func:`indexes` lists them (``embcli index list``). The vectors are
the model's own sentence vectors (those of ``embcli sentences``); see ``docs/index.md``.

    >>> idx = embcli.Model("minishlab/potion-base-8M").index("faq.txt")   # doctest: +SKIP
    >>> idx.search("how do I reset my password", k=3).searches[0]["results"]   # doctest: +SKIP
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from embcli.api import checks
from embcli.errors import EmbcliError, UsageProblem
from embcli.read.ref import Reads

if TYPE_CHECKING:
    from embcli.api.model import Notice, Progress
    from embcli.ask.corpus_index import IndexList, IndexSearchResult
    from embcli.ask.sentences import SearchResult, SentenceEncoder
    from embcli.read.ref import ModelRef, Sinks
    from embcli.store.index import IndexMeta, StoredIndex
    from embcli.store.table import EmbeddingTable

PathLike = str | os.PathLike[str]
#: Lines embedded between two kept chunks of a build (what an interruption can lose).
STATIC_CHUNK = 16384
MODEL_CHUNK = 1024


def _cache(cache_dir: PathLike | None) -> Path:
    from embcli.store.cache import cache_root

    return cache_root(str(cache_dir) if cache_dir is not None else None)


def model_key(spec: str) -> str:
    """The model as an index records it: a local path made absolute, a Hub id as given."""
    path = Path(spec).expanduser()
    return str(path.resolve()) if path.exists() else spec


def _log(message: str) -> None:
    import logging

    logging.getLogger("embcli").info(message)


class IndexModel(Protocol):
    """What an index needs of a model: how its tables are read, where it reports, and its
    static table. :class:`embcli.Model` is one (``Model.index``, ``Model.search``); an index
    opened by name makes its own (:class:`_RecordedModel`). This module does not import
    ``api.model``, which imports it."""

    ref: ModelRef
    cache_dir: str | None
    notice: Notice
    progress: Progress | None

    @property
    def spec(self) -> str: ...

    @property
    def revision(self) -> str | None: ...

    @property
    def allow_pickle(self) -> bool: ...

    @property
    def sinks(self) -> Sinks: ...

    def static_table(self) -> EmbeddingTable | None: ...

    def _float_model(self, command: str) -> None: ...


class _RecordedModel(Reads):
    """The model an index records (its source and revision), read as :class:`embcli.Model`
    reads it: the encoder of a search or an ``add`` on an index opened by name."""

    def __init__(self, meta: IndexMeta, cache_dir: str | None, notice: Notice,
                 progress: Progress | None) -> None:  # fmt: skip
        from embcli.read.ref import ModelRef

        self.ref = ModelRef(meta.model, revision=meta.revision)
        self.cache_dir, self.notice, self.progress = cache_dir, notice, progress

    def static_table(self) -> EmbeddingTable | None:
        from embcli.store.load import static_table

        return static_table(self.ref, cache_dir=self.cache_dir, sinks=self.sinks)

    def _float_model(self, command: str) -> None:
        from embcli.read.sources import refuse_gguf_run

        refuse_gguf_run(self.ref, command)


class Index:
    """An index of the cache, by name: its facts, and search over its vectors.

    ``model`` (optional) is the model the caller means: a search refuses an index built with
    another. Notices (a corpus file changed since the build) go to ``notice`` or the
    ``embcli`` logger.
    """

    def __init__(
        self,
        name: str,
        *,
        cache_dir: PathLike | None = None,
        notice: Notice | None = None,
        progress: Progress | None = None,
        model: str | None = None,
    ) -> None:
        from embcli.store.index import check_name, read_meta

        self.name = check_name(name)
        self.cache_dir = str(cache_dir) if cache_dir is not None else None
        self.cache = _cache(cache_dir)
        self.notice: Notice = notice or _log
        self.progress = progress
        self.meta: IndexMeta = read_meta(self.cache / "indexes" / self.name)
        self._encoders: dict[str, SentenceEncoder] = {}
        if model is not None and model_key(str(model)) != self.meta.model:
            from embcli.store.index import IndexProblem

            raise IndexProblem(
                f"index {self.name} was built with {self.meta.model}, not {model}",
                "leave out -m: an index is searched with its own model",
            )

    def __repr__(self) -> str:
        return f"<embcli.Index {self.name}: {self.meta.rows:,} rows of {self.meta.model}>"

    @property
    def rows(self) -> int:
        return self.meta.rows

    @property
    def dim(self) -> int:
        return self.meta.dim

    @property
    def model(self) -> str:
        return self.meta.model

    def _model(self) -> IndexModel:
        return _RecordedModel(self.meta, self.cache_dir, self.notice, self.progress)

    def summary(self) -> IndexList:
        """This index as a row of ``index list``."""
        from embcli.ask.corpus_index import IndexList, describe

        return IndexList([describe(self.cache, self.meta)])

    def stored(self) -> StoredIndex:
        """The memory-mapped data (vectors, line numbers, texts)."""
        from embcli.store.index import open_index

        return open_index(self.cache, self.name)

    def stale(self) -> list[str]:
        """The corpus files that changed (or went) since they were indexed."""
        from embcli.store.index import changed

        return [str(s["path"]) for s in self.meta.sources if changed(s)]

    def search(
        self,
        queries: str | Sequence[str],
        k: int = 10,
        *,
        exact: bool = False,
        device: str = "cpu",
    ) -> IndexSearchResult:
        """The ``k`` rows closest to each query (``embcli search``): exact over the vectors,
        or from the index's HNSW graph when it has one (``exact=True`` never uses it)."""
        texts = [queries] if isinstance(queries, str) else list(queries)
        if not texts:
            raise UsageProblem("give one or more queries")
        for i, t in enumerate(texts):
            checks.word(t, "a query")
            if not t.strip():
                raise UsageProblem(f"query {i + 1} is empty")
        checks.count("k", k, 1)
        stored = self.stored()
        self.meta = stored.meta
        for path in self.stale():
            how = "changed" if Path(path).exists() else "is gone"
            self.notice(f"{path} {how} since index {self.name} was built: the results are "
                        "its lines as they were (embcli index build, or index add)")  # fmt: skip
        enc = self._encoders.get(device)
        if enc is None:  # kept: a second search needs no tokenizer (or model) loaded again
            enc = encoder_for(self._model(), stored.meta.max_length, device, stored.meta.static)
            self._encoders[device] = enc
        enc.notes.clear()
        from embcli.ask.corpus_index import search

        return search(stored, enc, texts, k, exact)

    def add(
        self,
        corpus: PathLike,
        *,
        batch_size: int | None = None,
        device: str = "cpu",
    ) -> Index:
        """Embed ``corpus``'s lines after the index's rows (``embcli index add``), leaving the
        old rows as they are. When ``corpus`` is a file already indexed that has grown (lines
        appended), only the new lines are read; a file indexed and since changed otherwise is
        refused."""
        from embcli.store.index import prefix_digest, read_corpus

        checks.optional_count("batch_size", batch_size, 1)
        meta = self.meta
        path = str(Path(corpus).expanduser().resolve())
        start = 0
        for source in meta.sources:
            if source["path"] == path:
                if prefix_digest(path, int(source["bytes"])) != source["sha256"]:
                    raise EmbcliError(
                        f"{corpus} changed since it was indexed (not only appended to)",
                        f"build the index again: embcli index rm {self.name}, then index build",
                    )
                start = int(source["bytes"])
        data = read_corpus(corpus, start)
        _build(self._model(), data, self.name, self.cache, meta.static, add=True,
               max_length=meta.max_length, batch_size=batch_size, device=device)  # fmt: skip
        self.meta = Index(self.name, cache_dir=self.cache_dir).meta
        self._encoders.clear()
        return self

    def remove(self) -> None:
        """Remove the index from the cache (``embcli index rm``)."""
        from embcli.store.index import remove_index

        remove_index(self.cache, self.name)

    @staticmethod
    def discard(name: str, cache_dir: PathLike | None = None) -> bool:
        """Remove index ``name`` and any unfinished build of it (``embcli index rm``); False
        when only an unfinished build was there. An index of neither kind raises."""
        from embcli.store.index import check_name, remove_index

        return remove_index(_cache(cache_dir), check_name(name)) is not None


def encoder_for(
    model: IndexModel, max_length: int | None, device: str, static: bool | None = None
) -> SentenceEncoder:
    """The sentence encoder of ``model``: a static model's table (torch-free) or the model run
    with its sentence-transformers settings; a model without them is refused."""
    model._float_model("index")
    table = model.static_table() if static is not False else None
    if table is not None:
        from embcli.ask.static_sentences import static_encoder

        return static_encoder(table, max_length)
    _require_sentence_settings(model)
    from embcli.run.sentences import encoder

    return encoder(model.spec, model.revision, model.allow_pickle, device, max_length)


def _require_sentence_settings(model: IndexModel) -> None:
    from embcli.read.sources import resolve

    source = resolve(model.ref, model.sinks)
    if source.small_file("modules.json") is None:
        from embcli.store.index import IndexProblem

        raise IndexProblem(
            f"{model.spec} has no sentence-transformers configuration (modules.json)",
            "an index keeps the vectors of a sentence model: a sentence-transformers or "
            "model2vec model",
        )


def build_index(
    model: IndexModel,
    corpus: PathLike,
    name: str | None = None,
    *,
    ann: bool | None = None,
    dtype: str = "float16",
    batch_size: int | None = None,
    max_length: int | None = None,
    device: str = "cpu",
) -> Index:
    """:meth:`Model.index`: embed ``corpus`` (a file, one text a line) into index ``name``."""
    from embcli.store.index import DTYPES, check_name, read_corpus

    checks.choice("dtype", dtype, DTYPES)
    checks.optional_count("batch_size", batch_size, 1)
    checks.optional_count("max_length", max_length, 1)
    if isinstance(corpus, (list, tuple)):
        raise UsageProblem("give the corpus as a file (one text a line)")
    chosen = check_name(name if name is not None else _default_name(corpus))
    model._float_model("index build")
    cache = _cache(model.cache_dir)
    existing = _existing(cache, chosen)
    data = read_corpus(corpus)
    if existing is not None:
        same = (
            existing.model == model_key(model.spec)
            and len(existing.sources) == 1
            and existing.sources[0]["sha256"] == data.sha256
            and existing.dtype == dtype
            and existing.revision == model.revision
            and (max_length is None or max_length == existing.max_length)
            and (ann is None or ann == (existing.ann is not None))
        )
        if not same:
            raise EmbcliError(
                f"index {chosen} already exists ({existing.model}, {existing.rows:,} rows)",
                f"embcli index rm {chosen}, or give another --name",
            )
        model.notice(f"index {chosen} already holds {corpus} as it is now")
        return Index(chosen, cache_dir=model.cache_dir, notice=model.notice)
    _build(model, data, chosen, cache, None, ann=ann, dtype=dtype, max_length=max_length,
           batch_size=batch_size, device=device)  # fmt: skip
    return Index(chosen, cache_dir=model.cache_dir, notice=model.notice, progress=model.progress)


def _existing(cache: Path, name: str) -> IndexMeta | None:
    from embcli.store.index import IndexProblem, read_meta

    folder = cache / "indexes" / name
    if not (folder / "index.json").exists():
        return None
    try:
        return read_meta(folder)
    except IndexProblem:
        return None


def _default_name(corpus: PathLike) -> str:
    stem = Path(str(corpus)).stem or "corpus"
    safe = "".join(c if c.isalnum() or c in "._-" else "-" for c in stem).strip("-.")
    return safe or "corpus"


def _build(
    model: IndexModel,
    data: Any,
    name: str,
    cache: Path,
    static: bool | None,
    *,
    add: bool = False,
    ann: bool | None = None,
    dtype: str = "float16",
    max_length: int | None = None,
    batch_size: int | None = None,
    device: str = "cpu",
) -> IndexMeta:
    from embcli.ask.corpus_index import ModelFacts, build

    enc = encoder_for(model, max_length, device, static)
    is_static = type(enc).__name__ == "StaticEncoder"
    chunk = STATIC_CHUNK if is_static else MODEL_CHUNK
    batch = batch_size or (1024 if is_static else 32)
    progress = model.progress
    report = (lambda done, total: progress(done, total, "lines")) if progress else None
    facts = ModelFacts(model_key(model.spec), model.revision, is_static)
    return build(cache, name, data, enc, facts, dtype=dtype, chunk_rows=max(chunk, batch),
                 batch_size=batch, ann=ann, add=add, progress=report,
                 notice=model.notice)  # fmt: skip


def indexes(cache_dir: PathLike | None = None) -> IndexList:
    """The indexes of the cache (``embcli index list``)."""
    from embcli.ask.corpus_index import IndexList, describe
    from embcli.store.index import IndexMeta, list_indexes

    cache = _cache(cache_dir)
    found = [describe(cache, m) for m in list_indexes(cache) if isinstance(m, IndexMeta)]
    return IndexList(found)


def search_file(
    model: IndexModel,
    query: str,
    corpus: str,
    k: int,
    max_length: int | None,
    device: str = "cpu",
) -> SearchResult | None:
    """``sentences --query Q --corpus FILE`` from an index of the same file and model, when the
    cache holds one built with the same settings; None otherwise."""
    if corpus == "-" or max_length is not None or not Path(corpus).is_file():
        return None
    from embcli.store.index import file_digest, find_for_corpus

    cache = _cache(model.cache_dir)
    if not (cache / "indexes").is_dir():
        return None
    digest = file_digest(corpus)
    meta = find_for_corpus(cache, model_key(model.spec), model.revision, digest) if digest else None
    if meta is None:
        return None
    from embcli.ask.corpus_index import as_sentence_search

    # The caller's own encoder (its device, its pickle policy), and only when it embeds as the
    # index did: an index built with another --max-length holds other vectors.
    enc = encoder_for(model, None, device, meta.static)
    if enc.max_length != meta.max_length:
        return None
    index = Index(meta.name, cache_dir=model.cache_dir, notice=model.notice)
    index._encoders[device] = enc
    return as_sentence_search(index.search(query, k, exact=True, device=device))
