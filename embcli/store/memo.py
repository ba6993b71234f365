"""Small results kept beside a cache entry, so asking again costs a file read.

``embcli history`` over 154 checkpoints spends minutes on statistics and comparisons per
checkpoint; they depend only on the entries (which never change once written) and the
question's options, so each entry keeps its own as one of its derived files
(``derived/memo-<name>.json``, :mod:`embcli.store.derived`), keyed by what they were computed
from. A memo is an optimisation: one that cannot be read is recomputed, one that cannot be
written (a read-only cache) is not kept (said once, as for every derived file), and clearing the
entry clears it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from embcli.store.derived import Derived


def _name(name: str) -> str:
    return f"memo-{name}.json"


def read_memo(derived: Derived, name: str) -> dict[str, Any]:
    """The memo ``name`` of an entry ({} when there is none, or it is unreadable)."""
    try:
        data = json.loads((derived.directory / _name(name)).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def write_memo(derived: Derived, name: str, data: dict[str, Any]) -> bool:
    """Replace the memo atomically; False (and nothing written) when the cache is read-only."""
    text = json.dumps(data, separators=(",", ":"))

    def write(tmp: Path) -> None:
        tmp.write_text(text, encoding="utf-8")

    return derived.keep(_name(name), write)
