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
from typing import Any

from embcli.cli.options import Format
from embcli.view import View, print_view


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
        print_view(view)
    sys.stdout.flush()


def _tsv(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}" if abs(value) >= 1e4 else f"{value:.6f}"
    text = str(value)
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
