"""Many models, one question: ``embcli.ask_many`` (``embcli stats -m A -m B --jobs 2``).

A task is one model's answer to one question: :func:`answer` takes a :class:`ModelRef` (what to
read, a frozen picklable value), a :class:`Question` (a ``Table`` method and its arguments) and
the cache directory, opens the table itself and returns a small picklable dict (the result's
JSON, its view, the words it missed, or its error). Tasks never carry a matrix, so the same
function runs in this process (``jobs=1``), in a process pool (``jobs>1``: tables read in
parallel) or on a Dask cluster (``scheduler="tcp://host:8786"``, through
``distributed.Client(...).get_executor()``; nothing imports dask otherwise).

A model that fails is that model's error (``FleetResult.failed``), the others still answer; a
word a model cannot resolve is that model's miss. Ctrl-C cancels what has not started and says
which models finished.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from embcli.api import checks
from embcli.api.executor import connect as connect  # re-exported: its home was here
from embcli.api.executor import run_each
from embcli.errors import EmbcliError, Interrupted, UnresolvedWord, UsageProblem
from embcli.read.ref import ModelRef
from embcli.view import Result, View

#: Table methods a fleet may ask (each returns a ``Result``).
QUESTIONS = frozenset(
    ["info", "stats", "undertrained", "neighbors", "similarity", "analogy", "analogies", "weat",
     "weat_all", "axis", "size"]
)  # fmt: skip
#: Questions of a model's config, not of a table: the task opens no table (``size``).
CONFIG_QUESTIONS = frozenset(["size"])
#: ``progress(done, total, failed)``: models answered so far, of how many, how many failed.
FleetProgress = Callable[[int, int, int], None]


@dataclass(frozen=True)
class Question:
    """One ``Table`` method and its arguments, asked of every model; ``view`` names the result
    method that gives its table (``"pairs_view"`` for similarity's pairs), with ``view_kwargs``."""

    method: str
    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    view: str = "view"
    view_kwargs: Mapping[str, Any] = field(default_factory=dict)


def answer(ref: ModelRef, question: Question, cache_dir: str | None) -> dict[str, Any]:
    """One model's answer: ``{"data", "view", "missed", "notices"}``, or ``{"error",
    "exit_code", "notices"}`` when the model cannot answer. Runs wherever the task lands: it
    reads the table itself (from the cache directory, or builds it there)."""
    from embcli.api import fleet_memo
    from embcli.api.model import Model

    notices: list[str] = []
    table = None
    try:
        if question.method in CONFIG_QUESTIONS:  # sized from its config: no table is read
            from embcli.api.sizes import size

            result: Any = size(ref.source, file=ref.file, quant=ref.quant, notice=notices.append,
                               **question.kwargs)  # fmt: skip
        else:
            model = Model(ref.source, revision=ref.revision, cache_dir=cache_dir,
                          allow_pickle=ref.allow_pickle, notice=notices.append, file=ref.file,
                          quant=ref.quant)  # fmt: skip
            table = model.table(ref.role, ref.tensor)
            kept = fleet_memo.recall(table, question)  # answered before: the entry keeps it
            if kept is not None:
                return kept | {"notices": notices + kept["notices"]}
            said = len(notices)
            result = getattr(table, question.method)(*question.args, **question.kwargs)
    except UnresolvedWord as exc:  # a single query the model cannot resolve: its miss
        return {"data": None, "view": None, "missed": [exc.one_line()], "notices": notices}
    except EmbcliError as exc:
        return {"error": exc.one_line(), "exit_code": exc.exit_code, "param": exc.param,
                "notices": notices}  # fmt: skip
    view = getattr(result, question.view)(**question.view_kwargs)
    missed = [_missed(failure) for failure in getattr(result, "failed", ())]
    out = {"data": result.to_dict(), "view": view, "missed": missed, "notices": notices}
    if table is not None:
        fleet_memo.keep(table, question, out, notices[said:])
    return out


def _missed(failure: EmbcliError | tuple[str, EmbcliError]) -> str:
    """One line of what a model could not answer: a query's error, or (what, why) of a batch
    (``weat --all``'s test whose words the table lacks)."""
    if isinstance(failure, tuple):
        name, exc = failure
        return f"{name}: {exc.one_line()}"
    return failure.one_line()


@dataclass
class ModelAnswer:
    """One model's part of a :class:`FleetResult`: its JSON and view, or its error."""

    model: str
    data: Any = None
    view: View | None = None
    missed: list[str] = field(default_factory=list)
    error: str | None = None

    def records(self) -> list[dict[str, Any]]:
        """Its JSON records, each with ``model`` first: the one-model JSON itself (a dict, or
        each record of a list), its misses, or its error."""
        if self.error is not None:
            return [{"model": self.model, "error": self.error}]
        data = self.data
        out = [{"model": self.model} | data] if isinstance(data, dict) else []
        if isinstance(data, list):
            out = [{"model": self.model} | r if isinstance(r, dict) else {"model": self.model,
                   "value": r} for r in data]  # fmt: skip
        return out + [{"model": self.model, "unresolved": m} for m in self.missed]


@dataclass
class FleetResult(Result):
    """Every model's answer to one question, in the order the models were given."""

    question: str
    answers: list[ModelAnswer]

    @property
    def failed(self) -> list[ModelAnswer]:
        """The models that could not answer (their ``error`` says why)."""
        return [a for a in self.answers if a.error is not None]

    @property
    def missed(self) -> list[tuple[str, str]]:
        """(model, line) of every word a model could not resolve."""
        return [(a.model, m) for a in self.answers for m in a.missed]

    def to_dict(self) -> list[dict[str, Any]]:
        return [r for a in self.answers for r in a.records()]

    def figure(self) -> Any:
        """The comparison picture (a matplotlib ``Figure``; :mod:`embcli.api.fleet_plot`):
        ``stats`` as bars per figure, ``neighbors`` as a grid, ``undertrained`` and ``size``
        as bars; None when no model answered."""
        from embcli.api.fleet_plot import figure

        return figure(self)

    def plot(self, out: str | os.PathLike[str]) -> Path | None:
        """Write :meth:`figure` to ``out`` (.png/.svg/.pdf); None (nothing written) when no
        model answered."""
        from embcli.api.fleet_plot import plot

        return plot(self, out)

    def view(self) -> View:
        """One table, ``model`` first: a listing (``info``, ``stats``) becomes one row per model
        with its fields as columns; a table gets each row prefixed with its model. A model that
        failed is a row with its error; when no model answered, a model that missed its words is a
        row with its misses."""
        views = [a.view for a in self.answers if a.view is not None]
        wide = bool(views) and views[0].key_value
        columns: list[str] = []
        for v in views:
            # a listing's indented names ("  centred", under "mean cosine, raw") as plain columns
            names = [str(r[0]).strip() for r in v.rows] if wide else [str(c) for c in v.columns]
            columns += [c for c in names if c not in columns and c != "model"]
        if not columns:  # no model answered: one column says why, per model
            columns = ["error" if self.failed else "unresolved"]
        rows: list[list[Any]] = []
        for a in self.answers:
            if a.view is None:
                cells: dict[str, Any] = {}
                if a.error is not None:
                    cells = {columns[0]: f"error: {a.error}"}
                elif not views and a.missed:  # nothing else to show: its misses
                    cells = {columns[0]: "unresolved: " + "; ".join(a.missed)}
                rows += [[a.model, *(cells.get(c) for c in columns)]] if cells else []
            elif wide:
                cells = {str(r[0]).strip(): r[1] for r in a.view.rows}
                rows.append([a.model, *(cells.get(c) for c in columns)])
            else:
                names = [str(c) for c in a.view.columns]
                for r in a.view.rows:
                    cells = dict(zip(names, r, strict=True))
                    rows.append([a.model, *(cells.get(c) for c in columns)])
        captions = {v.caption for v in views}
        return View(
            ["model", *columns],
            rows,
            caption=captions.pop() if len(captions) == 1 else None,
            token_columns=set().union(*(v.token_columns for v in views)) if views else set(),
            table_hidden=set().union(*(v.table_hidden for v in views)) if views else set(),
            no_wrap={"model"}.union(*(v.no_wrap for v in views)) if views else {"model"},
        )


def ask_many(
    refs: Sequence[ModelRef | str],
    question: Question,
    *,
    labels: Sequence[str] | None = None,
    cache_dir: str | None = None,
    jobs: int = 1,
    scheduler: str | None = None,
    notice: Callable[[str], None] | None = None,
    progress: FleetProgress | None = None,
) -> FleetResult:
    """Ask ``question`` of every model of ``refs``, in that order (``labels``: how each is
    named in the result, default its source).

    ``jobs=1`` answers in this process, one model after another; ``jobs>1`` in that many worker
    processes, each reading its own table from ``cache_dir``; ``scheduler`` (a Dask scheduler's
    address, ``tcp://host:8786``) sends the tasks to that cluster, whose workers must see the
    same model paths and cache directory. ``notice(line)`` hears each model's notices and
    failures (prefixed with its label) as they arrive; ``progress(done, total, failed)`` each
    model finished. A model that fails is recorded with its error and the others still answer;
    but when every model refuses the question with the same usage line (``k`` below 0, a WEAT
    test that does not exist: the arguments' problem, not a model's), that is raised once as a
    :class:`UsageProblem` with its ``param``, as asking one model would.
    """
    if question.method not in QUESTIONS:
        raise UsageProblem(f"{question.method!r} cannot be asked of many models")
    checks.count("jobs", jobs, 1)
    chosen = [ModelRef.of(r) for r in refs]
    if not chosen:
        raise UsageProblem("no models to ask", param="models")
    names = list(labels) if labels is not None else [r.source for r in chosen]
    if len(names) != len(chosen):
        raise UsageProblem("labels must name every model", param="labels")
    answers: list[ModelAnswer | None] = [None] * len(chosen)
    say = notice or (lambda _line: None)
    failures = 0
    # While every model so far refused with one usage line, their lines wait: the question's
    # own problem is said once (raised at the end); a model's own is said as it arrives.
    same: list[tuple[str, Any]] = []
    held: list[str] = []
    mixed = False

    def flush() -> None:
        nonlocal mixed
        mixed = True
        for line in held:
            say(line)
        held.clear()

    def take(i: int, raw: dict[str, Any]) -> None:
        nonlocal failures
        name = names[i]
        for line in raw.get("notices", ()):
            say(f"{name}: {line}")
        usage = None
        if raw.get("error") is not None and raw.get("exit_code") == UsageProblem.exit_code:
            usage = (str(raw["error"]), raw.get("param"))
        if usage is not None and not mixed and (not same or same[0] == usage):
            same[:] = [usage]
            held.append(f"{name}: {usage[0]}")
        elif not mixed:
            flush()
        if raw.get("error") is not None:
            failures += 1
            if mixed:
                say(f"{name}: {raw['error']}")
            answers[i] = ModelAnswer(name, error=str(raw["error"]))
        else:
            answers[i] = ModelAnswer(name, raw["data"], raw["view"], list(raw["missed"]))
        if progress is not None:
            progress(sum(a is not None for a in answers), len(chosen), failures)

    def finished() -> str:
        done = [names[i] for i, a in enumerate(answers) if a is not None]
        left = [names[i] for i, a in enumerate(answers) if a is None]
        said = f"{len(done)} of {len(chosen)} models answered"
        said += f" ({', '.join(done)})" if done else ""
        return said + (f"; not answered: {', '.join(left)}" if left else "")

    try:
        run_each(answer, [(r, question) for r in chosen], take,
                 scheduler=scheduler, jobs=jobs, cache_dir=cache_dir)  # fmt: skip
    except KeyboardInterrupt:
        flush()
        raise Interrupted(f"interrupted; {finished()}") from None
    if same and not mixed:  # every model refused the arguments alike: the command's problem
        raise UsageProblem(same[0][0], param=same[0][1])
    return FleetResult(question.method, [a for a in answers if a is not None])
