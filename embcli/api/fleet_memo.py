"""Many models' answers kept beside their tables, so a rerun answers only what is missing.

``embcli stats --models family.txt`` over eight cached tables spends most of its time on the
statistics themselves (the spectrum, the sampled pairs), not on opening the tables; so each
model's answer to a costly question is kept in its table's cache entry
(``derived/memo-answer-<key>.json``, written atomically by :mod:`embcli.store.memo`), keyed by
the question (its method, arguments and view) and :data:`MEMO_VERSION`. An entry never
changes once written (a rebuilt table is a new entry, and clearing it clears its memos), so a
kept answer is the answer. A memo that cannot be read is recomputed; one that cannot be
written (a read-only cache) is not kept, said once. Questions whose arguments name a file
(``undertrained``'s reference) include the file's size and modification time in the key.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from embcli.view import View

if TYPE_CHECKING:
    from embcli.api.fleet import Question
    from embcli.api.table import Table

#: Bump when a kept answer's definition changes (a result's JSON or view): older ones are then
#: ignored and recomputed.
MEMO_VERSION = 1
#: Questions whose answers are kept: those that cost more than opening the table.
MEMOISED = frozenset(["stats", "undertrained", "weat", "weat_all", "analogies", "axis"])
#: The ``View`` fields that are sets (JSON keeps lists).
_SETS = ("token_columns", "table_hidden", "no_wrap")


def question_key(question: Question) -> str | None:
    """The question as text (method, arguments, view), or None when it cannot be a key (an
    argument that is not plain data, such as a vector)."""
    try:
        return json.dumps([MEMO_VERSION, question.method, list(question.args),
                           sorted(question.kwargs.items()), question.view,
                           sorted(question.view_kwargs.items()), _stamps(question)],
                          separators=(",", ":"), allow_nan=False)  # fmt: skip
    except (TypeError, ValueError):
        return None


def _stamps(question: Question) -> list[list[Any]]:
    """Size and modification time of each argument that names a file (a reference list)."""
    stamps = []
    for value in [*question.args, *question.kwargs.values()]:
        if isinstance(value, str) and value != "-" and os.path.isfile(value):
            stat = os.stat(value)
            stamps.append([value, stat.st_size, stat.st_mtime_ns])
    return stamps


def _encode(value: Any) -> Any:
    """``value`` as JSON holds it, tuples marked so :func:`_decode` gives them back as tuples
    (a kept answer equals the computed one in Python too, not only in its printed JSON)."""
    if isinstance(value, tuple):
        return {"(": [_encode(v) for v in value]}
    if isinstance(value, list):
        return [_encode(v) for v in value]
    if isinstance(value, dict):
        return {"{": [[k, _encode(v)] for k, v in value.items()]}
    return value


def _decode(value: Any) -> Any:
    if isinstance(value, list):
        return [_decode(v) for v in value]
    if isinstance(value, dict) and "(" in value:
        return tuple(_decode(v) for v in value["("])
    if isinstance(value, dict):
        return {k: _decode(v) for k, v in value["{"]}
    return value


def _name(key: str) -> str:
    return "answer-" + hashlib.sha256(key.encode()).hexdigest()[:24]


def recall(table: Table, question: Question) -> dict[str, Any] | None:
    """The answer kept for ``question`` in ``table``'s entry (``data``, ``view``, ``missed``
    and the question's own ``notices``), or None."""
    from embcli.store.memo import read_memo

    key = question_key(question) if question.method in MEMOISED else None
    if key is None:
        return None
    kept = read_memo(table.embeddings.derived, _name(key))
    if kept.get("key") != key:
        return None
    try:
        view = _decode(kept["view"])
        for name in _SETS:
            view[name] = set(view[name])
        return {"data": _decode(kept["data"]), "view": View(**view),
                "missed": list(kept["missed"]), "notices": list(kept["notices"])}  # fmt: skip
    except (KeyError, TypeError, ValueError):
        return None


def keep(table: Table, question: Question, answer: dict[str, Any], notices: list[str]) -> bool:
    """Keep ``answer`` (its ``data``, ``view`` and ``missed``; ``notices``, those the question
    itself said) in ``table``'s entry; False when it is not kept (not a costly question, not
    plain data, a read-only cache)."""
    from embcli.store.memo import write_memo

    key = question_key(question) if question.method in MEMOISED else None
    if key is None:
        return False
    view = asdict(answer["view"])
    for name in _SETS:
        view[name] = sorted(view[name])
    record = {"key": key, "data": _encode(answer["data"]), "view": _encode(view),
              "missed": answer["missed"], "notices": notices}  # fmt: skip
    try:
        json.dumps(record)
    except (TypeError, ValueError):  # a value JSON cannot hold: not kept
        return False
    return write_memo(table.embeddings.derived, _name(key), record)
