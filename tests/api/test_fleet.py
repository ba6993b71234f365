"""``embcli.api.fleet``: one question of many tables, in this process, a process pool or a Dask
cluster, each answer equal to the one-table method's; failures are that model's, never a wrong
number."""

from __future__ import annotations

import os
import signal
import time

import pytest

from embcli.api import Model
from embcli.api.fleet import Question, answer, ask_many, connect
from embcli.errors import EmbcliError, Interrupted, UsageProblem
from tests.cli.test_many_models import word_vectors
from tests.conftest import run_subprocess
from tests.static_models import tiny_model2vec

STATS = Question("stats", kwargs={"samples": 2000, "seed": 1})


@pytest.fixture(scope="module")
def tables(model_dirs, tmp_path_factory) -> list[str]:
    root = tmp_path_factory.mktemp("fleet_api")
    return [str(model_dirs[k]) for k in ("gpt2", "llama", "bert", "sharded")] + [
        str(tiny_model2vec(root / "static")),
        str(word_vectors(root / "words.vec")),
    ]


def one_by_one(specs: list[str], question: Question, cache: str) -> list[object]:
    """Each table's own answer, through the one-table API (the reference)."""
    out = []
    for spec in specs:
        table = Model(spec, cache_dir=cache).table()
        out.append(getattr(table, question.method)(*question.args, **question.kwargs).to_dict())
    return out


def test_serial_answers_are_the_one_table_answers(tables, tmp_path):
    cache = str(tmp_path / "c")
    seen: list[tuple[int, int, int]] = []
    result = ask_many(tables, STATS, cache_dir=cache, progress=lambda *a: seen.append(a))
    assert [a.model for a in result.answers] == tables
    assert [a.data for a in result.answers] == one_by_one(tables, STATS, cache)
    assert seen == [(n, len(tables), 0) for n in range(1, len(tables) + 1)]
    assert result.failed == [] and result.missed == []


def test_a_task_is_small_and_picklable(tables, tmp_path):
    """A task carries a reference and options, never a matrix; its answer pickles too."""
    import pickle

    ref = Model(tables[0]).ref
    task = pickle.dumps((ref, STATS, str(tmp_path)))
    assert len(task) < 1000
    back = pickle.loads(pickle.dumps(answer(ref, STATS, str(tmp_path / "c"))))
    assert back["data"] == one_by_one(tables[:1], STATS, str(tmp_path / "c"))[0]


def test_a_failing_model_is_its_error(tables, tmp_path):
    cache = str(tmp_path / "c")
    specs = [tables[0], str(tmp_path / "no-such-model-dir/"), tables[2]]
    notes: list[str] = []
    progress: list[tuple[int, int, int]] = []
    result = ask_many(specs, STATS, cache_dir=cache, notice=notes.append,
                      progress=lambda *a: progress.append(a))  # fmt: skip
    assert [a.model for a in result.failed] == [specs[1]]
    assert result.failed[0].error and any(n.startswith(specs[1] + ": ") for n in notes)
    good = [result.answers[0].data, result.answers[2].data]
    assert good == one_by_one([tables[0], tables[2]], STATS, cache)
    assert progress[-1] == (3, 3, 1)
    assert result.to_dict()[1] == {"model": specs[1], "error": result.failed[0].error}


def test_bad_arguments_are_said_before_anything_runs():
    with pytest.raises(UsageProblem, match="jobs"):
        ask_many(["x"], STATS, jobs=0)
    with pytest.raises(UsageProblem, match="no models"):
        ask_many([], STATS)
    with pytest.raises(UsageProblem, match="cannot be asked"):
        ask_many(["x"], Question("export"))


def test_arguments_every_model_refuses_alike_are_one_usage_problem(tables, tmp_path):
    cache = str(tmp_path / "c")
    bad = Question("neighbors", ("#3",), {"k": -3})
    with pytest.raises(UsageProblem) as alone:
        Model(tables[0], cache_dir=cache).table().neighbors("#3", k=-3)
    notes: list[str] = []
    with pytest.raises(UsageProblem) as caught:
        ask_many(tables[:2], bad, cache_dir=cache, notice=notes.append)
    assert (str(caught.value), caught.value.param) == (str(alone.value), "k")
    assert notes == []  # said once, by the caller, not once per model
    narrow = Question("stats", kwargs={"samples": 50, "remove_pcs": 8})  # too many for words.vec
    mixed = ask_many([tables[0], tables[5]], narrow, cache_dir=cache, notice=notes.append)
    assert [a.error is None for a in mixed.answers] == [True, False]  # that model's, alone
    assert notes == [f"{tables[5]}: {mixed.answers[1].error}"]


def test_ctrl_c_says_which_models_answered(tables, tmp_path):
    def stop(done: int, total: int, failed: int) -> None:
        if done == 2:
            raise KeyboardInterrupt

    with pytest.raises(Interrupted) as caught:
        ask_many(tables[:4], STATS, cache_dir=str(tmp_path / "c"), progress=stop)
    assert str(caught.value) == (
        f"interrupted; 2 of 4 models answered ({tables[0]}, {tables[1]}); "
        f"not answered: {tables[2]}, {tables[3]}"
    )


