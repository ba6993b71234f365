"""The one table that maps exceptions to a one-line message and an exit code.

The library names its parameters (``remove_pcs must be 0 or more, not -1``, with
``param="remove_pcs"`` on the error); the CLI says the same line with the option a user typed
(``--remove-pcs must be 0 or more, not -1``): :func:`option` is that spelling.
"""

from __future__ import annotations

import re

from embcli.errors import EmbcliError

INTERRUPTED = 130

#: Parameters whose option is not spelled ``--name-with-dashes`` (``-k`` for a one-letter name).
OPTIONS = {
    "role": "--table",
    "max_positions": "--max",
    "poles": "--from/--to",
    "poles2": "--from2/--to2",
}


def option(param: str) -> str:
    """The CLI's spelling of a library parameter: ``remove_pcs`` -> ``--remove-pcs``."""
    if param.startswith("-"):
        return param
    if param in OPTIONS:
        return OPTIONS[param]
    return f"-{param}" if len(param) == 1 else "--" + param.replace("_", "-")


def said(exc: EmbcliError) -> str:
    """The error's one line with its parameters spelled as the CLI's options (the first time
    each is named; ``param`` may name several, comma-separated)."""
    line = exc.one_line()
    for param in (exc.param or "").split(","):
        if param and not param.startswith("-"):
            pattern = rf"(?<![\w-]){re.escape(param)}(?![\w-])"
            line = re.sub(pattern, option(param), line, count=1)
    return line


def explain(exc: BaseException) -> tuple[str, int]:
    """``(message, exit code)`` for an exception that reached the top of the CLI."""
    if isinstance(exc, EmbcliError):
        return said(exc), exc.exit_code
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted; nothing was written", INTERRUPTED
    if isinstance(exc, PermissionError):
        return f"permission denied: {exc.filename or exc}", 1
    if isinstance(exc, FileNotFoundError):
        return f"no such file: {exc.filename or exc}", 1
    if isinstance(exc, MemoryError):
        return "out of memory", 1
    if isinstance(exc, OSError):
        where = f" ({exc.filename})" if exc.filename else ""
        return f"I/O error{where}: {exc.strerror or exc}", 1
    text = str(exc).strip().splitlines()
    first = text[0] if text else ""
    return f"internal error: {type(exc).__name__}: {first} (re-run with --debug for details)", 1
