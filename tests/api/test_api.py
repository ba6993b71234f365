"""The Python API: the CLI's answers as objects, float64 references, light import, the example."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file

import embcli
from embcli.errors import UnresolvedWord, UsageProblem
from tests.conftest import run_subprocess

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def ref(minilm_dir):
    raw = load_file(str(minilm_dir / "model.safetensors"))["embeddings.word_embeddings.weight"]
    raw = raw.astype(np.float64)
    vocab = json.loads((minilm_dir / "tokenizer.json").read_text())["model"]["vocab"]
    return raw, raw / np.linalg.norm(raw, axis=1, keepdims=True), vocab


@pytest.mark.slow  # a process
def test_import_embcli_loads_no_heavy_module():
    code = (
        "import sys, embcli\n"
        "assert callable(embcli.load) and callable(embcli.size) and embcli.Table\n"
        "heavy = [m for m in ('torch', 'transformers', 'matplotlib', 'scipy', 'sklearn')"
        " if m in sys.modules]\n"
        "print(heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_results_equal_the_cli_json(cli, minilm_dir, monkeypatch):
    monkeypatch.setenv("EMBCLI_MODEL", str(minilm_dir))
    t = embcli.load()
    m = ("-m", minilm_dir, "-f", "json")

    def js(*args: str):
        res = cli(*args, *m)
        assert res.code == 0, res.err
        return json.loads(res.out)

    assert t.neighbors("paris", k=7).to_dict() == js("neighbors", "paris", "-k", "7")
    assert t.neighbors(["cat", "dog"], k=3).to_dict() == js("neighbors", "cat", "dog", "-k", "3")
    assert t.similarity("cat", "dog").to_dict() == js("similarity", "cat", "dog")
    assert t.similarity("cat", "dog", "car").to_dict() == js("similarity", "cat", "dog", "car")
    assert t.analogy("king", "man", "woman").to_dict() == js("analogy", "king", "man", "woman")
    assert t.tokenize("Hello there").to_dict() == js("tokenize", "Hello there")
    assert t.info().to_dict() == js("info")
    size = cli("size", "--vocab", "1000", "--dim", "64", "-f", "json")
    assert embcli.size(vocab=1000, dim=64).to_dict() == json.loads(size.out)


def test_neighbors_objects_equal_float64_reference(minilm_dir, ref):
    _, unit, vocab = ref
    t = embcli.load(minilm_dir)
    got = t.neighbors("river", k=10, all_tokens=True)
    q = vocab["river"]
    sims = unit @ unit[q]
    sims[q] = -np.inf
    order = np.argsort(-sims, kind="stable")[:10]
    assert [n.id for n in got] == order.tolist()
    np.testing.assert_allclose([n.cosine for n in got], sims[order], atol=1e-5)
    assert [n.token for n in got] == [t.tokens[i] for i in order]
    pair = t.similarity("cat", "dog")
    assert abs(float(pair) - unit[vocab["cat"]] @ unit[vocab["dog"]]) < 1e-6
    m = t.similarity_matrix(["cat", "dog", "car"])
    ids = [vocab[w] for w in ("cat", "dog", "car")]
    np.testing.assert_allclose(m, unit[ids] @ unit[ids].T, atol=1e-6)


def test_batch_failures_are_data_and_single_failures_raise(minilm_dir):
    t = embcli.load(minilm_dir)
    batch = t.neighbors(["paris", "defenestration"], k=3)
    assert [r.query for r in batch] == ["paris"]
    assert len(batch.failed) == 1 and isinstance(batch.failed[0], UnresolvedWord)
    assert "not a single token" in batch.failed[0].one_line()
    with pytest.raises(UnresolvedWord, match="not a single token"):
        t.neighbors("defenestration")
    assert len(t.neighbors("defenestration", pool=True)) == 10


def test_results_show_as_html_and_rich(minilm_dir):
    from rich.console import Console

    t = embcli.load(minilm_dir)
    result = t.neighbors("paris", k=3)
    html = result._repr_html_()
    assert html.startswith("<table>") and all(n.token in html for n in result)
    console = Console(record=True, width=120)
    console.print(result)
    text = console.export_text()
    assert all(n.token in text for n in result) and "cosine" in text
    plain = str(result)  # print(result) in a script or a terminal REPL shows the same table
    assert all(n.token in plain for n in result) and "cosine" in plain
    assert "\x1b[" not in plain and "Neighbor(" not in plain


def test_among_restricts_candidates(cli, minilm_dir, ref, tmp_path):
    _, unit, vocab = ref
    words = ["london", "berlin", "tokyo", "banana", "paris", "defenestration"]
    among = tmp_path / "among.txt"
    among.write_text("\n".join(words) + "\n")
    res = cli("neighbors", "paris", "--among", among, "-m", minilm_dir, "-f", "json")
    assert res.code == 0, res.err
    assert "left out 1 word(s)" in res.err and "defenestration" in res.err
    got = json.loads(res.out)["neighbors"]
    cand = [vocab[w] for w in words[:4]]  # paris itself is left out, as a query always is
    sims = unit[cand] @ unit[vocab["paris"]]
    order = np.argsort(-sims, kind="stable")
    assert [n["id"] for n in got] == [cand[i] for i in order]
    np.testing.assert_allclose([n["cosine"] for n in got], sims[order], atol=1e-6)


def test_vector_queries_from_text_npy_and_stdin(cli, minilm_dir, ref, tmp_path):
    _, unit, _vocab = ref
    rng = np.random.default_rng(3)
    v = rng.standard_normal(384)
    sims = unit @ (v / np.linalg.norm(v))
    order = np.argsort(-sims, kind="stable")[:10]
    text = tmp_path / "v.txt"
    text.write_text(" ".join(repr(float(x)) for x in v) + "\n")
    npy = tmp_path / "v.npy"
    np.save(npy, v.astype(np.float32)[None, :])
    outs = [
        cli("neighbors", "--vector", text, "--all-tokens", "-m", minilm_dir, "-f", "json"),
        cli("neighbors", "--vector", npy, "--all-tokens", "-m", minilm_dir, "-f", "json"),
    ]
    piped = run_subprocess("neighbors", "--vector", "-", "--all-tokens", "-m", minilm_dir,
                           "-f", "json", stdin=",".join(map(str, v)))  # fmt: skip
    for res in [*outs, piped]:
        assert res.code == 0, res.err
        got = json.loads(res.out)
        assert got["tokens"] == [] and got["pooled"] is False
        assert [n["id"] for n in got["neighbors"]] == order.tolist()
        np.testing.assert_allclose([n["cosine"] for n in got["neighbors"]], sims[order], atol=1e-5)


def test_vector_width_and_content_errors_are_one_line(cli, minilm_dir, tmp_path):
    short = tmp_path / "short.txt"
    short.write_text("0.1 0.2 0.3\n")
    bad = tmp_path / "bad.txt"
    bad.write_text("0.1 zero 0.3\n")
    for path, words in ((short, "3 numbers"), (bad, "'zero' is not a number")):
        res = cli("neighbors", "--vector", path, "-m", minilm_dir)
        assert res.code == 2 and res.err.count("\n") == 1 and words in res.err, res.err
    res = cli("neighbors", "paris", "--vector", short, "-m", minilm_dir)
    assert res.code == 2 and "not both" in res.err


def test_plot_returns_a_figure(minilm_dir, tmp_path):
    from matplotlib.figure import Figure

    t = embcli.load(minilm_dir)
    fig = t.plot(["cat", "dog", "horse", "defenestration"], output=tmp_path / "p.svg")
    assert isinstance(fig, Figure) and (tmp_path / "p.svg").stat().st_size > 1000
    assert len(fig.embcli_dropped) == 1 and fig.embcli_dropped[0].startswith("defenestration")


def test_notebook_example_runs(minilm_dir, tmp_path):
    env = {**os.environ, "EMBCLI_MODEL": str(minilm_dir), "MPLBACKEND": "Agg"}
    proc = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "notebook_tour.py")],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "queen" in proc.stdout and "parisian" in proc.stdout


def test_contains_is_false_only_for_unresolved_words(minilm_dir):
    t = embcli.load(minilm_dir)
    assert "paris" in t and "defenestration" not in t and "#5" in t and "#999999" not in t
    with pytest.raises(UsageProblem, match="a word is text, not int 5"):  # not "absent"
        _ = 5 in t  # type: ignore[operator]


def test_table_names_follow_the_table_asked_for(cli, model_dirs):
    """A tied head asked for as the output table is "output" in the API as in the CLI."""
    gpt2 = model_dirs["gpt2"]
    for kind in ("input", "output"):
        t = embcli.load(gpt2, role=kind)
        res = cli("stats", "-m", gpt2, "--table", kind, "--samples", "200", "-f", "json")
        assert res.code == 0, res.err
        assert t.role == kind and t.stats(samples=200).to_dict() == json.loads(res.out)


# -- Model and Table: one path for the CLI and Python ------------------------------------------


def test_ids_reach_every_question_as_in_the_cli(cli, model_dirs):
    """``ids=True`` reads queries as row ids in the API as ``--ids`` does in the CLI."""
    m = ("-m", model_dirs["gpt2"], "-f", "json")
    t = embcli.Model(model_dirs["gpt2"]).table()
    got = cli("neighbors", "5", "7", "--ids", "-k", "3", *m)
    assert got.code == 0, got.err
    assert t.neighbors(["5", "7"], 3, ids=True).to_dict() == json.loads(got.out)
    assert [n.id for n in t.neighbors("5", 3, ids=True)] == [n.id for n in t.neighbors("#5", 3)]
    got = cli("similarity", "5", "7", "--ids", *m)
    assert t.similarity("5", "7", ids=True).to_dict() == json.loads(got.out)
    got = cli("analogy", "5", "7", "9", "--ids", *m)
    assert t.analogy("5", "7", "9", ids=True).to_dict() == json.loads(got.out)


@pytest.mark.slow  # a process
def test_a_string_is_one_question_and_a_list_a_batch(cli, model_dirs):
    """One rule on both surfaces: a word given alone is a single question, a list (or stdin in
    the CLI, even of one line) a batch whose JSON is a list."""
    from tests.conftest import run_subprocess

    t = embcli.load(model_dirs["gpt2"])
    single, batch = t.neighbors("king", 3), t.neighbors(["king"], 3)
    assert isinstance(single.to_dict(), dict) and isinstance(batch.to_dict(), list)
    assert batch.to_dict() == [single.to_dict()]
    piped = run_subprocess("neighbors", "-", "-k", "3", "-m", model_dirs["gpt2"], "-f", "json",
                           stdin="king\n")  # fmt: skip
    assert piped.code == 0, piped.err
    assert json.loads(piped.out) == batch.to_dict()


def test_model_table_checks_arguments_before_any_build(model_dirs, isolated_cache):
    """A table from ``Model.table()`` opens on first use: bad arguments never build a cache."""
    t = embcli.Model(model_dirs["llama"]).table("output")
    bad = [
        lambda: t.neighbors("king", k=-3),
        lambda: t.similarity("king"),
        lambda: t.analogies([["a", "b"]]),
        lambda: t.undertrained(k=-1),
        lambda: t.stats(samples=1),
        lambda: t.evaluate_analogies(method="3cosbad"),
        lambda: t.project(["a", "b", "c"], perplexity=float("nan")),
        lambda: t.compare(t, sample=-1),
        lambda: embcli.Model(model_dirs["llama"]).table("head"),
    ]
    for ask in bad:
        with pytest.raises(UsageProblem):
            ask()
    assert not isolated_cache.exists() or not list(isolated_cache.glob("*--*"))
    assert "not opened yet" in repr(t)


def test_compare_pairs_tables_in_the_library(cli, model_dirs):
    """``Model.compare`` pairs the tables as ``compare`` does: the same model's other table,
    or another model read with this one's options; ``Table.compare`` takes a name too."""
    llama, gpt2 = model_dirs["llama"], model_dirs["gpt2"]
    m = embcli.Model(llama)
    res = cli("compare", "-m", llama, "--table-b", "output", "-f", "json", "--sample", "0")
    assert res.code == 0, res.err
    assert m.compare(other_role="output", sample=0).to_dict() == json.loads(res.out)
    res = cli("compare", "-m", llama, "-m", gpt2, "-f", "json")
    assert res.code == 0, res.err
    assert m.compare(gpt2).to_dict() == json.loads(res.out)
    assert m.table().compare(str(gpt2)).to_dict() == json.loads(res.out)
    with pytest.raises(UsageProblem, match="two tables"):
        m.compare()
    with pytest.raises(UsageProblem, match="not int"):
        m.table().compare(5)  # type: ignore[arg-type]


