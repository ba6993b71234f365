"""Shared options work after every command's name, as they do before it."""

from __future__ import annotations

import json

import typer

from embcli.cli.main import app
from embcli.cli.options import SHARED_OPTIONS


def _leaf_commands():
    group = typer.main.get_command(app)
    todo = [((), group)]
    while todo:
        path, cmd = todo.pop()
        subs = getattr(cmd, "commands", None)
        if subs:
            todo += [((*path, name), sub) for name, sub in subs.items()]
        else:
            yield " ".join(path), cmd


def test_every_model_command_takes_the_shared_options_after_its_name() -> None:
    flags = {"--model", "--revision", "--tensor", "--table", "--format", "--cache-dir"}
    missing = {}
    for name, cmd in _leaf_commands():
        opts = {o for p in cmd.params for o in getattr(p, "opts", [])}
        if "--model" in opts or "-m" in opts:
            lacking = flags - opts
            if lacking:
                missing[name] = sorted(lacking)
        elif "--cache-dir" not in opts or "--format" not in opts:
            missing[name] = ["--cache-dir/--format"]
    assert missing == {}
    assert set(SHARED_OPTIONS) >= {"model", "role", "cache_dir"}


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
