"""The ``embcli`` application: root options, command registration and the error boundary."""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

from embcli import __version__
from embcli.cli import cache_cmds, evaluate_cmd, inspect_cmds, plot_cmds, query_cmds, size_cmd
from embcli.cli.errors import INTERRUPTED, describe
from embcli.cli.options import (
    DEFAULT_MODEL,
    AllowPickleOpt,
    CacheDirOpt,
    DebugOpt,
    FormatOpt,
    RevisionOpt,
    Settings,
    TableOpt,
    TensorOpt,
)

app = typer.Typer(
    name="embcli",
    help="Explore the token-embedding tables of pretrained language models.\n\n"
    "The first use of a model reads only its embedding table and caches it normalised; "
    "later commands answer from the cache in a fraction of a second.",
    rich_markup_mode="rich",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"embcli {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    model: Annotated[
        str,
        typer.Option(
            "--model", "-m", envvar="EMBCLI_MODEL", help="Local model directory or Hub repo id."
        ),
    ] = DEFAULT_MODEL,
    revision: RevisionOpt = None,
    tensor: TensorOpt = None,
    format: FormatOpt = None,
    table: TableOpt = None,
    cache_dir: CacheDirOpt = None,
    allow_pickle: AllowPickleOpt = False,
    debug: DebugOpt = False,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Show the version."),
    ] = False,
) -> None:
    ctx.obj = Settings(model, revision, tensor, cache_dir, allow_pickle, debug, format, table)


inspect_cmds.register(app)
query_cmds.register(app)
size_cmd.register(app)
evaluate_cmd.register(app)
plot_cmds.register(app)
cache_cmds.register(app)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: run the app and map every failure to one stderr line."""
    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args or bool(os.environ.get("EMBCLI_DEBUG"))
    command = typer.main.get_command(app)
    try:
        result = command.main(args=args, prog_name="embcli", standalone_mode=False)
        code = result if isinstance(result, int) else 0
    except typer.Exit as exc:
        code = exc.exit_code
    except (typer.Abort, KeyboardInterrupt):
        print("embcli: interrupted", file=sys.stderr)
        code = INTERRUPTED
    except BrokenPipeError:
        # The reader went away (``embcli ... | head``): that is not an error of ours.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        code = 0
    except Exception as exc:
        if _is_usage_error(exc):  # click's (or typer's vendored click's) own exceptions
            exc.show()  # type: ignore[attr-defined]
            code = exc.exit_code  # type: ignore[attr-defined]
            sys.exit(code)
        if debug:
            raise
        message, code = describe(exc)
        print(f"embcli: {message}", file=sys.stderr)
    sys.exit(code)


def _is_usage_error(exc: BaseException) -> bool:
    """True for click-style exceptions that know how to print themselves (exit code 2 etc.).

    typer vendors click in recent releases, so the class is matched by shape, not identity.
    """
    return hasattr(exc, "show") and isinstance(getattr(exc, "exit_code", None), int)
