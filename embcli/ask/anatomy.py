"""``embcli stats``: what is inside a table as an object, its shape and its health.

Token tables are anisotropic (Ethayarajh 2019; Mu and Viswanath 2018): a shared direction makes
every cosine high. The statistics here say how much (the mean cosine of random pairs, before and
after removing the mean and the top principal components, "all-but-the-top"), how isotropic the
rows are (Mu and Viswanath's I(W) = min Z(c) / max Z(c)), how many dimensions carry variance
(shares of the first principal components; Roy and Vetterli's effective rank), and which rows are
empty or repeated.

The spectrum comes from the ``D x D`` scatter matrix accumulated in float64 by blocks of rows,
which is exact and costs one pass of ``V D^2`` flops. When that is too much (a 202,048 x 5,120
table: 5 x 10^12 multiply-adds, then two 5,120 x 5,120 eigen-solves), it is taken over a uniform
sample of 2,048 rows through their row Gram matrix, and the result says so (``spectrum.exact``
false; the effective rank of a sample is at most its row count).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from embcli import linalg
from embcli.errors import EmbcliError, UsageProblem
from embcli.store.table import EmbeddingTable, check_removed
from embcli.view import Result, View

BLOCK = 8192
#: Above this many multiply-adds (rows x dim^2) the spectrum is taken over a row sample.
EXACT_BUDGET = 6e10
#: Rows of the uniform sample the spectrum is taken over when the exact scatter is too costly.
SAMPLE_ROWS = 2048
NEAR_COSINE = 0.999
HASH_BITS = 16
HASH_TABLES = 2
MAX_LAG = 64  # a bucket is compared within windows of this many rows
SKETCH = 64  # random projections per row for duplicate search
#: ``--samples``: the most random pairs the mean cosine is taken over (its 95% interval is then
#: a few thousandths wide), and the bytes their raw rows (two float64 rows a pair) may take: a
#: count beyond either is refused in one line rather than run out of memory.
MAX_SAMPLES = 1_000_000
PAIR_BYTES = 2**31


# -- plain functions over arrays ------------------------------------------------------------------


def norm_summary(norms: np.ndarray) -> dict[str, Any]:
    """Min, quartiles and max of the row norms, with the ids of the extremes."""
    n = np.asarray(norms, np.float64)
    q1, med, q3 = np.quantile(n, [0.25, 0.5, 0.75])
    return {
        "min": float(n.min()),
        "q1": float(q1),
        "median": float(med),
        "q3": float(q3),
        "max": float(n.max()),
        "argmin": int(n.argmin()),
        "argmax": int(n.argmax()),
    }


def variance_share(eigenvalues: np.ndarray, ks: tuple[int, ...] = (1, 10, 100)) -> dict[str, float]:
    """Share of the total variance in the first k principal components, for each k."""
    total = float(eigenvalues.sum())
    cum = np.cumsum(eigenvalues)
    return {str(k): float(cum[min(k, len(cum)) - 1] / total) if total > 0 else 0.0 for k in ks}


def effective_rank(singular_values: np.ndarray) -> float:
    """Roy and Vetterli (2007): exp of the entropy of the singular values normalised to sum 1."""
    s = np.asarray(singular_values, np.float64)
    s = s[s > 0]
    if s.size == 0:
        return 0.0
    p = s / s.sum()
    return float(np.exp(-(p * np.log(p)).sum()))


def log_partition(rows: np.ndarray, directions: np.ndarray) -> np.ndarray:
    """``log Z(c) = log sum_w exp(c . w)`` for every column ``c`` of ``directions``, stably."""
    scores = rows @ directions
    top = scores.max(axis=0)
    log_z: np.ndarray = top + np.log(np.exp(scores - top).sum(axis=0))
    return log_z


def log_partition_both(rows: np.ndarray, directions: np.ndarray) -> np.ndarray:
    """``log Z(c)`` for every column and its negation: ``[+c..., -c...]``, from one product.

    The product is taken in float32 (the slow step, ``V D^2``); the exponentials in float64.
    A projection's float32 error (about 1e-7 of |w|) moves I(W) by about that much.
    """
    scores = np.asarray(rows, np.float32) @ directions.astype(np.float32)
    hi, lo = scores.max(axis=0), scores.min(axis=0)
    pos = hi + np.log(np.exp(scores - hi).sum(axis=0, dtype=np.float64))
    neg = -lo + np.log(np.exp(lo - scores).sum(axis=0, dtype=np.float64))
    return np.concatenate([pos, neg])


def isotropy(unit: np.ndarray, norms: np.ndarray, idx: np.ndarray, directions: np.ndarray) -> float:
    """Mu and Viswanath's I(W) = min_c Z(c) / max_c Z(c), with logsumexp over blocks of rows.

    An eigenvector's sign is arbitrary and Z(c) != Z(-c), so c runs over both signs of every
    direction; the measure is then a property of the table, not of the eigen-solver.
    """
    acc = np.full(2 * directions.shape[1], -np.inf)
    for lo in range(0, len(idx), BLOCK):
        sel = idx[lo : lo + BLOCK]
        rows = linalg.raw_rows(unit, norms, sel, np.float32)
        acc = np.logaddexp(acc, log_partition_both(rows, directions))
    return float(np.exp(acc.min() - acc.max()))


def sampled_spectrum(x: np.ndarray, keep: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Spectrum of a row sample ``x`` (``n < D``) through its ``n x n`` row Gram matrices.

    Returns the sample mean, the centred eigenvalues, the top ``keep`` principal directions
    (columns) and the isotropy over the sample. Directions orthogonal to every sampled row give
    Z(c) = n; they are counted once when the sample spans fewer than D dimensions.
    """
    centred = linalg.pca(x, keep)  # fewer rows than columns: an SVD of the sample
    mean, vals, components = x.mean(axis=0), centred.variances, centred.axes
    rvals, ru = linalg.descending_eigh(x @ x.T)
    live = rvals > rvals[0] * 1e-12
    dirs = (x.T @ ru[:, live]) / np.sqrt(rvals[live])
    dirs = np.concatenate([dirs, -dirs], axis=1)
    log_z = log_partition(x, dirs)
    if live.sum() < x.shape[1]:
        log_z = np.append(log_z, np.log(len(x)))
    return mean, vals, components, float(np.exp(log_z.min() - log_z.max()))


