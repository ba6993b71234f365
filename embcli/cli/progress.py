"""A rich progress bar for long work (a download, a cache build, a benchmark, a corpus).

Only on a terminal: a piped or redirected stderr never receives control characters, and a warm
query (which reports nothing) prints nothing. The bar appears on the first report, restarts when
the unit changes (the bytes of a download, then the rows of the cache build) and goes away when
its work is done, so nothing is left on screen when the answer is printed.
"""

from __future__ import annotations

import sys
from typing import Any

_OPEN: list[ProgressBar] = []


class ProgressBar:
    """``bar(done, total, unit)``: the progress callback a :class:`embcli.api.Model` takes."""

    def __init__(self, subject: str) -> None:
        self.subject = subject
        self._bar: Any = None
        self._task: Any = None
        self._unit: str | None = None

    def __call__(self, done: int, total: int, unit: str = "rows") -> None:
        if unit != self._unit:
            self.close()
            self._start(unit, total)
        self._bar.update(self._task, completed=done, total=total, rate=self._rate())
        if total and done >= total:
            self.close()

    def _rate(self) -> str:
        speed = self._bar.tasks[0].speed if self._bar is not None and self._bar.tasks else None
        return f"{speed:,.0f} {self._unit}/s" if speed else ""

    def _start(self, unit: str, total: int) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            MofNCompleteColumn,
            Progress,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )

        bytes_ = unit == "bytes"
        counts = (DownloadColumn(), TransferSpeedColumn()) if bytes_ else (MofNCompleteColumn(),)
        if unit == "lines":  # a corpus being embedded: its rate too
            from rich.progress import TextColumn

            counts = (*counts, TextColumn("{task.fields[rate]}"))
        self._bar = Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            *counts,
            TimeRemainingColumn(),
            console=Console(stderr=True),
            transient=True,
        )
        self._bar.start()
        self._task = self._bar.add_task(_label(unit, self.subject), total=total, rate="")
        self._unit = unit
        _OPEN.append(self)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None
            self._unit = None
        if self in _OPEN:
            _OPEN.remove(self)


def _label(unit: str, subject: str) -> str:
    return {
        "bytes": f"Downloading the table of {subject}",
        "rows": f"Caching {subject}",
        "questions": "Answering the questions",
        "lines": "Embedding the corpus",
        "neighbour lists": "Every row's neighbours",
        "checkpoints": f"Checkpoints of {subject}",
        "models": subject,
    }.get(unit, subject)


def progress_bar(subject: str) -> ProgressBar | None:
    """A bar for ``subject``'s long work on a terminal's stderr, or None when it is not one."""
    return ProgressBar(subject) if sys.stderr.isatty() else None


def close_all() -> None:
    """Stop every bar still showing (a command that ended or failed mid-way)."""
    for bar in list(_OPEN):
        bar.close()


def fleet_progress(total: int) -> Any:
    """``progress(done, total, failed)`` for many models on a terminal: models answered of all,
    and the failures so far in the bar's label; None when stderr is not a terminal."""
    bar = progress_bar("Models")
    if bar is None:
        return None

    def report(done: int, total: int, failed: int) -> None:
        bar.subject = f"Models ({failed} failed)" if failed else "Models"
        if bar._bar is not None:
            bar._bar.update(bar._task, description=bar.subject)
        bar(done, total, "models")

    report(0, total, 0)
    return report
