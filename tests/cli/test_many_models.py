"""Many models in one command: ``-m`` repeated or ``--models FILE``; each model's answer is the
one-model command's, byte for byte in JSON; a failing model is named and the others answer."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import run_subprocess
from tests.static_models import tiny_model2vec

WORDS = ["king", "queen", "man", "woman", "paris", "xylophone", "berlin", "the", "a", "cat", "dog"]


def word_vectors(path: Path, seed: int = 3) -> Path:
    """A small word2vec text file (header line, then a word and its numbers per line)."""
    rows = np.random.default_rng(seed).standard_normal((len(WORDS), 8)).astype(np.float32)
    lines = [f"{len(WORDS)} 8"] + [w + " " + " ".join(f"{x:.6g}" for x in r)
                                   for w, r in zip(WORDS, rows, strict=True)]  # fmt: skip
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def fleet(model_dirs, tmp_path_factory) -> list[str]:
    """Four tables of four kinds: a GPT-2 and a BERT checkpoint, a model2vec static model and
    a word-vector file."""
    root = tmp_path_factory.mktemp("fleet")
    static = tiny_model2vec(root / "static")
    vectors = word_vectors(root / "words.vec")
    return [str(model_dirs["gpt2"]), str(model_dirs["bert"]), str(static), str(vectors)]


def many(*specs: str) -> list[str]:
    return [a for s in specs for a in ("-m", s)]


QUESTIONS = {
    "info": [],
    "stats": ["--samples", "200", "--seed", "3"],
    "undertrained": ["-k", "3", "--table", "input", "--reference", "{reference}"],
    "neighbors": ["#3", "#5", "-k", "4"],
    "similarity": ["#1", "#2", "#4"],
    "analogy": ["#1", "#2", "#3", "-k", "2"],
}


@pytest.mark.parametrize("name", sorted(QUESTIONS))
def test_each_answer_is_the_one_model_answer_byte_for_byte(cli, fleet, name, tmp_path):
    (tmp_path / "unused.txt").write_text("#0\n#1\n")
    args = [a.format(reference=tmp_path / "unused.txt") for a in QUESTIONS[name]]
    if name == "undertrained":  # a word-vector file has no tokenizer to find unused tokens
        fleet = fleet[:3]
    res = cli(name, *many(*fleet), *args, "-f", "json")
    assert res.code == 0, res.err
    records = json.loads(res.out)
    assert records, name
    for spec in fleet:
        one = cli(name, "-m", spec, *args, "-f", "json")
        assert one.code == 0, one.err
        alone = json.loads(one.out)
        if isinstance(alone, dict) and "model" in alone:  # the record is the one-model JSON
            mine = [r for r in records if r["model"] == alone["model"]]
            assert len(mine) == 1
            assert json.dumps(mine[0], ensure_ascii=False, indent=2) + "\n" == one.out
        elif isinstance(alone, dict):  # the one-model JSON, with the model in front
            mine = [r for r in records if r["model"] == spec]
            assert len(mine) == 1 and next(iter(mine[0])) == "model"
            stripped = {k: v for k, v in mine[0].items() if k != "model"}
            assert json.dumps(stripped, ensure_ascii=False, indent=2) + "\n" == one.out
        else:  # each record of a list, with its model in front
            mine = [r for r in records if r["model"] == spec]
            assert len(mine) == len(alone)
            stripped = [{k: v for k, v in r.items() if k != "model"} for r in mine]
            assert json.dumps(stripped, ensure_ascii=False, indent=2) + "\n" == one.out
            assert all(next(iter(r)) == "model" for r in mine)


def test_records_come_in_the_order_given(cli, fleet):
    order = [fleet[2], fleet[0], fleet[3], fleet[1]]
    res = cli("neighbors", *many(*order), "#3", "-k", "2", "-f", "json")
    assert res.code == 0, res.err
    seen = list(dict.fromkeys(r["model"] for r in json.loads(res.out)))
    assert seen == order


def test_tsv_is_one_table_with_the_model_first(cli, fleet):
    res = cli("stats", *many(*fleet[:2]), "--samples", "100", "-f", "tsv")
    assert res.code == 0, res.err
    header, *rows = res.out.splitlines()
    assert header.split("\t")[0] == "model" and "effective rank" in header.split("\t")
    assert [r.split("\t")[0] for r in rows] == fleet[:2]
    assert all(len(r.split("\t")) == len(header.split("\t")) for r in rows)
    # neighbors: each model's rows, prefixed with its name, as the one-model TSV
    res = cli("neighbors", *many(*fleet), "#3", "-k", "3", "-f", "tsv")
    assert res.code == 0, res.err
    lines = res.out.splitlines()
    for spec in fleet:
        one = cli("neighbors", "-m", spec, "#3", "-k", "3", "-f", "tsv").out.splitlines()
        assert lines[0] == "model\t" + one[0]
        assert [x.partition("\t")[2] for x in lines[1:] if x.startswith(spec + "\t")] == one[1:]


def test_a_failing_model_is_named_and_the_others_answer(cli, fleet, tmp_path):
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text("{not json")
    specs = [fleet[0], str(broken), fleet[1]]
    res = cli("stats", *many(*specs), "--samples", "100", "-f", "json")
    assert res.code == 4, res.err
    records = json.loads(res.out)
    assert [r["model"] for r in records] == [
        json.loads(cli("info", "-m", fleet[0], "-f", "json").out)["model"],
        str(broken),
        json.loads(cli("info", "-m", fleet[1], "-f", "json").out)["model"],
    ]
    assert set(records[1]) == {"model", "error"} and records[1]["error"]
    for spec, rec in ((fleet[0], records[0]), (fleet[1], records[2])):
        one = cli("stats", "-m", spec, "--samples", "100", "-f", "json").out
        assert json.dumps(rec, ensure_ascii=False, indent=2) + "\n" == one
    err = res.err.strip().splitlines()
    assert any(line.startswith(f"embcli: {broken}: ") for line in err)
    assert err[-1] == f"embcli: 1 of 3 models failed: {broken}"
    assert "Traceback" not in res.err


def test_a_word_one_model_lacks_is_its_miss(cli, fleet):
    vectors, static = fleet[3], fleet[2]
    res = cli("neighbors", *many(vectors, static), "xylophone", "-k", "2", "-f", "json")
    one = cli("neighbors", "-m", vectors, "xylophone", "-k", "2", "-f", "json")
    alone = cli("neighbors", "-m", static, "xylophone", "-k", "2", "-f", "json")
    assert one.code == 0 and alone.code == 3  # not a token of the static model
    assert res.code == 3, res.err
    records = json.loads(res.out)
    mine = [{k: v for k, v in r.items() if k != "model"} for r in records if r["model"] == vectors]
    assert len(mine) == 1
    assert json.dumps(mine[0], ensure_ascii=False, indent=2) + "\n" == one.out
    missing = [r for r in records if r["model"] == static]
    assert len(missing) == 1 and set(missing[0]) == {"model", "unresolved"}
    assert f"embcli: {static}: " + missing[0]["unresolved"] in res.err


def test_models_file_and_stdin(cli, fleet, tmp_path, monkeypatch):
    listing = tmp_path / "models.txt"
    listing.write_text(f"# the fleet\n{fleet[0]}\n\n  {fleet[3]}  \n#\n")
    by_file = cli("neighbors", "--models", listing, "#2", "-k", "2", "-f", "json")
    by_m = cli("neighbors", *many(fleet[0], fleet[3]), "#2", "-k", "2", "-f", "json")
    assert by_file.code == 0 and by_file.out == by_m.out
    # -m first, then the file's models
    both = cli("neighbors", "-m", fleet[1], "--models", listing, "#2", "-k", "1", "-f", "json")
    assert [r["model"] for r in json.loads(both.out)] == [fleet[1], fleet[0], fleet[3]]
    import io
    import sys

    monkeypatch.setattr(sys, "stdin", io.StringIO(f"{fleet[0]}\n{fleet[3]}\n"))
    by_stdin = cli("neighbors", "--models", "-", "#2", "-k", "2", "-f", "json")
    assert by_stdin.code == 0 and by_stdin.out == by_m.out
    # a byte-order mark and a model commented out ("#spec": no spec starts with #) are skipped
    marked = tmp_path / "marked.txt"
    marked.write_bytes(f"\ufeff{fleet[0]}\n#{fleet[1]}\n{fleet[3]}\n".encode())
    by_marked = cli("neighbors", "--models", marked, "#2", "-k", "2", "-f", "json")
    assert by_marked.code == 0 and by_marked.out == by_m.out, by_marked.err
    # a listing of one model still answers in the many-model form (a model column)
    (tmp_path / "one.txt").write_text(fleet[0] + "\n")
    single = cli("neighbors", "--models", tmp_path / "one.txt", "#2", "-k", "1", "-f", "tsv")
    assert single.code == 0 and single.out.startswith("model\t")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--models", "{empty}"], "names no model"),
        (["--models", "{nowhere}"], "nowhere"),
        (["--plot", "{txt}"], "cannot write p.txt"),
        (["--jobs", "0"], "--jobs"),
    ],
)
def test_bad_many_model_input_is_one_line(cli, fleet, tmp_path, args, message):
    (tmp_path / "empty.txt").write_text("# nothing\n\n")
    paths = {"empty": tmp_path / "empty.txt", "nowhere": tmp_path / "nowhere.txt",
             "txt": tmp_path / "p.txt"}  # fmt: skip
    args = [a.format(**{k: str(v) for k, v in paths.items()}) for a in args]
    res = cli("stats", *many(*fleet[:2]), *args)
    assert res.code in (1, 2), res.err
    assert message in res.err and len(res.err.strip().splitlines()) == 1, res.err
    assert not (tmp_path / "p.txt").exists()


def test_models_stdin_beside_another_stdin_input_is_refused(cli, fleet):
    res = cli("similarity", "--models", "-", "--pairs", "-")
    assert res.code == 2 and "--models - reads stdin" in res.err


@pytest.mark.parametrize(
    "args",
    [
        ["tokenize", "the king"],
        ["export", "out.txt"],
        ["positions"],
        ["plot", "king", "queen"],
        ["sentences", "the king"],
    ],
)
def test_repeated_model_on_a_one_model_command_is_refused(cli, fleet, args):
    for given in (many(fleet[0], fleet[1]) + args, [*args[:1], *many(fleet[0], fleet[1]),
                                                     *args[1:]]):  # fmt: skip
        res = cli(*given)
        assert res.code == 2, (given, res.err)
        assert res.err.strip().splitlines()[0].startswith("embcli: --model was given 2 times")
        assert len(res.err.strip().splitlines()) == 1 and res.out == ""


def test_one_model_is_answered_as_before(cli, fleet):
    """A single -m: no model column, the one-model output (the tests of each command hold its
    bytes); --jobs changes nothing."""
    plain = cli("stats", "-m", fleet[0], "--samples", "100", "-f", "tsv")
    jobs = cli("stats", "-m", fleet[0], "--samples", "100", "-f", "tsv", "--jobs", "2")
    assert plain.code == 0 and plain.out == jobs.out
    assert not plain.out.startswith("model\t") and plain.out.startswith("rows x dim\t")


def test_interrupt_says_which_models_answered(cli, fleet, monkeypatch):
    from embcli.api import fleet as fleet_api

    real = fleet_api.answer
    calls = []

    def answer(ref, question, cache_dir):
        if calls:
            raise KeyboardInterrupt
        calls.append(ref.source)
        return real(ref, question, cache_dir)

    monkeypatch.setattr(fleet_api, "answer", answer)
    res = cli("stats", *many(*fleet[:3]), "--samples", "100")
    assert res.code == 130
    assert res.err.strip() == (
        f"embcli: interrupted; 1 of 3 models answered ({fleet[0]}); "
        f"not answered: {fleet[1]}, {fleet[2]}"
    )
    assert res.out == ""


@pytest.mark.slow  # worker processes
def test_jobs_give_the_serial_answers(cli, fleet):
    args = ["--samples", "300", "-f", "json"]
    serial = cli("stats", *many(*fleet), *args)
    pooled = cli("stats", *many(*fleet), *args, "--jobs", "2")
    assert serial.code == 0 and pooled.code == 0, pooled.err
    assert pooled.out == serial.out


@pytest.mark.slow  # a process
def test_an_unreachable_scheduler_is_one_line_and_quick(fleet):
    start = time.monotonic()
    res = run_subprocess("stats", *many(*fleet[:2]), "--scheduler", "tcp://127.0.0.1:1")
    took = time.monotonic() - start
    assert res.code == 1, res.err
    lines = res.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        "embcli: cannot reach the Dask scheduler at tcp://127.0.0.1:1"
    ), res.err
    assert res.out == "" and took < 20
    # the environment names it too
    env = {"DASK_SCHEDULER_ADDRESS": "tcp://127.0.0.1:1"}
    res = run_subprocess("info", *many(*fleet[:2]), env=env)
    assert res.code == 1 and "tcp://127.0.0.1:1" in res.err


@pytest.mark.slow  # worker processes, a real SIGINT
@pytest.mark.parametrize("signals", [1, 2], ids=["once", "twice"])
def test_ctrl_c_with_a_pool_cancels_and_ends_the_workers(tmp_path, signals):
    """Ctrl-C once, or twice (as ``timeout -s INT`` does: to the process, then its group)."""
    import os
    import signal
    import subprocess
    import sys

    rng = np.random.default_rng(5)
    specs = []
    for n in range(4):
        path = tmp_path / f"words{n}.txt"
        rows = rng.standard_normal((60_000, 50)).astype(np.float32)
        with path.open("w") as fh:
            for i, row in enumerate(rows):
                fh.write(f"w{n}x{i} " + " ".join(f"{x:.5f}" for x in row) + "\n")
        specs.append(str(path))
    cache = tmp_path / "cache"
    proc = subprocess.Popen(
        [sys.executable, "-m", "embcli", "stats", *many(*specs), "--jobs", "2", "-f", "json"],
        env={**os.environ, "EMBCLI_CACHE": str(cache)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    children: set[int] = set()
    deadline = time.monotonic() + 120
    while len(children) < 2 or not cache.exists():  # the workers have started reading
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline
        for task in Path(f"/proc/{proc.pid}/task").iterdir():
            text = (task / "children").read_text().split()
            children |= {int(c) for c in text}
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    said = ""
    if signals == 2:  # again once the line is said: the process is exiting, joining the pool
        said = proc.stderr.readline() if proc.stderr else ""
        while said and "interrupted" not in said:
            said = proc.stderr.readline() if proc.stderr else ""
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    err = said + err
    assert proc.returncode == 130, err
    last = err.strip().splitlines()[-1]
    assert last.startswith("embcli: interrupted; ") and "of 4 models answered" in last, err
    assert "Traceback" not in err and "Exception ignored" not in err and out == ""

    def alive(pid: int) -> bool:
        status = Path(f"/proc/{pid}/status")
        try:
            return "\nState:\tZ" not in status.read_text()
        except FileNotFoundError:
            return False

    end = time.monotonic() + 10
    while any(alive(p) for p in children) and time.monotonic() < end:
        time.sleep(0.1)
    assert not any(alive(p) for p in children), "a worker outlived the command"


def test_progress_shows_models_done_and_failures(monkeypatch):
    """On a terminal the bar counts models answered of all and says the failures so far."""
    import sys

    from embcli.cli import progress

    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    report = progress.fleet_progress(3)
    assert report is not None
    bar = progress._OPEN[-1]
    task = bar._bar.tasks[0]
    assert (task.completed, task.total, task.description) == (0, 3, "Models")
    report(1, 3, 0)
    report(2, 3, 1)
    task = bar._bar.tasks[0]
    assert (task.completed, task.description) == (2, "Models (1 failed)")
    report(3, 3, 1)  # done: the bar goes away
    assert bar._bar is None and bar not in progress._OPEN
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False, raising=False)
    assert progress.fleet_progress(3) is None
