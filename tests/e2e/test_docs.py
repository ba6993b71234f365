"""The documentation says what the code does: the command reference is generated from the CLI
and must be current, every relative link between the pages resolves, and the README's examples
are run against MiniLM and must print what the README shows."""

from __future__ import annotations

import difflib
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
PAGES = [ROOT / "README.md", ROOT / "DEVELOPERS.md", *sorted(DOCS.glob("*.md"))]
#: The pages whose ```console blocks are run (their examples use MiniLM).
CHECKED = [ROOT / "README.md", DOCS / "guide.md", DOCS / "running-models.md"]


# -- the generated reference -------------------------------------------------------------------


def test_reference_is_current():
    from embcli.cli.reference import REGENERATE, reference

    committed = (DOCS / "reference.md").read_text(encoding="utf-8")
    fresh = reference()
    if committed != fresh:
        diff = "".join(
            list(
                difflib.unified_diff(
                    committed.splitlines(True), fresh.splitlines(True), "committed", "from the CLI"
                )
            )[:40]
        )
        pytest.fail(f"docs/reference.md is stale: run `{REGENERATE}`\n{diff}")


def test_reference_names_every_command_and_option():
    """The page walks the whole app: every command and sub-command has its section, and every
    visible option of each is named in it (checked against click's own view of the app)."""
    import typer

    from embcli.cli.main import COMMAND_MODULES, app

    text = (DOCS / "reference.md").read_text(encoding="utf-8")
    sections = dict(re.findall(r"^## (embcli[^\n]*)\n(.*?)(?=^## |\Z)", text, re.M | re.S))
    root = typer.main.get_command(app)
    ctx = root.context_class(root, info_name="embcli")
    for name in COMMAND_MODULES:
        command = root.get_command(ctx, name)
        subs = [(f"embcli {name}", command)]
        if hasattr(command, "list_commands"):
            sub_ctx = command.context_class(command, info_name=name, parent=ctx)
            subs += [
                (f"embcli {name} {s}", command.get_command(sub_ctx, s))
                for s in command.list_commands(sub_ctx)
            ]
        for path, cmd in subs:
            assert path in sections, f"no section for {path}"
            for param in cmd.params:
                if getattr(param, "hidden", False):
                    continue
                if param.param_type_name == "option":
                    assert f"`{param.opts[0]}`" in sections[path], (path, param.opts)


# -- links -------------------------------------------------------------------------------------

LINK = re.compile(r"(?<!!)\[[^\]\n]*\]\(([^)\s]+)\)")


def _anchors(page: Path) -> set[str]:
    """The anchors GitHub makes of a page's headings (outside code blocks)."""
    found: set[str] = set()
    seen: dict[str, int] = {}
    fence = False
    for line in page.read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            fence = not fence
        if fence or not line.startswith("#"):
            continue
        title = line.lstrip("#").strip()
        slug = re.sub(r"[^\w\- ]", "", title.lower()).replace(" ", "-")
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        found.add(slug if n == 0 else f"{slug}-{n}")
    return found


def _links(page: Path) -> list[str]:
    text = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.S)
    text = re.sub(r"`[^`\n]*`", "", text)
    return LINK.findall(text)


def test_the_readme_test_setup_is_what_ci_runs():
    """The README's developer block is .ci/run's install and test steps, command for command
    (``--quiet`` and the test runner's pass-through arguments aside), so a new user who
    follows it gets CI's versions and CI's test command."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"### Developers\n\n```bash\n(.*?)```", readme, re.S)
    assert block, "the README's developer block is missing"
    ci = (
        " ".join((ROOT / ".ci" / name).read_text(encoding="utf-8") for name in ("run", "checks"))
        .replace("--quiet ", "")
        .replace(' "$@"', "")
    )
    for line in block.group(1).splitlines():
        command = line.split("#")[0].strip()
        if command:
            assert command in ci, f"README runs {command!r}, which .ci/run does not"


def test_every_relative_link_resolves():
    broken = []
    for page in PAGES:
        for target in _links(page):
            if re.match(r"[a-z]+:", target):  # https:, mailto:
                continue
            path, _, anchor = target.partition("#")
            dest = (page.parent / path).resolve() if path else page
            if not dest.exists():
                broken.append(f"{page.relative_to(ROOT)}: {target} (no such file)")
            elif anchor and dest.suffix == ".md" and anchor not in _anchors(dest):
                broken.append(f"{page.relative_to(ROOT)}: {target} (no such heading)")
    assert not broken, "\n".join(broken)


def test_readme_links_every_docs_page():
    linked = {
        (ROOT / t.partition("#")[0]).resolve()
        for t in _links(ROOT / "README.md")
        if t.startswith("docs/")
    }
    missing = [p.name for p in DOCS.glob("*.md") if p.resolve() not in linked]
    assert not missing, f"docs pages the README does not link: {missing}"


def test_links_are_found():
    """The link check reads links: a page with a known link and a known anchor yields them."""
    assert "docs/reference.md" in _links(ROOT / "README.md")
    assert "shared-options" in _anchors(DOCS / "reference.md")
    assert "embcli-cache-clear" in _anchors(DOCS / "reference.md")


# -- the README's examples, run ----------------------------------------------------------------


@dataclass
class Example:
    page: str
    line: int
    commands: list[tuple[str, list[str]]]  # (command, the output the page shows)

    @property
    def id(self) -> str:
        return f"{self.page}:{self.line}"


def examples(page: Path) -> list[Example]:
    """Every ```console block of ``page``: ``$ command`` lines (a trailing backslash continues
    one), each followed by the output it prints."""
    found = []
    lines = page.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        if lines[i].strip() != "```console":
            i += 1
            continue
        start, i = i + 1, i + 1
        commands: list[tuple[str, list[str]]] = []
        while i < len(lines) and lines[i].strip() != "```":
            line = lines[i]
            if line.startswith("$ "):
                command = line[2:]
                while command.endswith("\\"):
                    i += 1
                    command = command[:-1] + " " + lines[i].strip()
                commands.append((command, []))
            elif commands:
                commands[-1][1].append(line)
            i += 1
        found.append(Example(page.name, start, commands))
        i += 1
    return found


