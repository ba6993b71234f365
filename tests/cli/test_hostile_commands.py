"""Issue #29, the commands' side: no input that escapes, hangs or lies.

Each test gives a command (in this process, as the console script runs it) or the Python API
input a hostile or careless user could give: a string where a list belongs, a list longer than
a file name, a count that could not finish, a table of width 0, a checkpoint twice, a picture
to a place that cannot be written, an axis with one usable pair, WEAT sets that overlap. The
CLI answers in one line on stderr with its exit code, or runs and says what it left out; the
API raises embcli's own errors.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import embcli
from embcli.errors import EmbcliError, UnresolvedWord, UsageProblem
from tests import models

WORDS = [f"w{i:03d}" for i in range(300)]
ODD = "km/h"  # a word with a slash: a comma list holding it is a list, not a file's name


def one_line(res, *needles, code):
    """The exit code, one line on stderr naming ``needles``, no traceback, nothing printed."""
    assert res.code == code, (res.code, res.out, res.err)
    lines = res.err.strip().splitlines()
    assert len(lines) == 1, res.err
    assert lines[0].startswith("embcli: "), lines[0]
    assert "Traceback" not in res.err and "internal error" not in res.err
    for needle in needles:
        assert needle in lines[0], lines[0]
    assert res.out == ""
    return lines[0]


def entries(cache: Path) -> list[Path]:
    """Cache entries built: none means no table was opened (the work never started)."""
    if not cache.exists():
        return []
    return [p for p in cache.iterdir() if not p.name.startswith(".")]


@pytest.fixture(scope="module")
def planted(tmp_path_factory) -> Path:
    """300 whole-word tokens w000..w299 (and ``km/h``) with random 12-wide rows."""
    rng = np.random.default_rng(0)
    words = ["<unk>", *WORDS, ODD]
    vectors = rng.normal(size=(len(words), 12)).astype(np.float32)
    return models.planted(tmp_path_factory.mktemp("hostile") / "m", words, vectors)


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    """Three checkpoints of one 12-wide table, drifting; returns their parent directory."""
    root = tmp_path_factory.mktemp("run")
    rng = np.random.default_rng(1)
    words = ["<unk>", *WORDS[:60]]
    table = rng.normal(size=(len(words), 12))
    for step in (0, 10, 100):
        table = table + 0.3 * rng.normal(size=table.shape)
        models.planted(root / f"checkpoint-{step}", words, table.astype(np.float32))
    return root


def long_pairs(n: int = 150) -> str:
    return ",".join(f"{WORDS[2 * i]}:{WORDS[2 * i + 1]}" for i in range(n))


# -- 1. a string where a list belongs -------------------------------------------------------------


def test_history_refuses_one_string_of_words(run):
    """``words='qqqzzzxx'`` is a slip, not the letters q, z and x to follow."""
    with pytest.raises(UsageProblem) as info:
        embcli.history(str(run / "checkpoint-*"), words="qqqzzzxx", sample=5)
    assert "not one string" in info.value.one_line()
    ok = embcli.history(str(run / "checkpoint-*"), words=["w001", "w002"], sample=5)
    assert [w.word for w in ok.words] == ["w001", "w002"]


@pytest.mark.parametrize(
    ("ask", "says"),
    [
        (lambda t: t.analogies(["w001 w002 w003"]), "not the string 'w001 w002 w003'"),
        (lambda t: t.analogies("w001 w002 w003"), "give a list of questions"),
        (lambda t: t.neighbors("w001", among="w002"), "not one string"),
        (lambda t: t.similarity_matrix("w001"), "not one string"),
        (lambda t: t.axis("w000:w001,w002:w003", words="w004"), "not one string"),
        (lambda t: t.weat(X="w000", Y=["w002", "w003"], A=["w004"], B=["w005"]),
         "not one string"),
        (lambda t: t.compare(t, words="w001"), "not one string"),
    ],
)  # fmt: skip
def test_every_method_refuses_one_string_where_a_list_belongs(planted, ask, says):
    with pytest.raises(UsageProblem) as info:
        ask(embcli.load(str(planted)))
    assert says in info.value.one_line()


# -- 2. a list longer than a file name is a list --------------------------------------------------


def test_long_inline_lists_are_lists_for_every_option(cli, planted, run, tmp_path):
    pairs = long_pairs()  # 150 pairs, 1,649 characters: no file can have that name
    assert len(pairs) > 1000
    words = ",".join(WORDS[:200])
    half = ",".join(WORDS[:100]), ",".join(WORDS[100:200])
    res = cli("axis", "-m", planted, "--pairs", pairs, "-k", "1", "-f", "json")
    assert res.code == 0, res.err
    assert len(json.loads(res.out)["axis"]["pairs"]) == 150
    res = cli("axis", "-m", planted, "--pairs", "w000:w001,w002:w003", "--pairs2", pairs,
              "--words", words, "-f", "json")  # fmt: skip
    assert res.code == 0, res.err
    out = json.loads(res.out)
    assert len(out["axis2"]["pairs"]) == 150 and len(out["words"]) == 200
    res = cli("axis", "-m", planted, "--from", half[0], "--to", half[1], "-k", "1", "-f", "json")
    assert res.code == 0, res.err
    assert len(json.loads(res.out)["axis"]["poles"]["from"]) == 100
    res = cli("neighbors", "-m", planted, "w299", "--remove-axis", pairs, "-k", "2", "-f", "json")
    assert res.code == 0, res.err
    quarter = [",".join(WORDS[i : i + 50]) for i in range(0, 200, 50)]  # 350 characters each
    res = cli("weat", "-m", planted, "--targets", *quarter[:2], "--attributes", *quarter[2:],
              "--permutations", "100", "-f", "json")  # fmt: skip
    assert res.code == 0, res.err
    assert len(json.loads(res.out)["targets"]["X"]) == 50
    res = cli("history", "-m", run / "checkpoint-*", "--words", ",".join(WORDS[:60]),
              "--sample", "5", "-f", "json")  # fmt: skip
    assert res.code == 0, res.err
    assert len(json.loads(res.out)["words"]) == 60
    res = cli("compare", "-m", planted, "-m", planted, "--words", words, "-f", "json")
    assert res.code == 0, res.err
    out_file = tmp_path / "some.npy"
    res = cli("export", "-m", planted, out_file, "--words", words)
    assert res.code == 0, res.err
    assert np.load(out_file).shape == (200, 12)


def test_a_comma_list_with_a_slash_is_a_list_and_a_path_is_still_a_file(cli, planted, tmp_path):
    res = cli("axis", "-m", planted, "--pairs", "w000:w001,w002:w003", "--words",
              f"{ODD},w010", "-f", "json")  # fmt: skip
    assert res.code == 0, res.err
    assert {w["word"] for w in json.loads(res.out)["words"]} == {ODD, "w010"}
    listed = tmp_path / "words.txt"
    listed.write_text("w010\nw011\n")
    res = cli("axis", "-m", planted, "--pairs", "w000:w001,w002:w003", "--words", listed,
              "-f", "json")  # fmt: skip
    assert {w["word"] for w in json.loads(res.out)["words"]} == {"w010", "w011"}
    one_line(cli("axis", "-m", planted, "--pairs", "w000:w001,w002:w003", "--words",
                 tmp_path / "missing.txt"), "missing.txt", code=1)  # fmt: skip


def test_is_file_never_fails_on_a_long_value():
    from embcli.api.inputs import is_file

    assert is_file("x" * 5000) is False  # ENAMETOOLONG when probed: no such file can exist
    assert is_file("a/" * 300) is True  # written as a path: said as a missing file
    assert is_file("a/b,c") is False


# -- 3. counts that could not finish --------------------------------------------------------------


def test_weat_refuses_permutations_that_could_not_finish(cli, planted, isolated_cache):
    line = one_line(cli("weat", "-m", planted, "--targets", "w000,w001", "w002,w003",
                        "--attributes", "w004,w005", "w006,w007",
                        "--permutations", "1000000000000"), "--permutations",
                    "at most 10,000,000", code=2)  # fmt: skip
    assert "1,000,000,000,000" in line
    one_line(cli("weat", "-m", planted, "--all", "--permutations", "10000001"), "at most",
             code=2)  # fmt: skip
    assert entries(isolated_cache) == []  # refused before the table was opened
    table = embcli.load(str(planted))
    with pytest.raises(UsageProblem):
        table.weat(X=["w000", "w001"], Y=["w002", "w003"], A=["w004"], B=["w005"],
                   permutations=10**12)  # fmt: skip
    # the bound itself is taken: 6 partitions, all of them
    got = table.weat(X=["w000", "w001"], Y=["w002", "w003"], A=["w004"], B=["w005"],
                     permutations=10_000_000)  # fmt: skip
    assert got.exact and got.permutations == 6


def test_stats_refuses_a_sample_that_cannot_be_held(cli, planted, isolated_cache):
    one_line(cli("stats", "-m", planted, "--samples", "1000000000000"), "--samples",
             "at most 1,000,000", code=2)  # fmt: skip
    assert entries(isolated_cache) == []
    from embcli.ask.anatomy import PAIR_BYTES, check_samples

    check_samples(10_000, 12_288)  # the default, on the widest tables there are
    with pytest.raises(UsageProblem) as info:
        check_samples(100_000, 12_288)
    most = PAIR_BYTES // (16 * 12_288)
    assert f"at most {most:,}" in info.value.one_line() and "GB" in info.value.one_line()


@pytest.mark.parametrize(
    "args",
    [
        ("neighbors", "w000", "-k", "{H}"),
        ("analogy", "w000", "w001", "w002", "-k", "{H}"),
        ("axis", "--pairs", "w000:w001,w002:w003", "-k", "{H}"),
        ("compare", "-m", "{M}", "-k", "{H}", "--sample", "{H}", "--show", "{H}"),
        ("export", "{T}/e.npy", "--limit", "{H}"),
        pytest.param(("plot", "w000", "w001", "w002", "w003", "--method", "tsne",
                      "--perplexity", "{H}", "--plot", "{T}/p.png"),
                     marks=pytest.mark.slow),  # t-SNE's import: 20 s
        ("stats", "--seed", "{H}"),
    ],
)  # fmt: skip
def test_huge_counts_finish_or_are_refused_in_one_line(cli, planted, tmp_path, args):
    """A count far beyond the table is clamped to it (and said) or refused: never a hang, an
    'out of memory' or a traceback."""
    given = [a.format(H=10**12, M=planted, T=tmp_path) for a in args]
    res = cli(given[0], "-m", planted, *given[1:])
    assert res.code in (0, 2), res.err
    assert "Traceback" not in res.err and "out of memory" not in res.err
    assert "internal error" not in res.err
    if res.code == 2:
        one_line(res, code=2)


def test_history_counts_beyond_the_run_are_clamped(cli, run):
    res = cli("history", "-m", run / "checkpoint-*", "--count", "1000000000000", "-k",
              "1000000000000", "--sample", "1000000000000", "--jobs", "1000000000000",
              "--words", "w001", "-f", "json")  # fmt: skip
    assert res.code == 0, res.err
    out = json.loads(res.out)
    assert [c["step"] for c in out["checkpoints"]] == [0, 10, 100]


# -- 4. a table of width 0 -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def narrow(tmp_path_factory) -> dict[int, Path]:
    root = tmp_path_factory.mktemp("narrow")
    words = ["<unk>", "a", "b", "c", "d"]
    rng = np.random.default_rng(2)
    return {width: models.planted(root / f"w{width}", words,
                                  rng.normal(size=(5, width)).astype(np.float32))
            for width in (0, 1)}  # fmt: skip


@pytest.mark.parametrize(
    "args",
    [("stats",), ("neighbors", "a"), ("similarity", "a", "b"), ("axis", "--pairs", "a:b,c:d"),
     ("weat", "--targets", "a,b", "c,d", "--attributes", "a", "d")],
)  # fmt: skip
def test_a_table_of_width_0_is_said_as_such(cli, narrow, args):
    line = one_line(cli(args[0], "-m", narrow[0], *args[1:]), "width 0", code=1)
    assert "--remove-pcs" not in line  # an option the user never gave


@pytest.mark.parametrize(
    "args", [("info",), ("compare", "-m", "{M}"), ("export", "{T}/x.npy"),
             ("undertrained", "--reference", "{T}/ref.txt")],
)  # fmt: skip
def test_a_table_of_width_0_is_refused_when_opened(cli, narrow, tmp_path, args):
    """Where no transform is asked for (a comparison, an export, the undertrained search):
    said when the table is opened, not answered with P@10 1.000 in 0 dimensions or a crash."""
    (tmp_path / "ref.txt").write_text("a\nb\n")
    given = [a.format(M=narrow[0], T=tmp_path) for a in args]
    res = cli(given[0], "-m", narrow[0], *given[1:])
    assert res.code == 1 and res.out == "", (res.code, res.out, res.err)
    assert "Traceback" not in res.err and "internal error" not in res.err
    last = res.err.strip().splitlines()[-1]  # after the notice of a tied head, if any
    assert last == f"embcli: the table of {narrow[0]} has width 0 (its rows hold no numbers): " \
                   "no question can be asked of it"  # fmt: skip
    assert not (tmp_path / "x.npy").exists()


def test_a_table_with_no_rows_is_refused_when_opened(cli, tmp_path):
    from safetensors.numpy import save_file

    model = models.planted(tmp_path / "r0", ["<unk>"], np.zeros((1, 4), np.float32))
    save_file({"model.embed_tokens.weight": np.zeros((0, 4), np.float32)},
              str(model / "model.safetensors"))  # fmt: skip
    config = json.loads((model / "config.json").read_text())
    (model / "config.json").write_text(json.dumps({**config, "vocab_size": 0}))
    one_line(cli("info", "-m", model), "has no rows", code=1)


def test_a_table_of_width_0_raises_from_python(narrow):
    with pytest.raises(EmbcliError) as info:
        embcli.load(str(narrow[0])).neighbors("a")
    assert "width 0" in info.value.one_line() and "--remove-pcs" not in info.value.one_line()
    # the ask layer says the same of a table it is handed
    from embcli.ask.space import space_of
    from embcli.store.load import open_table

    with pytest.raises(EmbcliError) as info:
        space_of(open_table(str(narrow[0])))
    assert "width 0" in info.value.one_line() and "--remove-pcs" not in info.value.one_line()


def test_stats_of_a_table_of_width_1_removes_no_component_by_default(cli, narrow):
    res = cli("stats", "-m", narrow[1], "-f", "json")
    assert res.code == 0, res.err
    one_line(cli("stats", "-m", narrow[1], "--remove-pcs", "1"), "--remove-pcs 1", code=2)


# -- 5. a checkpoint given twice -------------------------------------------------------------------


def test_a_checkpoint_given_twice_is_said_and_read_once(cli, run):
    a, b = run / "checkpoint-0", run / "checkpoint-10"
    res = cli("history", "-m", a, "-m", a, "-m", b, "--sample", "5", "-f", "json")
    assert res.code == 0, res.err
    assert [c["step"] for c in json.loads(res.out)["checkpoints"]] == [0, 10]
    assert f"{a} given twice: read once" in res.err
    assert "match; reading" not in res.err and "--all" not in res.err
    # a glob and one of its directories (spelt with a trailing slash): read once, said so
    res = cli("history", "-m", run / "checkpoint-*", "-m", f"{b}/", "--sample", "5", "-f", "json")
    assert res.code == 0, res.err
    assert [c["step"] for c in json.loads(res.out)["checkpoints"]] == [0, 10, 100]
    assert "given twice: read once" in res.err and "match; reading" not in res.err


# -- 6. a picture or file to a place that cannot be written ----------------------------------------

UNWRITABLE = Path("/proc/embcli-test.png")  # exists as a directory no one may create files in


def _places(tmp_path: Path) -> dict[str, Path]:
    (tmp_path / "a-file").write_text("x")
    return {"/proc": UNWRITABLE, "missing": tmp_path / "nope" / "x.png",
            "a file": tmp_path / "a-file" / "x.png"}  # fmt: skip


@pytest.mark.skipif(not Path("/proc/self").exists(), reason="needs Linux's /proc")
@pytest.mark.parametrize("where", ["/proc", "missing", "a file"])
@pytest.mark.parametrize(
    "args",
    [
        ("stats", "--plot", "{P}"),
        ("axis", "--pairs", "w000:w001,w002:w003", "-k", "2", "--plot", "{P}"),
        ("plot", "w000", "w001", "w002", "--plot", "{P}"),
        ("compare", "-m", "{M}", "--plot", "{P}"),
        ("export", "{N}"),
        ("history", "--sample", "5", "--plot", "{P}"),
    ],
)  # fmt: skip
def test_an_unwritable_output_is_said_before_the_work(
    cli, planted, run, tmp_path, isolated_cache, where, args
):
    target = _places(tmp_path)[where]
    model = run / "checkpoint-*" if args[0] == "history" else planted
    given = [a.format(P=target, N=target.with_suffix(".npy"), M=planted) for a in args]
    line = one_line(cli(given[0], "-m", model, *given[1:]), "cannot write", code=1)
    named = target.with_suffix(".npy") if args[0] == "export" else target
    assert str(named) in line and ".tmp" not in line
    assert entries(isolated_cache) == []  # no table was opened: the work never started


@pytest.mark.skipif(not Path("/proc/self").exists(), reason="needs Linux's /proc")
@pytest.mark.parametrize("where", ["/proc", "missing"])
def test_positions_plot_to_an_unwritable_place_is_said_before_the_work(
    cli, model_dirs, tmp_path, isolated_cache, where
):
    target = _places(tmp_path)[where]
    line = one_line(cli("positions", "-m", model_dirs["gpt2"], "--plot", target),
                    "cannot write", code=1)  # fmt: skip
    assert str(target) in line and ".tmp" not in line
    assert entries(isolated_cache) == []


@pytest.mark.skipif(not Path("/proc/self").exists(), reason="needs Linux's /proc")
@pytest.mark.parametrize(
    "args",
    [("context", "king", "the king", "a king", "--plot", "/proc/c.html"),
     ("sentences", "a king", "the queen", "-o", "/proc/v.npy")],
)  # fmt: skip
def test_a_model_run_to_an_unwritable_place_is_said_before_the_run(cli, model_dirs, args):
    line = one_line(cli(*args, "-m", model_dirs["gpt2"]), "cannot write", code=1)
    assert args[-1] in line and ".tmp" not in line


def test_an_atomic_write_that_fails_names_the_target(tmp_path):
    from embcli.atomic import atomic_write
    from embcli.cli.errors import explain

    target = tmp_path / "gone" / "x.bin"
    with pytest.raises(FileNotFoundError) as info:
        atomic_write(target, lambda tmp: tmp.write_bytes(b"data"))
    assert info.value.filename == str(target)
    assert explain(info.value) == (f"no such file: {target}", 1)


def test_output_file_probes_the_directory(tmp_path):
    from embcli.api.checks import output_file

    assert output_file(tmp_path / "x.png", (".png",), "test") == tmp_path / "x.png"
    assert [p.name for p in tmp_path.iterdir()] == []  # the probe is removed
    with pytest.raises(EmbcliError) as info:
        output_file(tmp_path / ("x" * 300 + ".png"), (".png",), "test")
    assert "cannot write" in info.value.one_line()


# -- 7. pairs with unknown words, and WEAT sets that overlap ---------------------------------------


def test_an_axis_needs_two_usable_pairs_as_it_needs_two_given(cli, planted):
    """One pair given is refused; so is two given when one has a word not in the table."""
    one_line(cli("axis", "-m", planted, "--pairs", "w000:w001"), "two or more pairs", code=2)
    line = one_line(cli("axis", "-m", planted, "--pairs", "w000:w001,w002:qqqzz"),
                    "only 1 of the 2 pairs", "qqqzz", "two or more", code=3)  # fmt: skip
    assert "none" not in line
    one_line(cli("neighbors", "-m", planted, "w010", "--remove-axis", "w000:w001,w002:qqqzz"),
             "--remove-axis", "only 1 of the 2 pairs", code=3)  # fmt: skip
    table = embcli.load(str(planted))
    with pytest.raises(UnresolvedWord):
        table.axis("w000:w001,w002:qqqzz", words=["w010"])


def test_a_pair_left_out_is_named_and_the_axis_is_that_of_the_others(cli, planted):
    res = cli("axis", "-m", planted, "--pairs", "w000:w001,w002:qqqzz,w004:w005", "--words",
              "w010", "-f", "json")  # fmt: skip
    assert res.code == 0, res.err
    assert "pairs left out: w002:qqqzz" in res.err
    out = json.loads(res.out)
    assert out["axis"]["pairs"] == [["w000", "w001"], ["w004", "w005"]]
    ref = json.loads(cli("axis", "-m", planted, "--pairs", "w000:w001,w004:w005", "--words",
                         "w010", "-f", "json").out)  # fmt: skip
    assert out["words"][0]["score"] == pytest.approx(ref["words"][0]["score"], abs=1e-12)
    res = cli("neighbors", "-m", planted, "w010", "--remove-axis",
              "w000:w001,w002:qqqzz,w004:w005", "-k", "1")  # fmt: skip
    assert res.code == 0 and "--remove-axis" in res.err and "w002:qqqzz" in res.err


@pytest.mark.parametrize(
    ("sets", "says"),
    [
        ({"X": ["w000", "w001"], "Y": ["w001", "w000"]}, "X and Y are the same words"),
        ({"X": ["w000", "w001", "w002"], "Y": ["w002", "w003"]}, "share 1 word (w002)"),
        ({"A": ["w004", "w005"], "B": ["w005"]}, "A and B share 1 word (w005)"),
        ({"Y": ["#1", "w003"]}, "X's 'w000' and Y's '#1' are the same row"),
    ],
)
def test_weat_sets_that_overlap_are_refused(cli, planted, sets, says):
    base = {"X": ["w000", "w001"], "Y": ["w002", "w003"], "A": ["w004", "w005"], "B": ["w006"]}
    given = {**base, **sets}
    table = embcli.load(str(planted))
    with pytest.raises(UsageProblem) as info:
        table.weat(**given)
    assert says in info.value.one_line()
    res = cli("weat", "-m", planted, "--targets", ",".join(given["X"]), ",".join(given["Y"]),
              "--attributes", ",".join(given["A"]), ",".join(given["B"]))  # fmt: skip
    one_line(res, says, code=2)


def test_a_sample_beyond_the_tables_width_names_the_parameter(planted):
    """The width-bound cap of ``samples`` speaks Python to Python (``samples``, with
    ``param``) and the CLI's option to the CLI (``explain`` maps it)."""
    from embcli.ask.anatomy import check_samples
    from embcli.cli.errors import explain

    with pytest.raises(UsageProblem) as info:
        check_samples(100_000, 12_288)
    assert (
        info.value.message.startswith("samples must be at most") and info.value.param == "samples"
    )
    assert "--samples must be at most" in explain(info.value)[0]


