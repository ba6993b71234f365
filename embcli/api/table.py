"""``Table``: one token-embedding table and every question asked of it, in the manner of gensim.

Every method checks its arguments first (:mod:`embcli.api.checks`), then opens the table if it
is not open yet (:meth:`Table.open`), then calls one function of :mod:`embcli.ask` (or draws
with :mod:`embcli.draw`) and returns its result object. The CLI calls these same methods, so
``embcli neighbors Paris`` and ``Model().table().neighbors("Paris")`` give one answer.

Single or batch is decided one way everywhere: a ``str`` is one question (an unresolvable word
raises :class:`~embcli.errors.UnresolvedWord`), a list is a batch (unresolvable words are kept
in ``result.failed``).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from embcli.api import checks
from embcli.api.defaults import IMAGE_SUFFIXES, PAGE_SUFFIXES
from embcli.errors import EmbcliError, UnresolvedWord, UsageProblem

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from embcli.api.model import Model
    from embcli.ask.anatomy import StatsResult
    from embcli.ask.answers import Analogies, Answer, NeighborList, Neighbors, Similarity
    from embcli.ask.axis import AxisScores
    from embcli.ask.benchmarks import AnalogyScores, PairScores
    from embcli.ask.compare import CompareResult
    from embcli.ask.export import Export
    from embcli.ask.info import Info, Tokenized
    from embcli.ask.undertrained import UndertrainedResult
    from embcli.ask.weat import WeatResult, WeatResults
    from embcli.ask.words import Resolved
    from embcli.draw.map_page import MapPage
    from embcli.draw.wordplot import WordPlot
    from embcli.store.space import Space as ScoredRows
    from embcli.store.space import Transform
    from embcli.store.table import EmbeddingTable

PathLike = str | os.PathLike[str]
#: ``remove_axis``: pairs (``"he:she,man:woman"``, a section of the analogy set, a list of
#: ``"a:b"`` or ``(a, b)``), a vector of the table's width, or None.
AxisToRemove = str | Sequence[str] | Sequence[tuple[str, str]] | np.ndarray | None
METHODS = ("3cosadd", "3cosmul")
PROJECTIONS = ("pca", "tsne")
MAP_METHODS = ("pca", "tsne", "umap")
PLOT_QUERIES = 300  # query words whose neighbour ranks the compare picture shows


class Table:
    """A token-embedding table, in the manner of gensim's ``KeyedVectors``.

    ``t.model`` is the :class:`Model` it belongs to and ``t.role`` which of its tables it is
    ("input" or "output"; a tied head is "output" though it is the input table's rows).
    ``t.embeddings`` is the cached table itself (memory-mapped ``unit`` rows, ``norms``,
    ``tokens``); ``t[word]`` is a word's raw vector. Words are resolved as the CLI resolves
    them: the form a tokenizer gives a word inside running text (GPT-2's ``" Paris"``), else
    the bare form; ``"#123"`` is row 123; a word that splits into several tokens raises
    :class:`embcli.errors.UnresolvedWord` unless ``pool=True`` averages its pieces.
    """

    def __init__(
        self,
        model: Model,
        role: str = "input",
        tensor: str | None = None,
        *,
        embeddings: EmbeddingTable | None = None,
    ) -> None:
        self.model = model
        self.role = role
        self.tensor = tensor
        self._embeddings = embeddings

    @property
    def embeddings(self) -> EmbeddingTable:
        """The cached table (opened, or built, on first use)."""
        if self._embeddings is None:
            table = self.model.embeddings(self.role, self.tensor)
            rows, width = table.shape
            if not rows or not width:  # nothing to ask: said, not answered with 0s or a crash
                shape = "has width 0 (its rows hold no numbers)" if rows else "has no rows"
                raise EmbcliError(f"the table of {table.label} {shape}: no question can be "
                                  "asked of it")  # fmt: skip
            self._embeddings = table
        return self._embeddings

    def open(self) -> Table:
        """Open the table now (building its cache entry on a model's first use); returns it."""
        _ = self.embeddings
        return self

    def __repr__(self) -> str:
        if self._embeddings is None:
            return f"<embcli.Table {self.model.spec} ({self.role}, not opened yet)>"
        rows, dim = self.shape
        return f"<embcli.Table {self.label}: {rows:,} x {dim:,}>"

    # -- facts -----------------------------------------------------------------------------------

    @property
    def label(self) -> str:
        """The model as results name it (a local model by its absolute path)."""
        return self.embeddings.label

    @property
    def shape(self) -> tuple[int, int]:
        """``(rows, width)`` of the table."""
        return self.embeddings.shape

    @property
    def tokens(self) -> list[str]:
        """Every row's text (``" Paris"``, ``"##ing"``), indexed by row id."""
        return self.embeddings.tokens

    def __len__(self) -> int:
        return self.shape[0]

    def __contains__(self, word: object) -> bool:
        """True when ``word`` resolves to one row (as a query would)."""
        try:
            self.resolve(word)  # type: ignore[arg-type]
        except UnresolvedWord:
            return False
        return True

    def __getitem__(self, word: str) -> np.ndarray:
        """The raw (unnormalised) float64 vector of a word, or the mean of a pooled word's."""
        return self.resolve(word).raw(self.embeddings)

    def resolve(self, word: str, *, pool: bool = False, ids: bool = False) -> Resolved:
        """The rows standing for ``word``: ``Resolved(query, ids, form)``.

        >>> t.resolve("Paris").ids                               # doctest: +SKIP
        (6342,)
        """
        from embcli.ask.words import resolve

        return resolve(self.embeddings, checks.word(word), pool=pool, ids=ids)

    def vector(self, word: str, *, pool: bool = False, unit: bool = False) -> np.ndarray:
        """A word's vector: raw by default, unit length with ``unit=True`` (float64)."""
        r = self.resolve(word, pool=pool)
        if unit:
            return r.unit(self.embeddings).astype(np.float64)
        return r.raw(self.embeddings)

    def info(self) -> Info:
        """Where the table comes from, shape, dtype, tokenizer and output head (``embcli info``).

        >>> t.info()["rows"]                                     # doctest: +SKIP
        30522
        """
        from embcli.ask import info

        return info.info(self.embeddings)

    def tokenize(self, text: str, *, special: bool = False) -> Tokenized:
        """Split text as the model does (``embcli tokenize``); iterate for tokens with ``.id``.

        >>> [tok.token for tok in t.tokenize("Hello world")]     # doctest: +SKIP
        ['hello', 'world']
        """
        from embcli.ask import info

        return info.tokenize(self.embeddings, checks.word(text, "the text"), special=special)

    # -- the space questions are asked in -------------------------------------------------------

    def space(
        self,
        *,
        center: bool = False,
        remove_pcs: int = 0,
        remove_axis: AxisToRemove = None,
        pool: bool = False,
    ) -> Space:
        """This table seen through one transform, with the questions that take one: a
        :class:`Space` (``neighbors``, ``similarity``, ``analogy``, ``axis``, ``weat``,
        ``project``, ``plot``, as here, all scored in it).

        ``center`` subtracts the table's mean; ``remove_pcs`` D > 0 also removes the top D
        principal components (all-but-the-top, Mu and Viswanath 2018; implies centring);
        ``remove_axis`` projects a direction out of every row as well (hard debiasing's
        neutralise step): word pairs (``"he:she,man:woman"``, a section of the analogy set, a
        list of ``"a:b"`` or ``(a, b)``; their ``pca`` axis as :meth:`axis` builds it, in the
        table after the other two), or a vector of the table's width. ``pool`` averages the
        sub-tokens of a word that splits, for the axis's words and every word asked in the
        space. The arguments are checked here; the transform is made once, on the first
        question, and kept. No transformed copy of the table is made.

            >>> s = t.space(center=True, remove_pcs=4)               # doctest: +SKIP
            >>> s.neighbors("paris", k=3), s.similarity("cat", "dog")  # doctest: +SKIP

        ``t.neighbors("paris", center=True)`` is ``t.space(center=True).neighbors("paris")``.
        """
        checks.count("remove_pcs", remove_pcs)
        removal = checks.axis_to_remove(remove_axis)
        return Space(self, bool(center), remove_pcs, removal, bool(pool))

    # -- the three questions ---------------------------------------------------------------------

    def neighbors(
        self,
        word_or_words: str | Sequence[str] | None = None,
        k: int = 10,
        *,
        vector: np.ndarray | Sequence[float] | None = None,
        vector_label: str = "vector",
        among: Sequence[str] | None = None,
        pool: bool = False,
        ids: bool = False,
        center: bool = False,
        remove_pcs: int = 0,
        remove_axis: AxisToRemove = None,
        all_tokens: bool = False,
    ) -> NeighborList | Neighbors:
        """Nearest tokens by cosine (``embcli neighbors``).

        One word gives a ``NeighborList`` of ``Neighbor(rank, id, token, cosine)``; a list of
        words gives ``Neighbors`` (one list per word, and the words that did not resolve in
        ``.failed``). The word itself, its case/space variants, special tokens and word
        fragments are left out unless ``all_tokens``. ``among`` restricts the candidates to
        a word list (gensim's ``restrict_vocab`` by words; words not in the table are said
        through the model's notice and kept in ``.skipped``); ``vector`` asks for any vector
        of the table's width instead of a word (``vector_label`` names it in the result);
        ``ids`` reads every query as a row id. ``center``, ``remove_pcs``, ``remove_axis`` and
        ``pool`` are :meth:`space`'s: this is ``t.space(...).neighbors(...)``.

            >>> [n.token for n in t.neighbors("paris", k=3)]         # doctest: +SKIP
            ['france', 'french', 'lyon']
            >>> t.neighbors("paris", among=["london", "tokyo", "banana"])[0].token  # doctest: +SKIP
            'london'
        """
        space = self.space(center=center, remove_pcs=remove_pcs, remove_axis=remove_axis,
                           pool=pool)  # fmt: skip
        return space.neighbors(word_or_words, k, vector=vector, vector_label=vector_label,
                               among=among, ids=ids, all_tokens=all_tokens)  # fmt: skip

    def most_similar(
        self,
        positive: str | Sequence[str] | None = None,
        negative: str | Sequence[str] | None = None,
        topn: int = 10,
        *,
        pool: bool = False,
        all_tokens: bool = False,
        among: Sequence[str] | None = None,
    ) -> NeighborList:
        """gensim's ``KeyedVectors.most_similar``: the rows nearest the mean of the unit vectors
        of ``positive`` (weight +1) and ``negative`` (weight -1), the given words left out, as
        gensim leaves them out; ``most_similar(positive=["king", "woman"], negative=["man"])``
        is the analogy king - man + woman. One word alone is :meth:`neighbors` (its own row
        and case variants left out). ``topn`` is gensim's name for ``k``.
        """
        from dataclasses import replace

        from embcli.ask.answers import NeighborList
        from embcli.ask.words import resolve

        checks.count("topn", topn, 1)
        if isinstance(positive, str) and negative is None:
            found = self.neighbors(positive, k=topn, pool=pool, all_tokens=all_tokens,
                                   among=among)  # fmt: skip
            assert isinstance(found, NeighborList)
            return found
        plus = [positive] if isinstance(positive, str) else checks.texts(positive or [], "words")
        minus = [negative] if isinstance(negative, str) else checks.texts(negative or [], "words")
        if not plus and not minus:
            raise UsageProblem("most_similar needs positive or negative words")
        table = self.embeddings
        given = [(resolve(table, checks.word(w), pool=pool), sign)
                 for words, sign in ((plus, 1.0), (minus, -1.0)) for w in words]  # fmt: skip
        mean = np.mean([sign * r.unit(table).astype(np.float64) for r, sign in given], axis=0)
        label = " ".join([*(f"+{w}" for w in plus), *(f"-{w}" for w in minus)])
        inputs = {i for r, _ in given for i in r.ids}
        found = self.neighbors(vector=mean, k=topn + len(inputs), vector_label=label,
                               all_tokens=all_tokens, among=among)  # fmt: skip
        assert isinstance(found, NeighborList)
        kept = [n for n in found.neighbors if n.id not in inputs][:topn]
        ranked = [replace(n, rank=rank) for rank, n in enumerate(kept, 1)]
        return replace(found, neighbors=ranked)

    def similarity(
        self,
        *words: str,
        pairs: Sequence[tuple[str, str]] | None = None,
        pool: bool = False,
        ids: bool = False,
        center: bool = False,
        remove_pcs: int = 0,
        remove_axis: AxisToRemove = None,
    ) -> Similarity:
        """Cosine similarity (and dot product) of words (``embcli similarity``).

        Two words: ``float(result)`` or ``result.cosine`` is their cosine, ``result.dot`` the
        dot product of the raw vectors. Three or more: every pair, and ``result.matrix``;
        ``pairs=[("cat", "dog"), ...]``: those pairs. The last four are :meth:`space`'s.

            >>> round(float(t.similarity("cat", "dog")), 4)          # doctest: +SKIP
            0.6861
        """
        space = self.space(center=center, remove_pcs=remove_pcs, remove_axis=remove_axis,
                           pool=pool)  # fmt: skip
        return space.similarity(*words, pairs=pairs, ids=ids)

    def similarity_matrix(self, words: Sequence[str], **options: Any) -> np.ndarray:
        """The ``[n, n]`` cosine matrix of ``words`` (float64)."""
        return _matrix(self.similarity(*checks.texts(words, "words"), **options))

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
        ids: bool = False,
        center: bool = False,
        remove_pcs: int = 0,
        remove_axis: AxisToRemove = None,
        all_tokens: bool = False,
    ) -> Answer:
        """Solve ``a - b + c = ?`` (``embcli analogy``): king - man + woman = queen.

        Returns an ``Answer``; iterate it for ``Scored(rank, id, token, score)``. ``method`` is
        ``3cosadd`` (Mikolov) or ``3cosmul`` (Levy and Goldberg); the inputs are left out
        unless ``keep_inputs``. ``pool``, ``center``, ``remove_pcs``, ``remove_axis``:
        :meth:`space`'s.

            >>> t.analogy("king", "man", "woman")[0].token           # doctest: +SKIP
            'queen'
        """
        space = self.space(center=center, remove_pcs=remove_pcs, remove_axis=remove_axis,
                           pool=pool)  # fmt: skip
        return space.analogy(a, b, c, k, method=method, keep_inputs=keep_inputs, ids=ids,
                             all_tokens=all_tokens)  # fmt: skip

    def analogies(
        self,
        questions: Sequence[Sequence[str]],
        k: int = 5,
        *,
        method: str = "3cosadd",
        keep_inputs: bool = False,
        pool: bool = False,
        ids: bool = False,
        center: bool = False,
        remove_pcs: int = 0,
        remove_axis: AxisToRemove = None,
        all_tokens: bool = False,
    ) -> Analogies:
        """Many analogies ``[a, b, c]`` or ``[a, b, c, expected]`` (``analogy --file``).

        >>> t.analogies([["paris", "france", "italy", "rome"]]).accuracy  # doctest: +SKIP
        1.0
        """
        space = self.space(center=center, remove_pcs=remove_pcs, remove_axis=remove_axis,
                           pool=pool)  # fmt: skip
        return space.analogies(questions, k, method=method, keep_inputs=keep_inputs, ids=ids,
                               all_tokens=all_tokens)  # fmt: skip

    # -- directions: semantic axes and bias tests ------------------------------------------------

    def axis(
        self,
        pairs: str | Sequence[str] | Sequence[tuple[str, str]] | None = None,
        *,
        poles: tuple[Sequence[str] | str, Sequence[str] | str] | None = None,
        method: str = "pca",
        words: Sequence[str] | None = None,
        k: int = 10,
        pairs2: str | Sequence[str] | Sequence[tuple[str, str]] | None = None,
        poles2: tuple[Sequence[str] | str, Sequence[str] | str] | None = None,
        pool: bool = False,
        center: bool = False,
        remove_pcs: int = 0,
        remove_axis: AxisToRemove = None,
        all_tokens: bool = False,
        keep_inputs: bool = False,
        plot: PathLike | None = None,
    ) -> AxisScores:
        """A semantic axis and the words along it (``embcli axis``): an ``AxisScores``.

        The axis comes from ``pairs`` (``"man:woman,he:she"``, a list of ``"a:b"`` or
        ``(a, b)``, or a section of the bundled Google analogy set such as ``"capital-world"``),
        by ``method`` ``pca`` (Bolukbasi et al. 2016: the first principal component of the
        pairs' differences) or ``mean`` (their normalised mean); or from ``poles``
        ``(from_words, to_words)`` (SemAxis, An et al. 2018). ``result.axis`` says how it was
        made (``variance_explained``, ``leave_one_out``); ``result.vector`` is the unit axis.

        Each of ``words`` is scored by the cosine of its unit row with the axis, sorted;
        without ``words``, the ``k`` word-like rows furthest at each end of the table (the
        axis's own words left out unless ``keep_inputs``). ``pairs2``/``poles2`` define a
        second axis (``score2``); ``plot`` draws the words on both (one axis: a strip).
        Words not in the table are skipped (``result.missing``, and a notice): a pair with
        one is left out whole (the notice names it), and fewer than two pairs left raises
        :class:`~embcli.errors.UnresolvedWord`, as one pair given is refused. ``pool``,
        ``center``, ``remove_pcs``, ``remove_axis``: :meth:`space`'s.

            >>> r = t.axis("man:woman,he:she", words=["nurse", "engineer"])  # doctest: +SKIP
            >>> [(w.word, round(w.score, 2)) for w in r]             # doctest: +SKIP
            [('nurse', 0.24), ('engineer', -0.12)]
        """
        space = self.space(center=center, remove_pcs=remove_pcs, remove_axis=remove_axis,
                           pool=pool)  # fmt: skip
        return space.axis(pairs, poles=poles, method=method, words=words, k=k, pairs2=pairs2,
                          poles2=poles2, all_tokens=all_tokens, keep_inputs=keep_inputs,
                          plot=plot)  # fmt: skip

    def weat(
        self,
        test: str | None = None,
        *,
        X: Sequence[str] | None = None,
        Y: Sequence[str] | None = None,
        A: Sequence[str] | None = None,
        B: Sequence[str] | None = None,
        permutations: int = 100_000,
        seed: int = 0,
        allow_missing: bool = False,
        pool: bool = False,
        center: bool = False,
        remove_pcs: int = 0,
        remove_axis: AxisToRemove = None,
    ) -> WeatResult:
        """The Word Embedding Association Test (Caliskan et al. 2017; ``embcli weat``).

        ``test`` names a bundled test (``"career-family"``, ``"weat6"``; see
        ``embcli.ask.weat.bundled()``), or ``X``, ``Y`` (targets) and ``A``, ``B``
        (attributes) are word lists. Returns a ``WeatResult``: ``effect_size`` (ddof 0, as
        WEFE), ``statistic``, the one-sided ``p_value`` over ``permutations`` partitions
        (every partition when there are at most that many, else seeded random ones), the
        words used and ``missing``; for a bundled test ``published`` holds the paper's effect
        sizes, from its vectors, not these. A set that loses more than 20% of its words
        raises :class:`~embcli.errors.UnresolvedWord` unless ``allow_missing``. X and Y (and
        A and B) may not share a word, nor two spellings of one row: a
        :class:`~embcli.errors.UsageProblem`, where X = Y would give an effect of 0 that says
        nothing. ``permutations`` is at most 10,000,000 (seconds, not days). ``pool``,
        ``center``, ``remove_pcs``, ``remove_axis``: :meth:`space`'s.

            >>> round(t.weat("flowers-insects").effect_size, 2)     # doctest: +SKIP
            1.5
        """
        space = self.space(center=center, remove_pcs=remove_pcs, remove_axis=remove_axis,
                           pool=pool)  # fmt: skip
        return space.weat(test, X=X, Y=Y, A=A, B=B, permutations=permutations, seed=seed,
                          allow_missing=allow_missing)  # fmt: skip

    def weat_all(
        self,
        *,
        permutations: int = 100_000,
        seed: int = 0,
        allow_missing: bool = False,
        pool: bool = False,
        center: bool = False,
        remove_pcs: int = 0,
        remove_axis: AxisToRemove = None,
    ) -> WeatResults:
        """Every bundled WEAT (``embcli weat --all``), options as :meth:`weat`.

        A test whose words the table lacks is kept in ``result.failed`` (with why) and the
        others still run.
        """
        space = self.space(center=center, remove_pcs=remove_pcs, remove_axis=remove_axis,
                           pool=pool)  # fmt: skip
        return space.weat_all(permutations=permutations, seed=seed, allow_missing=allow_missing)

    # -- benchmarks ------------------------------------------------------------------------------

    def evaluate_analogies(
        self,
        file: PathLike | None = None,
        *,
        method: str = "3cosadd",
        restrict_vocab: int | None = 300_000,
        case_sensitive: bool = False,
    ) -> AnalogyScores:
        """Accuracy on an analogy benchmark (default Google's), as gensim computes it.

        ``file`` is a bundled name (``google``) or a questions-words file; ``restrict_vocab``
        0 or None uses every row.

        >>> t.evaluate_analogies().accuracy                      # doctest: +SKIP
        0.29
        """
        from embcli.ask.benchmarks import benchmark_path, evaluate_analogies

        checks.choice("method", method, METHODS)
        checks.optional_count("restrict_vocab", restrict_vocab)
        path = benchmark_path(file, "google")  # a missing file is said before the table opens
        return evaluate_analogies(self.embeddings, path, method=method,
                                  restrict_vocab=restrict_vocab, case_sensitive=case_sensitive,
                                  progress=self.model.progress)  # fmt: skip

    def evaluate_similarity(
        self,
        file: PathLike | None = None,
        *,
        restrict_vocab: int | None = 300_000,
        case_sensitive: bool = False,
    ) -> PairScores:
        """Spearman/Pearson with human judgements (``wordsim353``, ``simlex999`` or a file).

        >>> t.evaluate_similarity("simlex999").spearman          # doctest: +SKIP
        0.29
        """
        from embcli.ask.benchmarks import benchmark_path, evaluate_similarity

        checks.optional_count("restrict_vocab", restrict_vocab)
        path = benchmark_path(file, "wordsim353")
        return evaluate_similarity(self.embeddings, path, restrict_vocab=restrict_vocab,
                                   case_sensitive=case_sensitive)  # fmt: skip

    evaluate_word_analogies = evaluate_analogies  # gensim's names
    evaluate_word_pairs = evaluate_similarity

    # -- pictures --------------------------------------------------------------------------------

    def project(
        self,
        words: Sequence[str] | None = None,
        *,
        groups: Mapping[str, Sequence[str]] | Sequence[tuple[str, Sequence[str]]] | None = None,
        method: str = "pca",
        perplexity: float = 30.0,
        seed: int = 0,
        pool: bool = False,
        center: bool = False,
        remove_pcs: int = 0,
        remove_axis: AxisToRemove = None,
        plot: PathLike | None = None,
    ) -> WordPlot:
        """Words in 2-D (PCA or t-SNE), coloured by group (``embcli plot``): a ``WordPlot``.

        ``plot`` writes it (``.png``, ``.svg``, ``.pdf``, or an interactive ``.html`` page);
        ``.figure()`` gives a matplotlib ``Figure``. Words that do not resolve are left out
        (listed in ``.dropped`` and said through the model's notice). ``pool``, ``center``,
        ``remove_pcs``, ``remove_axis``: :meth:`space`'s.
        """
        space = self.space(center=center, remove_pcs=remove_pcs, remove_axis=remove_axis,
                           pool=pool)  # fmt: skip
        return space.project(words, groups=groups, method=method, perplexity=perplexity,
                             seed=seed, plot=plot)  # fmt: skip

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
        remove_axis: AxisToRemove = None,
        output: PathLike | None = None,
    ) -> Figure:
        """Words in 2-D (PCA or t-SNE), coloured by group: a matplotlib ``Figure``.

        Jupyter shows the figure inline; ``output`` also writes it (``.png``, ``.svg``,
        ``.pdf``, or an interactive ``.html`` page). Words that do not resolve are left out
        (listed in ``fig.embcli_dropped``).

            >>> fig = t.plot(groups={"animals": ["cat", "dog", "horse"],
            ...                      "cities": ["paris", "rome", "tokyo"]})  # doctest: +SKIP
        """
        space = self.space(center=center, remove_pcs=remove_pcs, remove_axis=remove_axis,
                           pool=pool)  # fmt: skip
        return space.plot(words, groups=groups, method=method, perplexity=perplexity, seed=seed,
                          output=output)  # fmt: skip

    # -- interop ---------------------------------------------------------------------------------

    def export(
        self,
        path: PathLike,
        *,
        format: str | None = None,
        words: Sequence[str] | None = None,
        limit: int | None = None,
    ) -> Export:
        """Write rows for other tools (``embcli export``): word2vec text/binary, ``.npy`` +
        token list, or the TensorBoard Projector's ``vectors.tsv`` + ``metadata.tsv``.

        The format follows the suffix (``.txt``/``.vec``: word2vec text, ``.bin``: binary,
        ``.npy``, ``.tsv`` or a directory: Projector) unless ``format`` says; ``x.tsv`` writes
        the vectors there and the labels to ``x.metadata.tsv``. Rows: the word-like tokens,
        or ``words``, or the first ``limit`` of either. Returns an ``Export`` report.

            >>> from gensim.models import KeyedVectors               # doctest: +SKIP
            >>> out = t.export("gpt2.txt")                           # doctest: +SKIP
            >>> kv = KeyedVectors.load_word2vec_format(out.paths[0])  # doctest: +SKIP
        """
        from embcli.ask.export import export_rows, format_of, targets

        checks.optional_count("limit", limit, 1)
        if str(path) == "-":
            raise UsageProblem("export writes files, not stdout: name a file or a directory")
        target = Path(path).expanduser()
        fmt = format_of(target, format)  # said before any work: a suffix that says nothing,
        for file in targets(target, fmt):  # a directory that is missing or read-only
            if file.is_dir():
                raise UsageProblem(f"cannot write {file}: it is a directory")
            where = file.parent
            if where == target:  # a Projector directory: made, with its parents, if need be
                while not where.exists() and where != where.parent:
                    where = where.parent
            checks.writable_directory(where, file)
        if fmt == "projector" and target.is_dir():  # not into a folder holding other things
            ours = {f.name for f in targets(target, fmt)}  # an earlier export is replaced
            # hidden names pass: .DS_Store, and a killed export's temp file (the write sweeps it)
            others = sorted(p.name for p in target.iterdir()
                            if p.name not in ours and not p.name.startswith("."))  # fmt: skip
            if others:
                raise UsageProblem(f"{target} already holds other files ({', '.join(others[:3])}"
                                   f"{', ...' if len(others) > 3 else ''}): the Projector pair "
                                   "goes into a directory of its own")  # fmt: skip
        wanted = checks.texts(words, "words") if words is not None else None
        result = export_rows(self.embeddings, target, format=fmt, words=wanted, limit=limit,
                             notice=self.model.notice)  # fmt: skip
        if result.missing:
            shown = ", ".join(result.missing[:10]) + (", ..." if len(result.missing) > 10 else "")
            self.model.notice(f"left out {len(result.missing)} word(s) not in the table: {shown}")
        return result

    # -- the table as an object ------------------------------------------------------------------

    def compare(
        self,
        other: Table | Model | PathLike,
        k: int = 10,
        *,
        case_sensitive: bool = False,
        words: Sequence[str] | None = None,
        sample: int = 5000,
        show: int = 0,
        plot: PathLike | None = None,
    ) -> CompareResult:
        """Compare this table (A) with another (B): shared words, neighbour agreement, CKA and
        Procrustes alignment (``embcli compare``).

        ``other`` is a ``Table``, a ``Model`` (its input table) or a model's name (opened
        with this table's cache and options). ``words`` restricts the comparison to a list;
        ``sample`` bounds how many shared words' neighbour lists are compared (0: all);
        ``show`` lists that many best and worst agreeing words and translations; ``plot``
        draws Jaccard@k and neighbour ranks (.png, .svg, .pdf).
        """
        from embcli.ask.compare import compare

        checks.count("k", k, 1)
        checks.count("sample", sample)
        checks.count("show", show)
        out = checks.output_file(plot, IMAGE_SUFFIXES, "compare --plot") if plot else None
        word_list = checks.texts(words, "words") if words is not None else None
        if isinstance(other, Table):
            table_b = other
        elif isinstance(other, type(self.model)):  # a Model: api.model imports this module
            table_b = other.table()
        elif isinstance(other, (str, os.PathLike)):
            table_b = self.model.sibling(other).table()
        else:
            raise UsageProblem(
                f"compare takes a Table, a Model or a model's name, not {type(other).__name__}"
            )
        a, b = self.embeddings, table_b.embeddings
        result = compare(a, b, k, case_sensitive=case_sensitive, words=word_list, sample=sample,
                         show=show, plot_sample=PLOT_QUERIES if out else 0)  # fmt: skip
        if word_list is not None:
            v = result.vocab
            for side, missing, label in (("A", v.missing_a, a.label), ("B", v.missing_b, b.label)):
                if missing:
                    ex = ", ".join(missing[:5]) + (", ..." if len(missing) > 5 else "")
                    self.model.notice(
                        f"{len(missing):,} of {v.listed:,} listed words are not word-like "
                        f"tokens of {side} ({label}): {ex}; using the {result.shared:,} shared"
                    )
        if out is not None:
            from embcli.draw.compare_plot import compare_plot

            title = f"A: {_short(result.a['model'])}   B: {_short(result.b['model'])}"
            compare_plot(result.scores, result.k, result.ranks, title, out)
        return result

    def stats(
        self,
        *,
        remove_pcs: int | None = None,
        samples: int = 10_000,
        seed: int = 0,
        plot: PathLike | None = None,
    ) -> StatsResult:
        """Geometry of the table (``embcli stats``): norms, anisotropy, isotropy, used
        dimensions. ``remove_pcs`` components are removed for the "after removal" cosine
        (default about width / 100); ``plot`` draws norms, spectrum and cosines."""
        from embcli.ask.anatomy import MAX_SAMPLES, table_stats

        checks.optional_count("remove_pcs", remove_pcs)
        checks.count("samples", samples, 2, MAX_SAMPLES, "more pairs could not change the mean")
        checks.count("seed", seed)
        out = checks.output_file(plot, IMAGE_SUFFIXES, "stats --plot") if plot else None
        result = table_stats(self.embeddings, remove_pcs, samples, seed, self.role)
        if out is not None:
            from embcli.ask.projection import title_name
            from embcli.draw.anatomy_plot import stats_plot

            title = f"{title_name(self.label)} ({self.role} table)"
            stats_plot(result.norm_values, result.eigenvalues, result.cosines, title, out)
        return result

    def undertrained(
        self,
        k: int | None = None,
        *,
        input_table: Table | None = None,
        reference: PathLike | Sequence[str] | None = None,
        percentile: float = 2.0,
        all_rows: bool = False,
        reference_file: str | None = None,
    ) -> UndertrainedResult:
        """Rows that look never trained (``embcli undertrained``), ranked; best read on the
        output head (``model.table("output")``).

        ``k`` rows per list (default 50; with ``all_rows`` every row; 0: no limit).
        ``reference`` is a file (one token or ``#id`` per line) or a list of tokens known to
        be unused (default: found from the tokenizer). For an untied head the input table's
        norms are shown beside the scores: ``input_table``, or else the model's own.
        ``reference_file`` is the old name of ``reference``.
        """
        from embcli.api.inputs import read_lines
        from embcli.ask.undertrained import undertrained

        checks.optional_count("k", k)
        checks.number("percentile", percentile, 0.0, 100.0)
        if reference_file is not None:
            reference = reference_file
        lines: list[tuple[int, str]] | None = None
        source = "the reference list"
        if isinstance(reference, (str, os.PathLike)):
            source = str(reference)
            lines = read_lines(reference, comments=False)
        elif reference is not None:
            lines = [(n, checks.word(t, "a reference token")) for n, t in enumerate(reference, 1)]
        limit = k if k is not None else (0 if all_rows else 50)

        def open_input() -> EmbeddingTable:
            if input_table is not None:
                return input_table.embeddings
            return self.model.embeddings("input")

        return undertrained(self.embeddings, self.role, open_input, lines, source, limit,
                            percentile, all_rows)  # fmt: skip

    def map(
        self,
        *,
        sample: int | None = None,
        method: str = "pca",
        seed: int = 0,
        clusters: int = 20,
        k: int = 10,
        perplexity: float = 30.0,
        umap_neighbors: int = 15,
        umap_min_dist: float = 0.1,
        axis: str | Sequence[str] | Sequence[tuple[str, str]] | None = None,
        compare: Table | Model | PathLike | None = None,
        output: PathLike | None = None,
        neighbors: str = "auto",
    ) -> MapPage:
        """The whole table as one self-contained interactive page (``embcli map``): a
        ``MapPage`` (``.save(path)``; shown inline in Jupyter).

        Every row is a point (``sample``: that many, chosen by ``seed``), placed by ``method``
        ("pca" of the unit rows; "umap" of them by cosine, ``umap_neighbors`` and
        ``umap_min_dist``, seeded by ``seed``, for at most 100,000 rows; "tsne" for at most
        10,000 rows), with its layers (id, token, kind, norm, a k-means cluster of
        ``clusters``, the under-trained score and flag as ``undertrained`` finds them) and its
        exact top-``k`` neighbours over the full table. ``axis``: pairs as :meth:`axis` takes
        them (``"man:woman,he:she"``, a section of the analogy set), for a layer of every
        row's score on that axis. ``compare``: another table B (a ``Table``, a ``Model``, or a
        model's name, opened as this one is, its table of the same role), for layers of each
        row's cosine with its row in B and the Jaccard@``k`` of its neighbour lists in A and
        B. ``output`` writes the page (``.html``). ``neighbors``: "exact" lists, "ann" (an
        HNSW graph, usearch: candidates re-ranked exactly, recall@10 measured on 1,000 rows and
        shown on the page) or "auto" (exact where that takes about a minute, approximate
        beyond). Needs plotly (and umap-learn for "umap"):
        ``pip install 'embcli[map]'``.
        """
        from embcli.ask.neighbor_lists import HOW
        from embcli.ask.tokenmap import token_map
        from embcli.draw.map_page import MapPage, plotly_js

        if sample is not None:
            checks.count("sample", sample, 2)
        checks.choice("method", method, MAP_METHODS)
        checks.count("seed", seed)
        checks.count("clusters", clusters, 1, 255)
        checks.count("k", k, 1, 100)
        checks.number("perplexity", perplexity, 1.0)
        checks.count("umap_neighbors", umap_neighbors, 2, 200)
        checks.number("umap_min_dist", umap_min_dist, 0.0, 1.0)
        pairs = checks.axis_pairs("axis", axis) if axis is not None else None
        if compare is not None and not isinstance(compare, (Table, type(self.model), str,
                                                            os.PathLike)):  # fmt: skip
            raise UsageProblem(f"compare takes a Table, a Model or a model's name, not "
                               f"{type(compare).__name__}", param="compare")  # fmt: skip
        checks.choice("neighbors", neighbors, HOW)
        out = checks.output_file(output, (".html",), "map") if output is not None else None
        plotly_js()  # said before the work when plotly is missing
        if method == "umap":
            import importlib.util

            if importlib.util.find_spec("umap") is None:
                raise EmbcliError("the umap layout needs umap-learn, which is not installed",
                                  "pip install 'embcli[map]'")  # fmt: skip
        other = None
        if isinstance(compare, Table):
            other = compare.embeddings
        elif isinstance(compare, type(self.model)):  # a Model: api.model imports this module
            other = compare.table(self.role).embeddings
        elif isinstance(compare, (str, os.PathLike)):
            try:
                other = self.model.sibling(compare).table(self.role).embeddings
            except EmbcliError as exc:  # say which table could not be opened: B, not -m's
                exc.message = f"compare: {exc.message}"
                exc.args = (exc.message,)
                exc.param = "compare" if exc.param is None else f"compare,{exc.param}"
                raise
        progress = self.model.progress

        def report(what: str) -> Any:
            if progress is None:
                return None
            return lambda done, total: progress(done, total, what)

        found = token_map(self.embeddings, self.role, sample=sample, method=method, seed=seed,
                          clusters=clusters, k=k, perplexity=perplexity,
                          progress=report("neighbour lists"), umap_neighbors=umap_neighbors,
                          umap_min_dist=umap_min_dist, axis=pairs, compare=other,
                          compare_progress=report("neighbour lists of B"),
                          neighbor_method=neighbors)  # fmt: skip
        for note in found.notices:
            self.model.notice(note)
        page = MapPage(found)
        if out is not None:
            page.save(out)
        return page


class Space:
    """A table seen through one transform, and the questions asked in it: ``t.space(...)``.

    Made by :meth:`Table.space` (which checks its arguments and says what they do); each
    question here is the :class:`Table` method of the same name without the four arguments of
    the space (``t.neighbors("paris", center=True)`` is ``t.space(center=True).neighbors(
    "paris")``), so several questions in one space resolve it once:

        >>> s = t.space(remove_pcs=4, remove_axis="he:she,man:woman")  # doctest: +SKIP
        >>> s.neighbors("nurse"), s.weat("career-family")       # doctest: +SKIP

    ``center``, ``remove_pcs``, ``remove_axis`` (checked: pairs or a vector) and ``pool`` are
    what it was made with. ``rows`` is the table's rows through the transform, an
    :class:`embcli.store.space.Space` (what the questions score against, without a
    transformed copy), made on first use: the transform's mean and components, and the axis
    ``remove_axis`` names built in the table after them (its words not in the table said once
    through the model's notice). ``transform`` and ``caption`` ("centred, top 4 PCs removed")
    say what was done.
    """

    def __init__(
        self, table: Table, center: bool, remove_pcs: int, remove_axis: Any, pool: bool
    ) -> None:
        self.table = table
        self.center, self.remove_pcs, self.remove_axis, self.pool = (center, remove_pcs,
                                                                     remove_axis, pool)  # fmt: skip
        self._rows: ScoredRows | None = None

    def __repr__(self) -> str:
        if self._rows is None:
            return f"<embcli.Space of {self.table!r}: not made yet>"
        return f"<embcli.Space of {self.table!r}: {self.caption or 'the rows as they are'}>"

    @property
    def rows(self) -> ScoredRows:
        """The table's rows through the transform (made once, on first use)."""
        if self._rows is None:
            from embcli.ask.space import space_of
            from embcli.ask.words import shortlist

            rows, removed = space_of(self.table.embeddings, self.center, self.remove_pcs,
                                     self.remove_axis, self.pool)  # fmt: skip
            if removed is not None and removed.missing:
                given = self.remove_axis if isinstance(self.remove_axis, list) else None
                self.table.model.notice(f"--remove-axis: not in the table, skipped: "
                                        f"{shortlist(removed.missing, 10)}"
                                        + _pairs_note(_left_out(given, removed)))  # fmt: skip
            self._rows = rows
        return self._rows

    @property
    def transform(self) -> Transform:
        """What the space does to a raw vector (``T(x) = (I - C^T C)(x - mean)``)."""
        return self.rows.transform

    @property
    def caption(self) -> str:
        """The transform in words: '', 'centred', 'centred, top 4 PCs removed, axis removed...'."""
        return self.transform.caption()

    # -- the three questions ---------------------------------------------------------------------

    def neighbors(
        self,
        word_or_words: str | Sequence[str] | None = None,
        k: int = 10,
        *,
        vector: np.ndarray | Sequence[float] | None = None,
        vector_label: str = "vector",
        among: Sequence[str] | None = None,
        ids: bool = False,
        all_tokens: bool = False,
    ) -> NeighborList | Neighbors:
        """Nearest tokens by cosine, in this space (:meth:`Table.neighbors`)."""
        from embcli.ask import answers

        checks.count("k", k)
        candidates = checks.texts(among, "candidate words") if among is not None else None
        if vector is None and word_or_words is None:
            raise UsageProblem("name one or more words, or a vector")
        if vector is not None and word_or_words is not None:
            raise UsageProblem("give either words or a vector, not both")
        query = checks.vector(vector) if vector is not None else None  # before any table is read
        table = self.table
        opts: dict[str, Any] = {"all_tokens": all_tokens, "among": candidates}
        if query is not None:
            found = answers.neighbors_of_vector(table.embeddings, query, k,
                                                space=self.rows, name=vector_label,
                                                **opts)  # fmt: skip
        else:
            single = isinstance(word_or_words, str)
            words = [word_or_words] if single else checks.texts(word_or_words, "words")
            found = answers.neighbors(table.embeddings, words, k, space=self.rows,  # type: ignore[arg-type]
                                      pool=self.pool, ids=ids, single=single, **opts)  # fmt: skip
        if found.skipped:
            shown = ", ".join(found.skipped[:10]) + (", ..." if len(found.skipped) > 10 else "")
            table.model.notice(
                f"--among: left out {len(found.skipped)} word(s) not in the table: {shown}"
            )
        return found[0] if found.single else found

    def similarity(
        self, *words: str, pairs: Sequence[tuple[str, str]] | None = None, ids: bool = False
    ) -> Similarity:
        """Cosine similarity and dot product of words, in this space (:meth:`Table.similarity`)."""
        from embcli.ask import answers

        items = [checks.word(w) for w in words]
        wanted = _word_pairs(pairs) if pairs is not None else None
        answers.check_similarity(items, wanted)
        return answers.similarity(self.table.embeddings, items, wanted, space=self.rows,
                                  pool=self.pool, ids=ids)  # fmt: skip

    def similarity_matrix(self, words: Sequence[str], ids: bool = False) -> np.ndarray:
        """The ``[n, n]`` cosine matrix of ``words`` in this space (float64)."""
        return _matrix(self.similarity(*checks.texts(words, "words"), ids=ids))

    def analogy(
        self,
        a: str,
        b: str,
        c: str,
        k: int = 5,
        *,
        method: str = "3cosadd",
        keep_inputs: bool = False,
        ids: bool = False,
        all_tokens: bool = False,
    ) -> Answer:
        """Solve ``a - b + c = ?`` in this space (:meth:`Table.analogy`)."""
        return self._analogies([[a, b, c]], k, True, method, keep_inputs, ids, all_tokens)[0]

    def analogies(
        self,
        questions: Sequence[Sequence[str]],
        k: int = 5,
        *,
        method: str = "3cosadd",
        keep_inputs: bool = False,
        ids: bool = False,
        all_tokens: bool = False,
    ) -> Analogies:
        """Many analogies in this space (:meth:`Table.analogies`)."""
        return self._analogies(questions, k, False, method, keep_inputs, ids, all_tokens)

    def _analogies(
        self,
        questions: Sequence[Sequence[str]],
        k: int,
        single: bool,
        method: str,
        keep_inputs: bool,
        ids: bool,
        all_tokens: bool,
    ) -> Analogies:
        from embcli.ask import answers

        checks.count("k", k)
        checks.choice("method", method, METHODS)
        if isinstance(questions, str):
            raise UsageProblem("give a list of questions, each [a, b, c] or [a, b, c, expected]")
        questions = list(questions)  # a generator is read once, here
        if not questions:  # an empty file or stdin
            raise UsageProblem("no question to answer: each is 'a b c' or 'a b c expected'")
        for q in questions:  # 'a b c' would be read letter by letter
            if isinstance(q, str):
                raise UsageProblem(f"each question is a list [a, b, c], not the string {q!r}")
        items = [[checks.word(w) for w in q] for q in questions]
        for q in items:
            answers.check_analogy(q)
        return answers.analogies(self.table.embeddings, items, k, space=self.rows, method=method,
                                 keep_inputs=keep_inputs, pool=self.pool, ids=ids,
                                 all_tokens=all_tokens, single=single)  # fmt: skip

    # -- directions: semantic axes and bias tests ------------------------------------------------

    def axis(
        self,
        pairs: str | Sequence[str] | Sequence[tuple[str, str]] | None = None,
        *,
        poles: tuple[Sequence[str] | str, Sequence[str] | str] | None = None,
        method: str = "pca",
        words: Sequence[str] | None = None,
        k: int = 10,
        pairs2: str | Sequence[str] | Sequence[tuple[str, str]] | None = None,
        poles2: tuple[Sequence[str] | str, Sequence[str] | str] | None = None,
        all_tokens: bool = False,
        keep_inputs: bool = False,
        plot: PathLike | None = None,
    ) -> AxisScores:
        """A semantic axis and the words along it, in this space (:meth:`Table.axis`)."""
        from embcli.ask import axis as ax
        from embcli.ask.directions import METHODS as AXIS_METHODS
        from embcli.ask.words import shortlist

        checks.choice("method", method, AXIS_METHODS)
        checks.count("k", k, 1)
        first = _axis_source(pairs, poles, "pairs", "poles")
        second = None
        if pairs2 is not None or poles2 is not None:
            second = _axis_source(pairs2, poles2, "pairs2", "poles2")
        wanted = None
        if words is not None:
            wanted = [w.strip() for w in checks.texts(words, "words") if w.strip()]
            if not wanted:
                raise UsageProblem("words lists no words", param="words")
        out = checks.output_file(plot, IMAGE_SUFFIXES, "axis --plot") if plot else None
        table = self.table
        result = ax.axis(
            table.embeddings, *first, space=self.rows, method=method, words=wanted, k=k,
            pairs2=second[0] if second else None, poles2=second[1] if second else None,
            pool=self.pool, all_tokens=all_tokens, keep_inputs=keep_inputs,
        )  # fmt: skip
        if result.missing:
            dropped = _left_out(first[0], result.axis) + _left_out(
                second[0] if second else None, result.second
            )
            table.model.notice(f"not in the table, skipped: {shortlist(result.missing, 10)}"
                               + _pairs_note(dropped))  # fmt: skip
        for note in result.notes:
            table.model.notice(note)
        if out is not None:
            from embcli.ask.projection import title_name
            from embcli.draw.axis_plot import axis_plot

            axis_plot(result, title_name(table.label), out)
        return result

    def weat(
        self,
        test: str | None = None,
        *,
        X: Sequence[str] | None = None,
        Y: Sequence[str] | None = None,
        A: Sequence[str] | None = None,
        B: Sequence[str] | None = None,
        permutations: int = 100_000,
        seed: int = 0,
        allow_missing: bool = False,
    ) -> WeatResult:
        """The Word Embedding Association Test, in this space (:meth:`Table.weat`)."""
        from embcli.ask import weat as W

        options = self._weat_options(permutations, seed, allow_missing)
        sets = {key: None if words is None else checks.texts(words, f"{key} words")
                for key, words in zip(W.SETS, (X, Y, A, B), strict=True)}  # fmt: skip
        W.check_weat(test, sets, permutations)
        if test is not None:
            W.bundled_test(checks.word(test, "the test's name"))  # an unknown name, at once
        result = W.weat(self.table.embeddings, test, **sets, space=self.rows, **options)  # type: ignore[arg-type]
        for note in result.notes:
            self.table.model.notice(note)
        return result

    def weat_all(
        self, *, permutations: int = 100_000, seed: int = 0, allow_missing: bool = False
    ) -> WeatResults:
        """Every bundled WEAT, in this space (:meth:`Table.weat_all`)."""
        from embcli.ask import weat as W

        options = self._weat_options(permutations, seed, allow_missing)
        result = W.weat_all(self.table.embeddings, space=self.rows, **options)
        for note in result.notes:
            self.table.model.notice(note)
        return result

    def _weat_options(self, permutations: int, seed: int, allow_missing: bool) -> dict[str, Any]:
        checks.count("permutations", permutations, 1)
        from embcli.ask.weat import check_permutations

        check_permutations(permutations)  # one that could not finish: before the table opens
        checks.count("seed", seed)
        return {"permutations": permutations, "seed": seed, "allow_missing": allow_missing,
                "pool": self.pool}  # fmt: skip

    # -- pictures --------------------------------------------------------------------------------

    def project(
        self,
        words: Sequence[str] | None = None,
        *,
        groups: Mapping[str, Sequence[str]] | Sequence[tuple[str, Sequence[str]]] | None = None,
        method: str = "pca",
        perplexity: float = 30.0,
        seed: int = 0,
        plot: PathLike | None = None,
    ) -> WordPlot:
        """Words in 2-D, coloured by group, in this space (:meth:`Table.project`)."""
        from embcli.ask.projection import project_words
        from embcli.draw.wordplot import WordPlot

        checks.choice("method", method, PROJECTIONS)
        checks.number("perplexity", perplexity, low=1.0)
        checks.count("seed", seed)
        if groups is not None and not isinstance(groups, Mapping):
            groups = checks.texts(groups, "groups") if isinstance(groups, str) else groups
            if not all(isinstance(g, (tuple, list)) and len(g) == 2 for g in groups):
                raise UsageProblem("groups are {name: [words]} or [(name, [words]), ...]")
        named = list(groups.items()) if isinstance(groups, Mapping) else list(groups or [])
        spec = ([("", checks.texts(words, "words"))] if words else []) + [
            (str(name), checks.texts(ws, f"words of group {name}")) for name, ws in named
        ]
        if not any(ws for _, ws in spec):
            raise UsageProblem("name some words, --group name=w1,w2, or --groups-file FILE")
        out = checks.output_file(plot, PAGE_SUFFIXES, "plot") if plot is not None else None
        table = self.table
        picture = WordPlot.of(project_words(table.embeddings, spec, method=method,
                                            perplexity=perplexity, seed=seed, pool=self.pool,
                                            space=self.rows))  # fmt: skip
        if picture.dropped:
            table.model.notice(
                f"left out {len(picture.dropped)} word(s): {'; '.join(picture.dropped)}"
            )
        for note in picture.notes:
            table.model.notice(note)
        if out is not None:
            picture.save(out)
        return picture

    def plot(
        self,
        words: Sequence[str] | None = None,
        *,
        groups: Mapping[str, Sequence[str]] | None = None,
        method: str = "pca",
        perplexity: float = 30.0,
        seed: int = 0,
        output: PathLike | None = None,
    ) -> Figure:
        """Words in 2-D, in this space: a matplotlib ``Figure`` (:meth:`Table.plot`)."""
        picture = self.project(words, groups=groups, method=method, perplexity=perplexity,
                               seed=seed, plot=output)  # fmt: skip
        fig = picture.figure()
        fig.embcli_dropped = picture.dropped  # type: ignore[attr-defined,unused-ignore]
        return fig


def _matrix(result: Similarity) -> np.ndarray:
    if result.matrix is None:
        raise UsageProblem("a similarity matrix needs three or more words that all resolve")
    return result.matrix


def _axis_source(pairs: Any, poles: Any, pairs_name: str, poles_name: str) -> tuple[Any, Any]:
    """``(pairs, poles)`` of one axis, checked: exactly one of them given; the names are the
    parameters' (``pairs2``, ``poles2``)."""
    if (pairs is None) == (poles is None):
        raise UsageProblem(f"an axis is built from {pairs_name} or from {poles_name}, "
                           "one of them", param=f"{pairs_name},{poles_name}")  # fmt: skip
    if pairs is not None:
        return checks.axis_pairs(pairs_name, pairs), None
    return None, checks.poles(poles_name, poles)


def _word_pairs(pairs: Any) -> list[tuple[str, str]]:
    """``similarity(pairs=...)``: a list of two-word tuples (or lists), each checked."""
    if isinstance(pairs, (str, bytes)) or not isinstance(pairs, Iterable):
        raise UsageProblem(f"give pairs as a list of (a, b), not {pairs!r}", param="pairs")
    out = []
    for pair in pairs:
        if isinstance(pair, (str, bytes)) or not isinstance(pair, (tuple, list)) or len(pair) != 2:
            raise UsageProblem(f"each pair is two words, (a, b), not {pair!r}", param="pairs")
        out.append((checks.word(pair[0]), checks.word(pair[1])))
    return out


def _left_out(pairs: Any, direction: Any) -> list[str]:
    """The pairs given that an axis was not built from (a word not in the table), as a:b."""
    if not pairs or direction is None or direction.pairs is None:
        return []
    used = set(direction.pairs)
    return [f"{a}:{b}" for a, b in pairs if (a, b) not in used]


def _pairs_note(dropped: list[str]) -> str:
    if not dropped:
        return ""
    from embcli.ask.words import shortlist

    return f" (pairs left out: {shortlist(dropped, 10)})"


def _short(label: str) -> str:
    return label if len(label) <= 40 else "..." + label[-37:]
