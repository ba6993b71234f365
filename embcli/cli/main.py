"""The ``embcli`` application: root options, command registration and the error boundary."""

from __future__ import annotations

import importlib
import os
import sys
from typing import Annotated, Any

import typer

from embcli import __version__
from embcli.cli.errors import INTERRUPTED, explain
from embcli.cli.options import (
    DEFAULT_MODEL,
    AllowPickleOpt,
    CacheDirOpt,
    DebugOpt,
    FileOpt,
    FormatOpt,
    JobsOpt,
    ModelsFileOpt,
    QuantOpt,
    RevisionOpt,
    RoleOpt,
    SchedulerOpt,
    TensorOpt,
    complete_model,
    on_command_line,
)

#: Which module defines each command, in the order ``--help`` lists them; every module has
#: ``register(app)``. Running a command imports only its module.
COMMAND_MODULES = {
    "info": "inspect_cmds",
    "tokenize": "inspect_cmds",
    "stats": "anatomy_cmds",
    "undertrained": "anatomy_cmds",
    "neighbors": "query_cmds",
    "similarity": "query_cmds",
    "analogy": "query_cmds",
    "axis": "direction_cmds",
    "weat": "direction_cmds",
    "size": "size_cmd",
    "evaluate": "evaluate_cmd",
    "plot": "plot_cmds",
    "positions": "plot_cmds",
    "export": "export_cmd",
    "map": "map_cmd",
    "compare": "compare_cmd",
    "history": "history_cmd",
    "context": "model_cmds",
    "sentences": "model_cmds",
    "index": "index_cmds",
    "search": "index_cmds",
    "cache": "cache_cmds",
}


class _LazyGroup(typer.core.TyperGroup):
    """The root group, importing a command's module only when that command is asked for.

    Importing every command module and building every command's parameters costs more than a
    warm query itself; looking a command up by name imports one module, and listing the
    commands (``--help``, completion, an unknown name) imports them all.
    """

    def _load(self, module_name: str) -> None:
        module = importlib.import_module(f"embcli.cli.{module_name}")
        sub = typer.Typer(rich_markup_mode="rich")
        module.register(sub)
        for name, command in typer.main.get_group(sub).commands.items():
            self.commands.setdefault(name, escape_markup(command))

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if cmd_name not in self.commands:
            wanted = COMMAND_MODULES.get(cmd_name)
            for module_name in [wanted] if wanted else dict.fromkeys(COMMAND_MODULES.values()):
                self._load(module_name)
        return super().get_command(ctx, cmd_name)

    def list_commands(self, ctx: Any) -> list[str]:
        return [name for name in COMMAND_MODULES if self.get_command(ctx, name) is not None]


def escape_markup(command: Any) -> Any:
    """Help texts shown as written: rich markup would swallow ``[expected]`` or ``[CLS]``.

    Typer renders help with rich markup, and no help text here uses markup, so every bracket is
    escaped (``rich.markup.escape``) just before ``command``'s help is formatted, for it, its
    parameters and its sub-commands. Only then: a command that runs never imports rich.markup.
    """
    original = command.format_help

    def format_help(ctx: Any, formatter: Any) -> Any:
        for name in getattr(command, "list_commands", lambda _: [])(ctx):
            command.get_command(ctx, name)  # load every sub-command, to escape its short help
        _escape_texts(command)
        return original(ctx, formatter)

    command.format_help = format_help
    for sub in getattr(command, "commands", {}).values():
        escape_markup(sub)
    return command


def _escape_texts(command: Any) -> None:
    from rich.markup import escape

    if getattr(command, "embcli_escaped", False):
        return
    for holder in (command, *command.params):
        for attr in ("help", "short_help"):
            text = getattr(holder, attr, None)
            if isinstance(text, str):
                setattr(holder, attr, escape(text))
    command.embcli_escaped = True
    for sub in getattr(command, "commands", {}).values():
        _escape_texts(sub)


