"""Many models for ``size``, ``weat`` and ``axis`` (``-m`` repeated, ``--models FILE``), and
``--plot`` across models: each model's answer is the one-model command's, byte for byte in
JSON; a failing model is named and the others answer (exit 4); a word a model lacks is its miss
(exit 3). The pictures' numbers are checked in tests/draw/test_fleet_plots.py."""

from __future__ import annotations

import json

import pytest

from tests.cli.test_many_models import word_vectors
from tests.static_models import tiny_model2vec


@pytest.fixture(scope="module")
def fleet(model_dirs, tmp_path_factory) -> list[str]:
    """GPT-2 and BERT checkpoints, a model2vec static model and a word-vector file."""
    root = tmp_path_factory.mktemp("fleet-more")
    static = tiny_model2vec(root / "static")
    vectors = word_vectors(root / "words.vec")
    return [str(model_dirs["gpt2"]), str(model_dirs["bert"]), str(static), str(vectors)]


def many(*specs: str) -> list[str]:
    return [a for s in specs for a in ("-m", s)]


def dumped(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, indent=2) + "\n"


def same_as_alone(cli, name: str, records: list[dict], spec: str, args: list[str]) -> None:
    """``spec``'s records are the one-model JSON, byte for byte (``model`` first)."""
    one = cli(name, "-m", spec, *args, "-f", "json")
    assert one.code == 0, one.err
    alone = json.loads(one.out)
    mine = [r for r in records if r["model"] in (spec, alone.get("model") if isinstance(alone, dict)
                                                 else None)]  # fmt: skip
    assert mine and all(next(iter(r)) == "model" for r in mine)
    if isinstance(alone, dict) and "model" in alone:  # its own model key is the record's
        assert len(mine) == 1 and dumped(mine[0]) == one.out
    elif isinstance(alone, dict):
        assert len(mine) == 1 and dumped({k: v for k, v in mine[0].items() if k != "model"}) == (
            one.out
        )
    else:
        assert dumped([{k: v for k, v in r.items() if k != "model"} for r in mine]) == one.out


WEAT = ["--targets", "king,man", "queen,woman", "--attributes", "paris,berlin", "cat,dog",
        "--permutations", "20", "--pool", "mean", "--allow-missing"]  # fmt: skip
AXIS = ["--pairs", "king:queen,man:woman", "-k", "3"]


ASKED = [("weat", WEAT), ("axis", AXIS), ("axis", [*AXIS[:2], "--words", "cat,dog,the"])]


@pytest.mark.parametrize(("name", "args"), ASKED)
def test_weat_and_axis_answer_each_model_as_alone(cli, fleet, name, args):
    res = cli(name, *many(*fleet), *args, "-f", "json")
    assert res.code == 0, res.err
    records = json.loads(res.out)
    assert list(dict.fromkeys(r["model"] for r in records)) == fleet  # the order given
    for spec in fleet:
        same_as_alone(cli, name, records, spec, args)
    tsv = cli(name, *many(*fleet), *args, "-f", "tsv")
    header, *rows = tsv.out.splitlines()
    assert header.startswith("model\t")
    assert list(dict.fromkeys(r.split("\t")[0] for r in rows)) == fleet


def test_weat_all_is_a_record_per_model_and_test(cli, fleet):
    specs = [fleet[0], fleet[3]]
    args = ["--all", "--permutations", "10", "--pool", "mean", "--allow-missing"]
    res = cli("weat", *many(*specs), *args, "-f", "json")
    records = json.loads(res.out)
    for spec in specs:
        one = cli("weat", "-m", spec, *args, "-f", "json")
        assert res.code == one.code or one.code == 0, (res.err, one.err)
        mine = [{k: v for k, v in r.items() if k != "model"} for r in records
                if r["model"] == spec and set(r) != {"model", "unresolved"}]  # fmt: skip
        assert dumped(mine) == one.out
        # a test whose words the model lacks: said with its model, recorded as its miss
        for line in one.err.strip().splitlines():
            assert line.replace("embcli: ", f"embcli: {spec}: ", 1) in res.err


