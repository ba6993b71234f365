"""``compare -m A --against B --against C`` (``embcli.api.pairs.compare_many``): each pair a task on
the many-table executor, each answer equal to the one-pair ``compare``'s, a failing pair that
pair's error."""

from __future__ import annotations

import json

import pytest

from embcli.api import Model
from embcli.api.pairs import compare_many
from embcli.errors import UsageProblem

OPTIONS = {"k": 5, "sample": 0}


@pytest.fixture
def specs(model_dirs) -> dict[str, str]:
    return {k: str(model_dirs[k]) for k in ("llama", "gpt2", "bert", "sharded")}


def one_pair(a: str, b: str, cache: str) -> dict:
    return Model(a, cache_dir=cache).compare(b, **OPTIONS).to_dict()


def test_each_pair_is_the_one_pair_answer(specs, tmp_path):
    cache = str(tmp_path / "c")
    others = [specs["gpt2"], specs["bert"], specs["sharded"]]
    seen: list[tuple[int, int, int]] = []
    result = compare_many(specs["llama"], others, cache_dir=cache,
                          progress=lambda *a: seen.append(a), **OPTIONS)  # fmt: skip
    assert [a.model for a in result.answers] == others and result.failed == []
    assert [a.data for a in result.answers] == [one_pair(specs["llama"], b, cache) for b in others]
    assert seen[-1] == (3, 3, 0)
    records = result.to_dict()
    assert [r["model"] for r in records] == others
    assert {k: v for k, v in records[0].items() if k != "model"} == result.answers[0].data


def test_the_cli_gives_one_table_a_row_per_pair(specs, cli, tmp_path):
    cache = tmp_path / "c"
    args = ["-f", "json", "-k", "5", "--sample", "0", "--cache-dir", cache]
    res = cli("compare", "-m", specs["llama"], "--against", specs["gpt2"], "--against",
              specs["bert"], *args)  # fmt: skip
    assert res.code == 0, res.err
    records = json.loads(res.out)
    for rec, b in zip(records, [specs["gpt2"], specs["bert"]], strict=True):
        single = cli("compare", "-m", specs["llama"], "-m", b, *args)
        assert rec == {"model": b} | json.loads(single.out)
    table = cli("compare", "-m", specs["llama"], "--against", specs["gpt2"], "--against",
                specs["bert"], "--cache-dir", cache, "-f", "tsv")  # fmt: skip
    lines = table.out.strip().splitlines()
    assert lines[0].split("\t")[:3] == ["model", "A", "B"] and len(lines) == 3


def test_a_failing_pair_is_its_error_and_exit_4(specs, cli, tmp_path):
    missing = str(tmp_path / "no-such-model/")
    res = cli("compare", "-m", specs["llama"], "--against", missing, "--against", specs["gpt2"],
              "-f", "json", "-k", "5", "--sample", "0")  # fmt: skip
    assert res.code == 4, res.err
    records = json.loads(res.out)
    assert records[0]["model"] == missing and records[0]["error"]
    assert records[1] == {"model": specs["gpt2"]} | one_pair(
        specs["llama"], specs["gpt2"], str(tmp_path / "c")
    )
    assert res.err.strip().splitlines()[-1] == f"embcli: 1 of 2 pairs failed: {missing}"
    assert "Traceback" not in res.err


def test_bad_uses_are_one_line(specs, cli, tmp_path):
    res = cli("compare", "-m", specs["llama"], "-m", specs["gpt2"], "--against", specs["bert"])
    assert res.code == 2 and "give -m once" in res.err
    res = cli("compare", "-m", specs["llama"], "--against", specs["bert"], "--plot",
              tmp_path / "x.png")  # fmt: skip
    assert res.code == 2 and "--plot" in res.err and not (tmp_path / "x.png").exists()
    res = cli("compare", "-m", specs["llama"], "--against", specs["bert"], "--jobs", "0")
    assert res.code == 2 and "--jobs" in res.err
    res = cli("compare", "-m", specs["llama"], "--against", specs["bert"], "--jobs", "2",
              "--scheduler", "tcp://127.0.0.1:1")  # fmt: skip
    assert (res.code, res.out) == (2, "") and "cannot be used together" in res.err


def test_scheduler_for_one_pair_is_said_and_the_pair_compared_here(specs, cli):
    args = ["compare", "-m", specs["llama"], "-m", specs["gpt2"], "-f", "json"]
    plain = cli(*args)
    typed = cli(*args, "--scheduler", "tcp://127.0.0.1:1")  # no cluster there: not asked
    assert plain.code == 0, plain.err
    assert (typed.code, typed.out) == (0, plain.out)
    assert typed.err == plain.err + (
        "embcli: --scheduler is not used: one pair is compared in this process\n"
    )
    with pytest.raises(UsageProblem, match="plot"):
        compare_many(specs["llama"], [specs["bert"]], plot="x.png")
    with pytest.raises(UsageProblem, match="no tables"):
        compare_many(specs["llama"], [])


@pytest.mark.slow  # worker processes
def test_a_process_pool_gives_the_serial_answers(specs, tmp_path):
    cache = str(tmp_path / "c")
    others = [specs["gpt2"], specs["bert"], specs["sharded"]]
    pooled = compare_many(specs["llama"], others, cache_dir=cache, jobs=2, **OPTIONS)
    serial = compare_many(specs["llama"], others, cache_dir=cache, **OPTIONS)
    assert [a.data for a in pooled.answers] == [a.data for a in serial.answers]
    assert [a.view for a in pooled.answers] == [a.view for a in serial.answers]


def test_a_dask_cluster_gives_the_serial_answers(cluster, specs, tmp_path):
    cache = str(tmp_path / "c")
    others = [specs["gpt2"], specs["bert"]]
    remote = compare_many(specs["llama"], others, cache_dir=cache,
                          scheduler=cluster.scheduler_address, **OPTIONS)  # fmt: skip
    assert remote.failed == []
    assert [a.data for a in remote.answers] == [one_pair(specs["llama"], b, cache) for b in others]
