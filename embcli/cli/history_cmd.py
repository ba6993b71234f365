"""``embcli history``: a table through a run's checkpoints (``embcli.history``; the math is the
library's). Checkpoints that fail are named on stderr as they fail; the report of the others is
printed, and the exit code is 4."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from embcli.api.inputs import word_list
from embcli.api.runs import history as run_history
from embcli.cli.common import notice
from embcli.cli.options import Settings, command
from embcli.cli.output import emit
from embcli.cli.progress import progress_bar
from embcli.errors import PartlyFailed


def register(app: typer.Typer) -> None:
    app.command("history")(history)


@command("model", "tensor", "role", "cache_dir", "allow_pickle", "format", "scheduler")
def history(
    settings: Settings,
    model: Annotated[
        list[str] | None,
        typer.Option(
            "--model",
            "-m",
            help="A Hub repo id (with --revisions), or checkpoint directories: -m once per "
            "directory, or a quoted glob ('runs/my-model/checkpoint-*').",
            show_default=False,
        ),
    ] = None,
    revisions: Annotated[
        str | None,
        typer.Option(
            "--revisions",
            help="Hub revisions: a comma list, or a quoted glob matched against the repo's "
            "branches and tags ('step*').",
            show_default=False,
        ),
    ] = None,
    every: Annotated[
        bool,
        typer.Option("--all", help="Every checkpoint a glob matches (default: about --count)."),
    ] = False,
    count: Annotated[
        int,
        typer.Option("--count", help="Checkpoints a glob chooses, log-spaced in step."),
    ] = 12,
    words: Annotated[
        str | None,
        typer.Option(
            "--words",
            metavar="WORDS|FILE",
            help="Words to follow, as a comma list (cat,Paris,the) or a FILE (one per line; "
            "'-': stdin): their neighbours at every checkpoint and the step each settles at.",
            show_default=False,
        ),
    ] = None,
    k: Annotated[int, typer.Option("-k", "--top", help="Neighbours per word shown.")] = 10,
    sample: Annotated[
        int,
        typer.Option(
            "--sample", help="Word-like tokens whose neighbour lists measure drift (0: none)."
        ),
    ] = 1000,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the samples.")] = 0,
    jobs: Annotated[
        int,
        typer.Option(
            "--jobs",
            "-j",
            help="Checkpoints read and measured at once, in threads of this process (with "
            "--scheduler the cluster's workers decide).",
        ),
    ] = 4,
    plot: Annotated[
        Path | None,
        typer.Option(
            "--plot",
            metavar="FILE",
            help="Draw the metrics over steps and the settle steps (.png, .svg, .pdf).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """How a table learns, checkpoint by checkpoint.

    For every checkpoint: mean row norm, anisotropy, effective rank and isotropy (as stats),
    and drift from the previous and to the last checkpoint (CKA, Procrustes-aligned cosine,
    Jaccard@10 of neighbour lists). --words: when each word's neighbours settle. Each checkpoint
    is a task (read and measured, then compared with the one before and the last), --jobs at
    once here or on a Dask cluster (--scheduler); tables and results stay cached, so a rerun
    reads and computes only what is missing.
    """
    settings.will_write(plot)
    specs = list(model or [settings.model])
    label = specs[0] if len(specs) == 1 else f"{len(specs)} checkpoints"
    result = run_history(
        specs,
        revisions=revisions,
        every=every,
        count=count,
        role=settings.role.value if settings.role else "input",
        tensor=settings.tensor,
        words=word_list(words, "--words") if words is not None else None,
        k=k,
        sample=sample,
        seed=seed,
        jobs=jobs,
        scheduler=settings.scheduler,
        plot=plot,
        cache_dir=settings.cache_dir,
        allow_pickle=settings.allow_pickle,
        notice=notice,
        progress=progress_bar(label),
    )
    if plot is not None:
        print(f"embcli: wrote {plot}", file=sys.stderr)
    emit(settings.format, result.to_dict(), result.view())
    if result.failed:
        names = ", ".join(f["revision"] for f in result.failed)
        shown = {c.revision for c in result.checkpoints}
        total = len(shown) + len([f for f in result.failed if f["revision"] not in shown])
        read = all(f["revision"] not in shown for f in result.failed)
        how = "read" if read else "read or compared"
        raise PartlyFailed(
            f"{len(result.failed)} of {total} checkpoints could not be {how}: {names}"
        )