def test_a_word_one_model_lacks_is_its_miss(cli, fleet):
    vectors, static = fleet[3], fleet[2]
    args = ["--targets", "xylophone,king", "queen,woman", "--attributes", "paris,berlin",
            "cat,dog", "--permutations", "10"]  # fmt: skip
    alone = cli("weat", "-m", static, *args, "-f", "json")
    assert alone.code == 3  # not a word of the static model
    res = cli("weat", *many(vectors, static), *args, "-f", "json")
    assert res.code == 3, res.err
    records = json.loads(res.out)
    same_as_alone(cli, "weat", [r for r in records if r["model"] == vectors], vectors, args)
    missing = [r for r in records if r["model"] == static]
    assert len(missing) == 1 and set(missing[0]) == {"model", "unresolved"}
    assert alone.err.strip() == "embcli: " + missing[0]["unresolved"]
    assert f"embcli: {static}: {missing[0]['unresolved']}" in res.err


def test_a_failing_model_among_good_ones(cli, fleet, tmp_path):
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text("{not json")
    for name, args in (("axis", AXIS), ("weat", WEAT), ("size", [])):
        specs = [fleet[0], str(broken), fleet[1]]
        res = cli(name, *many(*specs), *args, "-f", "json")
        assert res.code == 4, (name, res.err)
        records = json.loads(res.out)
        bad = [r for r in records if r["model"] == str(broken)]
        assert len(bad) == 1 and set(bad[0]) == {"model", "error"} and bad[0]["error"]
        for spec in (fleet[0], fleet[1]):
            same_as_alone(cli, name, records, spec, args)
        err = res.err.strip().splitlines()
        assert f"embcli: {broken}: {bad[0]['error']}" in err
        assert err[-1] == f"embcli: 1 of 3 models failed: {broken}"
        assert "Traceback" not in res.err


def test_size_takes_many_models_as_the_others_do(cli, fleet, tmp_path):
    specs = fleet[:2]
    res = cli("size", *many(*specs), "-f", "json")
    assert res.code == 0, res.err
    records = json.loads(res.out)
    assert [r["model"] for r in records] == specs
    for spec, record in zip(specs, records, strict=True):
        one = cli("size", "-m", spec, "-f", "json")
        assert one.code == 0 and dumped(record) == one.out
        assert cli("size", spec, "-f", "json").out == one.out  # -m once: as an argument
    # the records are those `size A B` gives (positional models, one report)
    assert json.loads(cli("size", *specs, "-f", "json").out) == records
    listing = tmp_path / "models.txt"
    listing.write_text("\n".join(specs) + "\n")
    assert cli("size", "--models", listing, "-f", "json").out == res.out
    # TSV: the exact integers, a model column first, as `size A B` prints them
    tsv = cli("size", *many(*specs), "-f", "tsv")
    assert tsv.out == cli("size", *specs, "-f", "tsv").out
    # the what-if table comes first, as with positional models
    what = cli("size", *many(*specs), "--vocab", "1000", "--dim", "64", "-f", "json")
    assert json.loads(what.out) == json.loads(
        cli("size", *specs, "--vocab", "1000", "--dim", "64", "-f", "json").out
    )


