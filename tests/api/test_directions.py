"""Issue 21 through the library and the CLI: ``Table.axis``/``Table.weat``, ``embcli axis`` and
``embcli weat``, and ``--remove-axis`` on neighbors, similarity, analogy and plot.

Every number is checked against float64 numpy written here from the definitions, over vectors
read from the GloVe text file by ``tests/glove.read`` (no embcli code): the gender axis as
Bolukbasi et al. define it (rows a - c and b - c, the first right singular vector), the table
with it projected out of every row, then the question asked of that matrix.
"""

from __future__ import annotations

import io
import json
import sys

import numpy as np
import pytest

import embcli
from embcli.errors import UnresolvedWord, UsageProblem
from tests import glove
from tests.ask.test_weat import reference as weat_reference

GENDER = [("man", "woman"), ("he", "she"), ("king", "queen"), ("boy", "girl"),
          ("father", "mother"), ("son", "daughter")]  # fmt: skip
PAIRS = ",".join(f"{a}:{b}" for a, b in GENDER)
JOBS = ["doctor", "nurse", "engineer", "teacher", "homemaker", "programmer", "receptionist",
        "carpenter", "surgeon", "librarian"]  # fmt: skip
AGE = (["young", "child", "youth"], ["old", "elderly", "aged"])


@pytest.fixture(scope="module")
def glove_file(tmp_path_factory):
    """GloVe 6B 50d: the first 3,000 words and every word these tests name; two bundled WEAT
    tests (career-family, math-arts) keep all their words, the others lose many."""
    from embcli.ask.weat import bundled

    need = [w for p in GENDER for w in p] + JOBS + AGE[0] + AGE[1]
    need += ["ugly", "bad", "beautiful", "good", "paris", "france", "rome", "italy"]
    for name in ("career-family", "math-arts"):
        need += [w for s in bundled()[name].sets.values() for w in s.words]
    return glove.write_subset(tmp_path_factory.mktemp("glove") / "glove.txt", 3000, need)


class Ref:
    """The file's vectors as float64 numpy, and the questions asked of them."""

    def __init__(self, path):
        words, raw = glove.read(path)
        self.index = {w: i for i, w in reversed(list(enumerate(words)))}
        self.raw = raw
        self.unit = _unit(raw)

    def rows(self, words, unit=None):
        u = self.unit if unit is None else unit
        return np.array([u[self.index[w.lower()]] for w in words])

    def bolukbasi(self, pairs, unit=None) -> np.ndarray:
        """The issue's definition, literally: for each pair the rows a - c and b - c, the first
        right singular vector, signed so that the mean of b - a along it is positive."""
        u = self.unit if unit is None else unit
        rows = []
        for a, b in pairs:
            c = (u[self.index[a]] + u[self.index[b]]) / 2
            rows += [u[self.index[a]] - c, u[self.index[b]] - c]
        _, _, vt = np.linalg.svd(np.array(rows), full_matrices=False)
        d = np.array([u[self.index[b]] - u[self.index[a]] for a, b in pairs])
        return vt[0] if (d @ vt[0]).mean() > 0 else -vt[0]

    def without(self, g, unit=None) -> np.ndarray:
        """Every row with ``g`` projected out, normalised again."""
        u = self.unit if unit is None else unit
        return _unit(u - np.outer(u @ g, g))


def _unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, np.float64)
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


@pytest.fixture(scope="module")
def ref(glove_file) -> Ref:
    return Ref(glove_file)


def _table(glove_file, heard=None):
    return embcli.Model(glove_file, notice=heard.append if heard is not None else None).table()


def _top(scores: np.ndarray, allowed: np.ndarray, k: int) -> list[int]:
    """Ids of the ``k`` best allowed scores, ties by id (a full sort: the reference)."""
    ids = np.flatnonzero(allowed)
    order = np.lexsort((ids, -scores[ids]))
    return ids[order][:k].tolist()


# -- axis ----------------------------------------------------------------------------------------


