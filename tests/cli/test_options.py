"""One vocabulary of options: each command takes the shared options it uses, and uses every one.

The check that matters walks every command (sub-commands of ``cache`` and ``evaluate``
included), runs it with every shared option it accepts, and fails on one that was accepted but
never read (``Settings`` records what a command reads); a command's own options are checked to
be used in its body. Options given before a command that does not use them are refused.
"""

from __future__ import annotations

import ast
import inspect
import json
import re
import textwrap

import pytest
import typer

from embcli.cli import options
from embcli.cli.main import app
from embcli.cli.options import FLAGS, SHARED_OPTIONS, Settings, command
from tests.conftest import run_subprocess
from tests.static_models import tiny_model2vec


def leaf_commands() -> dict[str, typer.core.TyperCommand]:
    group = typer.main.get_command(app)
    ctx = typer.Context(group)
    found = {}
    todo = [((), group)]
    while todo:
        path, cmd = todo.pop()
        if hasattr(cmd, "list_commands"):
            todo += [((*path, n), cmd.get_command(ctx, n)) for n in cmd.list_commands(ctx)]
        else:
            found[" ".join(path)] = cmd
    return found


COMMANDS = leaf_commands()


def uses(cmd) -> tuple[str, ...]:
    return cmd.callback.embcli_uses


def flags_after_name(cmd) -> set[str]:
    return {o for p in cmd.params for o in getattr(p, "opts", [])}


def test_every_command_is_walked_and_declares_what_it_uses():
    assert set(COMMANDS) == {
        "info", "tokenize", "stats", "undertrained", "neighbors", "similarity", "analogy",
        "size", "evaluate analogies", "evaluate similarity", "plot", "positions", "export",
        "compare", "history", "context", "sentences", "cache list", "cache clear", "axis", "weat",
        "index build", "index add", "index list", "index rm", "search", "map",
    }  # fmt: skip
    for name, cmd in COMMANDS.items():
        declared = uses(cmd)
        after = flags_after_name(cmd)
        own = set(inspect.signature(cmd.callback.embcli_function).parameters)
        for option in SHARED_OPTIONS:
            flag = FLAGS[option]
            if (option in declared and option not in own) or option == "debug":
                assert flag in after, (name, flag)
            elif option not in declared and option not in own:  # its own --file is fine
                assert flag not in after, f"{name} accepts {flag} but does not use it"


@pytest.fixture
def inputs(tmp_path):
    questions = tmp_path / "q.txt"
    questions.write_text(": family\nking queen man woman\nman woman king queen\n")
    pairs = tmp_path / "pairs.tsv"
    pairs.write_text("king\tqueen\t8\nman\twoman\t7\nking\tfish\t1\nbirds\tdogs\t6\n")
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("the king sat\na queen ran\n")
    more = tmp_path / "more.txt"
    more.write_text("paris is a capital\n")
    return {"q": questions, "pairs": pairs, "corpus": corpus, "more": more}


def arguments(name: str, tmp_path, inputs) -> list[str]:
    """What each command needs besides the shared options, to run to the end."""
    return {
        "tokenize": ["The king"],
        "neighbors": ["king", "-k", "3"],
        "similarity": ["king", "queen"],
        "analogy": ["king", "man", "woman"],
        "stats": ["--samples", "50"],
        "undertrained": ["-k", "3"],
        "size": ["--vocab", "10", "--dim", "4"],
        "evaluate analogies": [str(inputs["q"])],
        "evaluate similarity": [str(inputs["pairs"])],
        "plot": ["king", "queen", "man", "woman", "--plot", str(tmp_path / "p.svg")],
        "positions": ["--max", "8", "--plot", str(tmp_path / "pos.png")],
        "export": [str(tmp_path / "out.txt"), "--limit", "5"],
        "compare": ["--table-b", "output", "--sample", "20"],
        "context": ["king", "the king sat", "a king ran", "-k", "0"],
        "sentences": ["the king", "a queen"],
        "axis": ["--pairs", "king:queen,man:woman", "-k", "2"],
        "weat": ["--targets", "king,man", "queen,woman", "--attributes", "king,queen",
                 "man,woman", "--permutations", "10"],
        "index build": [str(inputs["corpus"]), "--name", "built"],
        "index add": [str(inputs["more"]), "--index", "idx"],
        "index rm": ["idx"],
        "search": ["king", "--index", "idx", "-k", "1"],
        "map": ["-o", str(tmp_path / "m.html"), "--sample", "40", "--clusters", "3", "-k", "3",
                "--seed", "1", "--method", "pca", "--perplexity", "5", "--umap-neighbors", "10",
                "--umap-min-dist", "0.2", "--axis", "king:queen,man:woman"],
    }.get(name, [])  # fmt: skip


