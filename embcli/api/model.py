"""``Model``: where tables come from, how to read them, and the model itself when it must run.

A :class:`Model` is a source (a Hub repo id, a local model directory, a GGUF file or Ollama model,
or a word-vector file) with the options that say how to read it: revision, which GGUF file of
several, cache directory, whether pickles may be unpickled, and where notices and progress go.
It opens tables (:meth:`Model.table`, the input embeddings or the output head, or any checkpoint
tensor) and answers the questions that are about the model rather than one table:
:meth:`context` and :meth:`sentences`/:meth:`search` run it, :meth:`positions` reads its learned
position table, :meth:`compare` pairs two of its tables or one of its tables with another
model's.

The CLI builds one ``Model`` from its options, with a stderr notice sink and a progress bar; a
Python caller gets notices on the ``embcli`` logger and no bar unless it passes its own.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from embcli.api import checks
from embcli.api.defaults import DEFAULT_MODEL, IMAGE_SUFFIXES, PAGE_SUFFIXES
from embcli.errors import EmbcliError, UsageProblem
from embcli.read.ref import ModelRef, Reads

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from embcli.api.index import Index
    from embcli.api.table import Table
    from embcli.ask.compare import CompareResult
    from embcli.ask.sentences import SearchResult, SentencesResult
    from embcli.draw.wordplot import PositionPlot
    from embcli.run.context import ContextResult
    from embcli.store.table import EmbeddingTable

#: The vocabulary tables of a model: the token embeddings, the output head (lm_head), and the
#: decoder's own table of an encoder-decoder that has one (FSMT's target vocabulary).
ROLES = ("input", "output", "target")
#: The parts of an encoder-decoder that ``context`` can feed a sentence to.
SIDES = ("encoder", "decoder")

Notice = Callable[[str], None]
#: ``progress(done, total, unit)``; unit is "bytes" (a download), "rows" (a cache build),
#: "questions" (a benchmark), "lines" (a corpus being embedded) or "neighbour lists" (every
#: row's neighbours, for ``Table.map``).
Progress = Callable[[int, int, str], None]
PathLike = str | os.PathLike[str]


def _log(message: str) -> None:
    """Notices of the library (a tied head, a rebuilt entry) go to the ``embcli`` logger."""
    import logging  # here: the logging package costs a warm query a few milliseconds

    logging.getLogger("embcli").info(message)


class Model(Reads):
    """A model (or word-vector file) and how to read it; opens its tables, runs it.

    ``spec`` defaults to ``$EMBCLI_MODEL``, else ``openai-community/gpt2``; ``cache_dir`` to
    ``$EMBCLI_CACHE``, else the platform's cache directory. ``notice(message)`` hears what a
    user should know (a tied head, a rebuilt cache entry); ``progress(done, total, unit)``
    hears long work (a download, a cache build, a corpus).

        >>> m = embcli.Model("openai-community/gpt2")            # doctest: +SKIP
        >>> m.table("output").shape                             # doctest: +SKIP
        (50257, 768)
    """

    def __init__(
        self,
        spec: PathLike | None = None,
        *,
        revision: str | None = None,
        cache_dir: PathLike | None = None,
        allow_pickle: bool = False,
        notice: Notice | None = None,
        progress: Progress | None = None,
        file: str | None = None,
        quant: str | None = None,
    ) -> None:
        if spec is not None and not isinstance(spec, (str, os.PathLike)):
            raise UsageProblem(f"a model is a name or a path, not {type(spec).__name__} {spec!r}")
        chosen = os.fspath(spec) if spec is not None else os.environ.get("EMBCLI_MODEL")
        #: What to read, as one frozen value handed down whole (``file``/``quant``: which GGUF
        #: model of a directory or Hub repo holding several, a file name or a quantisation
        #: matched against the usual file names, ``Q4_K_M``); a table adds its role and tensor.
        self.ref = ModelRef(chosen or DEFAULT_MODEL, revision, file, quant,
                            allow_pickle=allow_pickle)  # fmt: skip
        self.cache_dir = str(cache_dir) if cache_dir is not None else None
        self.notice: Notice = notice or _log
        self.progress = progress

    def __repr__(self) -> str:
        rev = f"@{self.revision}" if self.revision else ""
        choice = f" [{self.file or self.quant}]" if self.file or self.quant else ""
        return f"<embcli.Model {self.spec}{rev}{choice}>"

    def sibling(self, spec: PathLike) -> Model:
        """Another model read the same way (cache, pickle policy, notices, progress).

        Its revision is this one's only if it is the same model: a revision names a commit of
        one repo.
        """
        same = str(spec) == self.spec
        return Model(spec, revision=self.revision if same else None, cache_dir=self.cache_dir,
                     allow_pickle=self.allow_pickle, notice=self.notice,
                     progress=self.progress, file=self.file if same else None,
                     quant=self.quant if same else None)  # fmt: skip

    # -- tables --------------------------------------------------------------------------------

    def table(self, role: str = "input", tensor: str | None = None) -> Table:
        """One of the model's tables: ``role`` "input" (the token embeddings), "output" (the
        output head: the same table for a tied model) or "target" (the decoder's own table of
        an encoder-decoder with one: FSMT, T5Gemma; refused for other models), or the
        checkpoint tensor ``tensor``.

        The table is opened when a question first needs it (the first use of a model reads
        the table from the checkpoint and caches it normalised; later uses memory-map the
        cache), so a question's arguments are checked before anything is read or built;
        ``table.open()`` opens it now.
        """
        checks.choice("role", role, ROLES)
        if tensor is not None and not tensor.strip():
            hint = "a name the checkpoint lacks is answered with some it has"
            raise UsageProblem("--tensor needs a tensor's name", hint)
        from embcli.api.table import Table

        return Table(self, role, tensor)

    def embeddings(self, role: str = "input", tensor: str | None = None) -> EmbeddingTable:
        """The cached table itself (:class:`~embcli.store.table.EmbeddingTable`), built if
        needed: what :class:`Table` reads its rows from."""
        from embcli.store.load import open_table

        ref = self.ref.but(role=role, tensor=tensor)
        return open_table(ref, cache_dir=self.cache_dir, sinks=self.sinks)

    def compare(
        self,
        other: Model | PathLike | None = None,
        *,
        role: str = "input",
        tensor: str | None = None,
        other_role: str | None = None,
        other_tensor: str | None = None,
        k: int = 10,
        case_sensitive: bool = False,
        words: Sequence[str] | None = None,
        sample: int = 5000,
        show: int = 0,
        plot: PathLike | None = None,
    ) -> CompareResult:
        """Compare table A (``role``/``tensor`` of this model) with table B (``embcli compare``).

        B is ``other_role``/``other_tensor`` of ``other``: another model (read as this one is;
        a name is opened with :meth:`sibling`), or, when ``other`` is None or names this
        model, this model's other table, e.g. ``other_role="output"`` for the head against the
        input table. Options as :meth:`Table.compare`.
        """
        if other is None or (not isinstance(other, Model) and str(other) == self.spec):
            if other is None and other_role is None and other_tensor is None:
                raise UsageProblem(
                    "compare needs two tables: -m A -m B, or -m A with --tensor-b NAME or "
                    "--table-b output for the same model's other table"
                )
            model_b = self
        else:
            model_b = other if isinstance(other, Model) else self.sibling(other)
        table_a = self.table(role, tensor)
        table_b = model_b.table(other_role or "input", other_tensor)
        return table_a.compare(table_b, k, case_sensitive=case_sensitive, words=words,
                               sample=sample, show=show, plot=plot)  # fmt: skip

    # -- the position table --------------------------------------------------------------------

    def position_plot(
        self, max_positions: int = 256, *, plot: PathLike | None = None
    ) -> PositionPlot:
        """The learned position table (GPT-2, BERT): cosines between the first
        ``max_positions`` positions and their norms (``embcli positions``); ``plot`` writes
        the heatmap (.png, .svg, .pdf).

        Raises :class:`embcli.errors.EmbcliError` for models whose positions are computed
        (rotary, sinusoidal) and for word-vector files.
        """
        checks.count("max_positions", max_positions, 2)
        out = checks.output_file(plot, IMAGE_SUFFIXES, "positions") if plot is not None else None
        from embcli.ask.projection import position_similarities, position_tensor
        from embcli.draw.wordplot import PositionPlot

        name = position_tensor(self.ref)
        picture = PositionPlot.of(
            position_similarities(self.embeddings("input", name), name, max_positions)
        )
        if out is not None:
            picture.save(out)
        return picture

    def positions(self, max_positions: int = 256, *, output: PathLike | None = None) -> Figure:
        """The position heatmap as a matplotlib ``Figure`` (Jupyter shows it inline);
        ``output`` also writes it."""
        return self.position_plot(max_positions, plot=output).figure()

    # -- running the model ---------------------------------------------------------------------

    def _float_model(self, command: str) -> None:
        """``context``, ``sentences`` and ``search`` run the model with transformers in float;
        a GGUF holds llama.cpp's (quantised) weights, not a model transformers runs."""
        from embcli.read.sources import refuse_gguf_run

        refuse_gguf_run(self.ref, command)

    def context(
        self,
        word: str,
        sentences: Sequence[str],
        *,
        occurrence: int | None = None,
        layer: int | None = None,
        k: int = 5,
        max_length: int | None = None,
        device: str = "cpu",
        plot: PathLike | None = None,
        side: str | None = None,
    ) -> ContextResult:
        """A word's vector inside each sentence, layer by layer (``embcli context``).

        Runs the model: needs torch and transformers (``pip install "embcli[torch]"``).
        ``plot`` draws cosine against layer (.png, .svg, .pdf or .html). For an
        encoder-decoder the encoder reads the sentences; ``side="decoder"`` feeds them to its
        decoder instead (refused for models with one stack of layers). Where transformers
        itself cannot load or run the model, :class:`embcli.errors.ModelFailure` (exit 5).
        """
        self._float_model("context")
        checks.word(word, "the word")
        texts = checks.texts(sentences)
        if not word.strip():
            raise UsageProblem("the word is empty")
        if len(texts) < 2:
            raise UsageProblem("context needs a word and two or more sentences to compare")
        for i, text in enumerate(texts):
            if not text.strip():
                raise UsageProblem(f"sentence {i} is empty")
        checks.optional_count("occurrence", occurrence, 1)
        checks.count("k", k)
        checks.optional_count("max_length", max_length, 1)
        if side is not None:
            checks.choice("side", side, SIDES)
        out = checks.output_file(plot, PAGE_SUFFIXES, "context --plot") if plot else None
        if self.static_table() is not None:
            raise EmbcliError(
                f"{self.spec} is a static-embedding model: it has no layers, so a word has no "
                "context vectors",
                "its sentence vectors are means of its rows: embcli sentences",
            )
        from embcli.run import context as run_context
        from embcli.run import model as run_model

        loaded = run_model.load(self.spec, self.revision, self.allow_pickle, device,
                                with_head=True)  # fmt: skip
        result, _, _ = run_context.analyse(loaded, word, texts, occurrence, layer, k,
                                           max_length, side=side)  # fmt: skip
        if out is not None:
            _draw_context(result, out)
        return result

    def sentences(
        self,
        texts: Sequence[str],
        *,
        device: str = "cpu",
        batch_size: int = 32,
        max_length: int | None = None,
        output: PathLike | None = None,
    ) -> SentencesResult:
        """Sentence vectors as the model's sentence-transformers config makes them, and their
        cosine matrix (``embcli sentences``); ``output`` writes the vectors as ``.npy``. Above
        ``ask.sentences.MATRIX_LIMIT`` sentences there is no matrix, and ``output`` is needed.

        Runs the model (torch and transformers); a static-embedding model (model2vec,
        StaticEmbedding) needs neither: its vectors are means of its cached table's rows, as
        its own library makes them.
        """
        self._float_model("sentences")
        items = checks.texts(texts)
        checks.count("batch_size", batch_size, 1)
        checks.optional_count("max_length", max_length, 1)
        out = checks.output_file(output, (".npy",), "--output") if output is not None else None
        from embcli.ask import sentences as ask_sentences

        ask_sentences.check_sentences(items)
        matrix = ask_sentences.check_matrix(len(items), out is not None)
        static = self.static_table()
        if static is not None:
            from embcli.ask.static_sentences import static_encoder

            enc = static_encoder(static, max_length)
            result, vectors = ask_sentences.similarity(enc, items, batch_size, matrix)
        else:
            from embcli.run import sentences as run_sentences

            result, vectors = run_sentences.compare_sentences(
                self.spec, items, revision=self.revision, allow_pickle=self.allow_pickle,
                device=device, max_length=max_length, batch_size=batch_size, matrix=matrix,
            )  # fmt: skip
        if out is not None:
            ask_sentences.save_npy(out, vectors)
        return result

    def search(
        self,
        query: str,
        corpus: Sequence[str] | Sequence[tuple[int, str]],
        k: int = 10,
        *,
        corpus_name: str = "the corpus",
        device: str = "cpu",
        batch_size: int = 32,
        max_length: int | None = None,
        output: PathLike | None = None,
    ) -> SearchResult:
        """The ``k`` texts of ``corpus`` closest to ``query`` (``sentences --query --corpus``).

        ``corpus`` is a list of texts, or of ``(line number, text)`` as a file gives them;
        ``output`` writes the corpus vectors as ``.npy``. Runs the model, unless it is a
        static-embedding model (as :meth:`sentences`).
        """
        self._float_model("search")
        checks.word(query, "the query")
        checks.count("k", k, 1)
        checks.count("batch_size", batch_size, 1)
        checks.optional_count("max_length", max_length, 1)
        out = checks.output_file(output, (".npy",), "--output") if output is not None else None
        if isinstance(corpus, str):
            raise UsageProblem("give the corpus as a list of texts, not one string")
        lines = [
            (item[0], item[1]) if isinstance(item, tuple) else (n, checks.word(item, "a text"))
            for n, item in enumerate(corpus, 1)
        ]
        from embcli.ask import sentences as ask_sentences

        ask_sentences.check_search(query, lines, corpus_name)
        if out is None:
            from embcli.api.index import search_file

            reused = search_file(self, query, corpus_name, k, max_length, device)
            if reused is not None:
                return reused
        progress = self.progress
        report = (lambda done, total: progress(done, total, "lines")) if progress else None
        static = self.static_table()
        if static is not None:
            from embcli.ask.static_sentences import static_encoder

            enc = static_encoder(static, max_length)
            result, vectors = ask_sentences.search(enc, query, lines, k, batch_size, report)
        else:
            from embcli.run import sentences as run_sentences

            result, vectors = run_sentences.search_corpus(
                self.spec, query, lines, k, corpus=corpus_name, revision=self.revision,
                allow_pickle=self.allow_pickle, device=device, max_length=max_length,
                batch_size=batch_size, progress=report,
            )  # fmt: skip
        if out is not None:
            ask_sentences.save_npy(out, vectors)
        return result

    def index(
        self,
        corpus: PathLike,
        name: str | None = None,
        *,
        ann: bool | None = None,
        dtype: str = "float16",
        batch_size: int | None = None,
        max_length: int | None = None,
        device: str = "cpu",
    ) -> Index:
        """Embed ``corpus`` (a file, one text a line) once into index ``name`` of the cache
        (default: the file's stem) and return it (``embcli index build``); see
        :class:`embcli.api.index.Index`. An interrupted build continues where it stopped.
        ``ann`` builds an HNSW graph for approximate search (None: above
        ``ask.corpus_index.ANN_AUTO_ROWS`` rows)."""
        from embcli.api.index import build_index

        return build_index(self, corpus, name, ann=ann, dtype=dtype, batch_size=batch_size,
                           max_length=max_length, device=device)  # fmt: skip

    def static_table(self) -> EmbeddingTable | None:
        """The cached table of a static-embedding model (model2vec, sentence-transformers'
        StaticEmbedding), built on first use; None for a model that must run to embed text
        (:func:`embcli.store.load.static_table`)."""
        from embcli.store.load import static_table

        return static_table(self.ref, cache_dir=self.cache_dir, sinks=self.sinks)


