"""Pictures across models (``--plot`` with several models): the drawn numbers are the JSON's,
read back from the figure's own objects (bar widths, cell shades, cell texts, tick labels)."""

from __future__ import annotations

import numpy as np
import pytest

from embcli.api.fleet import Question, ask_many
from embcli.draw.fleet_plot import short_name
from embcli.errors import UsageProblem
from tests.static_models import tiny_model2vec


@pytest.fixture(scope="module")
def fleet(model_dirs, tmp_path_factory) -> list[str]:
    root = tmp_path_factory.mktemp("fleet-plots")
    # a long name, as a run's checkpoint paths are: cut in the middle on the axes
    static = tiny_model2vec(root / ("a-long-directory-name-of-a-run" * 2) / "static-final")
    return [str(model_dirs["gpt2"]), str(model_dirs["bert"]), str(static)]


def bars(ax) -> list[float]:
    return [p.get_width() for p in ax.patches]


def ticks(ax) -> list[str]:
    return [t.get_text() for t in ax.get_yticklabels()]


def test_stats_bars_are_the_json_numbers(fleet, tmp_path):
    result = ask_many(fleet, Question("stats", kwargs={"samples": 200, "seed": 1}),
                      cache_dir=str(tmp_path))  # fmt: skip
    records = result.to_dict()
    fig = result.figure()
    panels = [ax for ax in fig.axes if ax.get_visible()]
    titles = [ax.get_title() for ax in panels]
    assert titles == ["mean cosine of random pairs (raw)", "mean cosine, top PCs removed",
                      "effective rank", "isotropy I(W)", "median row norm"]  # fmt: skip
    expected = {
        "mean cosine of random pairs (raw)": [r["anisotropy"]["raw"]["mean"] for r in records],
        "mean cosine, top PCs removed": [r["anisotropy"]["after_removal"]["mean"] for r in records],
        "effective rank": [r["effective_rank"] for r in records],
        "isotropy I(W)": [r["isotropy"] for r in records],
        "median row norm": [r["norms"]["median"] for r in records],
    }
    for ax in panels:
        assert bars(ax) == pytest.approx(expected[ax.get_title()], rel=1e-12)
    # every model named, in the order given, a long name cut in the middle
    assert ticks(panels[0]) == [short_name(m) for m in fleet]
    assert len(short_name(fleet[2])) <= 36 and short_name(fleet[2]).endswith("static-final")
    out = result.plot(tmp_path / "stats.png")
    assert out is not None and out.read_bytes().startswith(b"\x89PNG")


def test_neighbors_grid_holds_each_models_tokens_and_scores(fleet, tmp_path):
    question = Question("neighbors", ("#3", 4))
    result = ask_many(fleet, question, cache_dir=str(tmp_path))
    records = result.to_dict()
    (ax, *_colorbar) = result.figure().axes
    shade = np.ma.filled(ax.get_images()[0].get_array(), np.nan)
    assert shade.shape == (len(fleet), 4)
    texts = {(round(t.get_position()[1]), round(t.get_position()[0])): t.get_text()
             for t in ax.texts}  # fmt: skip
    for i, model in enumerate(fleet):
        (record,) = [r for r in records if r["model"] == model]
        for j, n in enumerate(record["neighbors"]):
            assert shade[i, j] == n["cosine"]
            token = n["token"].replace(" ", "\u2423")
            assert texts[(i, j)] == f"{token[:11] + '…' if len(token) > 12 else token}\n" \
                                    f"{n['cosine']:.3f}"  # fmt: skip
    assert ticks(ax) == [short_name(m) for m in fleet]


def test_a_model_without_the_query_is_a_row_saying_so(fleet, tmp_path):
    from tests.cli.test_many_models import word_vectors

    vectors = str(word_vectors(tmp_path / "words.vec"))
    specs = [vectors, fleet[2]]  # the static model has no "xylophone"
    result = ask_many(specs, Question("neighbors", (["king", "xylophone"], 2)),
                      cache_dir=str(tmp_path))  # fmt: skip
    assert [m for m, _ in result.missed] == [fleet[2]]
    axes = [ax for ax in result.figure().axes if ax.get_images()]
    assert [ax.get_title() for ax in axes] == ["neighbours of king", "neighbours of xylophone"]
    shade = np.ma.filled(axes[1].get_images()[0].get_array(), np.nan)
    assert not np.isnan(shade[0]).any() and np.isnan(shade[1]).all()
    said = [t for t in axes[1].texts if t.get_text() == "not in this model"]
    assert len(said) == 1 and round(said[0].get_position()[1]) == 1


