"""``embcli history`` against float64 references, on a run whose learning schedule is planted.

The run (``tests.models.training_run``): a table moving from random rows to GloVe's vectors,
frequent words first, saved as safetensors and as ``torch.save`` zip files. Every number is
recomputed here in float64 numpy from the saved tables, as the issue defines it.
"""

from __future__ import annotations

import itertools
import json
import threading

import numpy as np
import pytest
from scipy.linalg import orthogonal_procrustes

import embcli
from embcli.ask.history import quartiles, settle_index
from embcli.read.checkpoints import Checkpoint, choose, log_spaced, ordered, step_of
from tests import models

STEPS = [0, 10, 20, 40, 80, 160, 320, 640, 1280, 2560, 5120]
BIN_STEPS = (40, 640, 5120)
WORDS = ["the", "city", "london", "said"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("run")
    _, tokens, tables = models.training_run(root, STEPS, bin_steps=BIN_STEPS)
    cache = tmp_path_factory.mktemp("cache")
    notices: list[str] = []
    result = embcli.history(str(root / "checkpoint-*"), words=WORDS, sample=300, cache_dir=cache,
                            notice=notices.append)  # fmt: skip
    return {"root": root, "tokens": tokens, "tables": tables, "result": result, "cache": cache,
            "notices": notices}  # fmt: skip


# -- float64 references, written from the definitions -------------------------------------------


def unit64(x):
    x = np.asarray(x, np.float64)
    n = np.linalg.norm(x, axis=1, keepdims=True)
    return np.divide(x, n, out=np.zeros_like(x), where=n > 0)


def ref_cka(a, b):
    xa, xb = unit64(a), unit64(b)
    xa, xb = xa - xa.mean(0), xb - xb.mean(0)
    num = np.linalg.norm(xa.T @ xb) ** 2
    return num / (np.linalg.norm(xa.T @ xa) * np.linalg.norm(xb.T @ xb))


def ref_procrustes_cos(a, b):
    pa, pb = unit64(a), unit64(b)
    pa, pb = unit64(pa - pa.mean(0)), unit64(pb - pb.mean(0))
    rotation, _ = orthogonal_procrustes(pa, pb)
    mapped = pa @ rotation
    cos = np.einsum("ij,ij->i", unit64(mapped), pb)
    return cos.mean()


def ref_lists(table, rows, k=10):
    u = unit64(table)
    out = []
    for r in rows:
        sims = u @ u[r]
        sims[r] = -np.inf
        out.append(np.lexsort((np.arange(len(sims)), -sims))[:k])
    return np.array(out)


def ref_jaccard(a, b):
    return np.array(
        [len(set(x) & set(y)) / len(set(x) | set(y)) for x, y in zip(a, b, strict=True)]
    )


def ref_settle(tables, rows):
    """First checkpoint from which the top-10 list keeps Jaccard >= 0.5 with the last's."""
    lists = [ref_lists(tables[s], rows) for s in STEPS]
    out = []
    for w in range(len(rows)):
        scores = [
            ref_jaccard(lists[t][w : w + 1], lists[-1][w : w + 1])[0] for t in range(len(STEPS))
        ]
        first = len(STEPS) - 1
        while first > 0 and scores[first - 1] >= 0.5:
            first -= 1
        out.append(STEPS[first])
    return out


# -- the run ---------------------------------------------------------------------------------------


def test_checkpoints_are_ordered_by_step_from_a_glob(run):
    result = run["result"]
    assert [c.step for c in result.checkpoints] == STEPS  # the glob sorts them 0, 10, 1280...
    assert [c.revision for c in result.checkpoints] == [f"checkpoint-{s}" for s in STEPS]
    assert result.failed == [] and all(c.excluded is None for c in result.checkpoints)


def test_cka_and_procrustes_equal_float64_numpy(run):
    tables, result = run["tables"], run["result"]
    last = tables[STEPS[-1]]
    for i, c in enumerate(result.checkpoints):
        t = tables[c.step]
        assert c.drift_last["cka"] == pytest.approx(ref_cka(t, last), abs=1e-6)
        assert c.drift_last["procrustes_cos"] == pytest.approx(
            ref_procrustes_cos(t, last), abs=1e-6
        )
        if i == 0:
            assert c.drift_prev is None
            continue
        prev = tables[STEPS[i - 1]]
        assert c.drift_prev["cka"] == pytest.approx(ref_cka(t, prev), abs=1e-6)
        assert c.drift_prev["procrustes_cos"] == pytest.approx(
            ref_procrustes_cos(t, prev), abs=1e-6
        )
    # the planted schedule: each checkpoint is closer to the last than the one before
    cka_last = [c.drift_last["cka"] for c in result.checkpoints]
    assert all(b > a for a, b in itertools.pairwise(cka_last[:-1]))


def test_neighbour_drift_equals_float64_lists_of_the_sample(run):
    tables, result = run["tables"], run["result"]
    rows = result.sample_ids
    assert len(rows) == 300 and result.sample["size"] == 300
    lists = {s: ref_lists(tables[s], rows) for s in STEPS}
    for i, c in enumerate(result.checkpoints):
        expected = ref_jaccard(lists[c.step], lists[STEPS[-1]]).mean()
        assert c.drift_last["jaccard"] == pytest.approx(expected, abs=1e-12)
        if i:
            expected = ref_jaccard(lists[c.step], lists[STEPS[i - 1]]).mean()
            assert c.drift_prev["jaccard"] == pytest.approx(expected, abs=1e-12)


def test_statistics_are_those_of_stats(run, tmp_path):
    for c in run["result"].checkpoints[::5]:
        table = embcli.load(str(run["root"] / c.revision), cache_dir=run["cache"])
        stats = table.stats()
        assert c.stats["anisotropy"] == pytest.approx(stats.anisotropy["raw"]["mean"], rel=1e-12)
        assert c.stats["effective_rank"] == pytest.approx(stats.effective_rank, rel=1e-12)
        assert c.stats["isotropy"] == pytest.approx(stats.isotropy, rel=1e-12)
        raw = run["tables"][c.step].astype(np.float64)
        assert c.stats["mean_norm"] == pytest.approx(np.linalg.norm(raw, axis=1).mean(), rel=1e-6)


def test_planted_words_settle_where_the_rule_says(run):
    result, tokens = run["result"], run["tokens"]
    rows = [tokens.index(w) for w in WORDS]
    assert [w.id for w in result.words] == rows
    assert [w.settle_step for w in result.words] == ref_settle(run["tables"], rows)
    # frequent words first, as planted: "the" (row 1) before "london" (row 506)
    steps = {w.word: w.settle_step for w in result.words}
    assert steps["the"] < steps["city"] < steps["london"]
    # each step's neighbours are the float64 top-k
    first = result.words[0]
    for rec in first.steps:
        ids = [n["id"] for n in rec["neighbors"]]
        assert ids == ref_lists(run["tables"][rec["step"]], [rows[0]])[0].tolist()


def test_sample_settles_by_quartile_of_row_id_frequent_first(run):
    result = run["result"]
    quarters = result.sample["settle_by_quartile"]
    assert [q["quartile"] for q in quarters] == [1, 2, 3, 4]
    assert sum(q["words"] for q in quarters) == 300
    medians = [q["median_settle_step"] for q in quarters]
    assert medians == sorted(medians) and medians[0] < medians[-1]
    expected = ref_settle(run["tables"], result.sample_ids)
    steps = np.array(STEPS)[result.sample_settle]
    np.testing.assert_array_equal(steps, expected)


def test_json_is_the_documented_shape(run):
    d = run["result"].to_dict()
    json.dumps(d)  # serialisable
    assert {"model", "table", "checkpoints", "words", "sample"} <= set(d)
    c = d["checkpoints"][1]
    assert set(c) == {"revision", "step", "stats", "drift_prev", "drift_last"}
    assert set(c["drift_prev"]) == {"cka", "procrustes_cos", "jaccard"}
    assert {"mean_norm", "anisotropy", "effective_rank", "isotropy"} <= set(c["stats"])
    w = d["words"][0]
    assert {"word", "settle_step", "steps"} <= set(w)
    assert {"step", "neighbors"} <= set(w["steps"][0])
    assert {"size", "settle_by_quartile"} <= set(d["sample"])


def test_rerun_reads_only_what_is_kept(run, monkeypatch):
    """Everything cached: no table is built and nothing is recomputed (the memo answers)."""
    import embcli.ask.history as h
    import embcli.store.build as build

    def refuse(*args, **kwargs):
        raise AssertionError("recomputed")

    monkeypatch.setattr(build, "write_table", refuse)
    monkeypatch.setattr(h, "checkpoint_stats", refuse)
    monkeypatch.setattr(h, "drift", refuse)
    monkeypatch.setattr(h, "neighbor_lists", refuse)
    monkeypatch.setattr(h, "top_k", refuse)  # the words' neighbours too: no matrix is read
    again = embcli.history(str(run["root"] / "checkpoint-*"), words=WORDS, sample=300,
                           cache_dir=run["cache"])  # fmt: skip
    assert again.to_dict() == run["result"].to_dict()


# -- bad input ------------------------------------------------------------------------------------


def test_a_checkpoint_whose_shape_changes_is_named_and_left_out(tmp_path):
    steps = [0, 40, 160, 640]
    models.training_run(tmp_path, steps, rows=120, reshaped={40: 8})
    notices: list[str] = []
    result = embcli.history(str(tmp_path / "checkpoint-*"), sample=50, notice=notices.append)
    by = {c.step: c for c in result.checkpoints}
    assert by[40].excluded and "129 x 50" in by[40].excluded
    assert by[40].drift_prev is None and by[40].drift_last is None
    assert by[40].stats["rows"] == 129
    assert any("checkpoint-40" in n and "left out of drift" in n for n in notices)
    # drift skips it: 160 is compared with 0
    assert by[160].drift_prev["cka"] == pytest.approx(
        ref_cka(models_table(tmp_path, 160), models_table(tmp_path, 0)), abs=1e-6
    )
    assert result.to_dict()["excluded"][0]["revision"] == "checkpoint-40"


def models_table(root, step):
    from safetensors.numpy import load_file

    return load_file(str(root / f"checkpoint-{step}" / "model.safetensors"))[
        "model.embed_tokens.weight"
    ]


@pytest.mark.slow  # torch
def test_bad_checkpoints_are_named_and_the_others_go_on(tmp_path, cli):
    import argparse

    import torch

    steps = [0, 10, 40, 160, 640]
    dirs, _, tables = models.training_run(tmp_path, steps, rows=100, bin_steps=(10, 40))
    blob = (dirs[1] / "pytorch_model.bin").read_bytes()
    (dirs[1] / "pytorch_model.bin").write_bytes(blob[: len(blob) // 2])  # corrupt: truncated
    state = {"model.embed_tokens.weight": torch.from_numpy(tables[40]),
             "args": argparse.Namespace(lr=1e-3)}  # fmt: skip
    torch.save(state, dirs[2] / "pytorch_model.bin")  # a pickle asking for more than tensors
    res = cli("history", "-m", str(tmp_path / "checkpoint-*"), "-f", "json", "--sample", "30")
    assert res.code == 4, res.err
    out = json.loads(res.out)
    assert [c["step"] for c in out["checkpoints"]] == [0, 160, 640]
    failed = {f["revision"]: f["error"] for f in out["failed"]}
    assert set(failed) == {"checkpoint-10", "checkpoint-40"}
    assert "truncated" in failed["checkpoint-10"] or "corrupt" in failed["checkpoint-10"]
    assert "refused" in failed["checkpoint-40"] and "argparse" in failed["checkpoint-40"]
    lines = res.err.strip().splitlines()
    assert any(line.startswith("embcli: checkpoint-10:") for line in lines)
    assert lines[-1].startswith("embcli: 2 of 5 checkpoints could not be read")
    assert "Traceback" not in res.err
    # the others drift from one another: 160 is compared with 0
    assert out["checkpoints"][1]["drift_prev"]["cka"] == pytest.approx(
        ref_cka(tables[160], tables[0]), abs=1e-6
    )


def test_usage_errors_are_one_line(tmp_path, cli):
    res = cli("history", "-m", str(tmp_path / "nothing-*"))
    assert res.code == 1 and "no checkpoint directory matches" in res.err
    res = cli("history", "-m", str(tmp_path), "--revisions", "step*")
    assert res.code == 2 and "local path" in res.err
    res = cli("history", "-m", "a/b", "--revisions", "x", "--jobs", "0")
    assert res.code == 2 and "--jobs" in res.err
    assert len(res.err.strip().splitlines()) == 1
    res = cli("--revision", "main", "history", "-m", "a/b", "--revisions", "x")
    assert res.code == 2 and "--revision does not apply to 'embcli history'" in res.err


def test_one_checkpoint_is_said_and_compared_with_itself(tmp_path, cli):
    models.training_run(tmp_path, [40], rows=60)
    res = cli("history", "-m", tmp_path / "checkpoint-40", "-f", "json", "--sample", "10")
    assert res.code == 0 and "one checkpoint" in res.err and "--revisions" in res.err
    (only,) = json.loads(res.out)["checkpoints"]
    assert only["drift_prev"] is None
    assert only["drift_last"]["cka"] == pytest.approx(1.0, abs=1e-9)


def test_unknown_word_stops_the_run_with_exit_3(tmp_path, cli):
    models.training_run(tmp_path, [0, 40], rows=60)
    res = cli("history", "-m", str(tmp_path / "checkpoint-*"), "--words", "the,zzzz")
    assert res.code == 3 and "zzzz" in res.err


def test_plot_shows_every_panel(run, tmp_path):
    from embcli.draw.history_plot import history_plot, step_axis

    out = history_plot(run["result"], tmp_path / "h.png")
    assert out.stat().st_size > 20_000
    _, axis = step_axis(STEPS)
    assert axis["scale"] == "symlog" and axis["linthresh"] == 10
    assert step_axis([100, 200, 400])[1]["scale"] == "linear"
    assert step_axis([None, 3])[1]["label"] == "checkpoint"


# -- choosing checkpoints ----------------------------------------------------------------------

PYTHIA = [0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, *range(1000, 143001, 1000)]


def test_steps_from_names():
    assert step_of("step1000") == 1000
    assert step_of("step1000-tokens4B") == 1000
    assert step_of("checkpoint-500") == 500
    assert step_of("global_step12") == 12
    assert step_of("main") is None and step_of("v1.0") is None


def test_log_spaced_choice_of_pythia_revisions():
    points = [Checkpoint("r", f"step{s}", s) for s in PYTHIA]
    assert len(points) == 154
    chosen = [c.step for c in log_spaced(ordered(points[::-1]), 12)]
    assert chosen[0] == 0 and chosen[-1] == 143000
    assert 10 <= len(chosen) <= 12
    gaps = np.diff(np.log([s for s in chosen if s]))
    assert gaps.max() < 3 * gaps.min() + 1  # roughly even in log(step)
    assert choose(points, from_glob=True, every=True, count=12) == ordered(points)
    assert choose(points[:5], from_glob=False, every=False, count=2) == points[:5]


def test_order_without_steps_is_as_given():
    a, b = Checkpoint("x", "final", None), Checkpoint("x", "step5", 5)
    assert ordered([a, b]) == [a, b] and ordered([b, a, b]) == [b, a]


def test_settle_rule_and_quartiles_on_small_arrays():
    scores = np.array([[0.1, 0.6, 0.4, 0.7, 1.0], [0.9, 0.8, 0.5, 0.6, 1.0], [0, 0, 0, 0, 1]])
    np.testing.assert_array_equal(settle_index(scores), [3, 0, 4])
    pool = np.arange(100, 200)
    which, ranges = quartiles(np.array([100, 124, 125, 199]), pool)
    np.testing.assert_array_equal(which, [0, 0, 1, 3])
    assert ranges == [(100, 124), (125, 149), (150, 174), (175, 199)]


# -- the cache under threads ----------------------------------------------------------------------


def test_threads_building_one_entry_build_it_once(model_dirs, isolated_cache):
    from embcli.store.load import Sinks, open_table

    found, errors = [], []

    def build():
        try:
            found.append(open_table(str(model_dirs["gpt2"]), sinks=Sinks(lambda m: None)).path)
        except Exception as exc:  # any failure fails the test below
            errors.append(exc)

    threads = [threading.Thread(target=build) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and len(set(found)) == 1
    assert not list((isolated_cache / ".tmp").iterdir())
    assert len([p for p in isolated_cache.iterdir() if "--" in p.name]) == 1


def test_words_come_as_a_comma_list_or_a_file(run, tmp_path, cli):
    listed = tmp_path / "words.txt"
    listed.write_text("the\n# a comment\ncity\n")
    glob = str(run["root"] / "checkpoint-*")
    common = ["history", "-m", glob, "-f", "json", "--sample", "300", "--cache-dir", run["cache"]]
    by_file = cli(*common, "--words", listed)
    by_list = cli(*common, "--words", "the, city")
    assert by_file.code == by_list.code == 0, by_file.err + by_list.err
    assert json.loads(by_file.out)["words"] == json.loads(by_list.out)["words"]
    assert [w["word"] for w in json.loads(by_list.out)["words"]] == ["the", "city"]


def test_the_stores_npy_headers_are_parsed_one_thread_at_a_time(model_dirs, monkeypatch):
    """``history`` opens tables in threads, and ``np.load`` parses each ``.npy`` header with
    ``ast.literal_eval``, which CPython 3.11 can fail when two threads parse at once (seen in
    this suite: "SystemError: AST constructor recursion depth mismatch"). Every header the store
    parses, plain or in an ``.npz``, is parsed holding ``npy.NPY_LOCK``."""
    import ast

    from embcli.store import npy
    from embcli.store.load import open_table

    held: list[bool] = []
    parse = ast.literal_eval

    def spy(text):
        held.append(npy.NPY_LOCK.locked())
        return parse(text)

    table = open_table(str(model_dirs["llama"]))  # built first: its writes parse nothing
    monkeypatch.setattr(ast, "literal_eval", spy)
    again = open_table(str(model_dirs["llama"]))
    np.asarray(again.unit[:3]), np.asarray(again.norms[:3]), again.variants(3)
    again.space(again.transform(True, 2))  # computed and kept
    reread = open_table(str(model_dirs["llama"]))
    reread.space(reread.transform(True, 2))  # read back: the .npz and the lengths
    assert table.shape == again.shape
    assert len(held) >= 5 and all(held)


def test_cache_keeps_the_latest_local_checkpoints_of_a_run(tmp_path):
    """Local checkpoint directories are one run, as ``history`` reads them: ``cache list``
    orders them by step and ``cache clear -m 'DIR/checkpoint-*' --keep-latest 2`` (or ``-m
    DIR``) keeps the two highest steps (each directory was its own model: nothing was kept
    or removed)."""
    from embcli.api.cache import cache_entries, clear_cache

    steps = [0, 10, 20, 40, 80, 160]
    models.training_run(tmp_path / "run", steps, rows=120)
    cache = tmp_path / "cache"
    embcli.history(str(tmp_path / "run" / "checkpoint-*"), cache_dir=cache, notice=print)
    listed = cache_entries(cache).records
    assert [r["step"] for r in listed] == steps
    cleared = clear_cache(cache, str(tmp_path / "run" / "checkpoint-*"), keep_latest=4)
    assert (cleared.removed, cleared.kept) == (2, 4)
    cleared = clear_cache(cache, str(tmp_path / "run"), keep_latest=2)
    assert (cleared.removed, cleared.kept) == (2, 2)
    assert [r["step"] for r in cache_entries(cache).records] == [80, 160]
