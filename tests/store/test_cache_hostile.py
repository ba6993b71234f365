"""A cache root that is not a directory: one line everywhere, from the CLI and the API.

``EMBCLI_CACHE`` (or ``--cache-dir``, ``cache_dir=``) naming a regular file used to list an
empty cache, "remove 0 cached tables" and return normally from the API, while ``neighbors``
refused it. Every way in now says the same line (exit 1) and leaves the file as it was.
"""

from __future__ import annotations

import pytest

from embcli.api import cache_entries, cached_models, clear_cache, load
from embcli.errors import CacheProblem

LINE = "embcli: the cache at {} is not a directory (set EMBCLI_CACHE or --cache-dir to a directory)"


@pytest.fixture
def file_cache(tmp_path, monkeypatch):
    path = tmp_path / "not-a-dir"
    path.write_bytes(b"a file someone pointed the cache at\n")
    monkeypatch.setenv("EMBCLI_CACHE", str(path))
    return path


@pytest.mark.parametrize(
    "args",
    [
        ("cache", "list"),
        ("cache", "list", "-f", "json"),
        ("cache", "clear"),
        ("cache", "clear", "-f", "json"),
        ("cache", "clear", "--keep-latest", "1"),
    ],
)
def test_the_cache_commands_refuse_a_file_in_one_line(cli, file_cache, args):
    before = file_cache.read_bytes()
    res = cli(*args)
    assert res.code == 1 and res.out == "", res.out
    assert res.err.strip().splitlines() == [LINE.format(file_cache)]
    assert file_cache.read_bytes() == before


def test_a_question_says_the_same_line(cli, file_cache, model_dirs):
    res = cli("neighbors", "#3", "-m", model_dirs["llama"])
    assert res.code == 1
    assert res.err.strip().splitlines() == [LINE.format(file_cache)]


def test_cache_dir_option_naming_a_file_is_the_same_line(cli, tmp_path, model_dirs):
    other = tmp_path / "other-file"
    other.write_text("x")
    for args in (("cache", "list"), ("info", "-m", model_dirs["llama"])):
        res = cli(*args, "--cache-dir", other)
        assert res.code == 1 and res.err.strip().splitlines() == [LINE.format(other)], res.err


@pytest.mark.parametrize(
    "call",
    [
        lambda: cache_entries(),
        lambda: clear_cache(),
        lambda: clear_cache(keep_latest=1),
        lambda: cached_models(),
    ],
)
def test_the_api_raises_embclis_own_error(file_cache, call):
    with pytest.raises(CacheProblem) as caught:
        call()
    assert caught.value.one_line() == LINE.format(file_cache).removeprefix("embcli: ")


def test_the_api_refuses_cache_dir_naming_a_file(tmp_path, model_dirs):
    other = tmp_path / "f"
    other.write_text("x")
    for call in (
        lambda: cache_entries(other),
        lambda: clear_cache(other),
        lambda: load(str(model_dirs["llama"]), cache_dir=other),
    ):
        with pytest.raises(CacheProblem, match="is not a directory"):
            call()
    assert other.read_text() == "x"


def test_shell_completion_from_a_file_cache_offers_nothing(file_cache):
    from embcli.cli.options import complete_model

    assert complete_model("") == []
