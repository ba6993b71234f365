"""Ctrl-C outside a cache build: every command says "interrupted" and what was or was not written,
and exits 130. Real processes, sent a real SIGINT mid-run (typer < 0.29 turns a Ctrl-C into a
bare exit code before an error handler sees it; the command wrapper catches it first).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from tests import glove


def start(args: list, env: dict[str, str], stdin: int | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "embcli", *map(str, args)],
        env={**os.environ, **env},
        stdin=stdin,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def interrupt(proc: subprocess.Popen, ready, timeout: float = 120) -> tuple[int, str]:
    """Send SIGINT once ``ready()`` holds (the process is mid-run); return (exit code, stderr)."""
    deadline = time.monotonic() + timeout
    while not ready():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the process never reached the point to interrupt"
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    return proc.returncode, err


@pytest.fixture(scope="module")
def big_table(tmp_path_factory):
    """GloVe's first 200,000 words, cached: exporting them as text takes seconds."""
    root = tmp_path_factory.mktemp("big")
    path = glove.write_text(root / "glove.txt", limit=200_000)
    env = {"EMBCLI_CACHE": str(root / "cache")}
    built = subprocess.run([sys.executable, "-m", "embcli", "info", "-m", str(path)],
                           env={**os.environ, **env}, capture_output=True, text=True)  # fmt: skip
    assert built.returncode == 0, built.stderr
    return path, env


def test_export_interrupted_mid_write_says_nothing_was_written(big_table, tmp_path):
    path, env = big_table
    out = tmp_path / "out.txt"
    proc = start(["export", out, "-m", path], env)

    def writing() -> bool:  # the temporary file beside the target: rows are being written
        return any(p.name.startswith(".out.txt.") for p in tmp_path.iterdir())

    code, err = interrupt(proc, writing)
    assert code == 130
    assert err.strip().splitlines() == [f"embcli: interrupted; {out} was not written"]
    assert list(tmp_path.iterdir()) == []  # no target, no temporary file


@pytest.mark.slow  # a process
def test_a_command_waiting_on_stdin_says_it_was_interrupted(model_dirs, tmp_path):
    env = {"EMBCLI_CACHE": str(tmp_path / "cache")}
    proc = start(["neighbors", "king", "--among", "-", "-m", model_dirs["gpt2"]], env,
                 stdin=subprocess.PIPE)  # fmt: skip
    started = time.monotonic()
    code, err = interrupt(proc, lambda: time.monotonic() - started > 3)
    assert code == 130
    assert err.strip().splitlines() == ["embcli: interrupted; nothing was written"]


@pytest.mark.slow  # a process and torch
def test_sentences_interrupted_names_the_file_it_did_not_write(model_dirs, tmp_path):
    out = tmp_path / "v.npy"
    proc = start(["sentences", "--file", "-", "-o", out, "-m", model_dirs["gpt2"]], {},
                 stdin=subprocess.PIPE)  # fmt: skip
    started = time.monotonic()
    code, err = interrupt(proc, lambda: time.monotonic() - started > 3)
    assert code == 130
    assert err.strip().splitlines() == [f"embcli: interrupted; {out} was not written"]
    assert not out.exists()


def test_the_message_lists_what_was_written_and_what_was_not(tmp_path):
    from embcli.cli.options import interrupted

    plot, data = tmp_path / "a.png", tmp_path / "b.npy"
    assert interrupted([], []) == "interrupted; nothing was written"
    assert interrupted([plot, data], [tmp_path / "cache" / "x.npy", plot]) == (
        f"interrupted; wrote {plot}; {data} was not written"
    )
    pair = [data, tmp_path / "b.tokens.json"]
    assert interrupted([data], pair) == f"interrupted; wrote {data}, {pair[1]}"
    projector = tmp_path / "proj"
    assert interrupted([projector], [projector / "vectors.tsv"]).startswith("interrupted; wrote")


def test_typers_bare_exit_code_is_said_too(monkeypatch, capsys):
    """A Ctrl-C typer catches itself (outside any command) still prints the line."""
    import typer

    from embcli.cli import main

    class Interrupting:
        def main(self, **kwargs):
            return 130

    monkeypatch.setattr(typer.main, "get_command", lambda app: Interrupting())
    monkeypatch.setattr(main, "escape_markup", lambda command: command)
    with pytest.raises(SystemExit) as exc:
        main.main(["info"])
    assert exc.value.code == 130
    assert capsys.readouterr().err == "embcli: interrupted; nothing was written\n"
