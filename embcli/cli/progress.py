"""A rich progress bar for first-time cache builds, on a terminal only.

The bar appears on the first progress report, so a warm query (which reports nothing) prints
nothing, and a piped or redirected stderr never receives control characters.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from embcli.store.load import Progress


@contextmanager
def build_progress(description: str) -> Iterator[Progress | None]:
    if not sys.stderr.isatty():
        yield None
        return
    state: dict[str, Any] = {}

    def update(done: int, total: int, unit: str = "rows") -> None:
        if state.get("unit") != unit:
            if "bar" in state:
                state["bar"].stop()
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                DownloadColumn,
                MofNCompleteColumn,
                Progress,
                TimeRemainingColumn,
                TransferSpeedColumn,
            )

            counts = (
                (DownloadColumn(), TransferSpeedColumn())
                if unit == "bytes"
                else (MofNCompleteColumn(),)
            )
            bar = Progress(
                "[progress.description]{task.description}",
                BarColumn(),
                *counts,
                TimeRemainingColumn(),
                console=Console(stderr=True),
                transient=True,
            )
            bar.start()
            text = (
                f"Downloading the table of {description}"
                if unit == "bytes"
                else (f"Caching {description}")
            )
            state.update(bar=bar, unit=unit, task=bar.add_task(text, total=total))
        state["bar"].update(state["task"], completed=done, total=total)

    try:
        yield update
    finally:
        if "bar" in state:
            state["bar"].stop()
