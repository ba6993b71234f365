"""What most commands do first: open the table named by the settings, read a file of lines."""

from __future__ import annotations

import sys
from pathlib import Path

from embcli.cli.options import Settings
from embcli.cli.progress import build_progress
from embcli.errors import EmbcliError
from embcli.store.load import open_table
from embcli.store.table import EmbeddingTable


def load(settings: Settings) -> EmbeddingTable:
    with build_progress(settings.model) as progress:
        return open_table(
            settings.model,
            tensor=settings.tensor,
            revision=settings.revision,
            allow_pickle=settings.allow_pickle,
            cache_dir=settings.cache_dir,
            progress=progress,
            table=settings.table.value if settings.table else "input",
        )


def read_lines(source: str, comments: bool = True) -> list[tuple[int, str]]:
    """``(line number, text)`` of the lines that carry something, from a file or stdin (``-``).

    Blank lines are skipped, and so are comments unless ``comments`` is False (files of free
    text, such as sentences): a line that is ``#`` or starts with ``# `` (after leading space).
    ``#123`` is a row id and ``#word`` a word, so both are kept. The text is the line without
    its line break, otherwise as written (a leading space can matter to a tokenizer); callers
    strip it where it cannot. The file is read whole and closed.
    """
    try:
        text = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
    except OSError as exc:
        raise EmbcliError(f"cannot read {source}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise EmbcliError(f"cannot read {source}: not UTF-8 text") from None
    out = []
    for n, line in enumerate(text.split("\n"), 1):
        line = line.rstrip("\r")
        stripped = line.strip()
        if stripped and not (comments and (stripped == "#" or stripped.startswith("# "))):
            out.append((n, line))
    return out
