"""What most commands do first: open the table named by the settings, with a progress bar."""

from __future__ import annotations

from embcli.cli.options import Settings
from embcli.cli.progress import build_progress
from embcli.store.load import open_table
from embcli.store.table import EmbeddingTable


def load(settings: Settings) -> EmbeddingTable:
    with build_progress(settings.model) as progress:
        return open_table(
            settings.model,
            tensor=settings.tensor,
            revision=settings.revision,
            allow_pickle=settings.allow_pickle,
            cache_dir=settings.cache_dir,
            progress=progress,
            table=settings.table.value if settings.table else "input",
        )
