"""The one output sink: every command hands it data and a view, it prints one format.

- ``table``: a rich table for people (the default on a terminal), whitespace in tokens shown
  as ``␣`` and ``\\n`` so that " Paris" and "Paris" look different;
- ``tsv``: a header line, then tab-separated rows, tabs/newlines/backslashes in values escaped
  (the default when stdout is not a terminal);
- ``json``: one JSON document; ``jsonl``: one JSON object per line (records of a list).

JSON keys are the interface for scripts and are documented in the README.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from embcli.cli.options import Format
from embcli.read.tokens import visible


@dataclass
class View:
    """How to show data as rows: columns, raw row values, and which columns hold tokens."""

    columns: Sequence[str]
    rows: Sequence[Sequence[Any]]
    title: str | None = None
    caption: str | None = None
    token_columns: set[str] = field(default_factory=set)
    key_value: bool = False  # a two-column "field / value" listing (``info``)
    table_hidden: set[str] = field(default_factory=set)  # columns left out of the rich table
    no_wrap: set[str] = field(default_factory=set)  # columns whose cells must stay on one line


def resolve_format(fmt: Format | None) -> Format:
    if fmt is not None:
        return fmt
    return Format.table if sys.stdout.isatty() else Format.tsv


def emit(fmt: Format | None, data: Any, view: View) -> None:
    """Print ``data`` as JSON/JSONL, or ``view`` as a table/TSV, to stdout."""
    chosen = resolve_format(fmt)
    if chosen is Format.json:
        sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2) + "\n")
    elif chosen is Format.jsonl:
        records = data if isinstance(data, list) else [data]
        for rec in records:
            sys.stdout.write(json.dumps(rec, ensure_ascii=False) + "\n")
    elif chosen is Format.tsv:
        lines = [] if view.key_value else ["\t".join(view.columns)]
        lines += ["\t".join(_tsv(v) for v in row) for row in view.rows]
        sys.stdout.write("".join(line + "\n" for line in lines))
    else:
        _rich_table(view)
    sys.stdout.flush()


def _tsv(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}" if abs(value) >= 1e4 else f"{value:.6f}"
    text = str(value)
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def _rich_table(view: View) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table(
        title=view.title,
        show_header=not view.key_value,
        box=None if view.key_value else _box(),
        title_justify="left",
    )
    shown = [c for c in view.columns if c not in view.table_hidden]
    for col in shown:
        numeric = col in (
            "id",
            "rank",
            "cosine",
            "dot",
            "score",
            "norm",
            "#",
            "correct",
            "answered",
            "skipped",
            "accuracy",
        )
        table.add_column(
            col,
            justify="right" if numeric else "left",
            style=_style(col, view),
            no_wrap=col in view.no_wrap or col in view.token_columns,
        )
    for row in view.rows:
        cells = []
        for col, value in zip(view.columns, row, strict=True):
            if col in view.table_hidden:
                continue
            if col in view.token_columns and isinstance(value, str):
                cells.append(Text(visible(value)))
            elif isinstance(value, float):
                cells.append(Text(f"{value:.4f}"))
            else:
                cells.append(Text("" if value is None else str(value)))
        table.add_row(*cells)
    console = Console(soft_wrap=False)
    console.print(table)
    if view.caption:
        console.print(Text(view.caption, style="dim"), soft_wrap=True)


def _box() -> Any:
    from rich import box

    return box.SIMPLE_HEAD


def _style(col: str, view: View) -> str | None:
    if view.key_value and col == view.columns[0]:
        return "bold"
    return "cyan" if col in view.token_columns else None
