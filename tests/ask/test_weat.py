"""WEAT (issue 21): equal to a float64 implementation written here from the formulas, the exact
p-value equal to brute-force enumeration, the bundled tests as the paper lists them, and WEFE's
effect size when its environment exists (bench/.venv-wefe)."""

from __future__ import annotations

import itertools
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from embcli.ask import weat as W
from embcli.errors import UnresolvedWord, UsageProblem
from embcli.store.load import open_table
from tests import glove, models

ROOT = Path(__file__).resolve().parents[2]

# -- a reference written from the formulas of the issue ------------------------------------------


def _cos(u: np.ndarray, v: np.ndarray) -> float:
    return float(np.dot(u, v) / math.sqrt(np.dot(u, u) * np.dot(v, v)))


def _s(w, A, B) -> float:
    return sum(_cos(w, a) for a in A) / len(A) - sum(_cos(w, b) for b in B) / len(B)


def reference(X, Y, A, B) -> tuple[float, float]:
    """(statistic, effect size with the population standard deviation), loop by loop."""
    sx = [_s(x, A, B) for x in X]
    sy = [_s(y, A, B) for y in Y]
    both = sx + sy
    mean = sum(both) / len(both)
    sd = math.sqrt(sum((v - mean) ** 2 for v in both) / len(both))
    return sum(sx) - sum(sy), (sum(sx) / len(sx) - sum(sy) / len(sy)) / sd


def brute_force_p(X, Y, A, B) -> tuple[float, int]:
    """Share of all partitions of X u Y into |X| and |Y| words with a statistic >= observed."""
    pool = list(X) + list(Y)
    observed, _ = reference(X, Y, A, B)
    hits = total = 0
    for side in itertools.combinations(range(len(pool)), len(X)):
        xi = [pool[i] for i in side]
        yi = [pool[i] for i in range(len(pool)) if i not in side]
        total += 1
        hits += sum(_s(x, A, B) for x in xi) - sum(_s(y, A, B) for y in yi) >= observed - 1e-12
    return hits / total, total


# -- planted vectors -----------------------------------------------------------------------------


def _planted(tmp_path: Path, nx: int = 5, ny: int = 5, na: int = 4, nb: int = 3, seed: int = 0):
    """Random vectors with a planted association (X leans to A, Y to B), one token per word."""
    rng = np.random.default_rng(seed)
    dim = 12
    lean = rng.normal(size=dim)
    names = {"X": nx, "Y": ny, "A": na, "B": nb}
    sets: dict[str, list[str]] = {}
    words, rows = ["<unk>"], [np.ones(dim)]
    for key, n in names.items():
        sign = 1.0 if key in "XA" else -1.0
        sets[key] = [f"{key.lower()}{i}" for i in range(n)]
        for w in sets[key]:
            words.append(w)
            rows.append(rng.normal(size=dim) + 0.8 * sign * lean)
    vecs = dict(zip(words, np.array(rows, np.float32).astype(np.float64), strict=True))
    path = models.planted(tmp_path / "weat", words, np.array(rows, np.float32))
    return open_table(str(path)), sets, vecs


def test_weat_equals_the_formulas_and_brute_force(tmp_path):
    table, sets, vecs = _planted(tmp_path)
    got = W.weat(table, **sets)
    X, Y, A, B = ([vecs[w] for w in sets[k]] for k in "XYAB")
    stat, es = reference(X, Y, A, B)
    assert got.statistic == pytest.approx(stat, abs=1e-6)
    assert got.effect_size == pytest.approx(es, abs=1e-6)
    p, total = brute_force_p(X, Y, A, B)
    assert got.exact and got.permutations == total == math.comb(10, 5)
    assert got.p_value == p
    assert 0 < got.p_value < 0.1  # the planted lean shows


