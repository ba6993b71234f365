"""Options shared by the commands, defined once.

The model options work both before the command (``embcli -m gpt2 info``) and after it
(``embcli info -m gpt2``): the root callback stores the global values in :class:`Settings`,
and a command's own value, when given, wins.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from enum import Enum
from typing import Annotated

import typer

DEFAULT_MODEL = "openai-community/gpt2"


class Format(str, Enum):
    table = "table"
    tsv = "tsv"
    json = "json"
    jsonl = "jsonl"


ModelOpt = Annotated[
    str | None,
    typer.Option(
        "--model",
        "-m",
        help=f"Local model directory or Hub repo id (default: $EMBCLI_MODEL or {DEFAULT_MODEL}).",
        show_default=False,
    ),
]
RevisionOpt = Annotated[
    str | None,
    typer.Option("--revision", help="Hub branch, tag or commit.", show_default=False),
]
TensorOpt = Annotated[
    str | None,
    typer.Option("--tensor", help="Use this checkpoint tensor as the table.", show_default=False),
]
FormatOpt = Annotated[
    Format | None,
    typer.Option(
        "--format",
        "-f",
        help="Output format (default: table on a terminal, tsv when piped).",
        show_default=False,
        case_sensitive=False,
    ),
]


@dataclass(frozen=True)
class Settings:
    """Everything that decides which table a command reads and how it prints."""

    model: str = DEFAULT_MODEL
    revision: str | None = None
    tensor: str | None = None
    cache_dir: str | None = None
    allow_pickle: bool = False
    debug: bool = False
    format: Format | None = None

    def merged(
        self,
        model: str | None = None,
        revision: str | None = None,
        tensor: str | None = None,
        format: Format | None = None,
    ) -> Settings:
        """These settings with a command's own options laid over them."""
        return replace(
            self,
            model=model or self.model,
            revision=revision or self.revision,
            tensor=tensor or self.tensor,
            format=format or self.format,
        )


def settings_of(ctx: typer.Context) -> Settings:
    obj = ctx.find_root().obj
    return obj if isinstance(obj, Settings) else Settings(model=_env_model())


def _env_model() -> str:
    return os.environ.get("EMBCLI_MODEL") or DEFAULT_MODEL


# -- options of the query commands ---------------------------------------------------------------
class Pool(str, Enum):
    mean = "mean"


PoolOpt = Annotated[
    Pool | None,
    typer.Option(
        "--pool",
        help="How to use a word that splits into several tokens: 'mean' averages its "
        "sub-token vectors (default: such a word is an error).",
        show_default=False,
    ),
]
IdsOpt = Annotated[
    bool, typer.Option("--ids", help="Read every query as a row id (same as writing #123).")
]
CenterOpt = Annotated[
    bool,
    typer.Option("--center", help="Subtract the table's mean vector before normalising."),
]
AllTokensOpt = Annotated[
    bool,
    typer.Option(
        "--all-tokens",
        help="Consider every row (fragments, special tokens, case/space variants); "
        "only the query token itself is left out.",
    ),
]