def test_cache_listing_and_clearing_are_results(cli, model_dirs, isolated_cache):
    from embcli.api import cache_entries, cached_models, clear_cache
    from embcli.errors import EmbcliError

    assert cli("info", "-m", model_dirs["gpt2"]).code == 0
    listed = cache_entries(isolated_cache)
    assert listed.to_dict() == json.loads(cli("cache", "list", "-f", "json").out)
    assert [r["model"] for r in listed] == [str(model_dirs["gpt2"].resolve())]
    assert cached_models(isolated_cache) == [str(model_dirs["gpt2"].resolve())]
    with pytest.raises(EmbcliError, match="no cached table for nope"):
        clear_cache(isolated_cache, "nope")
    cleared = clear_cache(isolated_cache, str(model_dirs["gpt2"]))
    assert cleared.removed == 1 and len(cache_entries(isolated_cache)) == 0


def test_notices_go_to_the_models_sink(model_dirs, tmp_path):
    """What the CLI prints as ``embcli: ...`` lines reaches a Python caller through ``notice``."""
    heard: list[str] = []
    t = embcli.Model(model_dirs["gpt2"], notice=heard.append).table("output")
    t.neighbors("king", among=["queen", "prince", "zzzqqq"])
    assert any("tied to its input table" in h for h in heard)
    assert any("left out 1 word(s) not in the table: zzzqqq" in h for h in heard)