def test_unequal_target_sets_enumerate_every_split(tmp_path):
    table, sets, vecs = _planted(tmp_path, nx=4, ny=7, seed=2)
    got = W.weat(table, **sets)
    X, Y, A, B = ([vecs[w] for w in sets[k]] for k in "XYAB")
    p, total = brute_force_p(X, Y, A, B)
    assert (got.p_value, got.permutations, got.exact) == (p, total, True)
    assert got.effect_size == pytest.approx(reference(X, Y, A, B)[1], abs=1e-6)


def test_p_value_counts_ties_as_at_least():
    """Values whose sums are exact in binary: ties with the observed split must count."""
    s = np.array([1.0, 1.0, 0.5, 0.0, 0.5, 0.0, 1.0, 0.25])
    nx = 4
    observed = s[:nx].sum() - s[nx:].sum()
    stats = [s[list(c)].sum() - np.delete(s, list(c)).sum()
             for c in itertools.combinations(range(8), nx)]  # fmt: skip
    want = np.mean(np.array(stats) >= observed)
    got = W.p_value(s, nx, permutations=1000)
    assert got.exact and got.value == want and got.partitions == 70


def test_sampled_p_value_is_seeded_and_close_to_the_exact_one():
    rng = np.random.default_rng(1)
    s = rng.normal(size=16) + np.r_[np.full(8, 0.4), np.zeros(8)]
    exact = W.p_value(s, 8, permutations=20_000)
    assert exact.exact and exact.partitions == 12_870
    sampled = W.p_value(s, 8, permutations=5_000, seed=7)
    assert not sampled.exact and sampled.partitions == 5_000
    assert sampled.value == W.p_value(s, 8, permutations=5_000, seed=7).value
    sd = math.sqrt(exact.value * (1 - exact.value) / 5_000)
    assert abs(sampled.value - exact.value) < 4 * sd + 1 / 5_000


# -- the bundled tests ---------------------------------------------------------------------------

# N of Table 1 of Caliskan et al. (2017): words per target set and per attribute set
PAPER_SIZES = {1: (25, 25), 2: (25, 25), 3: (32, 25), 4: (16, 25), 5: (16, 8), 6: (8, 8),
               7: (8, 8), 8: (8, 8), 9: (6, 7), 10: (8, 8)}  # fmt: skip


def test_the_ten_bundled_tests_have_the_papers_sizes():
    tests = W.bundled()
    assert list(tests) == [
        "flowers-insects", "instruments-weapons", "european-african-names",
        "european-african-names-2", "european-african-names-3", "career-family", "math-arts",
        "science-arts", "mental-physical-disease", "young-old-names",
    ]  # fmt: skip
    for t in tests.values():
        nt, na = PAPER_SIZES[t.number]
        assert [len(t.sets[k].words) for k in "XYAB"] == [nt, nt, na, na], t.name
        assert t.published.glove is not None and t.published.word2vec is not None
        assert W.bundled_test(f"weat{t.number}") is t
    data = json.loads((ROOT / "embcli/data/weat/caliskan2017.json").read_text(encoding="utf-8"))
    assert "Caliskan" in data["source"] and "840B" in data["published_vectors"]["glove"]


def test_bundled_tests_on_glove_equal_the_formulas(glove_table):
    """Every bundled test on GloVe 6B 50d, against the loop reference over the raw vectors."""
    table, index, vectors = glove_table
    results = W.weat_all(table, permutations=2_000)
    assert [r.test for r in results] == list(W.bundled()) and not results.failed
    for r in results:
        X, Y, A, B = ([vectors[index[w.lower()]] for w in words]
                      for words in (*r.targets.values(), *r.attributes.values()))  # fmt: skip
        stat, es = reference(X, Y, A, B)
        assert r.statistic == pytest.approx(stat, abs=1e-5), r.test
        assert r.effect_size == pytest.approx(es, abs=1e-5), r.test
        assert r.effect_size > 0, r.test  # the paper's direction, with these vectors too
    first = results[0]
    assert first.missing["X"] == ["gladiola"]  # not among GloVe 6B's 400,000 words
    d = first.to_dict()
    assert list(d) == ["test", "targets", "attributes", "statistic", "effect_size", "p_value",
                       "permutations", "exact", "missing", "published"]  # fmt: skip
    assert list(d["targets"]) == ["X", "Y"] and list(d["attributes"]) == ["A", "B"]
    assert list(d["missing"]) == ["X", "Y", "A", "B"]
    assert "ddof 0" in first.view().caption and "not these" in first.view().caption