@pytest.mark.slow  # worker processes
def test_a_process_pool_gives_the_serial_answers(tables, tmp_path):
    cache = str(tmp_path / "c")
    pooled = ask_many(tables, STATS, cache_dir=cache, jobs=2)
    assert [a.model for a in pooled.answers] == tables
    assert [a.data for a in pooled.answers] == one_by_one(tables, STATS, cache)
    assert [a.view for a in pooled.answers] == [
        a.view for a in ask_many(tables, STATS, cache_dir=cache).answers
    ]


@pytest.mark.slow  # a Dask cluster of two worker processes
def test_a_dask_cluster_gives_the_local_answers(cluster, tables, tmp_path):
    cache = str(tmp_path / "c")
    remote = ask_many(tables, STATS, cache_dir=cache, scheduler=cluster.scheduler_address)
    assert [a.model for a in remote.answers] == tables and remote.failed == []
    local = ask_many(tables, STATS, cache_dir=cache)
    assert [a.data for a in remote.answers] == [a.data for a in local.answers]
    assert [a.data for a in remote.answers] == one_by_one(tables, STATS, cache)
    # the CLI, on the same cluster: the same JSON as the serial run
    from tests.conftest import run_subprocess

    args = ["stats", *[x for t in tables for x in ("-m", t)], "--samples", "2000", "--seed", "1",
            "-f", "json", "--cache-dir", cache]  # fmt: skip
    on_cluster = run_subprocess(*args, "--scheduler", cluster.scheduler_address)
    serial = run_subprocess(*args)
    assert on_cluster.code == 0 and serial.code == 0, on_cluster.err
    assert on_cluster.out == serial.out


@pytest.mark.slow  # a Dask cluster, one of whose workers is killed mid-run
def test_a_worker_killed_mid_run_never_gives_a_wrong_number(cluster, tables, tmp_path):
    import distributed

    reference = one_by_one(tables, STATS, str(tmp_path / "reference"))
    with distributed.Client(cluster.scheduler_address, set_as_default=False) as watcher:
        pids = list(watcher.run(os.getpid).values())
    assert len(pids) == 2
    killed: list[int] = []

    def kill_one(done: int, total: int, failed: int) -> None:
        if not killed:  # after the first answer, while the others are being computed
            os.kill(pids[0], signal.SIGKILL)
            killed.append(pids[0])

    question = Question("stats", kwargs={"samples": 200_000, "seed": 1})
    reference = one_by_one(tables, question, str(tmp_path / "reference"))
    start = time.monotonic()
    result = ask_many(tables, question, cache_dir=str(tmp_path / "cold"),
                      scheduler=cluster.scheduler_address, progress=kill_one)  # fmt: skip
    assert killed and time.monotonic() - start < 240
    assert [a.model for a in result.answers] == tables
    for got, want in zip(result.answers, reference, strict=True):
        assert got.error is not None or got.data == want, got.model  # rescheduled: still right
    for failed in result.failed:  # what the cluster gave up on is named, with its cause
        assert failed.error


def test_an_unreachable_scheduler_is_one_line_quickly():
    pytest.importorskip("distributed")
    start = time.monotonic()
    with pytest.raises(EmbcliError) as caught:
        connect("tcp://127.0.0.1:1")
    assert time.monotonic() - start < 15
    line = caught.value.one_line()
    assert line.startswith("cannot reach the Dask scheduler at tcp://127.0.0.1:1")
    assert "\n" not in line


@pytest.mark.parametrize("address", ["bogus", "http://127.0.0.1:1", "", "tcp://host:port"])
def test_a_malformed_scheduler_address_is_refused_before_any_client(address, monkeypatch):
    distributed = pytest.importorskip("distributed")

    def no_client(*args: object, **kwargs: object) -> None:
        raise AssertionError("a client was made of a malformed address")

    monkeypatch.setattr(distributed, "Client", no_client)
    with pytest.raises(EmbcliError) as caught:
        connect(address)
    assert caught.value.one_line().startswith(f"not a Dask scheduler address: {address!r}: ")


def test_a_malformed_scheduler_address_is_one_line_on_the_cli(model_dirs):
    pytest.importorskip("distributed")
    specs = ["-m", str(model_dirs["gpt2"]), "-m", str(model_dirs["bert"])]
    res = run_subprocess("stats", *specs, "--scheduler", "bogus")
    assert res.code == 1
    assert res.err == (
        "embcli: not a Dask scheduler address: 'bogus': missing port number in address "
        "'bogus' (give tcp://HOST:8786)\n"
    )
    assert res.out == ""


def test_an_unexpected_error_is_that_models_error(tables, tmp_path, monkeypatch):
    """Not an embcli error (a bug, memory): in this process as in a worker, the model's error
    (its type and first line), and the others still answer."""
    from embcli.api import fleet

    real = fleet.answer

    def answer(ref, question, cache_dir):
        if ref.source == tables[1]:
            raise RuntimeError("boom\nsecond line")
        return real(ref, question, cache_dir)

    monkeypatch.setattr(fleet, "answer", answer)
    cache = str(tmp_path / "c")
    result = ask_many(tables[:3], STATS, cache_dir=cache)
    assert [a.error for a in result.answers] == [None, "RuntimeError: boom", None]
    expected = one_by_one([tables[0], tables[2]], STATS, cache)
    assert [result.answers[0].data, result.answers[2].data] == expected