def test_the_api_refuses_what_the_cli_refuses(model_dirs, tmp_path):
    """One check each, in the library, one line each (UsageProblem, exit code 2 in the CLI)."""
    from embcli.errors import EmbcliError

    t = embcli.load(model_dirs["gpt2"])
    width = t.shape[1]
    refused = {
        "k must be 0 or more": lambda: t.neighbors("king", k=-3),
        "remove_pcs must be 0 or more": lambda: t.neighbors("king", remove_pcs=-2),
        "not below the table's width": lambda: t.neighbors("king", remove_pcs=width),
        "at most": lambda: t.stats(remove_pcs=width, samples=50),
        "k must be 0 or more, not -1": lambda: t.undertrained(k=-1),
        "percentile must be a finite": lambda: t.undertrained(percentile=float("nan")),
        "vocab must be at least 1": lambda: embcli.size(vocab=-5, dim=4),
        "a word is text, not int 5": lambda: 5 in t,
        "give a list of sentences, not one string": lambda: t.model.context("bank", "river bank"),
        "perplexity must be a finite": lambda: t.project(["a", "b", "c"], perplexity=np.nan),
    }
    for needle, ask in refused.items():
        with pytest.raises(UsageProblem) as err:
            ask()
        assert needle in err.value.one_line() and "\n" not in err.value.one_line()
    with pytest.raises(EmbcliError, match="no such directory"):
        t.export(tmp_path / "nope" / "x.txt")