def values(model, tmp_path) -> dict[str, list[str]]:
    """A value for every shared option that a tiny GPT-2 accepts (revision: read, and for a
    local model it has nothing to select)."""
    return {
        "model": ["-m", str(model)],
        "revision": ["--revision", "main"],
        "tensor": ["--tensor", "transformer.wte.weight"],
        "role": ["--table", "input"],
        "format": ["-f", "json"],
        "cache_dir": ["--cache-dir", str(tmp_path / "cache")],
        "allow_pickle": ["--allow-pickle"],
        # GGUF choices: a GPT-2 directory holds no GGUF file, so the walk below does not give
        # them (tests/*/test_gguf*.py do); the refusal test does
        "file": ["--file", "model.gguf"],
        "quant": ["--quant", "Q4_K_M"],
        # many models: a listing of the same model (tests/cli/test_many_models.py asks several)
        "models": ["--models", str(_listing(model, tmp_path))],
        "jobs": ["--jobs", "1"],
        # a Dask scheduler needs a cluster: tests/api/test_fleet.py starts one
        "scheduler": ["--scheduler", "tcp://127.0.0.1:8786"],
    }


def _listing(model, tmp_path):
    path = tmp_path / "models.txt"
    path.write_text(f"{model}\n")
    return path


GGUF_CHOICE = ("file", "quant")
#: Not given by the walk: the GGUF choices, and --scheduler (it needs a Dask cluster; the
#: many-model tests, tests/api/test_fleet.py and tests/cli/test_many_models.py, give it).
NOT_WALKED = (*GGUF_CHOICE, "scheduler")


def unread_options(cli, name: str, cmd, before: list[str], after: list[str]) -> set[str]:
    """Run ``name`` and return the shared options it declares but did not read."""
    options.LAST.clear()
    res = cli(*before, *name.split(), *after)
    assert res.code == 0, (name, res.err)
    assert options.LAST, name
    return set(uses(cmd)) - options.LAST[0].read


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_option_a_command_accepts_is_read(cli, model_dirs, tmp_path, inputs, name):
    cmd = COMMANDS[name]
    own = set(inspect.signature(cmd.callback.embcli_function).parameters)
    given = values(model_dirs["gpt2"], tmp_path)
    if name == "cache clear":
        assert cli("info", "--cache-dir", tmp_path / "cache", "-m", model_dirs["gpt2"]).code == 0
    if name.split()[0] in ("index", "search"):  # a sentence model, and an index to work on
        static = tiny_model2vec(tmp_path / "static")
        given["model"] = ["-m", str(static)]
        build = ["index", "build", inputs["corpus"], "--name", "idx", "-m", static]
        assert cli(*build, "--cache-dir", tmp_path / "cache").code == 0
    # an option the command declares but spells itself (compare's -m A -m B) goes before it
    walked = [o for o in uses(cmd) if o not in NOT_WALKED]
    before = [v for o in walked if o in own for v in given[o]]
    after = [v for o in walked if o not in own for v in given[o]]
    after += arguments(name, tmp_path, inputs)
    if name == "map":  # B: another table, here the same model
        after += ["--compare", str(model_dirs["gpt2"])]
    assert unread_options(cli, name, cmd, before, after) == set()


def test_the_check_fails_on_an_option_that_is_accepted_and_ignored(cli, monkeypatch):
    """What ``size --cache-dir`` did before: declared, taken, never read."""

    @command("format", "cache_dir")
    def ignores_cache_dir(settings: Settings) -> None:
        print(settings.format)

    probe = typer.Typer()
    probe.command("probe")(ignores_cache_dir)
    probe.command("other")(lambda: None)
    from embcli.cli import main

    monkeypatch.setitem(main.COMMAND_MODULES, "probe", "probe_module")
    monkeypatch.setattr(main._LazyGroup, "_load", _loader(probe))
    cmd = typer.main.get_group(probe).commands["probe"]
    unread = unread_options(cli, "probe", cmd, [], ["--cache-dir", "/tmp/x", "-f", "json"])
    assert unread == {"cache_dir"}


