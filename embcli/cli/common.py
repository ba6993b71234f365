"""What most commands do first: a :class:`embcli.api.Model` from the settings, with the CLI's
notice sink (one ``embcli: ...`` line on stderr) and its progress bar, and the table asked for."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from embcli.cli.options import Role, Settings
from embcli.cli.progress import progress_bar

if TYPE_CHECKING:
    from embcli.api import Model, Table


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