# -- missing words and bad input -----------------------------------------------------------------


def test_a_set_losing_more_than_a_fifth_is_an_error_unless_allowed(tmp_path):
    table, sets, _ = _planted(tmp_path)
    lose_one = {**sets, "X": [*sets["X"][:4], "qqxxzz"]}  # 1 of 5: 20%, allowed
    assert W.weat(table, **lose_one).missing["X"] == ["qqxxzz"]
    lose_two = {**sets, "A": [*sets["A"][:3], "qqxxzz"]}  # 1 of 4: 25%
    with pytest.raises(UnresolvedWord) as info:
        W.weat(table, **lose_two)
    assert "A lost 1 of its 4 words" in info.value.one_line()
    assert "--allow-missing" in info.value.one_line()
    got = W.weat(table, **lose_two, allow_missing=True)
    assert got.attributes["A"] == sets["A"][:3] and got.missing["A"] == ["qqxxzz"]


@pytest.mark.parametrize(
    ("change", "error", "says"),
    [
        ({"permutations": 0}, UsageProblem, "at least 1"),
        ({"X": ["x0"]}, UsageProblem, "target set X has 1 word"),
        ({"Y": ["y0", "y0"]}, UsageProblem, "target set Y has 1 word"),
        ({"A": []}, UsageProblem, "set A is empty"),
        ({"B": None}, UsageProblem, "missing B"),
        ({"test": "flowers-insects"}, UsageProblem, "not both"),
        ({"X": ["x0", "qqxxzz", "zzqqxx"], "allow_missing": True}, UnresolvedWord, "1 of its 3"),
        ({"A": ["qqxxzz"], "allow_missing": True}, UnresolvedWord, "0 of its 1"),
    ],
)
def test_bad_input_is_one_line(tmp_path, change, error, says):
    table, sets, _ = _planted(tmp_path)
    kwargs = {**sets, **change}
    test = kwargs.pop("test", None)
    with pytest.raises(error) as info:
        W.weat(table, test, **kwargs)
    assert type(info.value) is error
    assert says in info.value.one_line() and "\n" not in info.value.one_line()


def test_an_unknown_bundled_test_names_the_bundled_ones():
    with pytest.raises(UsageProblem) as info:
        W.bundled_test("flowers")
    assert "flowers-insects" in info.value.one_line()


# -- WEFE, the reference library, when its environment exists ------------------------------------

WEFE_PYTHON = ROOT / "bench" / ".venv-wefe" / "bin" / "python"


@pytest.mark.skipif(not WEFE_PYTHON.exists(), reason="bench/.venv-wefe not set up (bench/README)")
@pytest.mark.slow  # a process
def test_effect_sizes_equal_wefe(tmp_path):
    """Runs bench/weat_vs_wefe.py, which fails unless every bundled test's effect size on GloVe
    equals WEFE 1.0.1's to 1e-6. Skipped without WEFE's separate environment."""
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "weat_vs_wefe.py"), "--limit", "50000"],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


# -- fixtures ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def glove_file(tmp_path_factory) -> Path:
    need = [w for t in W.bundled().values() for s in t.sets.values() for w in s.words]
    return glove.write_subset(tmp_path_factory.mktemp("glove") / "glove.txt", 5_000, need)


@pytest.fixture(scope="module")
def glove_reference(glove_file) -> tuple[dict[str, int], np.ndarray]:
    words, vectors = glove.read(glove_file)
    index = {w: i for i, w in reversed(list(enumerate(words)))}
    return index, vectors


@pytest.fixture
def glove_table(glove_file, glove_reference):
    return open_table(str(glove_file)), *glove_reference