def random_pairs(pool: np.ndarray, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` pairs of distinct rows drawn uniformly (with replacement) from ``pool``."""
    rng = np.random.default_rng(seed)
    m = len(pool)
    i = rng.integers(0, m, n)
    j = (i + rng.integers(1, m, n)) % m
    return pool[i], pool[j]


def mean_ci(values: np.ndarray) -> dict[str, Any]:
    """Mean and its 95% normal confidence interval."""
    v = np.asarray(values, np.float64)
    mean = float(v.mean())
    half = 1.96 * float(v.std(ddof=1)) / np.sqrt(len(v)) if len(v) > 1 else 0.0
    return {"mean": mean, "ci95": [mean - half, mean + half]}


def duplicate_rows(
    unit: np.ndarray, norms: np.ndarray, near: float = NEAR_COSINE, seed: int = 0
) -> dict[str, Any]:
    """Rows equal to an earlier row (``exact``), and rows within ``near`` cosine of one (``near``).

    Zero rows are counted apart, not here. One pass projects every unit row on 64 random
    directions (a sketch: 256 bytes a row, whatever the width). Exact duplicates share their
    projections and norm, so only rows whose norms are equal and sketches agree are compared
    byte for byte.
    Near duplicates are found by sign-of-random-projection hashing of the sketch (two tables of
    16 bits, on rows minus their mean direction); pairs in a bucket (within 64 places of each
    other) whose sketch cosine is at least 0.98 are checked exactly. A pair at cosine 0.9999 is
    missed with probability about 0.2%, so ``near`` is a lower bound, never a false count.
    """
    rows, dim = unit.shape
    live = np.flatnonzero(np.asarray(norms) > 0)
    rng = np.random.default_rng(seed)
    planes = rng.standard_normal((dim, SKETCH)).astype(np.float32)
    sketch = np.empty((len(live), SKETCH), np.float32)
    for lo in range(0, len(live), BLOCK):
        sketch[lo : lo + BLOCK] = np.asarray(unit[live[lo : lo + BLOCK]], np.float32) @ planes
    live_norms = np.asarray(norms, np.float64)[live]
    exact = np.zeros(rows, bool)
    order = np.lexsort((sketch[:, 0], live_norms))  # identical rows: equal norms, adjacent
    sorted_norms = live_norms[order]
    for lag in range(1, MAX_LAG + 1):
        same = np.flatnonzero(sorted_norms[lag:] == sorted_norms[:-lag])
        if same.size == 0:
            break
        i, j = order[same], order[same + lag]
        close = np.abs(sketch[i] - sketch[j]).max(axis=1) <= 1e-4  # equal up to BLAS rounding
        for x, y in zip(live[i[close]], live[j[close]], strict=True):
            a, b = sorted((int(x), int(y)))
            if not exact[b] and np.array_equal(unit[a], unit[b]):
                exact[b] = True
    near_found = np.zeros(rows, bool)
    centred = sketch - sketch.mean(axis=0)
    unit_sketch = sketch / np.maximum(np.linalg.norm(sketch, axis=1, keepdims=True), 1e-30)
    weights = 1 << np.arange(HASH_BITS, dtype=np.int64)
    for t in range(HASH_TABLES):
        bits = centred[:, t * HASH_BITS : (t + 1) * HASH_BITS] > 0
        codes = bits @ weights
        by = np.argsort(codes, kind="stable")
        sorted_codes = codes[by]
        for lag in range(1, MAX_LAG + 1):  # rows sharing a bucket are adjacent once sorted
            same = np.flatnonzero(sorted_codes[lag:] == sorted_codes[:-lag])
            if same.size == 0:
                break
            i, j = by[same], by[same + lag]
            rough = np.einsum("ij,ij->i", unit_sketch[i], unit_sketch[j])
            keep = rough >= 0.98
            a, b = live[i[keep]], live[j[keep]]
            for lo in range(0, len(a), BLOCK):
                ua = np.asarray(unit[a[lo : lo + BLOCK]], np.float64)
                ub = np.asarray(unit[b[lo : lo + BLOCK]], np.float64)
                hit = np.einsum("ij,ij->i", ua, ub) >= near
                near_found[np.maximum(a[lo : lo + BLOCK], b[lo : lo + BLOCK])[hit]] = True
    near_found &= ~exact
    return {"exact": int(exact.sum()), "near": int(near_found.sum()), "near_cosine": near}


# -- the question --------------------------------------------------------------------------------


@dataclass
class StatsResult(Result):
    """Everything ``embcli stats`` reports; ``to_dict()`` keys are its JSON interface."""

    model: str
    table: str
    rows: int
    dim: int
    dtype: str
    norms: dict[str, Any]
    zero_rows: int
    duplicate_rows: dict[str, Any]
    anisotropy: dict[str, Any]
    variance_share: dict[str, float]
    effective_rank: float
    isotropy: float
    spectrum: dict[str, Any]
    #: A quantised table (GGUF): its block type, the file's recipe and the stored bytes; the
    #: statistics are of the exactly dequantised rows. None for a float table.
    quantisation: dict[str, Any] | None = None
    # kept for --plot, not in JSON
    eigenvalues: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0))
    cosines: dict[str, np.ndarray] = field(repr=False, default_factory=dict)
    norm_values: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0))

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "table": self.table,
            "rows": self.rows,
            "dim": self.dim,
            "dtype": self.dtype,
            "norms": self.norms,
            "zero_rows": self.zero_rows,
            "duplicate_rows": self.duplicate_rows,
            "anisotropy": self.anisotropy,
            "variance_share": self.variance_share,
            "effective_rank": self.effective_rank,
            "isotropy": self.isotropy,
            "spectrum": self.spectrum,
            "quantisation": self.quantisation,
        }

    def view(self) -> View:
        n, a, v = self.norms, self.anisotropy, self.variance_share

        def ci(d: dict[str, Any], more: str = "") -> str:
            return f"{d['mean']:.4f}  (95% CI {d['ci95'][0]:.4f} to {d['ci95'][1]:.4f}{more})"

        # the count goes in the value, so the row's name is the same for every table (one
        # column when several models with different widths are shown together)
        pcs = a["removed_pcs"]
        removed = f"; {pcs} PC{'' if pcs == 1 else 's'}"

        q = self.quantisation
        stored = (
            f"{self.dtype} blocks dequantised"
            + (f", file type {q['file_type']}" if q["file_type"] else "")
            if q
            else self.dtype
        )
        rows = [
            ("rows x dim", f"{self.rows:,} x {self.dim:,} ({stored}, {self.table} table)"),
            ("norms", f"min {n['min']:.4g} (#{n['argmin']})  q1 {n['q1']:.4g}  median "
                      f"{n['median']:.4g}  q3 {n['q3']:.4g}  max {n['max']:.4g} (#{n['argmax']})"),
            ("zero rows", f"{self.zero_rows:,}"),
            ("duplicate rows", f"{self.duplicate_rows['exact']:,} exact, "
                               f"{self.duplicate_rows['near']:,} near (cosine >= "
                               f"{self.duplicate_rows['near_cosine']})"),
            ("mean cosine, raw", ci(a["raw"])),
            ("  centred", ci(a["centered"])),
            ("  top PCs removed", ci(a["after_removal"], removed)),
            ("variance in PCs 1/10/100", f"{v['1']:.1%} / {v['10']:.1%} / {v['100']:.1%}"),
            ("effective rank", f"{self.effective_rank:,.1f} of {self.dim:,}"),
            ("isotropy I(W)", f"{self.isotropy:.3g}  (1 = isotropic)"),
        ]  # fmt: skip
        sp = self.spectrum
        how = (
            f"exact, over all {sp['rows']:,} used rows"
            if sp["exact"]
            else f"sampled: {sp['rows']:,} of {sp['of_rows']:,} used rows"
        )
        caption = (
            f"{self.model}. Cosines over {a['samples']:,} random pairs of word-like rows "
            f"(seed {a['seed']}); spectrum {how} (centred rows; isotropy on raw rows)."
        )
        return View(["statistic", "value"], rows, caption=caption, key_value=True)


def quantisation(table: EmbeddingTable) -> dict[str, Any] | None:
    """How a GGUF stored this table: ``{"type": "Q4_K", "file_type": "Q4_K_M", "bytes": n}``;
    None for float tables (their dtype says it all)."""
    gguf = table.meta.gguf
    if not gguf:
        return None
    head = table.meta.table == "output" and gguf.get("head_type")
    return {
        "type": gguf["head_type"] if head else gguf["table_type"],
        "file_type": gguf.get("file_type"),
        "bytes": gguf["head_bytes"] if head else gguf["table_bytes"],
    }


def default_remove_pcs(dim: int) -> int:
    """Mu and Viswanath's rule of thumb: about dim / 100 components."""
    return max(1, round(dim / 100))


@dataclass
class Spectrum:
    """The spectrum of a table's used rows: what ``stats`` reports beyond the norms and pairs."""

    mean: np.ndarray  # mean of the rows the spectrum was taken over
    eigenvalues: np.ndarray  # of the centred scatter, largest first
    components: np.ndarray  # [D, d] top principal directions (columns)
    isotropy: float
    exact: bool  # over every used row (else a uniform row sample)
    rows: int  # rows it was taken over


def used_rows(table: EmbeddingTable) -> np.ndarray:
    """Ids of the rows a statistic is taken over: within the tokenizer, and not zero.

    Checked here, so the API gets the CLI's one-line errors instead of a NaN mean (no pairs)
    or numpy's ValueError (fewer than two rows to pair).
    """
    norms = np.asarray(table.norms)
    rows = table.shape[0]
    limit = min(rows, table.tokenizer_size or rows)
    used = np.flatnonzero((np.arange(rows) < limit) & (norms > 0))
    if len(used) < 2:
        raise EmbcliError(
            f"{table.label} has {len(used)} non-zero row(s) within its tokenizer: "
            "stats needs two or more"
        )
    return used


def spectrum(unit: np.ndarray, norms: np.ndarray, used: np.ndarray, d: int, seed: int) -> Spectrum:
    """Eigenvalues, top ``d`` components and isotropy of the raw rows ``used``: exact from the
    D x D scatter when that costs at most :data:`EXACT_BUDGET`, else over a seeded row sample."""
    dim = unit.shape[1]
    if len(used) * dim * dim <= EXACT_BUDGET:
        mean, centred, gram = linalg.scatter(unit, norms, used)
        eigenvalues, components = linalg.principal_axes(centred, max(1, d))
        _, raw_dirs = linalg.descending_eigh(gram)
        return Spectrum(mean, eigenvalues, components, isotropy(unit, norms, used, raw_dirs),
                        True, len(used))  # fmt: skip
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(used, size=min(len(used), SAMPLE_ROWS), replace=False))
    mean, eigenvalues, components, iso = sampled_spectrum(
        linalg.raw_rows(unit, norms, rows), max(1, d)
    )
    return Spectrum(mean, eigenvalues, components, iso, False, len(rows))


def check_samples(samples: int, dim: int) -> None:
    """Refuse more pairs than :data:`MAX_SAMPLES`, or than ``dim``-wide rows fit in
    :data:`PAIR_BYTES`."""
    most = min(MAX_SAMPLES, max(2, PAIR_BYTES // (16 * max(dim, 1))))
    if samples > most:
        raise UsageProblem(
            f"samples must be at most {most:,} for this table, not {samples:,}",
            f"{samples:,} pairs of {dim:,}-wide rows would take {samples * dim * 16 / 1e9:,.1f} GB",
            param="samples",
        )


def pair_sample(
    table: EmbeddingTable, used: np.ndarray, samples: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """The raw rows of ``samples`` random pairs of word-like rows (any used rows if fewer than
    two are word-like): what the anisotropy cosines are taken over."""
    norms = np.asarray(table.norms)
    pool = np.flatnonzero(np.asarray(table.wordlike) & (norms > 0))
    if len(pool) < 2:
        pool = used
    a, b = random_pairs(pool, samples, seed)
    return linalg.raw_rows(table.unit, norms, a), linalg.raw_rows(table.unit, norms, b)


def table_stats(
    table: EmbeddingTable,
    remove_pcs: int | None = None,
    samples: int = 10_000,
    seed: int = 0,
    role: str = "input",
) -> StatsResult:
    """Compute every statistic of ``stats`` for ``table``."""
    unit, norms = table.unit, np.asarray(table.norms)
    rows, dim = table.shape
    check_removed(0, dim)  # a table of width 0: no question can be asked
    # the default (about dim / 100) is never more than the table allows; a given one is checked
    d = min(default_remove_pcs(dim), dim - 1) if remove_pcs is None else remove_pcs
    check_removed(d, dim)
    check_samples(samples, dim)
    used = used_rows(table)
    spec = spectrum(unit, norms, used, d, seed)
    mean, eigenvalues, components = spec.mean, spec.eigenvalues, spec.components
    ra, rb = pair_sample(table, used, samples, seed)
    top = components[:, :d].T
    cos = {
        "raw": linalg.pair_cosines(ra, rb),
        "centered": linalg.pair_cosines(ra - mean, rb - mean),
        "after_removal": linalg.pair_cosines(
            linalg.remove_top(ra, mean, top), linalg.remove_top(rb, mean, top)
        ),
    }
    anis: dict[str, Any] = {"samples": samples, "seed": seed}
    anis["raw"] = mean_ci(cos["raw"])
    anis["centered"] = mean_ci(cos["centered"])
    anis["removed_pcs"] = d
    anis["after_removal"] = mean_ci(cos["after_removal"])
    return StatsResult(
        model=table.label,
        table=role,
        rows=rows,
        dim=dim,
        dtype=str(table.meta.source_dtype),
        quantisation=quantisation(table),
        norms=norm_summary(norms),
        zero_rows=int((norms == 0).sum()),
        duplicate_rows=duplicate_rows(unit, norms, seed=seed),
        anisotropy=anis,
        variance_share=variance_share(eigenvalues),
        effective_rank=effective_rank(np.sqrt(eigenvalues)),
        isotropy=spec.isotropy,
        spectrum={
            "exact": spec.exact,
            "rows": spec.rows,
            "of_rows": len(used),
            "method": "scatter-eigh" if spec.exact else "row-sample-gram",
        },
        eigenvalues=eigenvalues,
        cosines=cos,
        norm_values=norms,
    )
