"""``embcli undertrained``: which tokens were (probably) never trained, after Land and Bartolo.

"Fishing for Magikarp" (Land and Bartolo, 2024) finds under-trained tokens from the weights
alone. Rows of the output head that gradient descent never pushed away from their initial state
all drift the same way (every softmax step lowers their logits together), so they point in a
shared direction. Take a reference set of tokens known to be unused, take the mean of their head
rows after removing the head's first principal component (the direction every row shares), and
score every row by its cosine distance to that mean: the lowest scores are the candidates. For
an untied model the input table's row norm is a second, independent indicator (untrained input
rows keep their small initial norm, or shrink under weight decay); we report it beside the score.

The reference set comes from the tokenizer alone: bytes that valid UTF-8 never contains, tokens
named ``[unusedN]`` or reserved, and rows beyond the tokenizer; a GGUF adds the tokens its
``token_type`` marks unused (llama.cpp's converters mark padding rows so). Candidates are
reachable tokens (decoding then encoding gives them back); unreachable ones and partial UTF-8
pieces are listed apart, since nothing in text can ever produce them and they are expected to be
untrained.

This is a reimplementation from the paper's description; no code of theirs is used.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from embcli import linalg
from embcli.errors import EmbcliError
from embcli.read.tokens import byte_decoder
from embcli.store.table import EmbeddingTable
from embcli.view import Result, View

BLOCK = 16384
#: Bytes that never occur in valid UTF-8: 0xC0, 0xC1 (overlong) and 0xF5-0xFF.
INVALID_UTF8 = frozenset([0xC0, 0xC1, *range(0xF5, 0x100)])
UNUSED_NAME = re.compile(
    r"^(\[unused\d+\]|<unused\d+>|<\|unused_?(token)?_?\d*\|?>|<\|reserved_special_token_\d+\|>"
    r"|<\|?reserved_\w*\d+\|?>|<extra_id_\d+>|<madeupword\d+>)$",
    re.IGNORECASE,
)
REACH_OK, REACH_UNREACHABLE, REACH_PARTIAL, REACH_SPECIAL, REACH_NONE = 0, 1, 2, 3, 4


# -- plain functions over arrays ------------------------------------------------------------------


def byte_of_piece(piece: str, style: str) -> int | None:
    """The byte a single-byte vocabulary piece stands for (``Ġ`` -> 0x20, ``<0xF5>`` -> 0xF5)."""
    if style == "byte_level" and len(piece) == 1:
        return byte_decoder().get(piece)
    m = re.fullmatch(r"<0x([0-9A-Fa-f]{2})>", piece)
    return int(m.group(1), 16) if m else None


def cosine_distance_scores(
    unit: np.ndarray, norms: np.ndarray, reference: np.ndarray, pc: np.ndarray
) -> np.ndarray:
    """``1 - cos(w - (w.pc) pc, m)`` for every row, ``m`` the mean of the reference rows so
    transformed (the first PC is removed from the uncentred rows, as in the paper)."""
    ref = linalg.raw_rows(unit, norms, reference)
    ref = ref - np.outer(ref @ pc, pc)
    m = ref.mean(axis=0)
    m_norm = np.linalg.norm(m)
    rows = unit.shape[0]
    out = np.empty(rows)
    for lo in range(0, rows, BLOCK):
        x = linalg.raw_rows(unit, norms, slice(lo, lo + BLOCK))
        x = x - np.outer(x @ pc, pc)
        den = np.maximum(np.linalg.norm(x, axis=1) * m_norm, 1e-12)
        out[lo : lo + BLOCK] = 1.0 - (x @ m) / den
    return out


def percentile_of(values: np.ndarray, among: np.ndarray) -> np.ndarray:
    """For each value, the percentage of ``among`` at or below it."""
    s = np.sort(np.asarray(among, np.float64))
    return 100.0 * np.searchsorted(s, values, side="right") / max(1, len(s))


# -- the reference set and reachability -----------------------------------------------------------


def default_reference(table: EmbeddingTable) -> tuple[np.ndarray, str]:
    """Rows that can never occur in text, found from the tokenizer alone, and how."""
    rows = table.shape[0]
    size = min(rows, table.tokenizer_size or rows)
    found: set[int] = set(range(size, rows))
    how: list[str] = []
    if found:
        how.append(f"{len(found)} rows beyond the tokenizer")
    tok = table.tokenizer
    named, invalid = set(), set()
    if tok is not None:
        for i in range(size):
            piece = tok.id_to_token(i)
            if piece is None:
                continue
            if UNUSED_NAME.match(piece):
                named.add(i)
            b = byte_of_piece(piece, table.style)
            if b is not None and b in INVALID_UTF8:
                invalid.add(i)
    # Token types the container stated (GGUF token_type): unused ids, and byte tokens, whose
    # pieces (<0xNN>) name their byte even where no tokenizer could be rebuilt.
    marked = {i for i in table.meta.unused_ids if 0 <= i < size} - found
    for i in table.meta.byte_ids:
        b = byte_of_piece(table.tokens[i], "none") if 0 <= i < size else None
        if b is not None and b in INVALID_UTF8:
            invalid.add(i)
    if invalid:
        how.append(f"{len(invalid)} bytes never valid in UTF-8")
    if named:
        how.append(f"{len(named)} unused/reserved tokens by name")
    if marked - named:
        how.append(f"{len(marked - named)} tokens the file marks unused")
    found |= named | invalid | marked
    if not found and tok is None:
        raise EmbcliError(
            f"no known-unused tokens in {table.label}: "
            + ("a word-vector file has no tokenizer to mark any unused"
               if table.style == "words" else "it has no tokenizer to mark any unused"),
            "give a reference set with --reference FILE (one token or #id per line)",
        )  # fmt: skip
    if not found:
        raise EmbcliError(
            f"no known-unused tokens found in {table.label}'s tokenizer",
            "give a reference set with --reference FILE (one token or #id per line)",
        )
    return np.array(sorted(found), dtype=np.int64), "; ".join(how)


def reference_rows(
    table: EmbeddingTable, lines: Sequence[tuple[int, str]], source: str = "the reference"
) -> tuple[np.ndarray, str]:
    """A reference set given as ``(line number, text)`` lines: one vocabulary piece or ``#id``
    each (``--reference FILE``, read by the one line reader of :mod:`embcli.api.inputs`)."""
    from embcli.ask.words import row_id

    rows = table.shape[0]
    ids: set[int] = set()
    for n, text in lines:
        i = row_id(text)
        if i is None:
            got = table.token_id(text)
            if got is None:
                got = table.token_id(text.strip())
            if got is None:
                raise EmbcliError(f"{source} line {n}: {text!r} is not a token of {table.label}")
            i = got
        if not 0 <= i < rows:
            raise EmbcliError(f"{source} line {n}: #{i} is not a row of {table.label}")
        ids.add(i)
    if not ids:
        raise EmbcliError(f"{source} names no tokens")
    return np.array(sorted(ids), dtype=np.int64), f"from {source}"


def reachability(table: EmbeddingTable) -> np.ndarray:
    """A code per row: reachable, unreachable, partial UTF-8, special, or beyond the tokenizer.

    A token is reachable if decoding it alone and encoding the text gives it back. A pure
    function of the tokenizer, so the store keeps it with the entry's derived files.
    """
    return table.derived.array("reach.npy", lambda: _reachability(table), (table.shape[0],))


def _reachability(table: EmbeddingTable) -> np.ndarray:
    rows = table.shape[0]
    out = np.full(rows, REACH_NONE, np.int8)
    tok = table.tokenizer
    size = min(rows, table.tokenizer_size or rows)
    if tok is None:
        return out
    ids = list(range(size))
    texts = tok.decode_batch([[i] for i in ids], skip_special_tokens=False)
    # encode_batch, not encode_batch_fast (tokenizers >= 0.20 only): the same ids, plus offsets.
    encoded = tok.encode_batch(texts, add_special_tokens=False)
    special = table.special_ids
    for i, text, enc in zip(ids, texts, encoded, strict=True):
        if i in special:
            out[i] = REACH_SPECIAL
        elif "\ufffd" in text:
            out[i] = REACH_PARTIAL
        elif list(enc.ids) == [i]:
            out[i] = REACH_OK
        else:
            out[i] = REACH_UNREACHABLE
    return out


# -- the question --------------------------------------------------------------------------------


@dataclass
class UndertrainedResult(Result):
    """``embcli undertrained``; ``to_dict()`` keys are its JSON interface."""

    model: str
    table: str
    indicator: str
    reference: dict[str, Any]
    candidates: list[dict[str, Any]]
    unreachable: list[dict[str, Any]]
    threshold: float | None = None
    percentile: float = 2.0
    all_rows: bool = False
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "table": self.table,
            "indicator": self.indicator,
            "reference": self.reference,
            "candidates": self.candidates,
            "unreachable": self.unreachable,
        }

    def view(self) -> View:
        rows = [
            ("candidate", c["rank"], c["id"], c["token"], c["score"], c["norm"],
             c["norm_percentile"], ", ".join(c["reasons"]))
            for c in self.candidates
        ] + [
            ("unreachable", c["rank"], c["id"], c["token"], c["score"], c["norm"],
             c["norm_percentile"], ", ".join(c["reasons"]))
            for c in self.unreachable
        ]  # fmt: skip
        ref = self.reference
        if self.all_rows:
            chosen = "every row outside the reference, unfiltered"
        else:
            chosen = (
                f"reachable tokens in the lowest {self.percentile:g}% (score <= "
                f"{self.threshold:.4f})"
            )
        caption = (
            f"{self.model}, {self.table} table. score = {self.indicator} (low = under-trained); "
            f"reference: {ref['size']:,} rows ({ref['how']}). Candidates: {chosen}."
            + "".join(f" {n}" for n in self.notes)
        )
        return View(
            ["list", "rank", "id", "token", "score", "norm", "norm %", "reasons"],
            rows,
            caption=caption,
            token_columns={"token"},
        )


@dataclass
class Verdicts:
    """``undertrained``'s judgement of every row: the score, the reference set (``reference``
    ids, ``in_reference`` mask, ``how`` it was found), each row's reachability code, the rows
    that are bytes of the alphabet, and the two lists the command prints as masks: ``flagged``
    (the candidates: reachable, outside the reference, not a byte, score at or below
    ``threshold``, the ``percentile`` of those rows' scores) and ``unreachable`` (unreachable
    or partial UTF-8 rows outside the reference). ``threshold`` is None for ``all_rows``."""

    scores: np.ndarray
    reference: np.ndarray
    how: str
    in_reference: np.ndarray
    reach: np.ndarray
    alphabet_bytes: set[int]
    flagged: np.ndarray
    unreachable: np.ndarray
    threshold: float | None


def verdicts(
    head: EmbeddingTable,
    reference: Sequence[tuple[int, str]] | None = None,
    source: str = "the reference",
    percentile: float = 2.0,
    all_rows: bool = False,
) -> Verdicts:
    """Score and judge every row of ``head`` (see :class:`Verdicts`): what
    :func:`find_undertrained` ranks, and what ``map``'s under-trained layers show."""
    rows = head.shape[0]
    if reference is not None:
        ref, how = reference_rows(head, reference, source)
    else:
        ref, how = default_reference(head)
    norms = np.asarray(head.norms)
    pc = linalg.first_component(head.unit, norms, np.arange(rows))
    scores = cosine_distance_scores(head.unit, norms, ref, pc)
    size = min(rows, head.tokenizer_size or rows)
    reach = reachability(head)
    in_ref = np.zeros(rows, bool)
    in_ref[ref] = True
    alphabet_bytes = {i for i in range(size) if _byte(head, i) is not None}
    flagged = np.zeros(rows, bool)
    unreachable = np.zeros(rows, bool)
    threshold = None
    if not all_rows:
        ok = (reach == REACH_OK) & ~in_ref
        ok[list(alphabet_bytes)] = False
        if not ok.any():
            raise EmbcliError(f"{head.label} has no reachable tokens outside the reference set")
        threshold = float(np.percentile(scores[ok], percentile))
        flagged = ok & (scores <= threshold)
        unreachable = np.isin(reach, [REACH_UNREACHABLE, REACH_PARTIAL]) & ~in_ref
    return Verdicts(scores, ref, how, in_ref, reach, alphabet_bytes, flagged, unreachable,
                    threshold)  # fmt: skip


