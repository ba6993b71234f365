"""Options shared by the commands, defined once.

The shared options (model, revision, tensor, table, format, cache dir, pickle, debug) work both
before the command (``embcli -m gpt2 info``) and after it (``embcli info -m gpt2``): the root
callback stores the global values in :class:`Settings`, and :func:`with_settings` gives every
command the same options after its name, laying the values given there over the global ones.
"""

from __future__ import annotations

import functools
import inspect
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, fields, replace
from enum import Enum
from typing import Annotated, Any

import typer

from embcli.api import DEFAULT_MODEL


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


class Role(str, Enum):
    """Which of a model's two vocabulary tables to read (``--table``): its role."""

    input = "input"
    output = "output"


RoleOpt = Annotated[
    Role | None,
    typer.Option(
        "--table",
        help="input: the token-embedding table (default); output: the output head (lm_head), "
        "which is the same table for a tied model.",
        show_default=False,
        case_sensitive=False,
    ),
]
CacheDirOpt = Annotated[
    str | None,
    typer.Option(
        "--cache-dir",
        envvar="EMBCLI_CACHE",
        help="Cache directory (default: the platform's user cache dir).",
        show_default=False,
    ),
]
AllowPickleOpt = Annotated[
    bool,
    typer.Option(
        "--allow-pickle", help="Fully unpickle PyTorch checkpoints (runs code: trusted only)."
    ),
]
DebugOpt = Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")]
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
    role: Role | None = None  # --table

    def merged(
        self,
        model: str | None = None,
        revision: str | None = None,
        tensor: str | None = None,
        format: Format | None = None,
        **given: Any,
    ) -> Settings:
        """These settings with a command's own options laid over them (None/False: not given)."""
        given.update(model=model, revision=revision, tensor=tensor, format=format)
        known = {f.name for f in fields(self)}
        unknown = set(given) - known
        if unknown:
            raise TypeError(f"unknown settings: {sorted(unknown)}")
        return replace(self, **{k: v for k, v in given.items() if v is not None and v is not False})


def settings_of(ctx: typer.Context) -> Settings:
    obj = ctx.find_root().obj
    return obj if isinstance(obj, Settings) else Settings(model=_env_model())


#: The options every command accepts after its name: (annotation, default), in help order.
SHARED_OPTIONS: dict[str, tuple[Any, Any]] = {
    "model": (ModelOpt, None),
    "revision": (RevisionOpt, None),
    "tensor": (TensorOpt, None),
    "role": (RoleOpt, None),
    "format": (FormatOpt, None),
    "cache_dir": (CacheDirOpt, None),
    "allow_pickle": (AllowPickleOpt, False),
    "debug": (DebugOpt, False),
}


def with_settings(
    *, skip: Iterable[str] = ()
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Turn ``func(settings, ...own options)`` into a command that takes the shared options too.

    The returned function has the signature Typer reads: ``ctx``, the command's own parameters,
    then every shared option not in ``skip`` and not declared by the command itself. When it
    runs, the shared values given after the command name are merged over the root's
    :class:`Settings`, and ``func`` receives the result as its first argument. This is the one
    place the shared options are attached, so a new command gets all of them by construction.
    """
    skipped = set(skip)

    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        sig = inspect.signature(func, eval_str=True)
        first, *own = sig.parameters.values()
        if first.name != "settings":
            raise TypeError(f"{func.__name__} must take 'settings' first")
        declared = {p.name for p in own}
        shared = [n for n in SHARED_OPTIONS if n not in skipped and n not in declared]
        kw = inspect.Parameter.KEYWORD_ONLY
        params = [inspect.Parameter("ctx", kw, annotation=typer.Context)]
        params += [p.replace(kind=kw) for p in own]
        params += [
            inspect.Parameter(n, kw, default=SHARED_OPTIONS[n][1], annotation=SHARED_OPTIONS[n][0])
            for n in shared
        ]

        @functools.wraps(func)
        def command(ctx: typer.Context, **values: Any) -> Any:
            given = {n: values.pop(n) for n in shared}
            return func(settings_of(ctx).merged(**given), **values)

        command.__signature__ = sig.replace(parameters=params)  # type: ignore[attr-defined]
        command.__annotations__ = {p.name: p.annotation for p in params}
        del command.__wrapped__  # Typer must see the new signature, not the original's
        return command

    return decorate


def _env_model() -> str:
    return os.environ.get("EMBCLI_MODEL") or DEFAULT_MODEL


class Method(str, Enum):
    """How an analogy a - b + c is scored (analogy, evaluate analogies)."""

    cosadd = "3cosadd"
    cosmul = "3cosmul"


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
RemovePcsOpt = Annotated[
    int,
    typer.Option(
        "--remove-pcs",
        min=0,
        metavar="D",
        help="Also remove the top D principal components after the mean (all-but-the-top, Mu "
        "and Viswanath 2018; implies --center).",
    ),
]
AllTokensOpt = Annotated[
    bool,
    typer.Option(
        "--all-tokens",
        help="Consider every row (fragments, special tokens, case/space variants); "
        "only the query token itself is left out.",
    ),
]