def test_axis_json_is_the_issues_and_equals_numpy(cli, glove_file, ref):
    res = cli("axis", "-m", glove_file, "--pairs", PAIRS, "--words",
              ",".join([*JOBS, "zzqqxx"]), "-f", "json")  # fmt: skip
    assert res.code == 0, res.err
    assert res.err == "embcli: not in the table, skipped: zzqqxx\n"
    data = json.loads(res.out)
    assert list(data) == ["axis", "words", "missing"]
    assert list(data["axis"]) == ["method", "pairs", "variance_explained", "leave_one_out"]
    assert list(data["axis"]["leave_one_out"]) == ["share", "mean_cosine"]
    assert all(list(w) == ["word", "score"] for w in data["words"])
    assert data["missing"] == ["zzqqxx"]
    assert data["axis"]["method"] == "pca" and data["axis"]["pairs"] == [list(p) for p in GENDER]
    g = ref.bolukbasi(GENDER)
    want = dict(zip(JOBS, ref.rows(JOBS) @ g, strict=True))
    assert [w["word"] for w in data["words"]] == sorted(JOBS, key=lambda w: -want[w])
    for w in data["words"]:
        assert w["score"] == pytest.approx(want[w["word"]], abs=1e-6)
    diffs = np.array([ref.unit[ref.index[b]] - ref.unit[ref.index[a]] for a, b in GENDER])
    s = np.linalg.svd(diffs, compute_uv=False) ** 2
    assert data["axis"]["variance_explained"] == pytest.approx(s[0] / s.sum(), rel=1e-9)
    # the library answers the same object the CLI printed
    heard: list[str] = []
    api = _table(glove_file, heard).axis(PAIRS, words=[*JOBS, "zzqqxx"])
    assert api.to_dict() == data
    assert heard == ["not in the table, skipped: zzqqxx"]
    np.testing.assert_allclose(api.vector, g, atol=1e-6)  # float32 rows


def test_axis_from_poles_and_a_second_axis(cli, glove_file, ref):
    res = cli("axis", "-m", glove_file, "--from", "ugly,bad", "--to", "beautiful,good",
              "--pairs2", PAIRS, "--words", "nurse,engineer,paris", "-f", "json")  # fmt: skip
    assert res.code == 0, res.err
    data = json.loads(res.out)
    assert list(data) == ["axis", "axis2", "words", "missing"]
    assert data["axis"] == {"method": "poles",
                            "poles": {"from": ["ugly", "bad"], "to": ["beautiful", "good"]},
                            "variance_explained": None, "leave_one_out": None}  # fmt: skip
    axis = _unit(ref.rows(["beautiful", "good"]).mean(0) - ref.rows(["ugly", "bad"]).mean(0))
    g = ref.bolukbasi(GENDER)
    for w in data["words"]:
        v = ref.rows([w["word"]])[0]
        assert w["score"] == pytest.approx(v @ axis, abs=1e-6)
        assert w["score2"] == pytest.approx(v @ g, abs=1e-6)
    api = _table(glove_file).axis(poles=("ugly,bad", ["beautiful", "good"]), pairs2=GENDER,
                                  words=["nurse", "engineer", "paris"])  # fmt: skip
    assert api.to_dict() == data


def test_axis_pairs_from_a_file_stdin_or_a_section(cli, glove_file, tmp_path, monkeypatch):
    inline = cli("axis", "-m", glove_file, "--pairs", "man:woman,he:she,king:queen",
                 "--words", "nurse,engineer", "-f", "json")  # fmt: skip
    assert inline.code == 0, inline.err
    path = tmp_path / "gender.txt"
    path.write_text("# gender pairs\nman woman\n\nhe:she\nking\tqueen\n", encoding="utf-8")
    words = tmp_path / "jobs.txt"
    words.write_text("nurse\nengineer\n", encoding="utf-8")
    from_file = cli("axis", "-m", glove_file, "--pairs", path, "--words", words, "-f", "json")
    assert from_file.code == 0, from_file.err
    assert json.loads(from_file.out) == json.loads(inline.out)
    monkeypatch.setattr(sys, "stdin", io.StringIO(path.read_text(encoding="utf-8")))
    from_stdin = cli("axis", "-m", glove_file, "--pairs", "-", "--words", words, "-f", "json")
    assert json.loads(from_stdin.out) == json.loads(inline.out)
    # a section of the bundled analogy set: its distinct pairs
    section = cli("axis", "-m", glove_file, "--pairs", "family", "--words", "nurse", "-f", "json")
    assert section.code == 0, section.err
    pairs = json.loads(section.out)["axis"]["pairs"]
    assert ["boy", "girl"] in pairs and len(pairs) == len({tuple(p) for p in pairs}) > 5