def test_undertrained_bars_count_each_list(fleet, tmp_path):
    question = Question("undertrained", (0,), {"reference": ["#0", "#1", "#2"]})
    result = ask_many(fleet[:2], question, cache_dir=str(tmp_path))
    assert not result.failed
    records = result.to_dict()
    (ax,) = result.figure().axes
    widths = bars(ax)
    expected = [len(r["candidates"]) for r in records] + [len(r["unreachable"]) for r in records]
    assert widths == expected and sum(expected) > 0
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["candidates", "unreachable"]


def test_size_bars_are_each_tables_bytes(fleet, tmp_path):
    from embcli.api.fleet_size import size_many

    result = size_many(fleet[:2])
    records = result.to_dict()
    (ax,) = result.figure().axes
    largest = max(r["bytes"]["float32"] for r in records)
    unit = 1e9 if largest >= 1e9 else 1e6 if largest >= 1e6 else 1e3
    expected = [r["bytes"][d] / unit for d in ("float32", "float16", "int8", "int4")
                for r in records]  # fmt: skip
    assert bars(ax) == pytest.approx(expected, rel=1e-15)
    assert ax.get_xlabel() == "table memory (kB)"


def test_a_failed_model_keeps_its_place_without_a_bar(fleet, tmp_path):
    """A model that failed is said in the picture where its bar would be, in the order given;
    with no answer at all, nothing is drawn."""
    nowhere = str(tmp_path / "nowhere")
    result = ask_many([nowhere, fleet[0]], Question("stats", kwargs={"samples": 50}),
                      cache_dir=str(tmp_path))  # fmt: skip
    assert [a.model for a in result.failed] == [nowhere]
    (record,) = [r for r in result.to_dict() if "error" not in r]
    panels = [ax for ax in result.figure().axes if ax.get_visible()]
    assert ticks(panels[0]) == [short_name(nowhere), short_name(fleet[0])]
    for ax in panels:
        assert bars(ax)[0] == 0.0 and bars(ax)[1] != 0.0
        said = {round(t.xy[1]): t.get_text() for t in ax.texts}
        assert said[0] == "failed" and said[1] != "failed"
    assert bars(panels[2])[1] == pytest.approx(record["effective_rank"], rel=1e-12)
    # the same in the other pictures: the grid's row, the groups' place
    grid = ask_many([fleet[0], nowhere], Question("neighbors", ("#3", 2)), cache_dir=str(tmp_path))
    (ax, *_colorbar) = grid.figure().axes
    assert [t.get_text() for t in ax.texts if round(t.get_position()[1]) == 1] == ["failed"]
    from embcli.api.fleet_size import size_many

    sizes = size_many([fleet[0], nowhere])
    assert [a.model for a in sizes.failed] == [nowhere], sizes.to_dict()
    (ax,) = sizes.figure().axes
    assert len(bars(ax)) == 4  # four dtypes of the one model that answered
    assert [t.get_text() for t in ax.texts if round(t.xy[1]) == 1] == ["failed"]
    none = ask_many([nowhere], Question("stats"), cache_dir=str(tmp_path))
    assert none.figure() is None and none.plot(tmp_path / "x.png") is None
    assert not (tmp_path / "x.png").exists()


def test_a_negative_value_is_written_left_of_its_bar():
    from embcli.draw.fleet_plot import metric_bars

    fig = metric_bars(["a", "b"], [("mean cosine", [0.25, -0.125])], "t")
    (ax, *_hidden) = fig.axes
    placed = {t.get_text(): (t.get_horizontalalignment(), t.xy[0]) for t in ax.texts}
    assert placed == {"0.25": ("left", 0.25), "-0.125": ("right", -0.125)}


def test_questions_without_a_picture_are_refused(fleet, tmp_path):
    result = ask_many(fleet[:1], Question("similarity", ("#1", "#2")), cache_dir=str(tmp_path))
    with pytest.raises(UsageProblem, match="plot draws one model's table for similarity") as exc:
        result.plot(tmp_path / "s.png")
    assert exc.value.param == "plot" and not (tmp_path / "s.png").exists()


def test_short_names():
    assert short_name("gpt2") == "gpt2"
    long = "/data/runs/pythia-70m-deduped/step143000/checkpoints/model"
    cut = short_name(long)
    assert len(cut) == 36 and cut.endswith(long[-24:]) and cut.startswith(long[:11])
    assert "\u2026" in cut
