"""WEAT, the Word Embedding Association Test (Caliskan, Bryson and Narayanan, Science 2017).

Targets ``X``, ``Y`` and attributes ``A``, ``B``; every cosine is of unit rows, in float64:

- ``s(w, A, B)`` = mean cosine of ``w`` with ``A`` minus its mean cosine with ``B``;
- the statistic is the sum of ``s`` over ``X`` minus the sum over ``Y``;
- the effect size is ``(mean_X s - mean_Y s) / std_{X ∪ Y} s`` with the population standard
  deviation (ddof 0), as WEFE computes it (the paper does not say which);
- the one-sided p-value is the share of the partitions of ``X ∪ Y`` into sets of ``|X|`` and
  ``|Y|`` words whose statistic is at least the observed one: every partition when there are at
  most ``permutations`` of them, else that many seeded random partitions, the observed one
  counted once among them (``(hits + 1) / (permutations + 1)``, so an estimate is never 0).
  ``permutations`` is at most :data:`MAX_PERMUTATIONS` (10,000,000: seconds, not days).

Vectorised: ``s`` is computed once for every word of ``X ∪ Y`` (two small matrix products);
since the statistic of a partition is ``2 * sum of s over its X side - total``, it is ordered
like that sum, and a chunk of partitions is one fancy-indexed sum (partitions as rows of an index
matrix: ``itertools.combinations`` read in chunks by ``np.fromiter`` for the exact test, random
keys ``argpartition``-ed for the sampled one). No Python code runs per partition.

The ten tests of the paper are bundled (``embcli/data/weat/``, see its README) with the effect
sizes the paper published for its vectors, shown beside ours and labelled as theirs:
flowers-insects, instruments-weapons, european-african-names, european-african-names-2,
european-african-names-3, career-family, math-arts, science-arts, mental-physical-disease and
young-old-names (also ``weat1`` ... ``weat10``).

Words missing from the table are dropped and listed; a set that loses more than 20% of its words
is an error unless ``allow_missing`` (WEFE's ``lost_vocabulary_threshold``).
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import numpy as np

from embcli.ask.words import Resolver, shortlist
from embcli.errors import UnresolvedWord, UsageProblem
from embcli.store.table import EmbeddingTable, Space
from embcli.view import Result, View

PERMUTATIONS = 100_000
#: The most partitions a p-value compares: about 15 s on one core (64 target words, sampled) or
#: 12 s (exact). A sampled p-value's standard error is at most 0.5 / sqrt(N), 0.00016 here:
#: more partitions could not change what is printed, and a count such as 10**12 would run for
#: days (and would enumerate every partition of a test that has fewer than that).
MAX_PERMUTATIONS = 10_000_000
MAX_LOST = 0.2  # WEFE's lost_vocabulary_threshold: a set may lose up to 20% of its words
CHUNK = 16_384  # partitions per vectorised step
EFFECT_SIZE_NOTE = (
    "Effect size: (mean s over X - mean s over Y) / standard deviation of s over X ∪ Y with "
    "ddof 0, as WEFE computes it"
)
SETS = ("X", "Y", "A", "B")


# -- the bundled tests ---------------------------------------------------------------------------


@dataclass(frozen=True)
class WordSet:
    name: str
    words: tuple[str, ...]


@dataclass(frozen=True)
class Published:
    """Effect sizes the paper reports for a bundled test, with the vectors they came from."""

    glove: float | None
    word2vec: float | None
    iat: float | None
    vectors: dict[str, str]
    source: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "effect_size": {"glove": self.glove, "word2vec": self.word2vec, "iat": self.iat},
            "vectors": self.vectors,
            "source": self.source,
        }


@dataclass(frozen=True)
class WeatTest:
    """A bundled test: its name, its number in the paper, its four word sets."""

    name: str
    number: int
    sets: dict[str, WordSet]
    published: Published


@cache
def bundled() -> dict[str, WeatTest]:
    """The ten tests of Caliskan et al. (2017) by name, in the paper's order."""
    from importlib import resources  # here: it imports tempfile and random

    path = resources.files("embcli") / "data" / "weat" / "caliskan2017.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    out = {}
    for t in data["tests"]:
        sets = {k: WordSet(t[k]["name"], tuple(t[k]["words"])) for k in SETS}
        pub = t["published"]
        published = Published(pub["glove"], pub["word2vec"], pub["iat"],
                              data["published_vectors"], data["source"])  # fmt: skip
        out[t["name"]] = WeatTest(t["name"], t["weat"], sets, published)
    return out