def test_the_ends_of_the_table(cli, glove_file, ref):
    """Without --words: the k word-like rows furthest at each end, the axis's words left out."""
    res = cli("axis", "-m", glove_file, "--pairs", PAIRS, "-k", "4", "-f", "json")
    assert res.code == 0, res.err
    got = [w["word"] for w in json.loads(res.out)["words"]]
    table = _table(glove_file).embeddings
    scores = ref.unit @ ref.bolukbasi(GENDER)
    allowed = np.asarray(table.wordlike, bool).copy()
    allowed[[ref.index[w] for p in GENDER for w in p]] = False
    top, bottom = _top(scores, allowed, 4), _top(-scores, allowed, 4)
    assert got == [table.tokens[i] for i in top + bottom[::-1]]


@pytest.mark.parametrize("second", [True, False])
def test_plot_draws_two_axes_or_a_strip(cli, glove_file, tmp_path, second):
    out = tmp_path / "axis.png"
    extra = ["--from2", ",".join(AGE[0]), "--to2", ",".join(AGE[1])] if second else []
    res = cli("axis", "-m", glove_file, "--pairs", PAIRS, "--words", ",".join(JOBS), *extra,
              "--plot", out, "-f", "tsv")  # fmt: skip
    assert res.code == 0, res.err
    assert res.err == f"embcli: wrote {out}\n"
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    header = res.out.splitlines()[0].split("\t")
    assert header == (["word", "score", "score2"] if second else ["word", "score"])
    from matplotlib.image import imread

    img = imread(out)
    assert img.shape[0] > 400 and img.shape[1] > 400 and img[..., :3].std() > 0.05


# -- weat ----------------------------------------------------------------------------------------


WEAT_KEYS = ["test", "targets", "attributes", "statistic", "effect_size", "p_value",
             "permutations", "exact", "missing"]  # fmt: skip


def test_weat_json_is_the_issues_and_equals_the_formulas(cli, glove_file, ref):
    res = cli("weat", "career-family", "-m", glove_file, "-f", "json")
    assert res.code == 0, res.err
    data = json.loads(res.out)
    assert list(data) == [*WEAT_KEYS, "published"]
    assert list(data["targets"]) == ["X", "Y"] and list(data["attributes"]) == ["A", "B"]
    assert data["exact"] is True and data["permutations"] == 12_870  # C(16, 8), every split
    sets = [ref.rows(data["targets"][k]) for k in "XY"] + [
        ref.rows(data["attributes"][k]) for k in "AB"
    ]
    statistic, effect = weat_reference(*sets)
    assert data["statistic"] == pytest.approx(statistic, abs=1e-6)
    assert data["effect_size"] == pytest.approx(effect, abs=1e-6)
    assert data["published"]["effect_size"]["glove"] == 1.81
    assert "840B" in data["published"]["vectors"]["glove"]
    assert _table(glove_file).weat("career-family").to_dict() == data


def test_weat_from_word_files(cli, glove_file, ref, tmp_path):
    from embcli.ask.weat import bundled

    files = []
    for key, word_set in bundled()["math-arts"].sets.items():
        files.append(tmp_path / f"{key}.txt")
        files[-1].write_text("\n".join(word_set.words) + "\n", encoding="utf-8")
    res = cli("weat", "-m", glove_file, "--targets", *files[:2], "--attributes", *files[2:],
              "--permutations", "1000", "--seed", "3", "-f", "json")  # fmt: skip
    assert res.code == 0, res.err
    data = json.loads(res.out)
    assert list(data) == WEAT_KEYS and data["test"] == "custom"
    assert data["exact"] is False and data["permutations"] == 1000
    sets = [ref.rows(data["targets"][k]) for k in "XY"] + [
        ref.rows(data["attributes"][k]) for k in "AB"
    ]
    assert data["effect_size"] == pytest.approx(weat_reference(*sets)[1], abs=1e-6)
    again = cli("weat", "-m", glove_file, "--targets", *files[:2], "--attributes", *files[2:],
                "--permutations", "1000", "--seed", "3", "-f", "json")  # fmt: skip
    assert json.loads(again.out) == data  # seeded
    inline = cli("weat", "-m", glove_file, "--targets",
                 *[",".join(data["targets"][k]) for k in "XY"], "--attributes",
                 *[",".join(data["attributes"][k]) for k in "AB"], "--permutations", "1000",
                 "--seed", "3", "-f", "json")  # fmt: skip
    assert json.loads(inline.out) == data


