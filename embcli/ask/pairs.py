"""Word pairs as users write them, for the axes built from them (``axis``, ``--remove-axis``).

Pairs come from ``a:b`` lists, lines of a file (``a b`` or ``a:b``) or a section of the bundled
Google analogy set (``capital-world``, ``family``, ``gram3-comparative``, ...): its questions
``a b c d`` give the pairs ``(a, b)`` and ``(c, d)``, each distinct pair once, in file order.
Nothing here opens a table, so a bad pair is said before any work; reading a file is
:mod:`embcli.api.inputs`'s job (:func:`parse_pair_lines` takes its lines).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from embcli.errors import UsageProblem

Pair = tuple[str, str]


def analogy_file() -> Path:
    from importlib import resources  # here: it imports tempfile and random

    return Path(str(resources.files("embcli") / "data" / "questions-words.txt"))


def analogy_sections() -> dict[str, list[Pair]]:
    """The bundled Google analogy set as ``{section: distinct (a, b) pairs in file order}``."""
    from embcli.ask.evaluate import read_analogies  # the one reader of that file

    out: dict[str, list[Pair]] = {}
    for name, questions in read_analogies(analogy_file()):
        pairs: dict[Pair, None] = {}
        for _, (a, b, c, d) in questions:
            pairs.setdefault((a, b), None)
            pairs.setdefault((c, d), None)
        out[name] = list(pairs)
    return out


def parse_pair(text: str, where: str = "") -> Pair:
    """``a:b`` (or ``a b``, or ``a<TAB>b``) as a pair; a pair of one word twice is refused."""
    text = text.strip()
    if ":" in text:
        parts = [p.strip() for p in text.split(":")]
    else:
        parts = text.split("\t") if "\t" in text else text.split()
        parts = [p.strip() for p in parts]
    if len(parts) != 2 or not all(parts):
        raise UsageProblem(f"{where}{text!r} is not a pair: write a:b")
    if parts[0] == parts[1]:
        raise UsageProblem(f"{where}the pair {text!r} has the same word twice")
    return parts[0], parts[1]


def parse_pair_lines(lines: Iterable[tuple[int, str]], source: str) -> list[Pair]:
    """Pairs from ``(line number, text)`` lines of a file (``a b`` or ``a:b`` a line)."""
    return [parse_pair(text, f"line {n} of {source}: ") for n, text in lines]


def pairs_from(spec: str | Sequence[str] | Sequence[Pair]) -> list[Pair]:
    """Pairs from what a user wrote: a section name of the analogy set, ``"a:b,c:d"``, a list
    of ``"a:b"`` strings or of ``(a, b)`` tuples. Reading a file is the caller's (CLI) job:
    :func:`parse_pair_lines` takes its lines."""
    if isinstance(spec, str):
        name = spec.strip()
        if ":" not in name and "," not in name and " " not in name:
            sections = analogy_sections()
            if name in sections:
                return sections[name]
            raise UsageProblem(
                f"{name!r} is neither a:b pairs nor a section of the analogy set",
                f"sections: {', '.join(sections)}",
            )
        items: Sequence[Any] = [p for p in name.split(",") if p.strip()]
    else:
        items = spec
    return [parse_pair(p) if isinstance(p, str) else _tuple_pair(p) for p in items]


def _tuple_pair(p: Any) -> Pair:
    if not isinstance(p, (tuple, list)) or len(p) != 2 or not all(isinstance(w, str) for w in p):
        raise UsageProblem(f"{p!r} is not a pair of two words")
    return parse_pair(f"{p[0]}:{p[1]}")


def check_pairs(pairs: Sequence[Pair], name: str = "an axis") -> list[Pair]:
    """The distinct pairs, refusing fewer than two (an axis needs more than one example);
    ``name`` is the option the message names (``--pairs2``)."""
    distinct = list(dict.fromkeys((a, b) for a, b in pairs))
    if len(distinct) < 2:
        raise UsageProblem(f"{name} needs two or more pairs, got {len(distinct)}")
    return distinct