def test_export_tsv_is_the_projector_pair(model_dirs, tmp_path):
    t = embcli.load(model_dirs["gpt2"])
    out = t.export(tmp_path / "x.tsv", words=["king", "queen", "man"])
    assert out.format == "projector"
    assert out.paths == [str(tmp_path / "x.tsv"), str(tmp_path / "x.metadata.tsv")]
    lines = (tmp_path / "x.tsv").read_text(encoding="utf-8").splitlines()
    rows = [list(map(float, line.split("\t"))) for line in lines]
    np.testing.assert_allclose(rows, [t["king"], t["queen"], t["man"]], rtol=1e-6)
    assert (tmp_path / "x.metadata.tsv").read_text().split() == ["␣king", "␣queen", "␣man"]


@pytest.mark.parametrize(
    ("ask", "said"),
    [
        (lambda t: t.neighbors("king", among="queen"), "not one string"),
        (lambda t: t.similarity_matrix("kingqueen"), "not one string"),
        (lambda t: t.compare(t, words="king"), "not one string"),
        (lambda t: t.plot("king"), "not one string"),
        (lambda t: t.plot(groups="cat"), "not one string"),
        (lambda t: t.export("x.tsv", words="king"), "not one string"),
        (lambda t: t.neighbors(5), "not int 5"),
        (lambda t: t.neighbors("king", among=5), "not int 5"),
        (lambda t: t.similarity_matrix(5), "not int 5"),
        (lambda t: t.most_similar(positive=5), "not int 5"),
        (lambda t: t.neighbors(b"king"), "not bytes"),
        (lambda t: t.neighbors(vector="abc"), "a vector is numbers"),
        (lambda t: embcli.Model(5), "a model is a name or a path"),
    ],
)
def test_a_string_or_a_number_where_a_list_belongs_is_refused(model_dirs, ask, said):
    """A ``str`` where a list of words belongs was read letter by letter (``among="london"``
    ranked the rows 'l', 'o', 'n'...); a number or bytes ended in Python's own exceptions."""
    with pytest.raises(UsageProblem, match=said):
        ask(embcli.load(model_dirs["gpt2"]))