def test_weat_all_keeps_going_and_exits_3(cli, glove_file):
    res = cli("weat", "--all", "-m", glove_file, "--permutations", "200", "-f", "json")
    assert res.code == 3
    ran = [r["test"] for r in json.loads(res.out)]
    assert "career-family" in ran and "math-arts" in ran and "flowers-insects" not in ran
    failed = res.err.splitlines()
    assert len(failed) == 10 - len(ran)
    assert all(line.startswith("embcli: ") and (" lost " in line or " has " in line)
               for line in failed)  # fmt: skip
    api = _table(glove_file).weat_all(permutations=200)
    assert api.to_dict() == json.loads(res.out) and len(api.failed) == len(failed)


# -- bad input: one line each --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "code", "says"),
    [
        (["axis", "--pairs", "man:woman"], 2, "--pairs needs two or more pairs, got 1"),
        (["axis", "--pairs", "man:man,he:she"], 2, "same word twice"),
        (["axis", "--pairs", "man:woman,he:she", "--from", "a", "--to", "b"], 2, "one of them"),
        (["axis", "--from", ",", "--to", "good"], 2, "--from: ',' lists no words"),
        (["axis", "--from", "good"], 2, "--from and --to go together"),
        (["axis", "--pairs", "zzqq:qqzz,xxyy:yyxx"], 3, "none of the 2 pairs"),
        (["axis", "--from", "zzqq", "--to", "good"], 3, "none of the words of the from pole"),
        (["axis", "--pairs", PAIRS, "--words", "zzqq,qqzz"], 3, "none of the 2 words"),
        (["axis", "--pairs", "nosuchsection"], 2, "neither a:b pairs nor a section"),
        (["axis", "--pairs", "missing.txt"], 1, "cannot read missing.txt"),
        (["axis", "--pairs", PAIRS, "-k", "0"], 2, "-k must be at least 1"),
        (["axis", "--pairs", PAIRS, "--plot", "a.gif"], 2, "cannot write a.gif"),
        (["weat"], 2, "one of them"),
        (["weat", "nosuch"], 2, "no bundled WEAT test 'nosuch'"),
        (["weat", "career-family", "--permutations", "0"], 2, "--permutations must be at least 1"),
        (
            ["weat", "--targets", "john", "amy,lisa", "--attributes", "career", "family"],
            2,
            "the target set X has 1 word",
        ),
        (["weat", "--targets", "a,b", "c,d"], 2, "go together"),
        (
            ["weat", "--targets", "zzqq,qqzz", "amy,lisa", "--attributes", "career", "family"],
            3,
            "has 0 of its 2 words",
        ),
        (["neighbors", "nurse", "--remove-axis", "man:woman"], 2, "--remove-axis needs two"),
        (
            ["neighbors", "nurse", "--remove-axis", "zzqq:qqzz,xxyy:yyxx"],
            3,
            "--remove-axis: none of the 2 pairs",
        ),
    ],
)
def test_bad_input_is_one_line(cli, glove_file, args, code, says):
    res = cli(*args, "-m", glove_file)
    assert res.code == code, res.err
    assert res.err.startswith("embcli: ") and res.err.count("\n") == 1, res.err
    assert says in res.err


