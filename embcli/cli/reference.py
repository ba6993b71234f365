"""The per-command reference, ``docs/reference.md``, written from the CLI itself.

``python -m embcli.cli.reference > docs/reference.md`` walks the application the way ``--help``
does (every command and sub-command, its help text, its arguments and its options with their
defaults) and prints one Markdown page; ``tests/e2e/test_docs.py`` regenerates it and fails when
the committed page differs, so the reference never drifts from the help texts. The page depends
on nothing but the code: no terminal width, no environment variable, no user's paths.
"""

from __future__ import annotations

import sys
from enum import Enum
from typing import Any

import typer

from embcli.cli.main import app
from embcli.cli.options import ALWAYS, SHARED_OPTIONS

#: How to bring the page up to date (the stale-page test says it).
REGENERATE = "python -m embcli.cli.reference > docs/reference.md"

HEADER = f"""\
# Command reference

Every command, sub-command, argument and option, with its help text and default, as
`embcli COMMAND --help` shows them. This page is generated from the CLI itself
(`{REGENERATE}`); do not edit it by hand: `tests/e2e/test_docs.py` fails when it is stale.
The guides explain what the commands do: see the [documentation](../README.md#documentation).
"""


def reference() -> str:
    """The whole page, as Markdown."""
    root = typer.main.get_command(app)
    ctx = root.context_class(root, info_name="embcli")
    commands = list(_walk(root, ctx))
    shared = _shared_rows(commands)
    out = [HEADER]
    out += _section("embcli", root, ctx, {}, level=2)
    out.append("## Shared options\n")
    out.append(
        "A command takes only the shared options it uses, listed under it; each works before "
        "the command's name (`embcli -m gpt2 info`) or after it (`embcli info -m gpt2`; after "
        "wins). One given to a command that does not use it is refused in one line (exit 2).\n"
    )
    out += _table(list(shared.values()))
    for path, command, cctx in commands:
        out += _section(path, command, cctx, shared, level=2)
    return "\n".join(out).rstrip() + "\n"


def _walk(group: Any, ctx: Any) -> Any:
    """``(path, command, context)`` for every command under ``group``, in ``--help`` order."""
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        if command is None or getattr(command, "hidden", False):
            continue
        sub_ctx = command.context_class(command, info_name=name, parent=ctx)
        yield sub_ctx.command_path, command, sub_ctx
        if _is_group(command):
            yield from _walk(command, sub_ctx)


# typer 0.28 vendors click (``typer._click``) and older typers use click itself: commands and
# parameters are told apart by what they have, not by class.
def _is_group(command: Any) -> bool:
    return hasattr(command, "list_commands")


def _is_option(param: Any) -> bool:
    return getattr(param, "param_type_name", None) == "option"


def _is_shared(param: Any) -> bool:
    return _is_option(param) and (param.name in SHARED_OPTIONS or param.name in ALWAYS)


def _shared_rows(commands: list[tuple[str, Any, Any]]) -> dict[str, list[str]]:
    """One row per shared option, as the first command that takes it describes it."""
    rows: dict[str, list[str]] = {}
    for _, command, ctx in commands:
        for param in command.params:
            if _is_shared(param) and not _hidden(param):
                rows.setdefault(str(param.name), _row(param, ctx))
    order = list(SHARED_OPTIONS)
    return dict(sorted(rows.items(), key=lambda kv: order.index(kv[0])))


def _section(
    path: str, command: Any, ctx: Any, shared: dict[str, list[str]], level: int
) -> list[str]:
    out = [f"{'#' * level} {path}", ""]
    out.append(f"`{path} {' '.join(command.collect_usage_pieces(ctx))}`")
    out.append("")
    if command.help:
        out += ["```text", _plain(command.help), "```", ""]
    arguments = [p for p in command.params if not _is_option(p)]
    own, common = [], []
    for param in command.params:
        if not _is_option(param) or _hidden(param):
            continue
        row = _row(param, ctx)
        if _is_shared(param) and shared.get(str(param.name)) == row:
            common.append(f"`{param.opts[0]}`")
        else:
            own.append(row)
    rows = [_row(p, ctx) for p in arguments] + own
    if rows:
        out += _table(rows)
    if common:
        out.append(f"Shared options: {', '.join(common)} ([shared options](#shared-options)).")
        out.append("")
    if _is_group(command):
        subs = [n for n in command.list_commands(ctx) if command.get_command(ctx, n) is not None]
        links = ", ".join(f"[{path} {n}](#{_slug(f'{path} {n}')})" for n in subs)
        out += [f"Commands: {links}.", ""]
    return out


def _table(rows: list[list[str]]) -> list[str]:
    lines = ["| argument or option | value | default | meaning |", "| --- | --- | --- | --- |"]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return [*lines, ""]


def _row(param: Any, ctx: Any) -> list[str]:
    if not _is_option(param):
        name = str(param.name).upper()
        if param.nargs == -1:
            name += "..."
        if not param.required:
            name = f"[{name}]"
        names = f"`{name}`"
    else:
        flags = sorted(param.opts, key=lambda o: (o.startswith("--"), o))
        names = ", ".join(f"`{f}`" for f in [*flags, *param.secondary_opts])
    help_text = _plain(getattr(param, "help", None) or "")
    envvar = param.envvar
    if envvar:
        help_text += f" (environment: `{envvar}`)"
    return [names, _value(param), _default(param), help_text]


def _value(param: Any) -> str:
    if _is_option(param) and param.is_flag:
        return "flag"
    kind = param.type
    if hasattr(kind, "choices"):
        return "`" + "|".join(str(c) for c in kind.choices) + "`"
    if hasattr(kind, "min") and hasattr(kind, "max"):
        low = "" if kind.min is None else f"{kind.min} <= "
        high = "" if kind.max is None else f" <= {kind.max}"
        return f"{low}{kind.name.split()[0]}{high}"
    return str(kind.name)


def _default(param: Any) -> str:
    if _is_option(param) and param.show_default is False:
        return ""
    value = param.default
    if callable(value) or value is None or value == () or value == []:
        return ""
    if _is_option(param) and param.is_flag and value is False:
        return ""
    if isinstance(value, Enum):
        value = value.value
    if isinstance(value, (list, tuple)):
        value = ", ".join(str(v) for v in value)
    return f"`{value}`"


def _hidden(param: Any) -> bool:
    return bool(getattr(param, "hidden", False))


def _plain(text: str) -> str:
    """Help text as the terminal shows it: click's ``\\b`` (keep this paragraph) marker
    dropped, trailing spaces gone."""
    lines = [line.rstrip() for line in text.replace("\b", "").strip().splitlines()]
    return "\n".join(lines)


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _slug(heading: str) -> str:
    """The anchor GitHub gives a heading made of words and spaces."""
    return heading.lower().replace(" ", "-")


def main() -> None:
    sys.stdout.write(reference())


if __name__ == "__main__":
    main()
