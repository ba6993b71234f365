"""What most commands do first: a :class:`embcli.api.Model` from the settings, with the CLI's
notice sink (one ``embcli: ...`` line on stderr) and its progress bar, and the table asked for."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from embcli.cli.options import Settings
from embcli.cli.progress import progress_bar

if TYPE_CHECKING:
    from embcli.api import Model, Table


def notice(message: str) -> None:
    print(f"embcli: {message}", file=sys.stderr)


def model_of(settings: Settings, spec: str | None = None) -> Model:
    """The model the settings name (or ``spec``), read as the settings say."""
    from embcli.api import Model

    name = spec or settings.model
    return Model(name, revision=settings.revision, cache_dir=settings.cache_dir,
                 allow_pickle=settings.allow_pickle, notice=notice,
                 progress=progress_bar(name))  # fmt: skip


def table_of(settings: Settings, role: str | None = None) -> Table:
    """The table the settings name: ``--table`` (or ``role``) and ``--tensor`` of the model."""
    chosen = role or (settings.role.value if settings.role else "input")
    return model_of(settings).table(chosen, settings.tensor)