def test_the_library_checks_before_opening_the_table(glove_file, isolated_cache):
    t = _table(glove_file)
    bad = [
        lambda: t.axis("man:woman"),
        lambda: t.axis(PAIRS, method="svd"),
        lambda: t.axis(PAIRS, k=0),
        lambda: t.axis(PAIRS, words="nurse"),
        lambda: t.axis(poles=([], ["good"])),
        lambda: t.axis(poles=["good"]),
        lambda: t.axis(PAIRS, pairs2="he:she"),
        lambda: t.weat("career-family", permutations=0),
        lambda: t.weat("nosuch"),
        lambda: t.weat(X=["a"], Y=["b", "c"], A=["d"], B=["e"]),
        lambda: t.weat(X="ab", Y=["b", "c"], A=["d"], B=["e"]),
        lambda: t.neighbors("nurse", remove_axis="he:she"),
        lambda: t.similarity("a", "b", remove_axis=np.array([np.nan, 1.0])),
        lambda: t.project(["a", "b", "c"], remove_axis=5),
    ]
    for ask in bad:
        with pytest.raises(UsageProblem):
            ask()
    assert not isolated_cache.exists() or not list(isolated_cache.glob("*--*"))


# -- --remove-axis: the table with a direction projected out -------------------------------------


def test_neighbors_without_the_axis_equal_numpy(cli, glove_file, ref, isolated_cache):
    res = cli("neighbors", "nurse", "-m", glove_file, "-k", "10", "--remove-axis", PAIRS,
              "-f", "json")  # fmt: skip
    assert res.code == 0, res.err
    got = json.loads(res.out)["neighbors"]
    x = ref.without(ref.bolukbasi(GENDER))
    t = _table(glove_file)
    allowed = np.asarray(t.embeddings.wordlike, bool).copy()
    allowed[ref.index["nurse"]] = False
    scores = x @ x[ref.index["nurse"]]
    assert [n["id"] for n in got] == _top(scores, allowed, 10)
    for n in got:
        assert n["cosine"] == pytest.approx(scores[n["id"]], abs=2e-6)
    before = [n.id for n in t.neighbors("nurse", k=10)]
    assert before != [n["id"] for n in got]  # the axis mattered
    # the same answer from the library, and from the axis given as a vector
    assert t.neighbors("nurse", k=10, remove_axis=PAIRS).to_dict() == json.loads(res.out)
    g = t.axis(PAIRS, words=["nurse"]).vector
    by_vector = t.neighbors("nurse", k=10, remove_axis=g)
    assert [n.id for n in by_vector] == [n["id"] for n in got]
    # no transformed copy: one length per row for the axis (the same axis given as a vector
    # finds it too), among the entry's derived files, reused
    copies = sorted((t.embeddings.path / "derived").glob("lengths-*.npy"))
    assert len(copies) == 1 and copies[0].stat().st_size < t.embeddings.shape[0] * 8 + 1024
    assert not list(t.embeddings.path.rglob("axis-*"))
    stamp = copies[0].stat().st_mtime_ns
    cli("neighbors", "doctor", "-m", glove_file, "--remove-axis", PAIRS)
    assert copies[0].stat().st_mtime_ns == stamp


def test_similarity_analogy_and_plot_without_the_axis_equal_numpy(cli, glove_file, ref):
    x = ref.without(ref.bolukbasi(GENDER))
    t = _table(glove_file)
    sim = t.similarity("nurse", "doctor", remove_axis=PAIRS)
    assert sim.cosine == pytest.approx(x[ref.index["nurse"]] @ x[ref.index["doctor"]], abs=1e-6)
    res = cli("similarity", "nurse", "doctor", "-m", glove_file, "--remove-axis", PAIRS,
              "-f", "json")  # fmt: skip
    assert json.loads(res.out) == sim.to_dict()

    answer = t.analogy("paris", "france", "italy", k=5, remove_axis=PAIRS)
    inputs = [ref.index[w] for w in ("paris", "france", "italy")]
    target = _unit(x[inputs[0]] - x[inputs[1]] + x[inputs[2]])
    allowed = np.asarray(t.embeddings.wordlike, bool).copy()
    allowed[inputs] = False
    assert [r.id for r in answer] == _top(x @ target, allowed, 5)
    for r in answer:
        assert r.score == pytest.approx(x[r.id] @ target, abs=2e-6)
    res = cli("analogy", "paris", "france", "italy", "-m", glove_file, "-k", "5",
              "--remove-axis", PAIRS, "-f", "json")  # fmt: skip
    assert json.loads(res.out) == answer.to_dict()

    picture = t.project(JOBS, remove_axis=PAIRS)
    pts = x[[ref.index[w] for w in JOBS]]
    pts = pts - pts.mean(axis=0)
    _, _, vt = np.linalg.svd(pts, full_matrices=False)
    np.testing.assert_allclose(np.abs(picture.coords), np.abs(pts @ vt[:2].T), atol=1e-5)
    assert "axis removed (man:woman, he:she, king:queen and 3 more)" in picture.title


