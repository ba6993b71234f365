"""The warm path: single-token words without the tokenizer, and only the modules a command uses.

The lookup written at build time must answer exactly what the tokenizer answers: every test here
compares it with ``resolve`` run the old way (the tokenizer asked directly) on the same table.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from embcli.ask.words import resolve
from embcli.errors import UnresolvedWord
from embcli.store.load import open_table
from embcli.store.table import EmbeddingTable
from tests.conftest import run_subprocess

HEAVY = (
    "embcli.store.build",  # a cold build's code: imported only when an entry is missing
    "embcli.read.container",
    "embcli.read.byte_source",
    "filelock",
    "huggingface_hub",
    "embcli.ask.evaluate",
    "embcli.draw.plotting",
    "rich.progress",
    "scipy",
    "matplotlib",
    "sklearn",
    "plotly",  # the map extra: only `embcli map` imports it
    "embcli.draw.map_page",
    "torch",
    "transformers",
    "dask",  # only when a Dask scheduler is named (--scheduler)
    "distributed",
)


def _answer(table: EmbeddingTable, query: str, pool: bool = False):
    try:
        r = resolve(table, query, pool=pool)
        return r.ids, r.form
    except UnresolvedWord as exc:
        return "error", exc.one_line()


def _without_lookup(table: EmbeddingTable) -> EmbeddingTable:
    twin = EmbeddingTable.__new__(EmbeddingTable)
    twin.__dict__.update({k: v for k, v in table.__dict__.items() if k != "lookup"})
    twin.__dict__["lookup"] = None  # the cached_property's slot: the tokenizer path, as before
    return twin


def _queries(table: EmbeddingTable, limit: int | None = None) -> list[str]:
    """Every vocabulary word in several spellings, special tokens, and words that split."""
    out: list[str] = []
    for text in table.tokens[:limit]:
        core = text.strip()
        out += [core, core.capitalize(), core.upper(), text]
    return [*out, "xqzjvkw", "Paris-Texas", "the king", "<|endoftext|>", "[CLS]", "<s>", "ñandú"]


@pytest.mark.parametrize("kind", ["gpt2", "llama", "bert", "sharded"])
def test_lookup_answers_what_the_tokenizer_answers(model_dirs, kind):
    table = open_table(str(model_dirs[kind]))
    assert table.lookup is not None and table.lookup.n > 0
    old = _without_lookup(table)
    for q in _queries(table):
        if q.strip():
            assert _answer(table, q) == _answer(old, q), q
            assert _answer(table, q, pool=True) == _answer(old, q, pool=True), q


def test_lookup_on_real_minilm(minilm_dir):
    table = open_table(str(minilm_dir))
    old = _without_lookup(table)
    # BERT lower-cases: "Paris" is the token "paris", found without the tokenizer too.
    assert table.lookup.find("Paris") == (table.token_id("paris"), "word")
    queries = [*_queries(table, 5000), "sebastopol", "embeddings", "Königsberg"]
    for q in queries:
        if q.strip():
            assert _answer(table, q) == _answer(old, q), q


def _probe(model: str, args: list[str], env: dict[str, str]) -> list[str]:
    """Run one command in a fresh interpreter; return the modules it imported (of interest)."""
    probe = (
        "import sys\n"
        "from embcli.cli.main import main\n"
        "try:\n"
        f"    main({args!r} + ['-m', {model!r}])\n"
        "except SystemExit as e:\n"
        "    assert not e.code, e.code\n"
        "print('MODULES', sorted(sys.modules), file=sys.stderr)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    line = next(x for x in proc.stderr.splitlines() if x.startswith("MODULES "))
    return eval(line.removeprefix("MODULES "))  # a list literal printed by the probe


def _loaded(modules: list[str], name: str) -> bool:
    return any(m == name or m.startswith(name + ".") for m in modules)


@pytest.mark.parametrize(
    "args",
    [
        ["neighbors", "paris", "-k", "5"],
        ["similarity", "paris", "france"],
        ["analogy", "paris", "france", "berlin"],
    ],
)
def test_warm_queries_import_only_what_they_use(minilm_dir, tmp_path, args):
    env = {"EMBCLI_CACHE": str(tmp_path / "c")}
    assert run_subprocess("info", "-m", minilm_dir, env=env).code == 0
    modules = _probe(str(minilm_dir), args, env)
    heavy = [name for name in HEAVY if _loaded(modules, name)]
    assert heavy == [], heavy
    # Single-token words are answered from the lookup: the tokenizer is never loaded.
    assert not _loaded(modules, "tokenizers")


def test_a_word_that_splits_still_loads_the_tokenizer(minilm_dir, tmp_path):
    env = {"EMBCLI_CACHE": str(tmp_path / "c")}
    assert run_subprocess("info", "-m", minilm_dir, env=env).code == 0
    modules = _probe(str(minilm_dir), ["neighbors", "sebastopol", "--pool", "mean"], env)
    assert _loaded(modules, "tokenizers")


@pytest.mark.parametrize("args", [["info"], ["tokenize", "the king"]])
@pytest.mark.slow  # a process
def test_info_and_tokenize_import_neither_torch_nor_transformers(model_dirs, tmp_path, args):
    env = {"EMBCLI_CACHE": str(tmp_path / "c")}
    assert run_subprocess("info", "-m", model_dirs["llama"], env=env).code == 0
    modules = _probe(str(model_dirs["llama"]), args, env)
    assert not _loaded(modules, "torch") and not _loaded(modules, "transformers")


@pytest.mark.slow  # a process
def test_many_models_without_a_scheduler_import_no_dask(model_dirs, tmp_path):
    """``stats -m A -m B`` (and --jobs) never imports dask or distributed: only a named
    scheduler does."""
    env = {"EMBCLI_CACHE": str(tmp_path / "c")}
    other = str(model_dirs["bert"])
    for jobs in ("1", "2"):
        args = ["stats", "--samples", "50", "-m", other, "--jobs", jobs]
        modules = _probe(str(model_dirs["gpt2"]), args, env)
        assert not _loaded(modules, "dask") and not _loaded(modules, "distributed"), jobs