def _loader(probe: typer.Typer):
    def load(self, module_name: str) -> None:
        for name, cmd in typer.main.get_group(probe).commands.items():
            self.commands.setdefault(name, cmd)

    return load


def test_every_own_option_is_used_in_its_command():
    """A command's own options appear in its body (an option declared and never looked at,
    like ``--all`` once was for ``-k``, is caught here or by a behaviour test)."""
    unused = []
    for name, cmd in COMMANDS.items():
        func = cmd.callback.embcli_function
        tree = ast.parse(textwrap.dedent(inspect.getsource(func)))
        body = tree.body[0]
        params = [a.arg for a in body.args.args + body.args.kwonlyargs]
        seen = {n.id for stmt in body.body for n in ast.walk(stmt) if isinstance(n, ast.Name)}
        unused += [f"{name} {p}" for p in params if p not in seen]
    assert unused == []


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_options_before_a_command_that_does_not_use_them_are_refused(
    cli, model_dirs, tmp_path, inputs, name
):
    refused = [o for o in SHARED_OPTIONS if o not in uses(COMMANDS[name]) and o != "debug"]
    given = values(model_dirs["gpt2"], tmp_path)
    for option in refused:
        res = cli(*given[option], *name.split(), *arguments(name, tmp_path, inputs))
        assert res.code == 2, (name, option, res.err)
        assert res.err.strip() == f"embcli: {FLAGS[option]} does not apply to 'embcli {name}'"
        # after the command's name: the same one line, not click's "No such option" usage text
        # (unless the command has an option of that spelling of its own: analogy --file...)
        if given[option][0] not in flags_after_name(COMMANDS[name]):
            after = cli(*name.split(), *given[option], *arguments(name, tmp_path, inputs))
            assert (after.code, after.err) == (2, res.err), (name, option)


def test_debug_is_taken_everywhere(cli):
    res = cli("--debug", "size", "--vocab", "10", "--dim", "4", "--debug", "-f", "json")
    assert res.code == 0, res.err


def test_cache_list_takes_cache_dir_after_the_command(cli, model_dirs, tmp_path) -> None:
    elsewhere = tmp_path / "elsewhere"
    assert cli("info", "-m", model_dirs["gpt2"], "--cache-dir", elsewhere).code == 0
    listed = cli("cache", "list", "--cache-dir", elsewhere, "-f", "json")
    assert listed.code == 0, listed.err
    entries = json.loads(listed.out)
    assert [e["model"] for e in entries] == [str(model_dirs["gpt2"].resolve())]
    default = cli("cache", "list", "-f", "json")  # the isolated default cache is still empty
    assert json.loads(default.out) == []


def test_option_after_the_command_wins_over_the_one_before(cli, model_dirs) -> None:
    got = cli("-m", model_dirs["llama"], "info", "-m", model_dirs["gpt2"], "-f", "json")
    assert got.code == 0, got.err
    assert json.loads(got.out)["model"] == str(model_dirs["gpt2"].resolve())


def test_the_command_line_wins_over_the_environment(cli, model_dirs, tmp_path, monkeypatch):
    """``EMBCLI_CACHE`` set, ``--cache-dir`` given before the command: the option is used."""
    monkeypatch.setenv("EMBCLI_CACHE", str(tmp_path / "from-env"))
    res = cli("--cache-dir", tmp_path / "given", "info", "-m", model_dirs["gpt2"], "-f", "json")
    assert res.code == 0, res.err
    assert json.loads(res.out)["cache_path"].startswith(str(tmp_path / "given"))


def test_a_global_table_choice_reaches_undertrained(cli, model_dirs):
    """``--table input`` before ``undertrained`` is the table scored, not silently the head."""
    llama = model_dirs["llama"]
    for before, after, role in (([], [], "output"), (["--table", "input"], [], "input"),
                                ([], ["--table", "input"], "input")):  # fmt: skip
        res = cli(*before, "undertrained", "-m", llama, *after, "-k", "2", "-f", "json")
        assert res.code == 0, res.err
        assert json.loads(res.out)["table"] == role


