"""The whole table as a map: every row's 2-D place, its layers and its exact neighbours.

:func:`token_map` gathers what ``embcli map`` draws (:mod:`embcli.draw.map_page` makes the
page): coordinates (PCA of the unit rows, or t-SNE on a sample), one value per row for each
layer (id, token, kind, row norm, k-means cluster, under-trained score), every shown row's exact
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
METHODS = ("pca", "tsne")
TSNE_MAX_ROWS = 10_000  # t-SNE on 2 cores: about a minute for 10,000 rows
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


def layout(
    table: EmbeddingTable, rows: np.ndarray, method: str, seed: int, perplexity: float
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


def _lowercases(table: EmbeddingTable) -> bool:
    tok = table.tokenizer
    if tok is None:
        return False
    try:
        return bool(tok.normalizer is not None and tok.normalizer.normalize_str("PaRiS") == "paris")
    except Exception:  # a normalizer that cannot run alone
        return False


def undertrained_scores(table: EmbeddingTable) -> tuple[np.ndarray | None, str]:
    """``undertrained``'s score of every row, or None and why not (no known-unused rows)."""
    from embcli.ask.undertrained import cosine_distance_scores, default_reference

    try:
        ref, how = default_reference(table)
    except EmbcliError as exc:
        return None, str(exc)
    n = table.shape[0]
    norms = np.asarray(table.norms)
    pc = linalg.first_component(table.unit, norms, np.arange(n))
    return cosine_distance_scores(table.unit, norms, ref, pc).astype(np.float32), how


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
    neighbor_method: str = "auto",
) -> TokenMap:
    """Everything the map of ``table`` shows (see the module docstring)."""
    from embcli.ask.projection import title_name
    from embcli.read.tokens import visible

    n = table.shape[0]
    rows = sample_rows(n, sample, seed)
    coords, params = layout(table, rows, method, seed, perplexity)
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
    under, how = undertrained_scores(table)
    notes = [
        f"under-trained score: {how}" if under is not None else f"no under-trained score: {how}"
    ]
    if lists.note(k):
        notes.append(str(lists.note(k)))
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
        },
        notes=notes,
    )