INDICATOR = "cosine distance to the reference mean, first principal component removed"


def find_undertrained(
    head: EmbeddingTable,
    input_table: EmbeddingTable | None = None,
    reference: Sequence[tuple[int, str]] | None = None,
    source: str = "the reference",
    k: int = 50,
    percentile: float = 2.0,
    all_rows: bool = False,
    role: str = "output",
) -> UndertrainedResult:
    """Rank ``head``'s rows by how likely they are under-trained (see the module docstring).

    ``input_table`` (an untied model's input table) gives the norms shown beside each row; for
    a tied model, or without it, the head's own norms are shown. An input table whose row count
    differs from the head's (a checkpoint padded one table but not the other) cannot be matched
    row for row: the head's own norms are shown then, and the caption says so, rather than
    guessing which rows correspond.
    """
    rows = head.shape[0]
    found = verdicts(head, reference, source, percentile, all_rows)
    ref, how, scores, reach = found.reference, found.how, found.scores, found.reach
    notes = []
    norms = np.asarray(head.norms)
    shown = norms
    if input_table is not None and input_table.shape[0] != rows:
        notes.append(
            f"norm = the head's own row norm: the input table has {input_table.shape[0]:,} rows, "
            f"the head {rows:,}, so their rows cannot be matched."
        )
    elif input_table is not None:
        shown = np.asarray(input_table.norms)
        notes.append("norm = the input table's row norm (their first indicator for untied models).")
    size = min(rows, head.tokenizer_size or rows)
    norm_pct = percentile_of(shown, shown[:size])
    in_ref = found.in_reference
    alphabet_bytes = found.alphabet_bytes

    def record(rank: int, i: int) -> dict[str, Any]:
        reasons = []
        code = int(reach[i])
        if code == REACH_UNREACHABLE:
            reasons.append("unreachable")
        elif code == REACH_PARTIAL:
            reasons.append("partial UTF-8")
        elif code == REACH_NONE:
            reasons.append("beyond the tokenizer")
        elif code == REACH_SPECIAL:
            reasons.append("special")
        if i in alphabet_bytes:
            reasons.append("byte")
        if norm_pct[i] <= 5.0:
            reasons.append("low norm")
        return {
            "rank": rank,
            "id": i,
            "token": head.tokens[i],
            "score": float(scores[i]),
            "reachable": code == REACH_OK,
            "norm": float(shown[i]),
            "norm_percentile": float(norm_pct[i]),
            "reasons": reasons,
        }

    order = np.argsort(scores, kind="stable")
    threshold = found.threshold
    if all_rows:
        ranked = [int(i) for i in order if not in_ref[i]]
        cands = [record(n + 1, i) for n, i in enumerate(ranked[:k] if k else ranked)]
        unreachable: list[dict[str, Any]] = []
    else:
        picked = [int(i) for i in order if found.flagged[i]]
        cands = [record(n + 1, i) for n, i in enumerate(picked[:k] if k else picked)]
        odd = [int(i) for i in order if found.unreachable[i]]
        unreachable = [record(n + 1, i) for n, i in enumerate(odd[:k] if k else odd)]
    return UndertrainedResult(
        model=head.label,
        table=role,
        indicator=INDICATOR,
        reference={"how": how, "size": len(ref)},
        candidates=cands,
        unreachable=unreachable,
        threshold=threshold,
        percentile=percentile,
        all_rows=all_rows,
        notes=notes,
    )


def _byte(table: EmbeddingTable, i: int) -> int | None:
    tok = table.tokenizer
    piece = tok.id_to_token(i) if tok is not None else None
    return byte_of_piece(piece, table.style) if piece else None


def undertrained(
    head: EmbeddingTable,
    role: str = "output",
    open_input: Callable[[], EmbeddingTable] | None = None,
    reference: Sequence[tuple[int, str]] | None = None,
    source: str = "the reference",
    k: int = 50,
    percentile: float = 2.0,
    all_rows: bool = False,
) -> UndertrainedResult:
    """``embcli undertrained`` and ``Table.undertrained``: one entry so both give one answer.

    ``head`` is the table opened for ``role`` (``"output"`` or ``"input"``; the reported
    ``table``). When it is an untied output head, ``open_input()`` opens the input table, whose
    norms are shown beside the scores; when the head asked for is tied, the caption says so.
    """
    untied = head.meta.table == "output"
    other = open_input() if untied and open_input is not None else None
    result = find_undertrained(head, other, reference, source, k, percentile, all_rows,
                               role)  # fmt: skip
    if role == "output" and not untied and head.tokenizer_size is not None:
        result.notes.append("The output head is tied: it is the input table.")
    return result
