"""The whole table as a map: every row's 2-D place, its layers and its exact neighbours.

:func:`token_map` gathers what ``embcli map`` draws (:mod:`embcli.draw.map_page` makes the
page): coordinates (PCA of the unit rows, UMAP of them, or t-SNE on a sample), one value per
row for each layer (id, token, kind, row norm, k-means cluster, under-trained score and flag,
and when asked the score on a semantic axis and the cosine and neighbour agreement with
another table), every shown row's exact
top-k neighbours over the full table (the rows ``embcli neighbors`` ranks, found by
:func:`embcli.ask.queries.top_k`, so a row's list equals ``embcli neighbors #id``), and the
search table: each word a user may type, resolved as the CLI resolves it.

The coordinates, clusters and neighbour lists are pure functions of the entry and their
parameters, so they are kept as derived files of the table (``derived/map-*``): a second map of
the same table reuses them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from embcli import linalg
from embcli.errors import EmbcliError, UnresolvedWord, UsageProblem

if TYPE_CHECKING:
    from embcli.store.table import EmbeddingTable

#: Kinds of token, in the order of their codes.
KINDS = ("word", "piece", "byte", "special", "number/punct", "padding", "unused")
METHODS = ("pca", "tsne", "umap")
TSNE_MAX_ROWS = 10_000  # t-SNE on 2 cores: about a minute for 10,000 rows
UMAP_MAX_ROWS = 100_000  # UMAP on 2 cores: 30,522 x 384 in about 100 s (bench/map_build.py)
#: ``undertrained``'s verdict of a row, as the map's category layer names it (codes in order;
#: the page colours categories by code: flagged orange, known unused light orange).
FLAGS = ("not flagged", "special", "flagged", "known unused", "unreachable", "partial UTF-8")
NEIGHBOR_BLOCK = 1024  # rows per top-k call while building the neighbour lists
CLUSTER_NAMES = 3  # tokens naming a cluster
BYTES = re.compile(r"^(?:\\x[0-9a-f]{2})+$")
LETTER = re.compile(r"[^\W\d_]")


@dataclass
class TokenMap:
    """What the map of one table shows: ``rows`` are the table's row ids on the page, in order;
    every per-row array is aligned with them. ``neighbors`` holds table row ids (-1: none)."""

    label: str
    role: str
    shape: tuple[int, int]
    rows: np.ndarray  # [n] int64
    coords: np.ndarray  # [n, 2] float32
    tokens: list[str]  # as embcli shows them in tables (read.tokens.visible: ␣Paris)
    kinds: np.ndarray  # [n] uint8, codes into KINDS
    norms: np.ndarray  # [n] float32
    clusters: np.ndarray  # [n] int16
    cluster_names: list[str]
    undertrained: np.ndarray | None  # [n] float32: 1 - cos to the unused rows' mean
    neighbors: np.ndarray  # [n, k] int64 table ids
    scores: np.ndarray  # [n, k] float32 cosines
    extra_tokens: dict[int, str]  # shown tokens of neighbours not on the page
    search: dict[str, int]  # a typed word -> table row id
    lowercase: bool  # the tokenizer lower-cases what it reads (an uncased vocabulary)
    method: str
    parameters: dict[str, Any]
    notes: list[str] = field(default_factory=list)
    #: Further number layers by name, each [n] float64 aligned with ``rows`` (NaN: no value,
    #: a row of A that B lacks): the axis score, the cosine and Jaccard with another table.
    numbers: dict[str, np.ndarray] = field(default_factory=dict)
    #: Further category layers by name: ([n] uint8 codes, the categories' names).
    categories: dict[str, tuple[np.ndarray, list[str]]] = field(default_factory=dict)
    #: The notes a caller should also say (the axis's words not in the table, rows B lacks).
    notices: list[str] = field(default_factory=list)
    #: A word-vector table (no tokenizer): the page resolves a word as ``embcli`` resolves it
    #: in such a table, as typed, else lower-cased (``search``), else up to case (``fold``).
    words: bool = False
    #: Word-vector tables: a shown word's text lower-cased and case-folded -> the row ``embcli``
    #: answers for a word that is no token as typed nor lower-cased (the lowest of its case forms).
    fold: dict[str, int] = field(default_factory=dict)


def token_kinds(
    tokens: list[str],
    wordlike: np.ndarray,
    special: frozenset[int] | set[int],
    bytes_: set[int],
    size: int | None = None,
    unused: set[int] | frozenset[int] = frozenset(),
) -> np.ndarray:
    """A kind code per row (see :data:`KINDS`): rows beyond the tokenizer are padding, then
    special tokens, unused ones (``unused``: ``[unused12]``, ``<|reserved_special_token_3|>``),
    byte tokens (``bytes_``, or a token shown as ``\\xNN``), tokens without a letter (numbers,
    punctuation), word-like tokens, and the rest are subword pieces."""
    limit = len(tokens) if size is None else size
    out = np.empty(len(tokens), np.uint8)
    for i, t in enumerate(tokens):
        if i >= limit:
            kind = "padding"
        elif i in special:
            kind = "special"
        elif i in unused:
            kind = "unused"
        elif i in bytes_ or BYTES.match(t):
            kind = "byte"
        elif not LETTER.search(t):
            kind = "number/punct"
        elif wordlike[i]:
            kind = "word"
        else:
            kind = "piece"
        out[i] = KINDS.index(kind)
    return out


def byte_and_unused_rows(table: EmbeddingTable) -> tuple[set[int], set[int]]:
    """Rows whose vocabulary piece stands for one byte, and rows unused by name or as the file
    marks them (``undertrained``'s rules)."""
    from embcli.ask.undertrained import UNUSED_NAME, byte_of_piece

    found = {int(i) for i in table.meta.byte_ids}
    unused = {int(i) for i in table.meta.unused_ids}
    tok = table.tokenizer
    if tok is not None:
        for i in range(min(table.shape[0], table.tokenizer_size or table.shape[0])):
            piece = tok.id_to_token(i)
            if piece is None:
                continue
            if byte_of_piece(piece, table.style) is not None:
                found.add(i)
            if UNUSED_NAME.match(piece):
                unused.add(i)
    return found, unused


def pca_coords(unit: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every unit row on the first two principal axes of the unit rows, and their shares of the
    variance. The scatter is summed by blocks (:func:`embcli.linalg.scatter`) and the rows
    projected by blocks, so a 262,144 x 2,304 table needs no float64 copy of itself."""
    n = unit.shape[0]
    mean, centred, _ = linalg.scatter(unit, np.ones(n, np.float32), np.arange(n))
    variances, axes = linalg.principal_axes(centred, 2)
    coords = np.empty((n, axes.shape[1]), np.float64)
    for lo in range(0, n, NEIGHBOR_BLOCK):
        coords[lo : lo + NEIGHBOR_BLOCK] = (np.asarray(unit[lo : lo + NEIGHBOR_BLOCK],
                                                       np.float64) - mean) @ axes  # fmt: skip
    out = np.zeros((n, 2), np.float32)
    out[:, : axes.shape[1]] = coords
    total = float(variances.sum())
    explained = np.zeros(2)
    explained[: axes.shape[1]] = variances[: axes.shape[1]] / total if total > 0 else 0.0
    return out, explained


def sample_rows(n: int, sample: int | None, seed: int) -> np.ndarray:
    """The rows a map shows: all, or ``sample`` of them chosen by ``seed`` (sorted)."""
    if sample is None or sample >= n:
        return np.arange(n, dtype=np.int64)
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n, size=sample, replace=False)).astype(np.int64)


def umap_coords(unit: np.ndarray, neighbors: int, min_dist: float, seed: int) -> np.ndarray:
    """UMAP (umap-learn, McInnes et al. 2018) of the unit rows by cosine, seeded (and so run
    on one thread: umap-learn gives up parallelism for a fixed seed)."""
    import warnings

    try:
        import umap
    except ImportError:
        raise EmbcliError(
            "the umap layout needs umap-learn, which is not installed", "pip install 'embcli[map]'"
        ) from None
    model = umap.UMAP(n_components=2, n_neighbors=neighbors, min_dist=min_dist, metric="cosine",
                      random_state=seed, low_memory=True)  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "n_jobs value 1 overridden to 1 by setting random_state"
        coords = model.fit_transform(np.asarray(unit, np.float32))
    return np.asarray(coords, np.float32)


def layout(
    table: EmbeddingTable,
    rows: np.ndarray,
    method: str,
    seed: int,
    perplexity: float,
    umap_neighbors: int = 15,
    umap_min_dist: float = 0.1,
) -> tuple[np.ndarray, dict[str, Any]]:
    """The rows' 2-D coordinates (kept as a derived file) and the parameters that made them."""
    n = table.shape[0]
    if method == "pca":
        kept = table.derived.arrays(
            "map-pca.npz",
            lambda: dict(
                zip(("coords", "explained"), pca_coords(np.asarray(table.unit)), strict=True)
            ),
            {"coords": (n, 2), "explained": (2,)},
        )
        explained = [round(float(v), 4) for v in kept["explained"]]
        params: dict[str, Any] = {"of": "unit rows", "explained variance": explained}
        return np.asarray(kept["coords"][rows], np.float32), params
    if method == "umap":
        return umap_layout(table, rows, seed, umap_neighbors, umap_min_dist)
    from embcli.ask.projection import clamp_perplexity, tsne_2d

    if len(rows) > TSNE_MAX_ROWS:
        raise UsageProblem(
            f"t-SNE of {len(rows):,} rows would take too long here (at most {TSNE_MAX_ROWS:,})",
            f"add --sample {TSNE_MAX_ROWS} or use --method pca",
            param="method",
        )
    used, _ = clamp_perplexity(perplexity, len(rows))
    key = f"map-tsne-{len(rows)}-{seed}-{used:g}.npz"
    kept = table.derived.arrays(
        key,
        lambda: {"rows": rows, "coords": tsne_2d(np.asarray(table.unit)[rows], used, seed)},
        {"rows": rows.shape, "coords": (len(rows), 2)},
    )
    if not np.array_equal(kept["rows"], rows):  # another sample under the same name
        kept = {"coords": tsne_2d(np.asarray(table.unit)[rows], used, seed)}
    params = {"of": "unit rows", "metric": "cosine", "perplexity": used, "seed": seed}
    return np.asarray(kept["coords"], np.float32), params


def umap_layout(
    table: EmbeddingTable, rows: np.ndarray, seed: int, neighbors: int, min_dist: float
) -> tuple[np.ndarray, dict[str, Any]]:
    """UMAP coordinates of ``rows``, kept as a derived file keyed by the rows shown, the seed
    and the parameters (a sample is checked row for row, as t-SNE's is)."""
    if len(rows) > UMAP_MAX_ROWS:
        raise UsageProblem(
            f"UMAP of {len(rows):,} rows would take too long here (at most {UMAP_MAX_ROWS:,})",
            f"add --sample {UMAP_MAX_ROWS} or use --method pca",
            param="method",
        )
    used = max(2, min(neighbors, len(rows) - 1))
    key = f"map-umap-{len(rows)}-{seed}-{used}-{min_dist:g}.npz"

    def compute() -> np.ndarray:
        return umap_coords(np.asarray(table.unit)[rows], used, min_dist, seed)

    kept = table.derived.arrays(
        key, lambda: {"rows": rows, "coords": compute()},
        {"rows": rows.shape, "coords": (len(rows), 2)},
    )  # fmt: skip
    if not np.array_equal(kept["rows"], rows):  # another sample under the same name
        kept = {"coords": compute()}
    params = {"of": "unit rows", "metric": "cosine", "neighbours (UMAP)": used,
              "min_dist": min_dist, "seed": seed}  # fmt: skip
    return np.asarray(kept["coords"], np.float32), params


def kmeans_labels(unit: np.ndarray, clusters: int, seed: int) -> np.ndarray:
    """k-means labels of the unit rows (scikit-learn's MiniBatchKMeans)."""
    from sklearn.cluster import MiniBatchKMeans

    model = MiniBatchKMeans(n_clusters=clusters, random_state=seed, n_init=3, batch_size=4096)
    labels: np.ndarray = model.fit_predict(np.asarray(unit, np.float32))
    return labels.astype(np.int16)


def cluster_names(
    unit: np.ndarray, labels: np.ndarray, tokens: list[str], wordlike: np.ndarray, clusters: int
) -> list[str]:
    """Each cluster named by its most central tokens (highest cosine with its mean direction),
    word-like ones first when the cluster has any."""
    from embcli.read.tokens import visible

    names = []
    for c in range(clusters):
        members = np.flatnonzero(labels == c)
        if len(members) == 0:
            names.append(f"{c}: (empty)")
            continue
        words = members[np.asarray(wordlike)[members]]
        pool = words if len(words) >= CLUSTER_NAMES else members
        centre = linalg.unit_rows(np.asarray(unit[members], np.float64).mean(axis=0)[None, :])[0]
        cos = np.asarray(unit[pool], np.float64) @ centre
        best = pool[np.lexsort((pool, -cos))[:CLUSTER_NAMES]]
        names.append(f"{c}: " + " ".join(visible(tokens[i]) for i in best))
    return names


def all_neighbors(
    table: EmbeddingTable, rows: np.ndarray, k: int, progress: Any = None
) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-``k`` of every row of ``rows`` over the full table, as ``embcli neighbors
    #id`` ranks them (:func:`embcli.ask.neighbor_lists.exact_lists`)."""
    from embcli.ask.neighbor_lists import exact_lists

    return exact_lists(table, rows, k, progress)


def search_table(table: EmbeddingTable, rows: np.ndarray) -> tuple[dict[str, int], bool]:
    """What a word typed in the page's search box resolves to, as ``embcli`` resolves it.

    The keys are every shown token as typed (its text without surrounding space, and its
    exact text): each resolved by :func:`embcli.ask.words.resolve` (GPT-2's ``Paris`` ->
    ``" Paris"``, BERT's after lower-casing); keys that resolve to no row on the page are left
    out. The flag says the tokenizer lower-cases its input (the page lower-cases the query).
    """
    from embcli.ask.words import resolve

    tokens = table.tokens
    shown = set(rows.tolist())
    keys: dict[str, None] = {}
    for i in rows:
        t = tokens[int(i)]
        for key in (t.strip(), t):
            if key.strip():
                keys.setdefault(key, None)
    lowercase = _lowercases(table)
    out: dict[str, int] = {}
    for key in keys:
        if lowercase and key != key.lower() and key.lower() in keys:
            continue  # typed in upper case, the page asks for the lower case
        try:
            got = resolve(table, key)
        except (UnresolvedWord, EmbcliError):
            continue
        if len(got.ids) == 1 and got.ids[0] in shown:
            out[key] = int(got.ids[0])
    return out, lowercase


def fold_table(table: EmbeddingTable, rows: np.ndarray) -> dict[str, int]:
    """A word-vector table's last resolving step, for the page: a word that is no token as
    typed nor lower-cased resolves to the lowest row spelling it up to case and surrounding
    space (:func:`embcli.ask.words.resolve`). Keyed by every shown word's stripped text
    lower-cased and case-folded (the page looks up the typed word lower-cased); only rows on
    the page are kept."""
    if table.style != "words":
        return {}
    tokens = table.tokens
    shown = set(rows.tolist())
    out: dict[str, int] = {}
    for i in rows:
        t = tokens[int(i)].strip()
        if not t:
            continue
        for key in (t.lower(), t.casefold()):
            if key in out:
                continue
            found = table.variants_of(key)
            if found and min(found) in shown:
                out[key] = int(min(found))
    return out


def _lowercases(table: EmbeddingTable) -> bool:
    tok = table.tokenizer
    if tok is None:
        return False
    try:
        return bool(tok.normalizer is not None and tok.normalizer.normalize_str("PaRiS") == "paris")
    except Exception:  # a normalizer that cannot run alone
        return False


def undertrained_layers(
    table: EmbeddingTable,
) -> tuple[np.ndarray | None, np.ndarray | None, str]:
    """``undertrained``'s score of every row and its verdict as codes into :data:`FLAGS`
    (both from :func:`embcli.ask.undertrained.verdicts`, the command's own code path, at its
    default percentile), and what the reference set is or why there is none. A table with no
    reachable row outside the reference (no tokenizer) has a score and no flag."""
    from embcli.ask.undertrained import REACH_PARTIAL, REACH_SPECIAL, REACH_UNREACHABLE, verdicts

    try:
        found = verdicts(table)
    except EmbcliError as exc:
        try:
            found = verdicts(table, all_rows=True)
        except EmbcliError:
            return None, None, str(exc)
        return found.scores.astype(np.float32), None, found.how
    codes = np.zeros(table.shape[0], np.uint8)
    special = found.reach == REACH_SPECIAL
    codes[special] = FLAGS.index("special")
    codes[found.unreachable & (found.reach == REACH_PARTIAL)] = FLAGS.index("partial UTF-8")
    codes[found.unreachable & (found.reach == REACH_UNREACHABLE)] = FLAGS.index("unreachable")
    codes[found.flagged] = FLAGS.index("flagged")
    codes[found.in_reference] = FLAGS.index("known unused")
    how = (f"{found.how}; flagged: the lowest 2% of reachable rows' scores "
           f"(<= {found.threshold:.4f})")  # fmt: skip
    return found.scores.astype(np.float32), codes, how


def axis_scores(table: EmbeddingTable, pairs: Any, method: str = "pca") -> tuple[np.ndarray, Any]:
    """Every row's score on the axis ``pairs`` make (``embcli axis``'s pairs, built by
    :func:`embcli.ask.directions.build` in the table's own rows): the float64 cosine of its
    unit row with the axis, what ``embcli axis`` reports; and the :class:`Direction`."""
    from embcli.ask.directions import build

    direction = build(table, pairs, None, method=method)
    space = table.space()
    n = table.shape[0]
    out = np.empty(n, np.float64)
    for lo in range(0, n, NEIGHBOR_BLOCK * 16):
        ids = np.arange(lo, min(n, lo + NEIGHBOR_BLOCK * 16))
        out[ids] = space.exact(ids, direction.vector)
    return out, direction


@dataclass
class Comparison:
    """Each row of table A against table B (``map --compare``): ``cosine`` and ``jaccard``
    are [rows of A] float64, NaN where A's row has no match in B. ``by`` says how rows were
    matched ("id": the vocabularies are the same row for row; "word": word-like tokens by
    text, as ``embcli compare`` matches them), ``aligned`` whether the cosine is taken after
    ``compare``'s Procrustes alignment (else directly, row against row), ``k`` the lists'
    length, ``matched`` how many rows of A have a cosine."""

    cosine: np.ndarray
    jaccard: np.ndarray
    by: str
    aligned: bool
    k: int
    matched: int
    label: str
    shape: tuple[int, int]


def rows_in_common(a: EmbeddingTable, b: EmbeddingTable) -> int | None:
    """How many leading rows the two tables share (every row of the shorter one) when their
    vocabularies agree row for row (same tokenizer size, the same token in every row below
    it: rows past the tokenizer are the same padding rows, whatever each reader calls them);
    else None."""
    if a.tokenizer_size != b.tokenizer_size:
        return None
    n = min(a.shape[0], b.shape[0])
    named = min(n, a.tokenizer_size or n)
    if named < 1 or list(a.tokens[:named]) != list(b.tokens[:named]):
        return None
    return n


def list_jaccard(lists_a: np.ndarray, lists_b: np.ndarray) -> np.ndarray:
    """Per row, |A ∩ B| / |A ∪ B| of two id lists padded with -1 (padding is no member)."""
    a = np.where(lists_a < 0, -1, lists_a)
    b = np.where(lists_b < 0, -2, lists_b)
    inter = (a[:, :, None] == b[:, None, :]).any(axis=2).sum(axis=1)
    union = (a >= 0).sum(axis=1) + (b >= 0).sum(axis=1) - inter
    out: np.ndarray = np.where(union > 0, inter / np.maximum(union, 1), np.nan)
    return out


def compare_rows(
    a: EmbeddingTable,
    b: EmbeddingTable,
    k: int,
    lists_a: np.ndarray,
    progress: Any = None,
    *,
    how: str = "auto",
    seed: int = 0,
) -> Comparison:
    """Each row of A against B (see :class:`Comparison`), as ``embcli compare`` compares them.

    When the vocabularies agree row for row (:func:`rows_in_common`: a quantisation, a
    fine-tune, a checkpoint of one model) row i is matched with row i; the cosine is taken
    directly (``compare``'s row cosine) when the widths agree, and each row's neighbour list
    in A (``lists_a``, the map's) is compared with its list in B, found the same way (``how``,
    ``seed``: :func:`embcli.ask.neighbor_lists.neighbor_lists`, kept in B's entry). Else
    the word-like tokens are matched by text (``compare``'s shared vocabulary: case folded,
    the lowest id wins); the cosine is taken after ``compare``'s alignment (centred unit rows,
    the wider side reduced by PCA, orthogonal Procrustes fitted on every shared word) and the
    neighbour lists are those among the shared words on each side (``compare``'s Jaccard)."""
    from embcli.ask import compare as C

    n_a = a.shape[0]
    cosine = np.full(n_a, np.nan)
    jaccard = np.full(n_a, np.nan)
    common = rows_in_common(a, b)
    if common is not None:
        from embcli.ask.neighbor_lists import neighbor_lists

        lists_b = np.asarray(neighbor_lists(b, k, how, seed, progress).ids)
        jaccard[:common] = list_jaccard(lists_a[:common], lists_b[:common])
        if a.shape[1] == b.shape[1]:
            rows, cos = C.row_cosines(a.unit, a.norms, b.unit, b.norms, common)
            cosine[rows] = cos
            return Comparison(cosine, jaccard, "id", False, k, len(rows), b.label, b.shape)
        ids_a = ids_b = np.flatnonzero(np.asarray(a.wordlike[:common], bool))
    else:
        rows_a = C.word_rows(a.tokens, a.wordlike, a.style)
        rows_b = C.word_rows(b.tokens, b.wordlike, b.style)
        vocab = C.shared_vocabulary(rows_a, rows_b)
        ids_a, ids_b = vocab.ids_a, vocab.ids_b
    if len(ids_a) < 3:
        raise EmbcliError(
            f"{a.label} and {b.label} share {len(ids_a)} word-like tokens: too few to compare "
            "(need at least 3)"
        )
    ua = np.asarray(a.unit[ids_a], np.float32)
    ub = np.asarray(b.unit[ids_b], np.float32)
    if common is None:
        k_eff = max(1, min(k, len(ids_a) - 1))
        everyone = np.arange(len(ids_a))
        jaccard[ids_a] = C.jaccard(C.neighbor_lists(ua, everyone, k_eff),
                                   C.neighbor_lists(ub, everyone, k_eff))  # fmt: skip
    dim = min(ua.shape[1], ub.shape[1])
    xa, _ = C.prepare(ua, dim if ua.shape[1] > dim else None)
    xb, _ = C.prepare(ub, dim if ub.shape[1] > dim else None)
    mapped = xa @ linalg.procrustes(xa, xb)
    cosine[ids_a] = np.einsum("ij,ij->i", mapped, xb)
    by = "id" if common is not None else "word"
    return Comparison(cosine, jaccard, by, True, k, len(ids_a), b.label, b.shape)


def token_map(
    table: EmbeddingTable,
    role: str,
    *,
    sample: int | None = None,
    method: str = "pca",
    seed: int = 0,
    clusters: int = 20,
    k: int = 10,
    perplexity: float = 30.0,
    progress: Any = None,
    umap_neighbors: int = 15,
    umap_min_dist: float = 0.1,
    axis: Any = None,
    compare: EmbeddingTable | None = None,
    compare_progress: Any = None,
    neighbor_method: str = "auto",
) -> TokenMap:
    """Everything the map of ``table`` shows (see the module docstring). ``axis``: pairs (as
    ``embcli axis`` takes them) for a layer of every row's score on their axis; ``compare``:
    another table B, for the layers of :func:`compare_rows` (``compare_progress`` hears B's
    neighbour lists being built)."""
    from embcli.ask.projection import title_name
    from embcli.read.tokens import visible

    n = table.shape[0]
    rows = sample_rows(n, sample, seed)
    # the axis first: pairs the table cannot build an axis from are said before the work
    along, direction = axis_scores(table, axis) if axis is not None else (None, None)
    coords, params = layout(table, rows, method, seed, perplexity, umap_neighbors, umap_min_dist)
    unit = np.asarray(table.unit)
    tokens_all = list(table.tokens)
    wordlike = np.asarray(table.wordlike, bool)
    clusters = min(clusters, n)
    labels = table.derived.array(
        f"map-kmeans-{clusters}-{seed}.npy", lambda: kmeans_labels(unit, clusters, seed), (n,)
    )
    names = cluster_names(unit, labels, tokens_all, wordlike, clusters)
    bytes_, unused = byte_and_unused_rows(table)
    kinds = token_kinds(
        tokens_all, wordlike, table.special_ids, bytes_, table.tokenizer_size, unused
    )
    from embcli.ask.neighbor_lists import neighbor_lists

    lists = neighbor_lists(table, k, neighbor_method, seed, progress)
    neighbors, scores = lists.ids[rows], lists.scores[rows]
    under, flags, how = undertrained_layers(table)
    notes = [
        f"under-trained score: {how}" if under is not None else f"no under-trained score: {how}"
    ]
    if lists.note(k):
        notes.append(str(lists.note(k)))
    numbers: dict[str, np.ndarray] = {}
    categories: dict[str, tuple[np.ndarray, list[str]]] = {}
    if flags is not None:
        categories["under-trained"] = (flags[rows], list(FLAGS))
    extra_params: dict[str, Any] = {}
    notices: list[str] = []
    if along is not None and direction is not None:
        if direction.missing:
            from embcli.ask.words import shortlist

            notices.append(f"axis: not in the table, skipped: {shortlist(direction.missing, 10)}")
        name = f"axis {direction.label()}"
        numbers[name] = along[rows]
        extra_params[name] = "cosine of each unit row with the axis, " + direction.caption()
    if compare is not None:
        found = compare_rows(
            table,
            compare,
            k,
            np.asarray(lists.ids),
            compare_progress,
            how=neighbor_method,
            seed=seed,
        )
        cos_name = "aligned cosine with B" if found.aligned else "cosine with B"
        numbers[cos_name] = np.clip(found.cosine[rows], -1.0, 1.0)  # no 1.0000000000000004
        numbers[f"Jaccard@{k} with B"] = found.jaccard[rows]
        extra_params["B"] = f"{found.label} ({found.shape[0]:,} x {found.shape[1]:,})"
        extra_params["rows matched"] = (
            "by id (the vocabularies agree row for row)" if found.by == "id"
            else "by word-like token text, case folded (as compare)"
        )  # fmt: skip
        extra_params[cos_name] = (
            "each row against its row in B after compare's Procrustes alignment, fitted on "
            f"{found.matched:,} shared words" if found.aligned
            else "each row against its row in B, directly"
        )  # fmt: skip
        extra_params[f"Jaccard@{k} with B"] = (
            "the row's neighbour list in A against its list in B (both as the map lists them)"
            if found.by == "id"
            else "neighbours among the shared words in A and in B (as compare)"
        )
        shown_cos, shown_jac = found.cosine[rows], found.jaccard[rows]
        for label, values in ((cos_name, shown_cos), (f"Jaccard@{k} with B", shown_jac)):
            lacking = int(np.isnan(values).sum())
            if lacking:
                notices.append(f"{label}: {lacking:,} of {len(rows):,} rows shown have none "
                               "(not in B, or not a shared word)")  # fmt: skip
    shown = set(rows.tolist())
    extra = {
        int(i): tokens_all[int(i)] for i in np.unique(neighbors) if i >= 0 and int(i) not in shown
    }
    search, lowercase = search_table(table, rows)
    params = {
        **params,
        "rows shown": f"{len(rows):,} of {n:,}"
        + (f" (sample, seed {seed})" if len(rows) < n else ""),
    }
    return TokenMap(
        label=title_name(table.label),
        role=role,
        shape=(n, table.shape[1]),
        rows=rows,
        coords=coords,
        tokens=[visible(tokens_all[int(i)]) for i in rows],
        kinds=kinds[rows],
        norms=np.asarray(table.norms, np.float32)[rows],
        clusters=np.asarray(labels, np.int16)[rows],
        cluster_names=names,
        undertrained=None if under is None else under[rows],
        neighbors=neighbors,
        scores=scores.astype(np.float32),
        extra_tokens=extra,
        search=search,
        lowercase=lowercase,
        method=method,
        parameters={
            **params,
            "clusters": f"k-means, {clusters} on unit rows, seed {seed}",
            "neighbours": lists.caption(k),
            **extra_params,
        },
        notes=notes + notices,
        numbers=numbers,
        categories=categories,
        notices=notices,
        words=table.style == "words",
        fold=fold_table(table, rows),
    )
