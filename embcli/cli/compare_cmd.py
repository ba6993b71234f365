"""``embcli compare``: two tables side by side (``Model.compare``; the math is the library's)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from embcli.api.inputs import word_list
from embcli.cli.common import model_of
from embcli.cli.options import TABLE_OPTIONS, Role, Settings, command
from embcli.cli.output import emit
from embcli.errors import UsageProblem


def register(app: typer.Typer) -> None:
    app.command("compare")(compare)


@command(*TABLE_OPTIONS, "format", "jobs", "scheduler")
def compare(
    settings: Settings,
    model: Annotated[
        list[str] | None,
        typer.Option(
            "--model",
            "-m",
            help="Give twice: A, then B. Once with --tensor-b: the same model's other tensor.",
            show_default=False,
        ),
    ] = None,
    against: Annotated[
        list[str] | None,
        typer.Option(
            "--against",
            metavar="MODEL",
            help="Compare A (-m, given once) with this model's table; repeat it for several: "
            "one table, a row per B (--table-b/--tensor-b choose each B's table; --jobs, "
            "--scheduler run the pairs at once).",
            show_default=False,
        ),
    ] = None,
    tensor_b: Annotated[
        str | None,
        typer.Option(
            "--tensor-b", help="B's checkpoint tensor (e.g. lm_head.weight).", show_default=False
        ),
    ] = None,
    table_b: Annotated[
        Role | None,
        typer.Option(
            "--table-b",
            help="B's table: input or output (the output head), for -m given once.",
            show_default=False,
            case_sensitive=False,
        ),
    ] = None,
    k: Annotated[int, typer.Option("-k", "--top", help="Neighbours per word (1 or more).")] = 10,
    words: Annotated[
        str | None,
        typer.Option(
            "--words",
            metavar="WORDS|FILE",
            help="Compare only these words: a comma list (cat,dog) or a FILE (one per line; "
            "'-': stdin).",
            show_default=False,
        ),
    ] = None,
    case_sensitive: Annotated[
        bool, typer.Option("--case-sensitive", help="Match words with their case (Paris != paris).")
    ] = False,
    sample: Annotated[
        int,
        typer.Option(
            "--sample", help="Compare the neighbour lists of this many shared words (0: all)."
        ),
    ] = 5000,
    show: Annotated[
        int,
        typer.Option(
            "--show", help="List the N words agreeing most and least, and N translations."
        ),
    ] = 0,
    plot: Annotated[
        Path | None,
        typer.Option(
            "--plot",
            metavar="FILE",
            help="Draw Jaccard@k and neighbour ranks (.png, .svg, .pdf).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Compare two tables: shared words, neighbour agreement, CKA, Procrustes alignment.

    Words are matched by their text (leading space, ▁ and case as each tokenizer writes a word).
    """
    settings.will_write(plot)
    names = list(model or [])
    settings.check_executor(bool(against), "one pair is compared in this process")
    jobs, scheduler = settings.jobs, settings.scheduler  # the pairs' executor, with --against
    if against:
        if len(names) > 1:
            raise UsageProblem("with --against, give -m once: the table compared with each")
        if plot is not None:
            raise UsageProblem("--plot draws one pair: leave it out with --against")
        _against(settings, names[0] if names else None, against, table_b, tensor_b, jobs,
                 scheduler, {"k": k, "case_sensitive": case_sensitive, "sample": sample,
                             "show": show, "words": word_list(words, "--words")
                             if words is not None else None})  # fmt: skip
        return
    if len(names) > 2:
        raise UsageProblem(f"--model given {len(names)} times: give A and B")
    # --file/--quant choose B's GGUF file when there are two models (A is -m's first)
    two = len(names) == 2 and names[0] != names[1]
    result = model_of(settings, names[0] if names else None, choose=not two).compare(
        model_of(settings, names[1]) if two else (names[1] if len(names) == 2 else None),
        role=settings.role.value if settings.role else "input",
        tensor=settings.tensor,
        other_role=table_b.value if table_b else None,
        other_tensor=tensor_b,
        k=k,
        case_sensitive=case_sensitive,
        words=word_list(words, "--words") if words is not None else None,
        sample=sample,
        show=show,
        plot=plot,
    )
    if plot is not None:
        print(f"embcli: wrote {plot}", file=sys.stderr)
    emit(settings.format, result.to_dict(), result.view())


def _against(
    settings: Settings,
    spec: str | None,
    others: list[str],
    table_b: Role | None,
    tensor_b: str | None,
    jobs: int,
    scheduler: str | None,
    options: dict[str, Any],
) -> None:
    """A compared with each of ``others``, each pair a task: one table, a row per B; exit 4
    when a pair failed (each said on stderr as it fails)."""
    from embcli.api import Model
    from embcli.api.pairs import compare_many
    from embcli.cli.common import notice
    from embcli.cli.progress import fleet_progress
    from embcli.errors import PartlyFailed

    read: dict[str, Any] = {
        "revision": settings.revision,
        "file": settings.file,
        "quant": settings.quant,
        "allow_pickle": settings.allow_pickle,
    }
    role = settings.role.value if settings.role else "input"
    a = Model(spec or settings.model, **read).ref.but(role=role, tensor=settings.tensor)
    role_b = table_b.value if table_b else "input"
    bs = [Model(b, **read).ref.but(role=role_b, tensor=tensor_b) for b in others]
    result = compare_many(a, bs, labels=others, cache_dir=settings.cache_dir, jobs=jobs,
                          scheduler=scheduler, notice=notice,
                          progress=fleet_progress(len(others)), **options)  # fmt: skip
    emit(settings.format, result.to_dict(), result.view())
    if result.failed:
        names = ", ".join(x.model for x in result.failed)
        raise PartlyFailed(f"{len(result.failed)} of {len(others)} pairs failed: {names}")