def bundled_test(name: str) -> WeatTest:
    """A bundled test by name, or by its number in the paper (``weat7`` or ``7``)."""
    tests = bundled()
    key = name.strip().lower()
    if key in tests:
        return tests[key]
    number = key.removeprefix("weat").strip()
    for t in tests.values():
        if number.isdigit() and int(number) == t.number:
            return t
    raise UsageProblem(f"no bundled WEAT test {name!r}", f"bundled: {', '.join(tests)}")


# -- the math, over arrays -----------------------------------------------------------------------


def associations(w: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``s(w, A, B)`` for each row of ``w``: mean cosine with the rows of ``a`` minus mean
    cosine with the rows of ``b`` (all rows unit vectors, float64)."""
    w, a, b = (np.asarray(x, np.float64) for x in (w, a, b))
    return np.asarray((w @ a.T).mean(axis=1) - (w @ b.T).mean(axis=1))


def statistic(s: np.ndarray, nx: int) -> float:
    """Sum of ``s`` over the first ``nx`` words (X) minus the sum over the rest (Y)."""
    return float(s[:nx].sum() - s[nx:].sum())


def effect_size(s: np.ndarray, nx: int) -> float:
    """``(mean_X s - mean_Y s) / std(s, ddof=0)``; NaN when every ``s`` is the same."""
    sd = float(np.std(s))
    if not sd > 0:
        return math.nan
    return float((s[:nx].mean() - s[nx:].mean()) / sd)


@dataclass
class PValue:
    value: float
    partitions: int  # how many partitions were compared (all of them, when exact)
    exact: bool


def p_value(s: np.ndarray, nx: int, permutations: int = PERMUTATIONS, seed: int = 0) -> PValue:
    """One-sided permutation p-value of the statistic of ``s`` split after ``nx`` (module doc)."""
    check_permutations(permutations, "permutations")
    s = np.asarray(s, np.float64)
    n = len(s)
    observed = s[:nx].sum()
    tol = 1e-10 * max(1.0, float(np.abs(s).sum()))  # the same partition, summed in another order
    total = math.comb(n, nx)
    if total <= permutations:
        hits = sum(int((s[idx].sum(axis=1) >= observed - tol).sum())
                   for idx in _all_subsets(n, nx))  # fmt: skip
        return PValue(hits / total, total, True)
    rng = np.random.default_rng(seed)
    hits = 0
    for lo in range(0, permutations, CHUNK):
        size = min(CHUNK, permutations - lo)
        idx = np.argpartition(rng.random((size, n)), nx - 1, axis=1)[:, :nx]
        hits += int((s[idx].sum(axis=1) >= observed - tol).sum())
    return PValue((hits + 1) / (permutations + 1), permutations, False)


def check_permutations(permutations: int, name: str = "permutations") -> None:
    """At least 1 and at most :data:`MAX_PERMUTATIONS`: a count that cannot finish is refused."""
    if permutations < 1:
        raise UsageProblem(f"{name} must be at least 1, not {permutations}", param=name)
    if permutations > MAX_PERMUTATIONS:
        raise UsageProblem(
            f"{name} must be at most {MAX_PERMUTATIONS:,}, not {permutations:,}",
            "the sampled p-value's standard error is then at most 0.00016",
            param=name,
        )


def _all_subsets(n: int, k: int) -> Iterator[np.ndarray]:
    """Every ``k``-subset of ``range(n)`` as rows of index matrices, a chunk at a time."""
    combos = itertools.combinations(range(n), k)
    row = np.dtype((np.intp, (k,)))
    while True:
        chunk = np.fromiter(itertools.islice(combos, CHUNK), dtype=row)
        if not len(chunk):
            return
        yield chunk


# -- the question --------------------------------------------------------------------------------


@dataclass
class WeatResult(Result):
    """One WEAT: the words used of each set, the statistic, effect size and p-value.

    ``published`` holds the paper's effect sizes for a bundled test (other vectors than these).
    """

    test: str
    targets: dict[str, list[str]]
    attributes: dict[str, list[str]]
    statistic: float
    effect_size: float
    p_value: float
    permutations: int
    exact: bool
    missing: dict[str, list[str]]
    names: dict[str, str] = field(default_factory=dict)  # X/Y/A/B -> a name for the set
    published: Published | None = None
    model: str = ""
    space: str = ""
    notes: list[str] = field(default_factory=list)  # said once (the API's notices)

    def __float__(self) -> float:
        return self.effect_size

    def to_dict(self) -> dict[str, Any]:
        out = {
            "test": self.test,
            "targets": self.targets,
            "attributes": self.attributes,
            "statistic": self.statistic,
            "effect_size": _finite(self.effect_size),
            "p_value": self.p_value,
            "permutations": self.permutations,
            "exact": self.exact,
            "missing": self.missing,
        }
        if self.published is not None:
            out["published"] = self.published.to_dict()
        return out

    def _label(self, key: str) -> str:
        name = self.names.get(key)
        return f"{key} ({name})" if name else key

    def view(self) -> View:
        sizes = {k: len(v) for k, v in {**self.targets, **self.attributes}.items()}
        rows: list[tuple[str, Any]] = [
            ("test", self.test),
            ("targets", f"{self._label('X')}: {sizes['X']} words; "
                        f"{self._label('Y')}: {sizes['Y']} words"),
            ("attributes", f"{self._label('A')}: {sizes['A']} words; "
                           f"{self._label('B')}: {sizes['B']} words"),
            ("statistic", self.statistic),
            ("effect size", _finite(self.effect_size)),
            ("p-value", f"{self.p_value:.3g} ({_how(self)})"),
        ]  # fmt: skip
        if self.published is not None:
            rows.append(("published", _published(self.published)))
        lost = [f"{k}: {shortlist(v)}" for k, v in self.missing.items() if v]
        if lost:
            rows.append(("not in the table", "; ".join(lost)))
        caption = [_model(self.model, self.space), EFFECT_SIZE_NOTE]
        if self.published is not None:
            caption.append("Published: by Caliskan et al. (2017), with their vectors, not these")
        return View(["field", "value"], rows, key_value=True, caption=". ".join(caption))


@dataclass
class WeatResults(Result):
    """Several WEATs (``weat --all``), one row each; iterate for :class:`WeatResult`."""

    results: list[WeatResult]
    model: str = ""
    space: str = ""
    failed: list[tuple[str, UnresolvedWord]] = field(default_factory=list)  # test, why
    notes: list[str] = field(default_factory=list)  # about the words of every test, said once

    def __iter__(self) -> Iterator[WeatResult]:
        return iter(self.results)

    def __len__(self) -> int:
        return len(self.results)

    def __getitem__(self, i: int) -> WeatResult:
        return self.results[i]

    def to_dict(self) -> list[dict[str, Any]]:
        return [r.to_dict() for r in self.results]

    def view(self) -> View:
        columns = ["test", "X/Y/A/B", "effect size", "paper", "p-value", "exact"]
        rows = []
        for r in self.results:
            sizes = "/".join(str(len(w)) for w in (*r.targets.values(), *r.attributes.values()))
            glove = r.published.glove if r.published is not None else None
            paper = f"{glove:.2f}" if glove is not None else ""
            rows.append((r.test, sizes, _finite(r.effect_size), paper, f"{r.p_value:.3g}",
                         "yes" if r.exact else "no"))  # fmt: skip
        sampled = " / ".join(f"{n:,}" for n in sorted({r.permutations for r in self.results
                                                       if not r.exact}))  # fmt: skip
        caption = [_model(self.model, self.space), EFFECT_SIZE_NOTE,
                   "paper: the effect size Caliskan et al. (2017) published with GloVe "
                   "Common Crawl 840B vectors, not these",
                   "p-value: exact over every partition, or (exact: no) over "
                   f"{sampled} random partitions"]  # fmt: skip
        if not sampled:
            caption.pop()
        return View(
            columns, rows, caption=". ".join(caption), no_wrap={"test", "X/Y/A/B", "p-value"}
        )


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None


def _how(r: WeatResult) -> str:
    if r.exact:
        return f"exact, all {r.permutations:,} partitions"
    return f"{r.permutations:,} random partitions"


def _published(p: Published) -> str:
    parts = []
    if p.glove is not None:
        parts.append(f"{p.glove:.2f} with GloVe Common Crawl 840B")
    if p.word2vec is not None:
        parts.append(f"{p.word2vec:.2f} with word2vec GoogleNews")
    if p.iat is not None:
        parts.append(f"human IAT d = {p.iat:.2f}")
    return "; ".join(parts)


def _model(model: str, space: str) -> str:
    return f"{model}{', ' + space if space else ''}"


def check_weat(
    test: str | None,
    sets: Mapping[str, Sequence[str] | None],
    permutations: int,
) -> None:
    """Raise :class:`UsageProblem` unless the arguments make a WEAT (before a table is opened)."""
    given = {k: v for k, v in sets.items() if v is not None}
    if test is not None and given:
        raise UsageProblem("give a bundled test or the four word sets X, Y, A, B, not both")
    if test is None and len(given) != 4:
        lacking = [k for k in SETS if k not in given]
        raise UsageProblem(f"a WEAT needs a bundled test name or all four word sets "
                           f"(missing {', '.join(lacking)})")  # fmt: skip
    check_permutations(permutations)
    for key, words in given.items():
        kept = [w for w in words or () if w.strip()]
        if not kept:
            raise UsageProblem(f"the word set {key} is empty")
        if key in ("X", "Y") and len(set(kept)) < 2:
            raise UsageProblem(f"the target set {key} has {len(set(kept))} word: a permutation "
                               "test needs two or more in each")  # fmt: skip
    for one, other, what in (("X", "Y", "target"), ("A", "B", "attribute")):
        if one in given and other in given:
            _disjoint(one, other, given[one] or (), given[other] or (), what)


def _disjoint(one: str, other: str, a: Sequence[str], b: Sequence[str], what: str) -> None:
    """Refuse a word in both sets of a pair: X = Y gives an effect of 0 that only says the two
    sets are one, and a shared word stands on both sides of every comparison."""
    first = list(dict.fromkeys(w.strip() for w in a if w.strip()))
    second = {w.strip() for w in b if w.strip()}
    shared = [w for w in first if w in second]
    if not shared:
        return
    if set(first) == second:
        same = "are the same words"
    else:
        same = f"share {len(shared)} word{'s' if len(shared) > 1 else ''} ({shortlist(shared)})"
    raise UsageProblem(f"the {what} sets {one} and {other} {same}: each word belongs to one "
                       "of them")  # fmt: skip


def weat(
    table: EmbeddingTable,
    test: str | None = None,
    *,
    X: Sequence[str] | None = None,
    Y: Sequence[str] | None = None,
    A: Sequence[str] | None = None,
    B: Sequence[str] | None = None,
    permutations: int = PERMUTATIONS,
    seed: int = 0,
    allow_missing: bool = False,
    pool: bool = False,
    space: Space | None = None,
    rows: Resolver | None = None,
) -> WeatResult:
    """Run a bundled test (by name) or the sets ``X``, ``Y``, ``A``, ``B`` on ``table``, in
    ``space`` (the table's own rows when None; :mod:`embcli.ask.space`).

    ``rows`` (a resolver in that space) may be shared by several tests: their words are then
    resolved once, and its notes speak for all of them."""
    check_weat(test, {"X": X, "Y": Y, "A": A, "B": B}, permutations)
    if test is not None:
        chosen = bundled_test(test)
        wanted = {k: list(s.words) for k, s in chosen.sets.items()}
        names, published, label = ({k: s.name for k, s in chosen.sets.items()},
                                   chosen.published, chosen.name)  # fmt: skip
    else:
        wanted = {k: list(v or ()) for k, v in zip(SETS, (X, Y, A, B), strict=True)}
        names, published, label = {}, None, "custom"
    if rows is None:
        rows = Resolver(table, pool=pool, space=space)
    transform = rows.space.transform
    used, vecs, missing, resolved = {}, {}, {}, {}
    for key in SETS:
        words = list(dict.fromkeys(w.strip() for w in wanted[key] if w.strip()))
        kept, resolved[key], v = rows.vectors(words)
        lost = [w for w in words if w not in kept]
        split = [w for w in lost if w in rows.split]
        _check_lost(key, names.get(key), words, lost, split, allow_missing, table.label)
        used[key], vecs[key], missing[key] = kept, v, lost
    for one, other in (("X", "Y"), ("A", "B")):  # two spellings of one row ("The", "the")
        rows_of = {r.ids: w for w, r in zip(used[one], resolved[one], strict=True)}
        both = [(rows_of[r.ids], w) for w, r in zip(used[other], resolved[other], strict=True)
                if r.ids in rows_of]  # fmt: skip
        if both:
            a, b = both[0]
            raise UsageProblem(f"{one}'s {a!r} and {other}'s {b!r} are the same row of "
                               f"{table.label}: each word belongs to one of the sets")  # fmt: skip
    s = associations(np.concatenate([vecs["X"], vecs["Y"]]), vecs["A"], vecs["B"])
    nx = len(used["X"])
    p = p_value(s, nx, permutations, seed)
    return WeatResult(
        label, {"X": used["X"], "Y": used["Y"]}, {"A": used["A"], "B": used["B"]},
        statistic(s, nx), effect_size(s, nx), p.value, p.partitions, p.exact, missing,
        names, published, table.label, transform.caption(), rows.notes(),
    )  # fmt: skip


def weat_all(table: EmbeddingTable, **options: Any) -> WeatResults:
    """Every bundled test on ``table``, in the paper's order; ``options`` as :func:`weat`.

    A test whose words the table lacks (more than 20% of a set, unless ``allow_missing``) is
    kept in ``failed`` with the reason, and the others still run, as a batch of queries does.
    """
    rows = Resolver(table, pool=options.get("pool", False), space=options.get("space"))
    transform = rows.space.transform  # one resolver: many tests share word lists
    results, failed = [], []
    for name in bundled():
        try:
            results.append(weat(table, name, rows=rows, **options))
        except UnresolvedWord as exc:
            failed.append((name, exc))
    return WeatResults(results, table.label, transform.caption(), failed, rows.notes())


def _check_lost(
    key: str,
    name: str | None,
    words: list[str],
    lost: list[str],
    split: list[str],
    allow_missing: bool,
    model: str,
) -> None:
    """Refuse a set left with too few words; ``split`` are the lost words that split into
    several tokens, which ``--pool mean`` would keep (the hint says so)."""
    label = f"{key} ({name})" if name else key
    least = 2 if key in ("X", "Y") else 1
    pool = f"--pool mean keeps the {len(split)} that split into tokens" if split else None
    if len(words) - len(lost) < least:
        raise UnresolvedWord(
            f"the word set {label} has {len(words) - len(lost)} of its {len(words)} words in "
            f"{model} (missing: {shortlist(lost)})",
            pool,
        )
    if len(lost) > MAX_LOST * len(words) and not allow_missing:
        hint = "--allow-missing runs it on the words that remain"
        raise UnresolvedWord(
            f"the word set {label} lost {len(lost)} of its {len(words)} words "
            f"({len(lost) / len(words):.0%} > 20%) in {model}: {shortlist(lost)}",
            f"{pool}; {hint}" if pool else hint,
        )
