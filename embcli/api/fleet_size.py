"""``embcli size -m A -m B``: the size of many models' tables from their configs, one task a
model on the fleet's executor (:mod:`embcli.api.fleet`), so a model whose config cannot be read
is that model's error and the others still answer."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from embcli.api.fleet import FleetProgress, FleetResult, ModelAnswer, Question, ask_many
from embcli.read.ref import ModelRef


def size_many(
    models: Sequence[str],
    *,
    vocab: int | None = None,
    dim: int | None = None,
    dtype: str = "float16",
    untied: bool = False,
    units: str = "MB",
    offline: bool = False,
    file: str | None = None,
    quant: str | None = None,
    exact: bool = False,
    jobs: int = 1,
    scheduler: str | None = None,
    notice: Callable[[str], None] | None = None,
    progress: FleetProgress | None = None,
) -> FleetResult:
    """The size card of every model of ``models`` (as :func:`embcli.size` gives it for that
    model alone), as a :class:`FleetResult` in the order given; ``vocab`` and ``dim`` add the
    what-if table first. ``exact``: each model's row as ``size``'s TSV shows it (integers)."""
    from embcli.api.sizes import size

    first: list[ModelAnswer] = []
    if vocab is not None or dim is not None:  # arithmetic, checked and answered here
        report = size(vocab=vocab, dim=dim, dtype=dtype, untied=untied, units=units)
        record = report.to_dict()
        first.append(ModelAnswer(record["model"], record, report.comparison(exact=exact)))
    else:  # the arguments checked before any model is asked
        size(vocab=1, dim=1, dtype=dtype, untied=untied, units=units)
    options = {"dtype": dtype, "untied": untied, "units": units, "offline": offline}
    question = Question("size", (), options, "comparison", {"exact": exact})
    refs = [ModelRef(m, file=file, quant=quant) for m in models]
    result = ask_many(refs, question, labels=list(models), jobs=jobs, scheduler=scheduler,
                      notice=notice, progress=progress)  # fmt: skip
    return FleetResult(result.question, first + result.answers)
