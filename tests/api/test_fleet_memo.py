"""Many models' answers kept in their cache entries (:mod:`embcli.api.fleet_memo`): a rerun
gives the same answer without asking the question again; another question, a changed
reference file, a damaged memo or a cleared entry is answered afresh."""

from __future__ import annotations

import json
import os

import pytest

from embcli.api import fleet_memo
from embcli.api.fleet import Question, ask_many
from embcli.api.table import Table
from tests.static_models import tiny_model2vec


@pytest.fixture
def specs(model_dirs, tmp_path) -> list[str]:
    return [str(model_dirs["gpt2"]), str(tiny_model2vec(tmp_path / "static"))]


@pytest.fixture
def asked(monkeypatch):
    """How many times each Table question was really asked."""
    calls: list[str] = []
    for name in ("stats", "undertrained", "neighbors"):
        real = getattr(Table, name)

        def counted(self, *args, _real=real, _name=name, **kwargs):
            calls.append(_name)
            return _real(self, *args, **kwargs)

        monkeypatch.setattr(Table, name, counted)
    return calls


def memos(cache) -> list[str]:
    return sorted(p.name for p in cache.rglob("memo-answer-*.json"))


def test_a_rerun_is_the_same_answer_without_asking(specs, tmp_path, asked):
    cache = tmp_path / "cache"
    question = Question("stats", kwargs={"samples": 300, "seed": 2})
    first = ask_many(specs, question, cache_dir=str(cache))
    assert asked == ["stats", "stats"] and len(memos(cache)) == 2
    again = ask_many(specs, question, cache_dir=str(cache))
    assert asked == ["stats", "stats"]  # not asked again
    assert json.dumps(again.to_dict()) == json.dumps(first.to_dict())
    assert again.view() == first.view()
    # in Python too: the same values of the same types (tuples stay tuples)
    assert [(a.data, a.view, a.missed) for a in again.answers] == [
        (a.data, a.view, a.missed) for a in first.answers
    ]
    # another question (another seed) is asked, and kept beside the first
    ask_many(specs, Question("stats", kwargs={"samples": 300, "seed": 3}), cache_dir=str(cache))
    assert asked == ["stats"] * 4 and len(memos(cache)) == 4


def test_cheap_questions_and_vectors_are_not_kept(specs, tmp_path, asked):
    cache = tmp_path / "cache"
    for _ in range(2):
        ask_many(specs[:1], Question("neighbors", ("#3", 2)), cache_dir=str(cache))
    assert asked == ["neighbors", "neighbors"] and memos(cache) == []
    import numpy as np

    assert fleet_memo.question_key(Question("stats", kwargs={"v": np.zeros(3)})) is None


def test_a_changed_reference_file_is_asked_again(specs, tmp_path, asked):
    cache = tmp_path / "cache"
    reference = tmp_path / "unused.txt"
    reference.write_text("#0\n#1\n")
    question = Question("undertrained", (5,), {"reference": str(reference)})
    first = ask_many(specs[:1], question, cache_dir=str(cache))
    ask_many(specs[:1], question, cache_dir=str(cache))
    assert asked == ["undertrained"]
    reference.write_text("#0\n#1\n#2\n#3\n")
    os.utime(reference, ns=(1, 1))
    changed = ask_many(specs[:1], question, cache_dir=str(cache))
    assert asked == ["undertrained", "undertrained"]
    assert first.to_dict()[0]["reference"]["size"] == 2
    assert changed.to_dict()[0]["reference"]["size"] == 4


def test_a_damaged_memo_or_a_cleared_entry_is_asked_again(specs, tmp_path, asked):
    cache = tmp_path / "cache"
    question = Question("stats", kwargs={"samples": 100})
    first = ask_many(specs[:1], question, cache_dir=str(cache))
    (memo,) = cache.rglob("memo-answer-*.json")
    memo.write_text("{not json")
    again = ask_many(specs[:1], question, cache_dir=str(cache))
    assert asked == ["stats", "stats"] and again.to_dict() == first.to_dict()
    assert json.loads(memo.read_text())["key"] == fleet_memo.question_key(question)  # afresh
    from embcli.api.cache import clear_cache

    clear_cache(cache_dir=str(cache))
    assert memos(cache) == []
    ask_many(specs[:1], question, cache_dir=str(cache))
    assert asked == ["stats"] * 3


def test_the_command_prints_the_same_bytes_from_a_kept_answer(cli, specs, tmp_path):
    cache = tmp_path / "cache"
    args = ["stats", "-m", specs[0], "-m", specs[1], "--samples", "200", "--cache-dir", cache]
    for fmt in ("json", "tsv", "table"):
        cold = cli(*args, "-f", fmt)
        warm = cli(*args, "-f", fmt)
        assert cold.code == warm.code == 0 and warm.out == cold.out, fmt
        for memo in cache.rglob("memo-answer-*.json"):
            memo.unlink()