def test_size_refuses_models_two_ways(cli, fleet):
    res = cli("size", fleet[0], "-m", fleet[1])
    assert res.code == 2 and "not both" in res.err and len(res.err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["axis", *AXIS, "--plot", "{png}"], "--plot draws one model's table"),
        (["similarity", "#1", "#2", "--plot", "{png}"], "No such option"),
        (["stats", "--plot", "{txt}"], "cannot write p.txt"),
        (["info", "--plot", "{png}"], "No such option"),
    ],
)
def test_plot_is_refused_where_there_is_no_comparison_picture(cli, fleet, tmp_path, args,
                                                               message):  # fmt: skip
    paths = {"png": str(tmp_path / "p.png"), "txt": str(tmp_path / "p.txt")}
    res = cli(args[0], *many(*fleet[:2]), *[a.format(**paths) for a in args[1:]])
    assert res.code == 2, res.err
    assert message in res.err and res.out == ""
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("name", ["neighbors", "undertrained", "size"])
def test_plot_of_one_model_only_where_one_model_draws(cli, fleet, tmp_path, name):
    args = {"neighbors": ["#3"], "undertrained": [], "size": []}[name]
    res = cli(name, "-m", fleet[0], *args, "--plot", tmp_path / "p.png")
    assert res.code == 2 and "--plot draws several models" in res.err, res.err
    assert not (tmp_path / "p.png").exists()


@pytest.mark.parametrize(
    ("name", "args"),
    [
        ("stats", ["--samples", "100"]),
        ("neighbors", ["#3", "#5", "-k", "4"]),
        ("undertrained", ["--table", "input", "-k", "0"]),
        ("size", []),
    ],
)
def test_plot_across_models_writes_the_picture(cli, fleet, tmp_path, name, args):
    specs = fleet[:2] if name in ("undertrained", "size") else fleet
    out = tmp_path / "fleet.png"
    res = cli(name, *many(*specs), *args, "--plot", out, "-f", "json")
    plain = cli(name, *many(*specs), *args, "-f", "json")
    assert out.read_bytes().startswith(b"\x89PNG")
    assert res.out == plain.out and res.code == plain.code
    assert f"embcli: wrote {out}" in res.err


def test_when_every_model_fails_each_error_is_its_row(cli, tmp_path):
    gone = [str(tmp_path / "no-such-a"), str(tmp_path / "no-such-b")]
    res = cli("stats", "-m", gone[0], "-m", gone[1], "-f", "tsv")
    assert res.code == 4, res.err
    lines = res.out.splitlines()
    assert lines[0] == "model\terror"
    rows = [line.split("\t") for line in lines[1:]]
    assert [r[0] for r in rows] == gone
    for spec, row in zip(gone, rows, strict=True):
        assert len(row) == 2 and row[1].startswith("error: ")
        assert f"embcli: {spec}: {row[1].removeprefix('error: ')}" in res.err
    table = cli("stats", "-m", gone[0], "-m", gone[1], "-f", "table")
    assert table.code == 4 and "internal error" not in table.err, table.err
    assert table.out.count("error:") == 2  # the terminal table (paths may wrap)


def test_when_every_model_misses_the_word_each_miss_is_its_row(cli, fleet):
    vectors, static = fleet[3], fleet[2]
    res = cli("neighbors", *many(vectors, static), "zzqqx", "-k", "2", "-f", "tsv")
    assert res.code == 3, res.err
    lines = res.out.splitlines()
    assert lines[0] == "model\tunresolved"
    rows = [line.split("\t") for line in lines[1:]]
    assert [r[0] for r in rows] == [vectors, static]
    for spec, row in zip((vectors, static), rows, strict=True):
        alone = cli("neighbors", "-m", spec, "zzqqx", "-k", "2")
        assert alone.code == 3
        assert row[1] == "unresolved: " + alone.err.strip().removeprefix("embcli: ")


BAD_ARGUMENTS = [
    ["neighbors", "#3", "-k", "-3"],
    ["stats", "--samples", "1"],
    ["axis", "--pairs", "man:woman"],
    ["weat", "nosuchtest"],
    ["similarity", "#1"],
    ["neighbors"],
]


@pytest.mark.parametrize("args", BAD_ARGUMENTS, ids=lambda a: " ".join(a))
def test_bad_arguments_are_said_once_as_the_one_model_command_says_them(cli, fleet, args):
    one = cli(*args, "-m", fleet[0])
    assert one.code == 2 and one.err.count("\n") == 1, one.err
    res = cli(*args, *many(fleet[0], fleet[1]))
    assert (res.code, res.out, res.err) == (2, "", one.err)
    threads = cli(*args, *many(fleet[0], fleet[1]), "--jobs", "2")
    assert (threads.code, threads.out, threads.err) == (2, "", one.err)