ALL_EXAMPLES = [e for page in CHECKED for e in examples(page)]
ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07]*\x07")
#: How the README writes MiniLM's directory (the reader's copy, wherever it is).
MINILM = "$MINILM"


def test_examples_are_found():
    assert len(ALL_EXAMPLES) >= 5
    commands = [c for e in ALL_EXAMPLES for c, _ in e.commands]
    assert all(c.startswith(("embcli ", "printf ", "echo ", "python ")) for c in commands)


def _normal(text: str) -> list[str]:
    """Lines with runs of whitespace made one space; blank lines dropped."""
    return [" ".join(line.split()) for line in text.splitlines() if line.strip()]


def _pattern(expected: list[str]) -> re.Pattern[str]:
    """A line ``...`` stands for any lines (none too); ``...`` inside a line for any text."""
    parts = []
    for line in _normal("\n".join(expected)):
        if line == "...":
            parts.append(r"(?:[^\n]*\n)*?")
        else:
            pieces = re.split(r" ?\.\.\. ?", line)  # "rumor ..." matches a line ending "rumor"
            parts.append("[^\n]*".join(re.escape(p) for p in pieces) + r"\n")
    return re.compile("".join(parts))


def matches(expected: list[str], actual: str) -> bool:
    text = "".join(line + "\n" for line in _normal(actual))
    return _pattern(expected).fullmatch(text) is not None


def test_matching_rules():
    assert matches(["a   b", "...", "z"], "a b\nc\nd\n\nz\n")
    assert matches(["a ... z"], "a b c z")
    assert matches(["a b ..."], "a b")
    assert not matches(["a b"], "a c")
    assert not matches(["a", "b"], "a\nb\nc")


@pytest.fixture(scope="module")
def console(minilm_dir, tmp_path_factory):
    """A shell whose ``embcli`` is this checkout's, MiniLM as the model, a warm cache, and a
    terminal 100 columns wide (a pseudo-terminal: tables as people see them, stderr mixed in)."""
    return shell_setup(minilm_dir, tmp_path_factory.mktemp("readme"))


def shell_setup(minilm_dir: Path, work: Path) -> tuple[Path, dict[str, str]]:
    """The working directory and environment of :func:`console`."""
    bin_dir = work / "bin"
    bin_dir.mkdir(exist_ok=True)
    python_dir = str(Path(sys.executable).parent)  # the examples' `python` is this one
    shim = bin_dir / "embcli"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m embcli "$@"\n')
    shim.chmod(0o755)
    env = {
        **os.environ,
        "PATH": os.pathsep.join([str(bin_dir), python_dir, os.environ["PATH"]]),
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
        "EMBCLI_MODEL": str(minilm_dir),
        "EMBCLI_CACHE": str(work / "cache"),
        "HF_HUB_OFFLINE": "1",
        "HF_HOME": str(work / "hf"),
        "TERM": "dumb",
        "NO_COLOR": "1",
        "COLUMNS": "100",
        "LINES": "50",
    }
    # build the cache first, without a terminal: no progress bar in the examples
    subprocess.run([str(shim), "info"], env=env, cwd=work, check=True, capture_output=True)
    return work, env


def run_in_terminal(script: str, cwd: Path, env: dict[str, str]) -> str:
    """Run ``script`` with bash on a pseudo-terminal; everything it printed."""
    import fcntl
    import pty
    import struct
    import termios

    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 100, 0, 0))
    proc = subprocess.Popen(
        ["bash", "--noprofile", "--norc", "-c", script],
        stdin=subprocess.DEVNULL, stdout=follower, stderr=follower, cwd=cwd, env=env,
        start_new_session=True,
    )  # fmt: skip
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # EIO: every writer has gone
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    proc.wait(timeout=600)
    return b"".join(chunks).decode("utf-8", "replace").replace("\r\n", "\n")


