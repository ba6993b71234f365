"""Semantic axes (issue 21): built from pairs or poles, checked against numpy written from the
definitions, against planted geometry, and on real GloVe vectors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from embcli.ask import axis as ax
from embcli.ask import directions as dr
from embcli.ask import pairs as pr
from embcli.errors import UnresolvedWord, UsageProblem
from embcli.store.load import open_table
from tests import glove, models

# -- the math against the definitions ------------------------------------------------------------


def _unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, np.float64)
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def _bolukbasi(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, float]:
    """The issue's definition, literally: rows a - c and b - c, first right singular vector,
    signed so that the mean of b - a along it is positive; its share of the variance."""
    rows = []
    for x, y in zip(a, b, strict=True):
        c = (x + y) / 2
        rows += [x - c, y - c]
    _, s, vt = np.linalg.svd(np.array(rows), full_matrices=False)
    v = vt[0] if np.mean((b - a) @ vt[0]) > 0 else -vt[0]
    return v, float(s[0] ** 2 / np.sum(s**2))


def _pairs(rng: np.random.Generator, n: int, dim: int, spread: float = 0.5):
    g = _unit(rng.normal(size=dim))
    a = _unit(rng.normal(size=(n, dim)))
    b = _unit(a + spread * g + 0.3 * rng.normal(size=(n, dim)))
    return a, b


@pytest.mark.parametrize(("n", "dim"), [(2, 5), (7, 16), (40, 8), (120, 50), (3, 300)])
def test_pca_axis_is_bolukbasis_first_component(n, dim):
    a, b = _pairs(np.random.default_rng(n * dim), n, dim)
    got, share = dr.pca_axis(a, b)
    want, want_share = _bolukbasi(a, b)
    np.testing.assert_allclose(got, want, atol=1e-10)
    assert share == pytest.approx(want_share, rel=1e-10)


@pytest.mark.parametrize(("n", "dim"), [(2, 5), (3, 3), (9, 16), (40, 8), (64, 50), (25, 300)])
@pytest.mark.parametrize("method", ["pca", "mean"])
def test_leave_one_out_equals_rebuilding_without_each_pair(n, dim, method):
    a, b = _pairs(np.random.default_rng(n + dim), n, dim, spread=0.2)
    cos = []
    for i in range(n):
        keep = np.arange(n) != i
        if method == "pca":
            v, _ = _bolukbasi(a[keep], b[keep])
        else:
            v = _unit((b[keep] - a[keep]).mean(axis=0))
        d = b[i] - a[i]
        cos.append(d @ v / np.linalg.norm(d))
    got = dr.leave_one_out(a, b, method)
    np.testing.assert_allclose(got.cosines, cos, atol=1e-9)
    assert got.share == pytest.approx(np.mean(np.array(cos) > 0))
    assert got.mean_cosine == pytest.approx(np.mean(cos), abs=1e-9)


def test_leave_one_out_when_a_pair_does_not_move_the_top_direction():
    """Differences along e0 and e1 only, one of them orthogonal to the others' top direction:
    the downdate's root sits on the top eigenvalue, where the direct fallback takes over."""
    d = np.array([[3.0, 0, 0], [2.0, 0, 0], [0, 1.0, 0], [2.5, 0, 0.5]])
    a = np.zeros_like(d)
    got = dr.leave_one_out(a, d, "pca")
    want = []
    for i in range(len(d)):
        keep = np.arange(len(d)) != i
        v, _ = _bolukbasi(a[keep], d[keep])
        want.append(d[i] @ v / np.linalg.norm(d[i]))
    np.testing.assert_allclose(got.cosines, want, atol=1e-9)


def test_mean_and_pole_axes_are_their_definitions():
    rng = np.random.default_rng(3)
    a, b = _pairs(rng, 6, 12)
    np.testing.assert_allclose(dr.mean_axis(a, b), _unit(np.mean(b - a, axis=0)), atol=1e-12)
    start, end = _unit(rng.normal(size=(4, 12))), _unit(rng.normal(size=(3, 12)))
    want = _unit(end.mean(axis=0) - start.mean(axis=0))
    np.testing.assert_allclose(dr.pole_axis(start, end), want, atol=1e-12)


