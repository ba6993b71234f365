"""One table compared with many (``embcli compare -m A --against B --against C``).

Each pair is one task on the many-table executor (:mod:`embcli.api.executor`): it takes the
two tables' references (never a matrix) and ``Table.compare``'s options, opens both tables
itself (from the cache, or reading them into it) and returns the comparison's JSON and view.
The answers come back as a :class:`~embcli.api.fleet.FleetResult`, one record per pair with
B's name as its ``model``, in the order given; a pair that fails is that pair's error.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from embcli.api import checks
from embcli.api.executor import run_each
from embcli.api.fleet import FleetProgress, FleetResult, ModelAnswer
from embcli.errors import EmbcliError, Interrupted, UsageProblem
from embcli.read.ref import ModelRef

#: ``Table.compare``'s options a pair may be given (``plot`` draws one pair: not here).
OPTIONS = frozenset(["k", "case_sensitive", "words", "sample", "show"])


def _table(ref: ModelRef, cache_dir: str | None, notices: list[str]) -> Any:
    from embcli.api.model import Model

    model = Model(ref.source, revision=ref.revision, cache_dir=cache_dir,
                  allow_pickle=ref.allow_pickle, notice=notices.append, file=ref.file,
                  quant=ref.quant)  # fmt: skip
    return model.table(ref.role, ref.tensor)


def compare_pair(
    a: ModelRef, b: ModelRef, options: Mapping[str, Any], cache_dir: str | None
) -> dict[str, Any]:
    """Table ``a`` compared with table ``b``: ``{"data", "view", "notices"}``, or ``{"error",
    "exit_code", "notices"}``. Runs wherever the task lands."""
    notices: list[str] = []
    try:
        result = _table(a, cache_dir, notices).compare(_table(b, cache_dir, notices), **options)
    except EmbcliError as exc:
        return {"error": exc.one_line(), "exit_code": exc.exit_code, "notices": notices}
    return {"data": result.to_dict(), "view": result.view(), "notices": notices}


def compare_many(
    a: ModelRef | str,
    others: Sequence[ModelRef | str],
    *,
    labels: Sequence[str] | None = None,
    cache_dir: str | None = None,
    jobs: int = 1,
    scheduler: str | None = None,
    notice: Callable[[str], None] | None = None,
    progress: FleetProgress | None = None,
    **options: Any,
) -> FleetResult:
    """Compare table ``a`` with each of ``others`` (``Table.compare``'s ``options``: ``k``,
    ``case_sensitive``, ``words``, ``sample``, ``show``), each pair a task: in this process
    (``jobs=1``), in ``jobs`` worker processes, or on the Dask cluster at ``scheduler``.
    ``labels`` name the others in the result (default: their sources)."""
    unknown = sorted(set(options) - OPTIONS)
    if unknown:
        raise UsageProblem(f"compare_many does not take {', '.join(unknown)}")
    checks.count("jobs", jobs, 1)
    if "k" in options:
        checks.count("k", options["k"], 1)
    for name in ("sample", "show"):
        if name in options:
            checks.count(name, options[name])
    base = ModelRef.of(a)
    chosen = [ModelRef.of(r) for r in others]
    if not chosen:
        raise UsageProblem("no tables to compare with", param="others")
    names = list(labels) if labels is not None else [r.source for r in chosen]
    if len(names) != len(chosen):
        raise UsageProblem("labels must name every table", param="labels")
    answers: list[ModelAnswer | None] = [None] * len(chosen)
    say = notice or (lambda _line: None)
    failures = 0

    def take(i: int, raw: dict[str, Any]) -> None:
        nonlocal failures
        for line in raw.get("notices", ()):
            say(f"{names[i]}: {line}")
        if raw.get("error") is not None:
            failures += 1
            say(f"{names[i]}: {raw['error']}")
            answers[i] = ModelAnswer(names[i], error=str(raw["error"]))
        else:
            answers[i] = ModelAnswer(names[i], raw["data"], raw["view"])
        if progress is not None:
            progress(sum(x is not None for x in answers), len(chosen), failures)

    def finished() -> str:
        done = [names[i] for i, x in enumerate(answers) if x is not None]
        left = [names[i] for i, x in enumerate(answers) if x is None]
        said = f"{len(done)} of {len(chosen)} pairs compared"
        said += f" ({', '.join(done)})" if done else ""
        return said + (f"; not compared: {', '.join(left)}" if left else "")

    try:
        run_each(compare_pair, [(base, r, options) for r in chosen], take,
                 scheduler=scheduler, jobs=jobs, cache_dir=cache_dir)  # fmt: skip
    except KeyboardInterrupt:
        raise Interrupted(f"interrupted; {finished()}") from None
    return FleetResult("compare", [x for x in answers if x is not None])