def test_a_bad_vector_is_refused_before_the_table_is_read(model_dirs, tmp_path):
    """Refusing ``vector="abc"`` needs no table: nothing is cached for it (``Model.table()``
    reads the table when a question first needs it)."""
    cache = tmp_path / "cache"
    t = embcli.Model(model_dirs["gpt2"], cache_dir=cache).table()
    with pytest.raises(UsageProblem, match="a vector is numbers"):
        t.neighbors(vector="abc")
    assert not [p for p in cache.rglob("*") if p.is_file()]
    assert t.neighbors(vector=t["king"], k=1)[0].token == " king"  # then the table is read
    assert [p for p in cache.rglob("*") if p.is_file()]


def test_most_similar_is_gensims(minilm_dir, ref):
    """``t.most_similar`` takes gensim's arguments and gives gensim's answer: the rows nearest
    the mean of the given words' unit vectors (negatives subtracted), the words left out."""
    from gensim.models import KeyedVectors

    raw, _, vocab = ref
    names = sorted(vocab, key=vocab.get)
    kv = KeyedVectors(raw.shape[1])
    kv.add_vectors(names, raw.astype(np.float32))
    t = embcli.load(minilm_dir)
    for positive, negative in ((["king", "woman"], ["man"]), (["paris", "berlin"], []),
                               ([], ["good"])):  # fmt: skip
        want = kv.most_similar(positive=positive, negative=negative, topn=5)
        got = t.most_similar(positive=positive, negative=negative, topn=5, all_tokens=True)
        assert [n.token for n in got] == [w for w, _ in want]
        np.testing.assert_allclose([n.cosine for n in got], [s for _, s in want], atol=1e-5)
        assert [n.rank for n in got] == [1, 2, 3, 4, 5]
    single = t.most_similar("paris", topn=3)
    assert single.to_dict() == t.neighbors("paris", k=3).to_dict()
    with pytest.raises(UsageProblem, match="topn must be at least 1"):
        t.most_similar("paris", topn=0)