def test_extremes_equal_a_full_sort():
    rng = np.random.default_rng(5)
    unit = _unit(rng.normal(size=(3000, 24))).astype(np.float32)
    v = _unit(rng.normal(size=24))
    allowed = rng.random(3000) > 0.2
    exclude = [int(i) for i in np.flatnonzero(allowed)[:5]]
    ids, scores = dr.extremes(unit, v, 7, allowed, exclude)
    full = unit.astype(np.float64) @ v
    ok = allowed.copy()
    ok[exclude] = False
    cand = np.flatnonzero(ok)
    order = cand[np.argsort(-full[cand])]
    want = np.concatenate([order[:7], order[-7:]])
    assert ids.tolist() == want.tolist()
    np.testing.assert_allclose(scores, full[want], atol=1e-12)


# -- planted geometry ----------------------------------------------------------------------------


def _planted(tmp_path: Path):
    """Pairs whose b - a all lie exactly along e0, and words at known angles to e0."""
    dim = 8
    e = np.eye(dim)
    t = 0.6  # each pair is c -/+ t e0 with c orthogonal to e0, |c|^2 + t^2 = 1: unit rows
    words, rows = ["<unk>"], [np.full(dim, 0.1)]
    for i, (lo, hi) in enumerate([("man", "woman"), ("king", "queen"), ("he", "she")]):
        c = 0.8 * _unit(e[1 + i] + 0.5 * e[4 + i])
        words += [lo, hi]
        rows += [c - t * e[0], c + t * e[0]]
    angles = {"nurse": 0.9, "teacher": 0.2, "doctor": -0.1, "engineer": -0.7}
    for j, (w, s) in enumerate(angles.items()):
        words.append(w)  # score s: sqrt(1 - s^2) along an axis orthogonal to e0, s along e0
        rows.append(np.sqrt(1 - s * s) * e[1 + j % 7] + s * e[0])
    rng = np.random.default_rng(0)
    for j in range(40):  # filler rows, never as far along e0 as the planted words
        words.append(f"filler{j}")
        v = _unit(rng.normal(size=dim))
        v[0] = 0.05 * np.tanh(v[0])
        rows.append(_unit(v) * (1 + j % 3))
    path = models.planted(tmp_path / "planted", words, np.array(rows, np.float32))
    return open_table(str(path)), angles, e[0]


@pytest.mark.parametrize("method", ["pca", "mean"])
def test_planted_axis_is_recovered_exactly(tmp_path, method):
    table, angles, g = _planted(tmp_path)
    got = ax.axis(table, "man:woman,king:queen,he:she", method=method, words=list(angles))
    np.testing.assert_allclose(got.vector, g, atol=1e-6)
    if method == "pca":
        assert got.axis.variance_explained == pytest.approx(1.0, abs=1e-9)
    assert got.axis.leave_one_out.share == 1.0
    assert got.axis.leave_one_out.mean_cosine == pytest.approx(1.0, abs=1e-9)
    assert [w.word for w in got.words] == ["nurse", "teacher", "doctor", "engineer"]
    for w in got.words:
        assert w.score == pytest.approx(angles[w.word], abs=1e-6)


def test_planted_poles_and_the_ends_of_the_table(tmp_path):
    table, _, g = _planted(tmp_path)
    got = ax.axis(table, poles=(["man", "king", "he"], ["woman", "queen", "she"]), k=2)
    np.testing.assert_allclose(got.vector, g, atol=1e-6)
    assert got.axis.to_dict() == {
        "method": "poles",
        "poles": {"from": ["man", "king", "he"], "to": ["woman", "queen", "she"]},
        "variance_explained": None,
        "leave_one_out": None,
    }
    # the pole words are left out of the ends: the planted words are the furthest rows
    assert [w.word for w in got.words] == ["nurse", "teacher", "doctor", "engineer"]
    kept = ax.axis(table, poles=(["man", "king", "he"], ["woman", "queen", "she"]), k=2,
                   keep_inputs=True)  # fmt: skip
    assert [w.word for w in kept.words][::3] == ["nurse", "engineer"]  # 0.9 and -0.7: beyond
    assert kept.words[1].word in {"woman", "queen", "she"}  # the poles' own words, at +-0.6
    assert kept.words[2].word in {"man", "king", "he"}


# -- results, the JSON and a second axis ---------------------------------------------------------


