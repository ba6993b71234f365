"""The one table that maps exceptions to a one-line message and an exit code."""

from __future__ import annotations

from embcli.errors import EmbcliError

INTERRUPTED = 130


def explain(exc: BaseException) -> tuple[str, int]:
    """``(message, exit code)`` for an exception that reached the top of the CLI."""
    if isinstance(exc, EmbcliError):
        return exc.one_line(), exc.exit_code
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