@pytest.mark.slow
@pytest.mark.parametrize("example", ALL_EXAMPLES, ids=lambda e: e.id)
def test_readme_example(example, console, minilm_dir):
    """Each block runs as one shell session (files it writes, ``$?``, pipes work as shown);
    its output, with MiniLM's directory written ``$MINILM``, is what the page shows."""
    work, env = console
    mark = "@@ embcli readme example {} @@"
    # the mark between commands keeps $? as the command before it left it
    script = "".join(
        f"__status=$?; echo '{mark.format(n)}'; (exit $__status)\n{c}\n"
        for n, (c, _) in enumerate(example.commands)
    )
    out = ANSI.sub("", run_in_terminal(script, work, env)).replace(str(minilm_dir), MINILM)
    pieces = re.split(r"^@@ embcli readme example \d+ @@\n", out, flags=re.M)[1:]
    assert len(pieces) == len(example.commands), out
    wrong = []
    for (command, expected), actual in zip(example.commands, pieces, strict=True):
        if not matches(expected, actual):
            diff = "\n".join(
                difflib.unified_diff(
                    _normal("\n".join(expected)), _normal(actual), "README", "run", lineterm=""
                )
            )
            wrong.append(f"$ {command}\n{diff}")
    assert not wrong, f"{example.id}: the output differs from the page:\n" + "\n\n".join(wrong)


# -- the JSON keys of docs/scripting.md --------------------------------------------------------


def documented_keys(command: str) -> tuple[set[str], set[str], bool]:
    """The key table's row for ``command`` in ``docs/scripting.md``, read by :func:`row_keys`."""
    text = (DOCS / "scripting.md").read_text(encoding="utf-8")
    row = re.search(rf"^\| {re.escape(command)} \| (.*) \|$", text, re.M)
    assert row, f"docs/scripting.md has no JSON key row for {command}"
    return row_keys(row.group(1))


def row_keys(cell: str) -> tuple[set[str], set[str], bool]:
    """Every top-level key a row names; those it names unconditionally (before the first ``;``,
    outside parenthesised remarks); and whether it is open-ended (ends in ``...``)."""

    def keys(part: str) -> set[str]:
        spans = re.findall(r"`([^`]+)`", part)
        return {s.split(":")[0].strip() for s in spans if re.match(r"[a-z_0-9]+(:|$)", s)}

    masked = re.sub(r"`[^`]*`", lambda m: "`" + "x" * (len(m.group()) - 2) + "`", cell)
    cut = masked.find(";")
    head, masked = (cell, masked) if cut < 0 else (cell[:cut], masked[:cut])
    kept, depth = [], 0
    for ch, m in zip(head, masked, strict=True):
        depth += m == "("
        if depth == 0:
            kept.append(ch)
        depth -= m == ")" and depth > 0
    return keys(cell), keys("".join(kept)), cell.rstrip().endswith("...")


#: Commands that answer on MiniLM alone, with the arguments to ask them.
JSON_RUNS = {
    "neighbors": ["neighbors", "paris", "-k", "2"],
    "similarity": ["similarity", "cat", "dog"],
    "analogy": ["analogy", "king", "man", "woman", "-k", "2"],
    "tokenize": ["tokenize", "Embeddings of Paris"],
    "info": ["info"],
    "size": ["size", "gpt2"],
    "stats": ["stats", "--samples", "200"],
    "undertrained": ["undertrained", "-k", "2"],
    "axis": ["axis", "--pairs", "man:woman,he:she", "--words", "nurse,doctor"],
    "weat": ["weat", "career-family", "--permutations", "1000"],
    "evaluate similarity": ["evaluate", "similarity"],
    "evaluate analogies": ["evaluate", "analogies"],
}


def test_documented_keys_are_read():
    every, always, open_ended = row_keys(
        "`a`, `r: [{id}]` (or `x` when `y`: z); with `--file` also `e`, `c`, ..."
    )
    assert every == {"a", "r", "x", "y", "e", "c"}
    assert always == {"a", "r"} and open_ended
    analogy = {"a", "b", "c", "method", "formula", "tokens", "results"}
    assert documented_keys("analogy")[1] == analogy


@pytest.mark.slow
@pytest.mark.parametrize("command", JSON_RUNS)
def test_json_keys_are_documented(command, cli, minilm_dir, tmp_path):
    """Every key a command prints is in the table, and every key the table promises without
    a condition is printed."""
    args = JSON_RUNS[command]
    result = cli(*args, "-f", "json", *([] if command == "size" else ["-m", minilm_dir]))
    assert result.code == 0, result.err
    data = json.loads(result.out)
    record = data[0] if isinstance(data, list) else data
    every, always, open_ended = documented_keys(command)
    undocumented = set(record) - every
    assert open_ended or not undocumented, f"{command} prints keys the docs omit: {undocumented}"
    missing = always - set(record)
    assert not missing, f"docs/scripting.md promises {command} keys it does not print: {missing}"