def test_scores_and_second_axis_equal_numpy_on_glove(glove_table):
    table, words, vectors = glove_table
    index = {w: i for i, w in reversed(list(enumerate(words)))}
    pairs = [("man", "woman"), ("he", "she"), ("king", "queen"), ("father", "mother")]
    pairs2 = [("boy", "man"), ("girl", "woman"), ("son", "father")]
    asked = ["doctor", "nurse", "engineer", "teacher", "grandmother", "qqxxzz"]
    got = ax.axis(table, [f"{a}:{b}" for a, b in pairs], words=asked, pairs2=pairs2)

    def rows(ws):
        return _unit(vectors[[index[w] for w in ws]])

    v1, _ = _bolukbasi(rows([a for a, _ in pairs]), rows([b for _, b in pairs]))
    v2, _ = _bolukbasi(rows([a for a, _ in pairs2]), rows([b for _, b in pairs2]))
    found = [w for w in asked if w in index]
    want = sorted(zip(found, rows(found) @ v1, rows(found) @ v2, strict=True), key=lambda x: -x[1])
    assert [w.word for w in got.words] == [w for w, *_ in want]
    np.testing.assert_allclose([w.score for w in got.words], [s for _, s, _ in want], atol=1e-6)
    np.testing.assert_allclose([w.score2 for w in got.words], [s for *_, s in want], atol=1e-6)
    assert got.missing == ["qqxxzz"]
    d = got.to_dict()
    assert list(d) == ["axis", "axis2", "words", "missing"]
    assert list(d["axis"]) == ["method", "pairs", "variance_explained", "leave_one_out"]
    assert list(d["axis"]["leave_one_out"]) == ["share", "mean_cosine"]
    assert list(d["words"][0]) == ["word", "score", "score2"]


def test_the_ends_of_glove_equal_a_numpy_sort(glove_table):
    table, words, vectors = glove_table
    got = ax.axis(table, "man:woman,he:she,king:queen", k=5)
    assert list(got.to_dict()) == ["axis", "words", "missing"]
    v = got.vector
    full = _unit(vectors) @ v
    inputs = {"man", "woman", "he", "she", "king", "queen"}
    order = [i for i in np.argsort(-full) if words[i] not in inputs]
    want = [*order[:5], *order[-5:]]
    assert [w.word for w in got.words] == [words[i] for i in want]
    np.testing.assert_allclose([w.score for w in got.words], full[want], atol=1e-6)


# -- GloVe: a country-capital axis generalises ---------------------------------------------------


@pytest.mark.parametrize("method", ["pca", "mean"])
def test_country_to_capital_axis_orders_held_out_pairs(glove_table, method):
    """Built from every other pair of the bundled capital sections, the axis must order at
    least 90% of the other half: the held-out capital scores above its country.

    "Orders" is read as that ordering, (capital - country) . axis > 0, because a direction
    fixes an order, not an origin: cosines with an axis in uncentred vectors share an offset,
    so "country below zero, capital above" would test the offset as much as the axis.
    """
    table, words, _ = glove_table
    sections = pr.analogy_sections()
    pairs = list(dict.fromkeys(sections["capital-common-countries"] + sections["capital-world"]))
    pairs = [(country, capital) for capital, country in pairs]  # country -> capital
    present = set(words)
    pairs = [(a, b) for a, b in pairs if a.lower() in present and b.lower() in present]
    train, held = pairs[::2], pairs[1::2]
    assert len(held) >= 50
    got = ax.axis(table, train, method=method, words=[w for p in held for w in p])
    score = {w.word: w.score for w in got.words}
    ordered = [score[capital] > score[country] for country, capital in held]
    assert np.mean(ordered) >= 0.9, [p for p, ok in zip(held, ordered, strict=True) if not ok]


# -- where pairs come from -----------------------------------------------------------------------


def test_pairs_of_a_section_are_its_distinct_question_pairs():
    text = pr.analogy_file().read_text(encoding="utf-8").splitlines()
    want: list[tuple[str, str]] = []
    section = None
    for line in text:
        if line.startswith(":"):
            section = line[1:].strip()
        elif section == "family" and line.strip():
            a, b, c, d = line.split()
            for p in ((a, b), (c, d)):
                if p not in want:
                    want.append(p)
    assert pr.pairs_from("family") == want
    assert ("he", "she") in want and ("king", "queen") in want