def _draw_context(result: ContextResult, out: Path) -> Path:
    """``context --plot``: each pair of sentences' cosine against the layer."""
    from embcli.ask.projection import title_name
    from embcli.draw.context_plot import cosine_by_layer
    from embcli.run.context import excerpt

    spans = {s.index: (s.spans[0][0], s.spans[-1][1]) for s in result.sentences}
    texts = {s.index: s.text for s in result.sentences}

    def short(i: int) -> str:
        return excerpt(texts[i], spans[i])

    labels = [f"{p['a']}-{p['b']}: {short(p['a'])} / {short(p['b'])}" for p in result.static_pairs]
    return cosine_by_layer(
        labels,
        [p["cosine"] for p in result.static_pairs],
        [[p["cosine"] for p in ly["pairs"]] for ly in result.layers],
        [ly["baseline"] for ly in result.layers],
        f"{result.word!r} in context: {title_name(result.model)}",
        out,
    )


def load(
    model: PathLike | None = None,
    *,
    revision: str | None = None,
    tensor: str | None = None,
    role: str = "input",
    cache_dir: PathLike | None = None,
    allow_pickle: bool = False,
    file: str | None = None,
    quant: str | None = None,
) -> Table:
    """Open a model's token-embedding table, from the same cache the CLI uses.

    ``model`` is a Hub repo id, a local model directory, a GGUF file (or a folder of them),
    ``ollama:NAME[:TAG]`` or a word-vector file (default: ``$EMBCLI_MODEL``, else
    ``openai-community/gpt2``); ``file`` or ``quant`` (``"Q4_K_M"``) chooses among the GGUF
    files of a folder or Hub repo. The first use reads only the table from
    the checkpoint and caches it normalised; later calls memory-map the cache in milliseconds.
    ``role="output"`` opens the output head (the same table for a tied model); ``tensor``
    names another checkpoint tensor; ``cache_dir`` defaults to ``$EMBCLI_CACHE`` or the
    platform's cache directory.

    The table is opened here, so a model that cannot be read raises at once;
    ``embcli.Model(model).table(...)`` opens it on first use instead.

        >>> t = embcli.load("openai-community/gpt2")                 # doctest: +SKIP
        >>> t.shape                                                  # doctest: +SKIP
        (50257, 768)
    """
    source = Model(model, revision=revision, cache_dir=cache_dir, allow_pickle=allow_pickle,
                   file=file, quant=quant)  # fmt: skip
    return source.table(role, tensor).open()