def test_analogies_read_a_generator_of_questions(planted):
    t = embcli.load(str(planted))
    listed = t.analogies([["w001", "w002", "w003", "w004"]])
    generated = t.analogies(iter([["w001", "w002", "w003", "w004"]]))
    assert len(listed.to_dict()) == 1 and generated.to_dict() == listed.to_dict()


@pytest.mark.parametrize(
    "ask",
    [
        lambda t: t.similarity(pairs="w001:w002"),
        lambda t: t.similarity(pairs=["w001:w002"]),
        lambda t: t.similarity(pairs=[5]),
        lambda t: t.similarity(pairs=[("w001", "w002", "w003")]),
        lambda t: t.axis([1, 2]),
        lambda t: t.axis([("w001", "w002"), 5]),
        lambda t: t.neighbors("w001", remove_axis=[("w001", "w002"), 5]),
    ],
)
def test_malformed_pairs_are_embclis_own_error(planted, ask):
    with pytest.raises(UsageProblem):
        ask(embcli.load(str(planted)))


def test_a_plot_title_ends_with_what_was_done_or_with_nothing(planted, tmp_path):
    t = embcli.load(str(planted))
    plain = t.project(["w001", "w002", "w003", "w004"])
    assert not plain.title.rstrip().endswith(",")
    centred = t.project(["w001", "w002", "w003", "w004"], center=True)
    assert centred.title.endswith(", centred")