def test_pair_spellings():
    assert pr.pairs_from("man:woman, king:queen") == [("man", "woman"), ("king", "queen")]
    assert pr.pairs_from(["a:b", "c:d"]) == pr.pairs_from([("a", "b"), ("c", "d")])
    lines = [(1, "man woman"), (2, "king:queen"), (3, "he\tshe")]
    assert pr.parse_pair_lines(lines, "f.txt") == [
        ("man", "woman"),
        ("king", "queen"),
        ("he", "she"),
    ]


# -- bad input, one line each --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "error", "says"),
    [
        ({"pairs": "man:woman"}, UsageProblem, "two or more pairs"),
        ({"pairs": "man:woman,man:woman"}, UsageProblem, "two or more pairs"),
        ({"pairs": "man:man,king:queen"}, UsageProblem, "same word twice"),
        ({"pairs": "man:woman:x,king:queen"}, UsageProblem, "not a pair"),
        ({"pairs": "no-such-section"}, UsageProblem, "section"),
        ({"pairs": "man:woman,king:queen", "method": "svd"}, UsageProblem, "pca or mean"),
        ({"poles": ([], ["good"])}, UsageProblem, "from pole is empty"),
        ({"poles": (["bad"], ["  "])}, UsageProblem, "to pole is empty"),
        ({"poles": (["qqxxzz"], ["good"])}, UnresolvedWord, "from pole"),
        ({"pairs": "qqxxzz:good,zzqqxx:bad"}, UnresolvedWord, "none of the 2 pairs"),
        ({"pairs": "man:woman,king:queen", "words": ["qqxxzz"]}, UnresolvedWord, "none of the"),
        ({"pairs": "man:woman,king:queen", "words": [" "]}, UsageProblem, "empty"),
        ({"pairs": "man:woman,king:queen", "k": 0}, UsageProblem, "k must be at least 1"),
        ({}, UsageProblem, "pairs or from two poles"),
        ({"pairs": "a:b,c:d", "poles": (["x"], ["y"])}, UsageProblem, "pairs or from two poles"),
    ],
)
def test_bad_input_is_one_line(glove_table, kwargs, error, says):
    table, *_ = glove_table
    with pytest.raises(error) as info:
        ax.axis(table, **kwargs)
    assert type(info.value) is error
    assert says in info.value.one_line() and "\n" not in info.value.one_line()


def test_missing_words_are_listed_and_skipped(glove_table):
    table, *_ = glove_table
    got = ax.axis(table, "man:woman,qqxxzz:she,king:queen", words=["doctor", "zzqqxx"])
    assert got.axis.pairs == [("man", "woman"), ("king", "queen")]
    assert got.missing == ["qqxxzz", "zzqqxx"]


def test_a_word_that_splits_is_missing_unless_pooled(model_dirs):
    table = open_table(str(model_dirs["gpt2"]))
    split = "queenly"
    pieces = table.encode(" " + split)
    assert len(pieces) > 1
    got = ax.axis(table, "king:queen,man:woman", words=["Paris", split])
    assert got.missing == [split]
    assert sum("--pool mean" in n for n in got.notes) == 1
    pooled = ax.axis(table, "king:queen,man:woman", words=["Paris", split], pool=True)
    raw = np.asarray(table.raw([p.id for p in pieces]), np.float64).mean(axis=0)
    want = _unit(raw) @ pooled.vector
    assert {w.word: w.score for w in pooled.words}[split] == pytest.approx(want, abs=1e-6)


# -- fixtures ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def glove_file(tmp_path_factory) -> Path:
    sections = pr.analogy_sections()
    need = [w for name in ("capital-common-countries", "capital-world", "family")
            for pair in sections[name] for w in pair]  # fmt: skip
    need += ["doctor", "nurse", "engineer", "teacher", "grandmother"]
    return glove.write_subset(tmp_path_factory.mktemp("glove") / "glove.txt", 20_000, need)


@pytest.fixture(scope="module")
def glove_reference(glove_file) -> tuple[list[str], np.ndarray]:
    """The file's words and vectors, read here: the tests' independent reference."""
    return glove.read(glove_file)


@pytest.fixture
def glove_table(glove_file, glove_reference):
    """The table (built in this test's own cache), and the reference words and vectors."""
    return open_table(str(glove_file)), *glove_reference