def test_remove_axis_after_centring_equals_numpy(glove_file, ref):
    """--center first, then the axis built in the centred table and projected out."""
    centred = _unit(ref.raw - ref.raw.mean(axis=0))
    x = ref.without(ref.bolukbasi(GENDER, centred), centred)
    t = _table(glove_file)
    got = t.neighbors("doctor", k=8, center=True, remove_axis=PAIRS)
    allowed = np.asarray(t.embeddings.wordlike, bool).copy()
    allowed[ref.index["doctor"]] = False
    scores = x @ x[ref.index["doctor"]]
    assert [n.id for n in got] == _top(scores, allowed, 8)
    for n in got:
        assert n.cosine == pytest.approx(scores[n.id], abs=2e-6)


def test_weat_and_axis_without_an_axis(glove_file, ref):
    """Removing the gender axis moves WEAT's career-family effect size as numpy says it does."""
    x = ref.without(ref.bolukbasi(GENDER))
    t = _table(glove_file)
    got = t.weat("career-family", remove_axis=PAIRS)
    sets = [ref.rows(got.targets[k], x) for k in "XY"] + [
        ref.rows(got.attributes[k], x) for k in "AB"
    ]
    assert got.effect_size == pytest.approx(weat_reference(*sets)[1], abs=1e-6)
    assert got.effect_size < t.weat("career-family").effect_size
    scored = t.axis("man:woman,he:she", words=JOBS, remove_axis=PAIRS)
    g2 = ref.bolukbasi([("man", "woman"), ("he", "she")], x)
    for w in scored:
        assert w.score == pytest.approx(ref.rows([w.word], x)[0] @ g2, abs=2e-6)


def test_words_of_the_removed_axis_not_in_the_table_are_said_once(glove_file):
    heard: list[str] = []
    t = _table(glove_file, heard)
    t.neighbors("nurse", remove_axis=PAIRS + ",zzqq:qqzz")
    assert heard == ["--remove-axis: not in the table, skipped: zzqq, qqzz "
                     "(pairs left out: zzqq:qqzz)"]  # fmt: skip
    with pytest.raises(UnresolvedWord, match=r"^remove_axis: none of the 2 pairs") as err:
        t.neighbors("nurse", remove_axis="zzqq:qqzz,xxyy:yyxx")
    assert err.value.param == "remove_axis"  # the CLI: --remove-axis (test_bad_input_is_one_line)


def test_weat_all_on_a_wordpiece_table_hints_pool_and_says_split_words_once(minilm_dir):
    """MiniLM splits rare words (aster -> as ##ter): a test that loses them says --pool mean
    would keep them; the split words of every test are said in one notice; pooled, all run."""
    from embcli.ask.weat import bundled

    heard: list[str] = []
    t = embcli.Model(minilm_dir, notice=heard.append).table()
    got = t.weat_all(permutations=100)
    flowers = bundled()["flowers-insects"].sets["X"].words
    split = [w for w in flowers if len(list(t.tokenize(w))) > 1]
    why = dict(got.failed)["flowers-insects"].one_line()
    assert f"--pool mean keeps the {len(split)} that split into tokens" in why
    assert "--allow-missing" in why
    assert len([h for h in heard if h.startswith("Split into several tokens")]) == 1
    heard.clear()
    pooled = t.weat_all(permutations=100, pool=True)
    assert not pooled.failed and len(pooled) == 10
    assert len(heard) == 1 and heard[0].startswith("The mean of their sub-token rows")
    x = pooled[0]
    assert x.test == "flowers-insects" and x.targets["X"] == list(flowers)