app = typer.Typer(
    name="embcli",
    cls=_LazyGroup,
    help="Explore the token-embedding tables of pretrained language models.\n\n"
    "The first use of a model reads only its embedding table and caches it normalised; "
    "later commands answer from the cache in a fraction of a second. The options below work "
    "before a command or after its name; a command refuses one it does not use.",
    rich_markup_mode="rich",
    no_args_is_help=True,
    add_completion=True,  # measured: no start-up cost (typer imports its completion anyway)
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
        list[str] | None,
        typer.Option(
            "--model",
            "-m",
            help="Hub repo id, local model directory, GGUF file (or a folder of them), "
            "ollama:NAME[:TAG], or word-vector file (default: $EMBCLI_MODEL or "
            f"{DEFAULT_MODEL}; repeat it for several models, where a command takes them).",
            show_default=False,
            autocompletion=complete_model,
        ),
    ] = None,
    revision: RevisionOpt = None,
    tensor: TensorOpt = None,
    format: FormatOpt = None,
    role: RoleOpt = None,
    file: FileOpt = None,
    quant: QuantOpt = None,
    cache_dir: CacheDirOpt = None,
    allow_pickle: AllowPickleOpt = False,
    models: ModelsFileOpt = None,
    jobs: JobsOpt = 1,
    scheduler: SchedulerOpt = None,
    debug: DebugOpt = False,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Show the version."),
    ] = False,
) -> None:
    values = {"model": model, "revision": revision, "tensor": tensor, "role": role,
              "file": file, "quant": quant, "format": format, "cache_dir": cache_dir,
              "allow_pickle": allow_pickle, "models": models, "jobs": jobs,
              "scheduler": scheduler, "debug": debug}  # fmt: skip
    ctx.obj = (values, {name for name in values if on_command_line(ctx, name)})


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: run the app and map every failure to one stderr line."""
    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args or bool(os.environ.get("EMBCLI_DEBUG"))
    for n, arg in enumerate(args, 1):
        # bytes that are not UTF-8 reach Python as lone surrogates, which no tokenizer or
        # terminal can take: said here, once, for every command and option (a file's name may
        # be any bytes: one that exists is passed on)
        if any("\udc80" <= ch <= "\udcff" for ch in arg) and not os.path.lexists(arg):
            shown = arg.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
            print(f"embcli: argument {n} ({shown}) is not UTF-8 text", file=sys.stderr)
            sys.exit(2)
    command = escape_markup(typer.main.get_command(app))
    try:
        result = command.main(args=args, prog_name="embcli", standalone_mode=False)
        code = result if isinstance(result, int) else 0
        if code == INTERRUPTED:  # typer turned a Ctrl-C outside a command into a bare exit code
            _ending(argv)
            print("embcli: interrupted; nothing was written", file=sys.stderr)
    except typer.Exit as exc:
        code = exc.exit_code
    except (typer.Abort, KeyboardInterrupt):
        _ending(argv)
        print("embcli: interrupted; nothing was written", file=sys.stderr)
        code = INTERRUPTED
    except BrokenPipeError:
        # The reader went away (``embcli ... | head``): that is not an error of ours.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        code = 0
    except Exception as exc:
        if _is_usage_error(exc):  # click's (or typer's vendored click's) own exceptions
            shared = _shared_option_refused(exc)
            if shared is not None:  # the same line as for one given before the command
                print(f"embcli: {shared}", file=sys.stderr)
                sys.exit(2)
            exc.show()  # type: ignore[attr-defined]
            code = exc.exit_code  # type: ignore[attr-defined]
            sys.exit(code)
        if debug:
            raise
        message, code = explain(exc)
        if code == INTERRUPTED:
            _ending(argv)
        print(f"embcli: {message}", file=sys.stderr)
    sys.exit(code)


def _ending(argv: list[str] | None) -> None:
    """After Ctrl-C the process is ending: a second one (or the copy of the first that
    ``timeout`` sends to the process group) would only break the exit's clean-up (a process
    pool's threads being joined) with a traceback after the line said. Not when ``main`` is
    called with arguments (from Python, a test): that process goes on."""
    if argv is None:
        import signal

        signal.signal(signal.SIGINT, signal.SIG_IGN)


def _shared_option_refused(exc: BaseException) -> str | None:
    """For a shared option (``--tensor``...) given after the name of a command that does not
    use it, click says "No such option" and lists the command's own; the line given when it
    comes before the command says what is meant."""
    from embcli.cli.options import FLAGS

    if type(exc).__name__ != "NoSuchOption":  # not "requires an argument" and the like
        return None
    given = getattr(exc, "option_name", None)
    name = {"-m": "--model", "-f": "--format"}.get(given or "", given)
    path = getattr(getattr(exc, "ctx", None), "command_path", None)  # "embcli cache clear"
    if name not in FLAGS.values() or not path:
        return None
    return f"{name} does not apply to '{path}'"


def _is_usage_error(exc: BaseException) -> bool:
    """True for click-style exceptions that know how to print themselves (exit code 2 etc.).

    typer vendors click in recent releases, so the class is matched by shape, not identity.
    """
    return hasattr(exc, "show") and isinstance(getattr(exc, "exit_code", None), int)
