"""What most commands do first: a :class:`embcli.api.Model` from the settings, with the CLI's
notice sink (one ``embcli: ...`` line on stderr) and its progress bar, and the table asked for."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import typer

from embcli.cli.options import Role, Settings
from embcli.cli.progress import progress_bar
from embcli.errors import UsageProblem

if TYPE_CHECKING:
    from pathlib import Path

    from embcli.api import Model, Table
    from embcli.api.fleet import FleetResult


def notice(message: str) -> None:
    print(f"embcli: {message}", file=sys.stderr)


def model_of(settings: Settings, spec: str | None = None, *, choose: bool = True) -> Model:
    """The model the settings name (or ``spec``), read as the settings say.

    A command that runs the model takes no ``--cache-dir`` (it never opens a cached table), nor
    ``--file``/``--quant`` (a GGUF is not a model it can run); ``choose=False`` leaves those
    two to another model (compare gives them to B).
    """
    from embcli.api import Model

    name = spec or settings.model
    cache_dir = settings.cache_dir if settings.declares("cache_dir") else None
    file = settings.file if choose and settings.declares("file") else None
    quant = settings.quant if choose and settings.declares("quant") else None
    return Model(name, revision=settings.revision, cache_dir=cache_dir,
                 allow_pickle=settings.allow_pickle, notice=notice,
                 progress=progress_bar(name), file=file, quant=quant)  # fmt: skip


def table_of(settings: Settings, default: Role = Role.input) -> Table:
    """The table the settings name: ``--table`` (else ``default``) and ``--tensor``."""
    role = settings.role or default
    return model_of(settings).table(role.value, settings.tensor)


def ask_models(settings: Settings, method: str, *args: Any, options: dict[str, Any] | None = None,
               default: Role = Role.input, view: str = "view",
               view_kwargs: dict[str, Any] | None = None,
               plot: Path | None = None) -> None:  # fmt: skip
    """Ask every model the settings name (``-m`` repeated, ``--models FILE``) the ``Table``
    method ``method``, print one table with a model column (``plot``: and draw the comparison),
    and exit as ``history`` does: 4 when a model failed (each said on stderr as it fails), 3
    when a model missed a word."""
    from embcli.api import Model
    from embcli.api.fleet import Question, ask_many
    from embcli.api.fleet_plot import check_plot
    from embcli.cli.progress import fleet_progress

    out = check_plot(method, plot) if plot is not None else None
    specs = settings.specs
    role = (settings.role or default).value
    file = settings.file if settings.declares("file") else None
    quant = settings.quant if settings.declares("quant") else None
    read: dict[str, Any] = {"revision": settings.revision, "file": file, "quant": quant,
                            "allow_pickle": settings.allow_pickle}  # fmt: skip
    refs = [Model(s, **read).ref.but(role=role, tensor=settings.tensor) for s in specs]
    question = Question(method, args, options or {}, view, view_kwargs or {})
    result = ask_many(refs, question, labels=specs, cache_dir=settings.cache_dir,
                      jobs=settings.jobs, scheduler=settings.scheduler, notice=notice,
                      progress=fleet_progress(len(specs)))  # fmt: skip
    say_many(settings, result, len(specs), out)


def say_many(settings: Settings, result: FleetResult, total: int, plot: Path | None) -> None:
    """Print many models' answers as one table, draw ``plot`` from them, and exit 4 when a
    model failed, 3 when a model missed a word (each said on stderr)."""
    from embcli.cli.output import emit
    from embcli.errors import PartlyFailed, UnresolvedWord

    for model, line in result.missed:
        notice(f"{model}: {line}")
    if plot is not None:
        settings.will_write(plot)
        if result.plot(plot) is not None:
            notice(f"wrote {plot}")
        else:
            notice(f"{plot} was not written: no model answered")
    emit(settings.format, result.to_dict(), result.view())
    if result.failed:
        names = ", ".join(a.model for a in result.failed)
        raise PartlyFailed(f"{len(result.failed)} of {total} models failed: {names}")
    if result.missed:
        raise typer.Exit(UnresolvedWord.exit_code)


def stdin_once(settings: Settings, *sources: str | None) -> None:
    """Refuse ``--models -`` beside another input read from stdin: stdin can be read once."""
    if settings.models == "-" and "-" in sources:
        raise UsageProblem("--models - reads stdin: give the other input as a file")