@pytest.mark.parametrize(
    ("ask", "python", "param", "option"),
    [
        (lambda t: t.neighbors("king", remove_pcs=-1), "remove_pcs must be 0 or more, not -1",
         "remove_pcs", "--remove-pcs must be 0 or more, not -1"),
        (lambda t: t.space(remove_pcs=-1), "remove_pcs must be 0 or more, not -1",
         "remove_pcs", "--remove-pcs must be 0 or more, not -1"),
        (lambda t: t.neighbors("king", k=-3), "k must be 0 or more, not -3", "k",
         "-k must be 0 or more, not -3"),
        (lambda t: t.neighbors("king", remove_pcs=t.shape[1]), "remove_pcs 32 is not below",
         "remove_pcs", "--remove-pcs 32 is not below"),
        (lambda t: t.model.table("middle"), "role must be input or output", "role",
         "--table must be input or output"),
        (lambda t: t.axis("man:woman"), "pairs needs two or more pairs, got 1", "pairs",
         "--pairs needs two or more pairs, got 1"),
        (lambda t: t.axis(), "an axis is built from pairs or from poles, one of them",
         "pairs,poles", "an axis is built from --pairs or from --from/--to, one of them"),
        (lambda t: t.axis("a:b,c:d", poles2=("x",)), "poles2 takes two word lists", "poles2",
         "--from2/--to2 takes two word lists"),
        (lambda t: t.axis("a:b,c:d", words=[" "]), "words lists no words", "words",
         "--words lists no words"),
        (lambda t: t.neighbors("king", remove_axis="a:a,b:c"),
         "remove_axis: the pair 'a:a' has the same word twice", "remove_axis",
         "--remove-axis: the pair 'a:a' has the same word twice"),
        (lambda t: t.weat("career-family", permutations=0), "permutations must be at least 1",
         "permutations", "--permutations must be at least 1"),
        (lambda t: t.project(["a", "b", "c"], perplexity=np.nan), "perplexity must be a finite",
         "perplexity", "--perplexity must be a finite"),
        (lambda t: t.model.position_plot(1), "max_positions must be at least 2",
         "max_positions", "--max must be at least 2"),
        (lambda t: embcli.size(vocab=-5, dim=4), "vocab must be at least 1", "vocab",
         "--vocab must be at least 1"),
    ],
)  # fmt: skip
def test_errors_name_the_python_parameter_and_the_cli_its_option(
    model_dirs, ask, python, param, option
):
    """The API says ``remove_pcs must be 0 or more`` (and ``param="remove_pcs"`` on the error);
    the CLI says the same line with the option a user typed (``--remove-pcs``), and nothing
    else of the line changes."""
    from embcli.cli.errors import explain

    t = embcli.load(model_dirs["gpt2"])
    assert t.shape[1] == 32  # the width the remove_pcs case names
    with pytest.raises(UsageProblem) as err:
        ask(t)
    line = err.value.one_line()
    assert line.startswith(python) and err.value.param == param
    said, code = explain(err.value)
    assert said.startswith(option) and code == 2
    assert said[len(option) :] == line[len(python) :]


def test_the_cli_says_an_api_error_with_its_option(cli, model_dirs):
    """End to end: a check only the library makes (the table's width) reaches the terminal in
    the CLI's spelling."""
    res = cli("neighbors", "king", "--remove-pcs", "32", "-m", model_dirs["gpt2"])
    assert res.code == 2
    assert res.err == ("embcli: --remove-pcs 32 is not below the table's width (32): at most 31 "
                       "components can be removed\n")  # fmt: skip


def test_the_ask_functions_name_python_parameters_too(model_dirs, tmp_path):
    """The checks the ask functions keep for direct callers speak Python, as the API does."""
    from embcli.ask import weat as W
    from embcli.ask.export import export_rows
    from embcli.store.load import open_table

    with pytest.raises(UsageProblem, match=r"^permutations must be at least 1, not 0") as err:
        W.check_weat("career-family", {"X": None, "Y": None, "A": None, "B": None}, 0)
    assert err.value.param == "permutations"
    table = open_table(str(model_dirs["gpt2"]))
    with pytest.raises(UsageProblem, match=r"^limit must be at least 1, not 0") as err:
        export_rows(table, tmp_path / "x.txt", limit=0)
    assert err.value.param == "limit" and not (tmp_path / "x.txt").exists()
