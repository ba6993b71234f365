"""embcli from Python: one object per table, a method per question, results as dataclasses.

The API is what the CLI runs: ``embcli neighbors Paris`` and ``embcli.load().neighbors("Paris")``
call the same function and get the same result object; the CLI only prints it. A result has
``to_dict()`` (exactly the CLI's JSON), ``view()`` (its table), and shows itself as an HTML table
in a notebook (``_repr_html_``) and as a rich table in a terminal (``rich.print(result)``).

Errors are the CLI's exceptions (:mod:`embcli.errors`) with the same one-line messages; nothing
here prints or exits. Queries over several words keep going past a word that does not resolve
and list it in ``result.failed``.

    >>> import embcli
    >>> t = embcli.load("sentence-transformers/all-MiniLM-L6-v2")   # doctest: +SKIP
    >>> [n.token for n in t.neighbors("paris", k=3)]                 # doctest: +SKIP
    ['france', 'french', 'lyon']
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from embcli.ask import answers, describe
from embcli.errors import UsageProblem
from embcli.store.load import open_table
from embcli.store.table import EmbeddingTable

DEFAULT_MODEL = "openai-community/gpt2"

__all__ = ["DEFAULT_MODEL", "Table", "load", "size"]


def _quiet(message: str) -> None:
    """Notices of the library (a tied head, a rebuilt entry) go to the ``embcli`` logger."""
    import logging

    logging.getLogger("embcli").info(message)


def load(
    model: str | os.PathLike[str] | None = None,
    *,
    revision: str | None = None,
    tensor: str | None = None,
    table: str = "input",
    cache_dir: str | os.PathLike[str] | None = None,
    allow_pickle: bool = False,
) -> Table:
    """Open a model's token-embedding table, from the same cache the CLI uses.

    ``model`` is a Hub repo id, a local model directory or a word-vector file (default:
    ``$EMBCLI_MODEL``, else ``openai-community/gpt2``). The first use reads only the table from
    the checkpoint and caches it normalised; later calls memory-map the cache in milliseconds.
    ``table="output"`` opens the output head (the same table for a tied model); ``tensor``
    names another checkpoint tensor; ``cache_dir`` defaults to ``$EMBCLI_CACHE`` or the
    platform's cache directory.

        >>> t = embcli.load("openai-community/gpt2")                 # doctest: +SKIP
        >>> t.shape                                                  # doctest: +SKIP
        (50257, 768)
    """
    name = str(model) if model is not None else os.environ.get("EMBCLI_MODEL") or DEFAULT_MODEL
    cache = str(cache_dir) if cache_dir is not None else os.environ.get("EMBCLI_CACHE")
    opened = open_table(
        name,
        tensor=tensor,
        revision=revision,
        allow_pickle=allow_pickle,
        cache_dir=cache,
        notice=_quiet,
        table=table,
    )
    return Table(opened, name, revision=revision, allow_pickle=allow_pickle, cache_dir=cache,
                 kind=table)  # fmt: skip


def size(
    *models: str,
    vocab: int | None = None,
    dim: int | None = None,
    dtype: str = "float16",
    untied: bool = False,
    units: str = "MB",
    offline: bool = False,
) -> Any:
    """The size card of one or more models from their configs alone (no weights downloaded).

    Returns a ``SizeReport``: ``report[0]["table_params"]``, ``report.to_dict()`` (the JSON of
    ``embcli size``); ``vocab`` and ``dim`` add a what-if table.

        >>> embcli.size("gpt2")[0]["vocab_size"]                     # doctest: +SKIP
        50257
        >>> embcli.size(vocab=256_000, dim=8192, dtype="bf16").to_dict()["bytes"]["bfloat16"]
        4194304000
    """
    from embcli.ask.size_card import size as size_of

    return size_of(
        models, vocab=vocab, dim=dim, dtype=dtype, untied=untied, units=units, offline=offline
    )


class Table:
    """A token-embedding table, in the manner of gensim's ``KeyedVectors``.

    ``t.table`` is the underlying :class:`EmbeddingTable` (memory-mapped ``unit`` rows,
    ``norms``, ``tokens``); ``t[word]`` is a word's raw vector. Words are resolved as the CLI
    resolves them: the form a tokenizer gives a word inside running text (GPT-2's ``" Paris"``),
    else the bare form; ``"#123"`` is row 123; a word that splits into several tokens raises
    :class:`embcli.errors.UnresolvedWord` unless ``pool=True`` averages its pieces.
    """

    def __init__(
        self,
        table: EmbeddingTable,
        model: str,
        *,
        revision: str | None = None,
        allow_pickle: bool = False,
        cache_dir: str | None = None,
        kind: str | None = None,
    ) -> None:
        self.table = table
        self.model = model
        self._revision = revision
        self._allow_pickle = allow_pickle
        self._cache_dir = cache_dir
        #: The table asked for, "input" or "output" (a tied head is "output" though its entry is
        #: the input table's): results name it as the CLI's ``--table`` does.
        self.kind = kind or ("output" if table.meta.get("table") == "output" else "input")

    def __repr__(self) -> str:
        rows, dim = self.shape
        return f"<embcli.Table {self.table.label}: {rows:,} x {dim:,}>"

    # -- facts -----------------------------------------------------------------------------------

    @property
    def shape(self) -> tuple[int, int]:
        """``(rows, width)`` of the table."""
        return self.table.shape

    @property
    def tokens(self) -> list[str]:
        """Every row's text (``" Paris"``, ``"##ing"``), indexed by row id."""
        return self.table.tokens

    def __len__(self) -> int:
        return self.shape[0]

    def __contains__(self, word: str) -> bool:
        """True when ``word`` resolves to one row (as a query would)."""
        from embcli.errors import UnresolvedWord

        try:
            self.resolve(word)
        except UnresolvedWord:
            return False
        return True

    def __getitem__(self, word: str) -> np.ndarray:
        """The raw (unnormalised) float64 vector of a word, or the mean of a pooled word's."""
        return self.resolve(word).raw(self.table)

    def resolve(self, word: str, *, pool: bool = False) -> Any:
        """The rows standing for ``word``: ``Resolved(query, ids, form)``.

        >>> t.resolve("Paris").ids                               # doctest: +SKIP
        (6342,)
        """
        from embcli.ask.words import resolve

        return resolve(self.table, word, pool=pool)

    def vector(self, word: str, *, pool: bool = False, unit: bool = False) -> np.ndarray:
        """A word's vector: raw by default, unit length with ``unit=True`` (float64)."""
        r = self.resolve(word, pool=pool)
        if unit:
            return r.unit(self.table).astype(np.float64)
        return r.raw(self.table)

    def info(self) -> describe.Info:
        """Where the table comes from, shape, dtype, tokenizer and output head (``embcli info``).

        >>> t.info()["rows"]                                     # doctest: +SKIP
        30522
        """
        return describe.info(self.table)

    def tokenize(self, text: str, *, special: bool = False) -> describe.Tokenized:
        """Split text as the model does (``embcli tokenize``); iterate for tokens with ``.id``.

        >>> [tok.token for tok in t.tokenize("Hello world")]     # doctest: +SKIP
        ['hello', 'world']
        """
        return describe.tokenize(self.table, text, special=special)

    # -- the three questions ---------------------------------------------------------------------

    def neighbors(
        self,
        word_or_words: str | Sequence[str] | None = None,
        k: int = 10,
        *,
        vector: np.ndarray | Sequence[float] | None = None,
        among: Sequence[str] | None = None,
        pool: bool = False,
        center: bool = False,
        remove_pcs: int = 0,
        all_tokens: bool = False,
    ) -> answers.NeighborList | answers.Neighbors:
        """Nearest tokens by cosine (``embcli neighbors``).

        One word gives a ``NeighborList`` of ``Neighbor(rank, id, token, cosine)``; a list of
        words gives ``Neighbors`` (one list per word, and the words that did not resolve in
        ``.failed``). The word itself, its case/space variants, special tokens and word
        fragments are left out unless ``all_tokens``. ``among`` restricts the candidates to
        a word list (gensim's ``restrict_vocab`` by words); ``vector`` asks for any vector of
        the table's width instead of a word.

            >>> [n.token for n in t.neighbors("paris", k=3)]         # doctest: +SKIP
            ['france', 'french', 'lyon']
            >>> t.neighbors("paris", among=["london", "tokyo", "banana"])[0].token  # doctest: +SKIP
            'london'
        """
        opts: dict[str, Any] = {
            "center": center,
            "remove_pcs": remove_pcs,
            "all_tokens": all_tokens,
            "among": list(among) if among is not None else None,
        }
        if vector is not None:
            if word_or_words is not None:
                raise UsageProblem("give either words or vector=, not both")
            return answers.neighbors_of_vector(self.table, np.asarray(vector), k, **opts)[0]
        if word_or_words is None:
            raise UsageProblem("name a word, a list of words, or vector=")
        single = isinstance(word_or_words, str)
        words = [word_or_words] if isinstance(word_or_words, str) else list(word_or_words)
        found = answers.neighbors(self.table, words, k, pool=pool, single=single, **opts)
        return found[0] if single else found

    most_similar = neighbors  # gensim's name

    def similarity(
        self,
        *words: str,
        pairs: Sequence[tuple[str, str]] | None = None,
        pool: bool = False,
        center: bool = False,
        remove_pcs: int = 0,
    ) -> answers.Similarity:
        """Cosine similarity (and dot product) of words (``embcli similarity``).

        Two words: ``float(result)`` or ``result.cosine`` is their cosine, ``result.dot`` the
        dot product of the raw vectors. Three or more: every pair, and ``result.matrix``;
        ``pairs=[("cat", "dog"), ...]``: those pairs.

            >>> round(float(t.similarity("cat", "dog")), 4)          # doctest: +SKIP
            0.6861
        """
        return answers.similarity(
            self.table,
            list(words),
            list(pairs) if pairs is not None else None,
            pool=pool,
            center=center,
            remove_pcs=remove_pcs,
        )

    def similarity_matrix(self, words: Sequence[str], **options: Any) -> np.ndarray:
        """The ``[n, n]`` cosine matrix of ``words`` (float64)."""
        result = self.similarity(*words, **options)
        if result.matrix is None:
            raise UsageProblem("a similarity matrix needs three or more words that all resolve")
        return result.matrix

    def analogy(
        self,
        a: str,
        b: str,
        c: str,
        k: int = 5,
        *,
        method: str = "3cosadd",
        keep_inputs: bool = False,
        pool: bool = False,
        center: bool = False,
        remove_pcs: int = 0,
        all_tokens: bool = False,
    ) -> answers.Answer:
        """Solve ``a - b + c = ?`` (``embcli analogy``): king - man + woman = queen.

        Returns an ``Answer``; iterate it for ``Scored(rank, id, token, score)``. ``method`` is
        ``3cosadd`` (Mikolov) or ``3cosmul`` (Levy and Goldberg); the inputs are left out
        unless ``keep_inputs``.

            >>> t.analogy("king", "man", "woman")[0].token           # doctest: +SKIP
            'queen'
        """
        return self.analogies([[a, b, c]], k, method=method, keep_inputs=keep_inputs, pool=pool,
                              center=center, remove_pcs=remove_pcs, all_tokens=all_tokens,
                              single=True)[0]  # fmt: skip

    def analogies(
        self, questions: Sequence[Sequence[str]], k: int = 5, **options: Any
    ) -> answers.Analogies:
        """Many analogies ``[a, b, c]`` or ``[a, b, c, expected]`` (``analogy --file``).

        >>> t.analogies([["paris", "france", "italy", "rome"]]).accuracy  # doctest: +SKIP
        1.0
        """
        return answers.analogies(self.table, questions, k, **options)

    # -- benchmarks ------------------------------------------------------------------------------

    def evaluate_analogies(
        self,
        file: str | Path | None = None,
        *,
        method: str = "3cosadd",
        restrict_vocab: int | None = 300_000,
        case_sensitive: bool = False,
    ) -> Any:
        """Accuracy on an analogy benchmark (default Google's), as gensim computes it.

        >>> t.evaluate_analogies().accuracy                      # doctest: +SKIP
        0.29
        """
        from embcli.ask.benchmarks import evaluate_analogies

        return evaluate_analogies(self.table, file, method=method, restrict_vocab=restrict_vocab,
                                  case_sensitive=case_sensitive)  # fmt: skip

    def evaluate_similarity(
        self,
        file: str | Path | None = None,
        *,
        restrict_vocab: int | None = 300_000,
        case_sensitive: bool = False,
    ) -> Any:
        """Spearman/Pearson with human judgements (``wordsim353``, ``simlex999`` or a file).

        >>> t.evaluate_similarity("simlex999").spearman          # doctest: +SKIP
        0.29
        """
        from embcli.ask.benchmarks import evaluate_similarity

        return evaluate_similarity(self.table, file, restrict_vocab=restrict_vocab,
                                   case_sensitive=case_sensitive)  # fmt: skip

    evaluate_word_analogies = evaluate_analogies  # gensim's names
    evaluate_word_pairs = evaluate_similarity

    # -- pictures --------------------------------------------------------------------------------

    def plot(
        self,
        words: Sequence[str] | None = None,
        *,
        groups: Mapping[str, Sequence[str]] | None = None,
        method: str = "pca",
        perplexity: float = 30.0,
        seed: int = 0,
        pool: bool = False,
        center: bool = False,
        remove_pcs: int = 0,
        output: str | Path | None = None,
    ) -> Any:
        """Words in 2-D (PCA or t-SNE), coloured by group: a matplotlib ``Figure``.

        Jupyter shows the figure inline; ``output`` also writes it (``.png``, ``.svg``,
        ``.pdf``, or an interactive ``.html`` page). Words that do not resolve are left out
        (listed in ``fig.embcli_dropped``).

            >>> fig = t.plot(groups={"animals": ["cat", "dog", "horse"],
            ...                      "cities": ["paris", "rome", "tokyo"]})  # doctest: +SKIP
        """
        from embcli.draw import wordplot

        spec: list[tuple[str, list[str]]] = [("", list(words))] if words else []
        spec += [(name, list(ws)) for name, ws in (groups or {}).items()]
        picture = wordplot.project_words(self.table, spec, method=method, perplexity=perplexity,
                                         seed=seed, pool=pool, center=center,
                                         remove_pcs=remove_pcs)  # fmt: skip
        if output is not None:
            picture.save(Path(output))
        fig = picture.figure()
        fig.embcli_dropped = picture.dropped
        return fig

    def positions(self, max_positions: int = 256, *, output: str | Path | None = None) -> Any:
        """Heatmap of the model's learned position vectors (GPT-2, BERT): a ``Figure``.

        Raises :class:`embcli.errors.EmbcliError` for models whose positions are computed
        (rotary, sinusoidal) and for word-vector files.
        """
        from embcli.draw import wordplot

        name = wordplot.position_tensor(self.model, self._revision, self._allow_pickle)
        table = open_table(self.model, tensor=name, revision=self._revision,
                           allow_pickle=self._allow_pickle, cache_dir=self._cache_dir,
                           notice=_quiet)  # fmt: skip
        picture = wordplot.position_plot(table, name, max_positions)
        if output is not None:
            picture.save(Path(output))
        return picture.figure()

    # -- interop ---------------------------------------------------------------------------------

    def export(
        self,
        path: str | Path,
        *,
        format: str | None = None,
        words: Sequence[str] | None = None,
        limit: int | None = None,
    ) -> Any:
        """Write rows for other tools (``embcli export``): word2vec text/binary, ``.npy`` +
        token list, or the TensorBoard Projector's ``vectors.tsv`` + ``metadata.tsv``.

        The format follows the suffix (``.txt``/``.vec``: word2vec text, ``.bin``: binary,
        ``.npy``, ``.tsv``: Projector) unless ``format`` says. Rows: the word-like tokens,
        or ``words``, or the first ``limit`` of either. Returns an ``Export`` report.

            >>> from gensim.models import KeyedVectors               # doctest: +SKIP
            >>> out = t.export("gpt2.txt")                           # doctest: +SKIP
            >>> kv = KeyedVectors.load_word2vec_format(out.paths[0])  # doctest: +SKIP
        """
        from embcli.ask.export import export_rows

        return export_rows(self.table, Path(path), format=format, words=words, limit=limit)

    # -- commands added by other modules -----------------------------------------------------------

    def compare(self, other: Table, **options: Any) -> Any:
        """Compare this table with another (``embcli compare``): shared words, neighbour
        agreement, CKA and Procrustes alignment. Options as :func:`embcli.ask.compare.compare`.
        """
        from embcli.ask import compare

        return compare.compare(self.table, other.table, **options)

    def stats(self, *, remove_pcs: int | None = None, samples: int = 10_000, seed: int = 0) -> Any:
        """Geometry of the table (``embcli stats``): norms, anisotropy, isotropy, used
        dimensions. Options as :func:`embcli.ask.anatomy.table_stats`."""
        from embcli.ask.anatomy import table_stats

        return table_stats(self.table, remove_pcs, samples, seed, self.kind)

    def undertrained(
        self,
        k: int = 50,
        *,
        input_table: Table | None = None,
        reference_file: str | None = None,
        percentile: float = 2.0,
        all_rows: bool = False,
    ) -> Any:
        """Rows that look never trained (``embcli undertrained``), ranked; best read on the
        output head (``embcli.load(model, table="output")``). For an untied head the input
        table's norms are shown beside the scores: ``input_table``, or else opened from the
        same model, as the CLI does."""
        from embcli.ask.undertrained import undertrained

        def open_input() -> EmbeddingTable:
            if input_table is not None:
                return input_table.table
            return open_table(self.model, revision=self._revision,
                              allow_pickle=self._allow_pickle, cache_dir=self._cache_dir,
                              notice=_quiet)  # fmt: skip

        return undertrained(self.table, self.kind, open_input, reference_file, k, percentile,
                            all_rows)  # fmt: skip

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
    ) -> Any:
        """A word's vector inside each sentence, layer by layer (``embcli context``).

        Runs the model: needs torch and transformers (``pip install "embcli[torch]"``).
        """
        from embcli.run import context as run_context
        from embcli.run import model as run_model

        loaded = run_model.load(self.model, self._revision, self._allow_pickle, device,
                                with_head=True)  # fmt: skip
        result, _, _ = run_context.analyse(loaded, word, sentences, occurrence, layer, k,
                                           max_length)  # fmt: skip
        return result

    def sentences(self, texts: Sequence[str], *, device: str = "cpu", batch_size: int = 32) -> Any:
        """Sentence vectors and their cosine matrix (``embcli sentences``); runs the model."""
        from embcli.run import sentences as run_sentences

        result, _ = run_sentences.compare_sentences(
            self.model, texts, revision=self._revision, allow_pickle=self._allow_pickle,
            device=device, batch_size=batch_size,
        )  # fmt: skip
        return result