def test_a_usage_problem_of_one_model_only_stays_that_models_error(cli, fleet):
    vectors = fleet[3]  # 8 numbers a row: 8 components cannot be removed from it
    args = ["stats", "--remove-pcs", "8", "--samples", "50", "-f", "json"]
    alone = cli(*args, "-m", vectors)
    assert alone.code == 2
    res = cli(*args, *many(fleet[0], vectors))
    assert res.code == 4, res.err
    records = json.loads(res.out)
    assert records[1] == {"model": vectors, "error": records[1]["error"]}
    assert f"embcli: {vectors}: {records[1]['error']}" in res.err
    assert dumped(records[0]) == cli(*args, "-m", fleet[0]).out


def test_stats_of_tables_of_different_widths_share_its_columns(cli, fleet, minilm_dir):
    """The default number of components removed follows the width (1 at 32, 4 at 384): it is
    in the value, so both tables fill one column, and the TSV's column names are unpadded."""
    args = ["stats", *many(fleet[0], str(minilm_dir)), "--samples", "50"]
    records = json.loads(cli(*args, "-f", "json").out)
    assert [r["anisotropy"]["removed_pcs"] for r in records] == [1, 4]
    res = cli(*args, "-f", "tsv")
    assert res.code == 0, res.err
    header, *rows = [line.split("\t") for line in res.out.splitlines()]
    assert header == [name.strip() for name in header] and len(set(header)) == len(header)
    removed = [row[header.index("top PCs removed")] for row in rows]
    after = [r["anisotropy"]["after_removal"] for r in records]
    assert removed == [f"{a['mean']:.4f}  (95% CI {a['ci95'][0]:.4f} to {a['ci95'][1]:.4f}; {n})"
                       for a, n in zip(after, ["1 PC", "4 PCs"], strict=True)]  # fmt: skip


def test_scheduler_with_one_model_is_said_and_the_model_answered_here(cli, fleet, monkeypatch):
    args = ["stats", "-m", fleet[0], "--samples", "50", "-f", "json"]
    plain = cli(*args)
    typed = cli(*args, "--scheduler", "tcp://127.0.0.1:1")  # no cluster there: not asked
    assert (typed.code, typed.out) == (0, plain.out)
    assert typed.err == "embcli: --scheduler is not used: one model is answered in this process\n"
    monkeypatch.setenv("DASK_SCHEDULER_ADDRESS", "tcp://127.0.0.1:1")
    from_env = cli(*args)  # set for a whole session: one-model commands stay quiet
    assert (from_env.code, from_env.out, from_env.err) == (0, plain.out, plain.err)


def test_scheduler_and_jobs_together_are_refused(cli, fleet):
    for before, after in (([], ["--jobs", "2"]), (["-j", "2"], [])):
        res = cli(*before, "stats", *many(fleet[0], fleet[1]), "--scheduler",
                  "tcp://127.0.0.1:1", *after)  # fmt: skip
        assert (res.code, res.out) == (2, "")
        assert res.err.startswith("embcli: --scheduler and --jobs cannot be used together (")


def test_each_commands_jobs_help_says_what_its_jobs_run(cli, monkeypatch):
    monkeypatch.setenv("COLUMNS", "400")
    said = {}
    for name in ("stats", "info", "compare", "history"):
        res = cli(name, "--help")
        assert res.code == 0
        said[name] = " ".join(line.strip(" │") for line in res.out.splitlines() if "--jobs" in line)
    for name in ("stats", "info", "compare"):  # a process pool
        assert "worker process" in said[name] and "not with --scheduler" in said[name], said
    assert "threads of this process" in said["history"], said  # a thread pool
