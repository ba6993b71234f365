"""Small results kept beside a cache entry, so asking again costs a file read.

``embcli history`` over 154 checkpoints spends minutes on statistics and comparisons per
checkpoint; they depend only on the entries (which never change once written) and the
question's options, so each entry keeps its own in ``memo-<name>.json``, keyed by what they
were computed from. A memo is an optimisation: one that cannot be read is recomputed, one that
cannot be written (a read-only cache) is not kept, and clearing the entry clears it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from embcli.atomic import write_text


def memo_path(entry: Path, name: str) -> Path:
    return entry / f"memo-{name}.json"


def read_memo(entry: Path, name: str) -> dict[str, Any]:
    """The memo ``name`` of the entry at ``entry`` ({} when there is none, or it is unreadable)."""
    try:
        data = json.loads(memo_path(entry, name).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def write_memo(entry: Path, name: str, data: dict[str, Any]) -> bool:
    """Replace the memo atomically; False (and nothing written) when the cache is read-only."""
    try:
        write_text(memo_path(entry, name), json.dumps(data, separators=(",", ":")))
    except OSError:
        return False
    return True
