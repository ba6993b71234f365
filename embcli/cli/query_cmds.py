"""``embcli neighbors``, ``similarity`` and ``analogy``: the three questions, from the cache."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer

from embcli.ask import queries
from embcli.ask.words import Resolved, exclusions, resolve
from embcli.cli.common import load
from embcli.cli.options import AllTokensOpt, CenterOpt, IdsOpt, PoolOpt, Settings, with_settings
from embcli.cli.output import View, emit
from embcli.errors import EmbcliError, UnresolvedWord, UsageProblem
from embcli.read.tokens import visible
from embcli.store.table import EmbeddingTable


class Method(str, Enum):
    cosadd = "3cosadd"
    cosmul = "3cosmul"


KOpt = Annotated[int, typer.Option("-k", "--top", min=0, help="How many results.")]


def register(app: typer.Typer) -> None:
    app.command("neighbors")(neighbors)
    app.command("similarity")(similarity)
    app.command("analogy")(analogy)


class Batch:
    """Resolves many queries, reporting each unresolvable one on stderr and remembering it.

    A single query that fails raises (one line, exit 3); in a batch the others still run and the
    exit code is 3 at the end, so a script sees both the answers and the failure.
    """

    def __init__(self, table: EmbeddingTable, pool: bool, ids: bool) -> None:
        self.table, self.pool, self.ids = table, pool, ids
        self.failed = 0

    def resolve(self, word: str, alone: bool) -> Resolved | None:
        try:
            return resolve(self.table, word, pool=self.pool, ids=self.ids)
        except UnresolvedWord as exc:
            if alone:
                raise
            print(f"embcli: {exc.one_line()}", file=sys.stderr)
            self.failed += 1
            return None

    def finish(self) -> None:
        if self.failed:
            raise typer.Exit(UnresolvedWord.exit_code)


def _matrix(table: EmbeddingTable, center: bool) -> tuple[np.ndarray, np.ndarray | None]:
    if not center:
        return table.unit, None
    unit, mean = table.centered()
    return unit, mean


def _read_lines(source: str) -> Iterable[tuple[int, str]]:
    stream = sys.stdin if source == "-" else _open(source)
    for n, line in enumerate(stream, 1):
        text = line.rstrip("\n").rstrip("\r")
        if text.strip() and not text.lstrip().startswith("#"):
            yield n, text


def _open(path: str) -> Any:
    try:
        return Path(path).open(encoding="utf-8")
    except OSError as exc:
        raise EmbcliError(f"cannot read {path}: {exc.strerror or exc}") from None


# -- neighbors -----------------------------------------------------------------------------------


@with_settings()
def neighbors(
    settings: Settings,
    words: Annotated[list[str], typer.Argument(help="Words, #ids, or '-' to read one per line.")],
    k: KOpt = 10,
    pool: PoolOpt = None,
    ids: IdsOpt = False,
    center: CenterOpt = False,
    all_tokens: AllTokensOpt = False,
) -> None:
    """Nearest tokens by cosine similarity.

    Leaves out the query token, its case and space variants, special tokens and word fragments
    unless --all-tokens is given.
    """
    from_stdin = words == ["-"]
    items = [w.strip() for _, w in _read_lines("-")] if from_stdin else words
    table = load(settings)
    batch = Batch(table, pool is not None, ids)
    alone = len(items) == 1 and not from_stdin
    resolved = [r for r in (batch.resolve(w, alone) for w in items) if r is not None]
    unit, mean = _matrix(table, center)
    records = []
    if resolved:
        vecs = np.stack([r.unit(table, mean) for r in resolved])
        allowed = None if all_tokens else table.wordlike
        excl = [exclusions(table, r, all_tokens) for r in resolved]
        top_ids, top_scores = queries.top_k(unit, vecs, k, allowed, excl)
        for r, row_ids, row_scores in zip(resolved, top_ids, top_scores, strict=True):
            records.append(_neighbor_record(table, r, row_ids, row_scores))
    rows = [
        (rec["query"], n["rank"], n["id"], n["token"], n["cosine"])
        for rec in records
        for n in rec["neighbors"]
    ]
    cap = _caption(table, records, center)
    view = View(
        ["query", "rank", "id", "token", "cosine"],
        rows,
        caption=cap,
        token_columns={"token"},
        table_hidden={"query"} if len(records) == 1 else set(),
    )
    emit(settings.format, records[0] if alone and records else records, view)
    batch.finish()


def _neighbor_record(
    table: EmbeddingTable, r: Resolved, ids: np.ndarray, scores: np.ndarray
) -> dict[str, Any]:
    found = _ranked(table, ids, scores, "cosine")
    return {"query": r.query, "tokens": r.describe(table), "pooled": r.pooled, "neighbors": found}


def _ranked(
    table: EmbeddingTable, ids: np.ndarray, scores: np.ndarray, key: str
) -> list[dict[str, Any]]:
    """``[{rank, id, token, <key>}]`` for the valid ids of a top-k row (-1 marks padding)."""
    kept = [(int(i), float(v)) for i, v in zip(ids, scores, strict=True) if i >= 0]
    return [{"rank": n + 1, "id": i, "token": table.tokens[i], key: v}
            for n, (i, v) in enumerate(kept)]  # fmt: skip


def _caption(table: EmbeddingTable, records: list[dict[str, Any]], center: bool) -> str:
    used = "; ".join(
        f"{rec['query']} = "
        + "+".join(f"{visible(t['token'])} (#{t['id']})" for t in rec["tokens"])
        + (" pooled" if rec["pooled"] else "")
        for rec in records
    )
    return f"{table.label}{', centred' if center else ''}. {used}"


# -- similarity ----------------------------------------------------------------------------------


@with_settings()
def similarity(
    settings: Settings,
    words: Annotated[
        list[str] | None, typer.Argument(help="Two words, or more for a matrix of all pairs.")
    ] = None,
    pairs: Annotated[
        str | None,
        typer.Option(
            "--pairs", help="File of tab-separated word pairs, one per line ('-': stdin)."
        ),
    ] = None,
    pool: PoolOpt = None,
    ids: IdsOpt = False,
    center: CenterOpt = False,
) -> None:
    """Cosine similarity and dot product of words."""
    words = words or []
    if pairs is None and len(words) < 2:
        raise UsageProblem("similarity needs two or more words, or --pairs FILE")
    if pairs is not None and words:
        raise UsageProblem("give either words or --pairs, not both")
    wanted = _pair_lines(pairs) if pairs is not None else None
    table = load(settings)
    batch = Batch(table, pool is not None, ids)
    _, mean = _matrix(table, center) if center else (None, None)
    cache: dict[str, Resolved | None] = {}

    def get(word: str, alone: bool) -> Resolved | None:
        if word not in cache:
            cache[word] = batch.resolve(word, alone)
        return cache[word]

    records = []
    if wanted is None:
        alone = len(words) == 2
        resolved = [get(w, alone) for w in words]
        todo = [(a, b) for i, a in enumerate(resolved) for b in resolved[i + 1 :]]
    else:
        todo = [(get(a, False), get(b, False)) for a, b in wanted]
    for a, b in todo:
        if a is not None and b is not None:
            records.append(_pair_record(table, a, b, mean))
    if wanted is None and len(words) > 2 and not batch.failed:
        _emit_matrix(settings, table, [get(w, False) for w in words], records, mean)
    else:
        rows = [(r["a"], r["b"], r["cosine"], r["dot"]) for r in records]
        view = View(["a", "b", "cosine", "dot"], rows, caption=_pair_caption(table, cache, center))
        emit(settings.format, records[0] if len(words) == 2 and records else records, view)
    batch.finish()


def _pair_lines(source: str) -> list[tuple[str, str]]:
    out = []
    for n, line in _read_lines(source):
        parts = line.split("\t") if "\t" in line else line.split()
        if len(parts) < 2:
            raise UsageProblem(f"line {n} of {source}: expected two tab-separated words")
        out.append((parts[0].strip(), parts[1].strip()))
    return out


def _pair_record(
    table: EmbeddingTable, a: Resolved, b: Resolved, mean: np.ndarray | None
) -> dict[str, Any]:
    ua, ub = a.unit(table, mean), b.unit(table, mean)
    return {
        "a": a.query,
        "b": b.query,
        "cosine": float(np.dot(ua.astype(np.float64), ub.astype(np.float64))),
        "dot": float(np.dot(a.raw(table), b.raw(table))),
        "a_tokens": a.describe(table),
        "b_tokens": b.describe(table),
    }


def _pair_caption(table: EmbeddingTable, cache: dict[str, Resolved | None], center: bool) -> str:
    used = "; ".join(
        f"{w} = " + "+".join(f"{visible(table.tokens[i])} (#{i})" for i in r.ids)
        for w, r in cache.items()
        if r is not None
    )
    return f"{table.label}{', centred' if center else ''}. {used}"


def _emit_matrix(
    settings: Settings,
    table: EmbeddingTable,
    resolved: list[Resolved | None],
    records: list[dict[str, Any]],
    mean: np.ndarray | None,
) -> None:
    from embcli.cli.options import Format
    from embcli.cli.output import resolve_format

    if resolve_format(settings.format) is not Format.table:
        rows = [(r["a"], r["b"], r["cosine"], r["dot"]) for r in records]
        emit(settings.format, records, View(["a", "b", "cosine", "dot"], rows))
        return
    good = [r for r in resolved if r is not None]
    vecs = np.stack([r.unit(table, mean) for r in good]).astype(np.float64)
    sims = vecs @ vecs.T
    names = [r.query for r in good]
    rows = [[name, *map(float, sims[i])] for i, name in enumerate(names)]
    emit(
        settings.format,
        records,
        View(
            ["", *names],
            rows,
            caption=_pair_caption(table, {r.query: r for r in good}, mean is not None),
        ),
    )


# -- analogy -------------------------------------------------------------------------------------


@with_settings()
def analogy(
    settings: Settings,
    words: Annotated[
        list[str] | None, typer.Argument(help="a b c: find a - b + c (king man woman -> queen).")
    ] = None,
    k: KOpt = 5,
    method: Annotated[
        Method, typer.Option("--method", help="3cosadd (Mikolov) or 3cosmul (Levy & Goldberg).")
    ] = Method.cosadd,
    keep_inputs: Annotated[
        bool, typer.Option("--keep-inputs", help="Allow a, b and c among the results.")
    ] = False,
    file: Annotated[
        str | None,
        typer.Option("--file", help="Questions 'a b c [expected]', one per line ('-': stdin)."),
    ] = None,
    pool: PoolOpt = None,
    ids: IdsOpt = False,
    center: CenterOpt = False,
    all_tokens: AllTokensOpt = False,
) -> None:
    """Solve a - b + c = ? (fastText's order; word2vec's word-analogy reads b - a + c)."""
    if file is None and (not words or len(words) != 3):
        raise UsageProblem("analogy takes exactly three words a b c (a - b + c), or --file")
    if file is not None and words:
        raise UsageProblem("give either three words or --file, not both")
    questions = (
        [(n, line.split()) for n, line in _read_lines(file) if not line.startswith(":")]
        if file is not None
        else [(0, list(words or []))]
    )
    for n, q in questions:
        if len(q) not in (3, 4):
            raise UsageProblem(f"line {n} of {file}: expected 'a b c' or 'a b c expected'")
    table = load(settings)
    batch = Batch(table, pool is not None, ids)
    alone = file is None
    unit, mean = _matrix(table, center)
    allowed = None if all_tokens else table.wordlike
    solved: list[tuple[list[str], list[Resolved], str | None]] = []
    for _, q in questions:
        got = [batch.resolve(w, alone) for w in q[:3]]
        if all(g is not None for g in got):
            solved.append((q, [g for g in got if g is not None], q[3] if len(q) == 4 else None))
    records = _solve(table, unit, mean, solved, k, method, keep_inputs, allowed)
    rows = [
        (rec["formula"], r["rank"], r["id"], r["token"], r["score"])
        for rec in records
        for r in rec["results"]
    ]
    view = View(
        ["formula", "rank", "id", "token", "score"],
        rows,
        caption=f"{table.label}, {method.value}{', centred' if center else ''}; "
        "a b c reads a - b + c",
        token_columns={"token"},
        title=f"{records[0]['formula']} = ?" if len(records) == 1 else None,
        table_hidden={"formula"} if len(records) == 1 else set(),
    )
    emit(settings.format, records[0] if alone and records else records, view)
    batch.finish()


def _solve(
    table: EmbeddingTable,
    unit: np.ndarray,
    mean: np.ndarray | None,
    solved: list[tuple[list[str], list[Resolved], str | None]],
    k: int,
    method: Method,
    keep_inputs: bool,
    allowed: np.ndarray | None,
) -> list[dict[str, Any]]:
    if not solved:
        return []
    vecs = [[r.unit(table, mean) for r in res] for _, res, _ in solved]
    excl = [[] if keep_inputs else sorted({i for r in res for i in r.ids}) for _, res, _ in solved]
    if method is Method.cosadd:
        targets = np.stack([queries.analogy_target(unit, a, b, c) for a, b, c in vecs])
        top_ids, top_scores = queries.top_k(unit, targets, k, allowed, excl)
        results = list(zip(top_ids, top_scores, strict=True))
    else:
        results = [
            queries.top_k_scores(queries.cosmul_scores(unit, a, b, c), k, allowed, ex)
            for (a, b, c), ex in zip(vecs, excl, strict=True)
        ]
    records = []
    for (q, res, expected), (ids, scores) in zip(solved, results, strict=True):
        found = _ranked(table, ids, scores, "score")
        rec: dict[str, Any] = {
            "a": q[0],
            "b": q[1],
            "c": q[2],
            "method": method.value,
            "formula": f"{q[0]} - {q[1]} + {q[2]}",
            "tokens": {key: r.describe(table) for key, r in zip("abc", res, strict=True)},
            "results": found,
        }
        if expected is not None:
            rec["expected"] = expected
            top = found[0]["token"].strip().casefold() if found else None
            rec["correct"] = top == expected.strip().casefold()
        records.append(rec)
    return records