def test_undertrained_all_lists_every_row(cli, model_dirs):
    llama = model_dirs["llama"]
    rows = json.loads(cli("info", "-m", llama, "--table", "output", "-f", "json").out)["rows"]
    res = cli("undertrained", "-m", llama, "--all", "-f", "json")
    assert res.code == 0, res.err
    got = json.loads(res.out)
    assert len(got["candidates"]) == rows - got["reference"]["size"] > 50
    assert len(json.loads(cli("undertrained", "-m", llama, "--all", "-k", "7", "-f",
                              "json").out)["candidates"]) == 7  # fmt: skip


BRACKETED = re.compile(r"\[[^\]\[]*\]")


def rendered_help(cli, name: str) -> str:
    res = cli(*name.split(), "--help")
    assert res.code == 0, res.err
    return " ".join(res.out.replace("│", " ").split())


@pytest.mark.parametrize("name", ["", *sorted(COMMANDS), "evaluate", "cache", "index"])
def test_help_shows_brackets_as_written(cli, name, monkeypatch):
    """Rich markup would swallow ``[expected]``; every help text's brackets reach the screen."""
    monkeypatch.setenv("COLUMNS", "400")
    shown = rendered_help(cli, name)
    group = typer.main.get_command(app)
    cmd = group
    for part in name.split():
        cmd = cmd.get_command(typer.Context(cmd), part)
    texts = [cmd.help or "", *(getattr(p, "help", None) or "" for p in cmd.params)]
    wanted = [
        " ".join(m.group(0).split())
        for t in texts
        for m in BRACKETED.finditer(t.replace("\\[", "["))
    ]
    missing = [w for w in wanted if w not in shown]
    assert missing == []
    if name == "analogy":
        assert "Questions 'a b c [expected]'" in shown


# -- shell completion ----------------------------------------------------------------------------


def complete(words: str, cword: int, env: dict[str, str]) -> list[str]:
    env = {
        **env,
        "_EMBCLI_COMPLETE": "complete_bash",
        "COMP_WORDS": words,
        "COMP_CWORD": str(cword),
    }
    return run_subprocess(env=env).out.split()


def test_completion_of_commands_options_and_cached_models(minilm_dir, tmp_path):
    env = {"EMBCLI_CACHE": str(tmp_path / "c")}
    assert run_subprocess("info", "-m", minilm_dir, env=env).code == 0
    assert complete("embcli nei", 1, env) == ["neighbors"]
    assert "--format" in complete("embcli neighbors --for", 2, env)
    assert complete(f"embcli -m {str(minilm_dir)[:8]}", 2, env) == [str(minilm_dir)]
    # after the command's name, where the README puts -m, and for cache clear's MODEL
    assert complete(f"embcli neighbors -m {str(minilm_dir)[:8]}", 3, env) == [str(minilm_dir)]
    assert complete(f"embcli cache clear {str(minilm_dir)[:8]}", 3, env) == [str(minilm_dir)]
    assert "--install-completion" in run_subprocess("--help", env=env).out


def test_a_table_wider_than_the_terminal_shows_every_value_whole(capsys, monkeypatch):
    """Squeezed into 80 columns rich cuts every cell ("ch…"); such a table is printed one
    block a record instead, every value whole, and a table that fits is a table."""
    from embcli.view import View, print_view

    monkeypatch.setenv("COLUMNS", "80")
    wide = View(["checkpoint", "revision", "drift from previous", "drift from last", "note"],
                [["checkpoint-000128", "step128", 0.123456, 0.654321, "x" * 40],
                 ["checkpoint-143000", "step143000", 0.5, 0.25, " Paris"]],
                token_columns={"note"})  # fmt: skip
    print_view(wide)
    out = capsys.readouterr().out
    assert "2 records: wider than the terminal's 80 columns" in out
    for value in ("checkpoint-000128", "step143000", "0.1235", "0.6543", "x" * 40, "␣Paris"):
        assert value in out
    assert "…" not in out
    print_view(View(["a", "b"], [["one", 1.0]]))
    assert "records" not in capsys.readouterr().out
