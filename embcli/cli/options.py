"""Options shared by the commands, defined once, and taken by a command only where they act.

The shared options (model, revision, tensor, table, GGUF file or quantisation, format, cache dir,
pickle, debug) work both
before the command (``embcli -m gpt2 info``) and after it (``embcli info -m gpt2``). Each
command declares which of them it uses (:func:`command`); it gets those after its name, and one
given before the command that the command does not use is a usage error, not a silent no-op.
"""

from __future__ import annotations

import functools
import inspect
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from embcli.api import DEFAULT_MODEL
from embcli.atomic import written_since
from embcli.cli.progress import close_all
from embcli.errors import Interrupted, UsageProblem


class Format(str, Enum):
    table = "table"
    tsv = "tsv"
    json = "json"
    jsonl = "jsonl"


def complete_model(incomplete: str) -> list[str]:
    """Shell completion for ``--model`` (before or after a command) and ``cache clear MODEL``:
    the models already in the cache (run only on TAB)."""
    import os

    from embcli.api import cached_models
    from embcli.errors import EmbcliError

    try:
        models = cached_models(os.environ.get("EMBCLI_CACHE"))
    except EmbcliError:  # no cache to complete from (a file, not a directory)
        return []
    return [m for m in models if m.startswith(incomplete)]


ModelOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--model",
        "-m",
        help="Hub repo id, local model directory, GGUF file (or a folder of them), "
        f"ollama:NAME[:TAG], lmstudio:PUBLISHER/MODEL, or word-vector file (default: "
        f"$EMBCLI_MODEL or {DEFAULT_MODEL}).",
        show_default=False,
        autocompletion=complete_model,
    ),
]
ModelsFileOpt = Annotated[
    str | None,
    typer.Option(
        "--models",
        metavar="FILE",
        help="Ask every model of FILE: one spec a line ('-': stdin; blank lines and lines "
        "starting with # skipped), after any -m (which may be repeated too); the answers as one "
        "table with a model column.",
        show_default=False,
    ),
]
JobsOpt = Annotated[
    int,
    typer.Option(
        "--jobs",
        "-j",
        help="With several models (compare: --against pairs): how many are read and answered "
        "at once, each in a worker process (1: one after another, in this process; not with "
        "--scheduler, whose workers run them).",
    ),
]
SchedulerOpt = Annotated[
    str | None,
    typer.Option(
        "--scheduler",
        envvar="DASK_SCHEDULER_ADDRESS",
        metavar="ADDRESS",
        help="With several models (history: checkpoints; compare: --against pairs): run them "
        "on this Dask cluster (tcp://HOST:8786; needs embcli[cluster]); its workers must see "
        "the same model paths and --cache-dir.",
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
    """Which of a model's vocabulary tables to read (``--table``): its role."""

    input = "input"
    output = "output"
    target = "target"


RoleOpt = Annotated[
    Role | None,
    typer.Option(
        "--table",
        help="input: the token-embedding table (default); output: the output head (lm_head), "
        "which is the same table for a tied model; target: an encoder-decoder's decoder table "
        "(FSMT's target vocabulary).",
        show_default=False,
        case_sensitive=False,
    ),
]
FileOpt = Annotated[
    str | None,
    typer.Option(
        "--file",
        help="The GGUF file to read, in a directory or Hub repo holding several (compare: B's).",
        show_default=False,
    ),
]
QuantOpt = Annotated[
    str | None,
    typer.Option(
        "--quant",
        help="Choose the GGUF file by quantisation (Q4_K_M, Q8_0, ...), in a directory or Hub "
        "repo holding several (compare: B's).",
        show_default=False,
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


#: The shared options: (annotation, default) of each, in help order, and the flag users type.
SHARED_OPTIONS: dict[str, tuple[Any, Any]] = {
    "model": (ModelOpt, None),
    "revision": (RevisionOpt, None),
    "tensor": (TensorOpt, None),
    "role": (RoleOpt, None),
    "file": (FileOpt, None),
    "quant": (QuantOpt, None),
    "format": (FormatOpt, None),
    "cache_dir": (CacheDirOpt, None),
    "allow_pickle": (AllowPickleOpt, False),
    "models": (ModelsFileOpt, None),
    "jobs": (JobsOpt, 1),
    "scheduler": (SchedulerOpt, None),
    "debug": (DebugOpt, False),
}
FLAGS = {"model": "--model", "revision": "--revision", "tensor": "--tensor", "role": "--table",
         "file": "--file", "quant": "--quant", "format": "--format", "cache_dir": "--cache-dir",
         "allow_pickle": "--allow-pickle", "models": "--models", "jobs": "--jobs",
         "scheduler": "--scheduler", "debug": "--debug"}  # fmt: skip
#: What a command that reads one table uses; what a command that runs a model uses. A command
#: with a ``--file`` of its own (``analogy --file``) takes the GGUF ``--file`` before its name.
TABLE_OPTIONS = ("model", "revision", "tensor", "role", "file", "quant", "cache_dir",
                 "allow_pickle")  # fmt: skip
MODEL_OPTIONS = ("model", "revision", "allow_pickle")
#: What a command that asks one question of several tables adds (``stats -m A -m B``).
MANY_OPTIONS = ("models", "jobs", "scheduler")
#: ``--debug`` is read by the error boundary (``main``), so every command takes it.
ALWAYS = ("debug",)


class Settings:
    """The shared options one command declared, with their values, and which it has read.

    Reading an option the command did not declare is a programming error (AttributeError), and
    ``read`` lists what it did read: ``tests/cli/test_options.py`` runs every command with every
    option it declares and fails on one that was accepted but never read.
    """

    if TYPE_CHECKING:
        model: str
        models: str | None
        revision: str | None
        tensor: str | None
        role: Role | None
        file: str | None
        quant: str | None
        format: Format | None
        cache_dir: str | None
        allow_pickle: bool
        jobs: int
        scheduler: str | None

    def __init__(self, command: str, uses: Iterable[str], values: dict[str, Any]) -> None:
        self.command = command
        self.uses = frozenset(uses)
        self.read: set[str] = set()
        self.outputs: list[Path] = []  # files the command means to write (said on Ctrl-C)
        self._values = values
        self._specs: list[str] | None = None

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or name not in SHARED_OPTIONS:
            raise AttributeError(name)
        if name not in self.uses:
            raise AttributeError(f"'embcli {self.command}' does not declare {FLAGS[name]}")
        self.read.add(name)
        return self._values[name]

    @property
    def specs(self) -> list[str]:
        """Every model asked: each ``-m`` given, then the lines of ``--models FILE`` (a
        command that declares ``models``); ``--model`` itself (or its default) when neither."""
        if self._specs is not None:
            return self._specs
        one = self.model  # read: the spec when no other is given
        given = self._values["model_given"]
        specs = list(given) if given else []
        if "models" in self.uses:
            file = self.models
            if file is not None:
                from embcli.api.inputs import read_lines

                # no spec starts with "#": here "#gpt2" (a model commented out) is a comment too
                listed = [line.strip() for _, line in read_lines(file)]
                listed = [spec for spec in listed if not spec.startswith("#")]
                specs += listed
                if not listed:
                    name = "stdin" if file == "-" else file
                    raise UsageProblem(f"{name} names no model", param="models")
        self._specs = specs or [one]
        return self._specs

    @property
    def named(self) -> list[str]:
        """The models named on the command line (``-m``, ``--models``); none when neither was
        given (``--model``'s default and ``EMBCLI_MODEL`` do not count)."""
        listed = "models" in self.uses and self.models is not None
        return self.specs if self._values["model_given"] or listed else []

    def many(self, fleet: bool = False) -> bool:
        """Whether several models are asked (``-m`` repeated, or ``--models``); ``fleet``: the
        command asks them as a fleet anyway (``size A B --plot``). The executor's options are
        checked here too (:meth:`check_executor`)."""
        many = len(self.specs) > 1 or ("models" in self.uses and self.models is not None)
        self.check_executor(many or fleet, "one model is answered in this process")
        return many

    def check_executor(self, used: bool, otherwise: str) -> None:
        """Refuse ``--jobs`` below 1, and ``--scheduler`` typed with ``--jobs`` (the cluster's
        workers run the tasks, ``--jobs`` would be ignored); when the executor is not ``used``,
        ``--scheduler`` typed is said in a notice ending in ``otherwise`` (from
        ``DASK_SCHEDULER_ADDRESS`` alone it is not: set for a session, it would add a line to
        every one-model command)."""
        if "jobs" in self.uses and self.jobs < 1:
            raise UsageProblem(f"--jobs must be 1 or more, not {self.jobs}")
        if "scheduler" in self.uses and self.scheduler is not None:
            typed = self._values.get("typed", frozenset())
            if "scheduler" in typed and "jobs" in typed and self.jobs != 1:
                raise UsageProblem(
                    "--scheduler and --jobs cannot be used together",
                    "the Dask cluster's workers run the models: give one of them",
                )
            if not used and "scheduler" in typed:
                print(f"embcli: --scheduler is not used: {otherwise}", file=sys.stderr)

    def declares(self, name: str) -> bool:
        """Whether the command takes option ``name`` (asking does not count as reading it)."""
        return name in self.uses

    def will_write(self, *paths: Path | str | None) -> None:
        """Files this command is about to write, so an interruption can say which were."""
        self.outputs += [Path(p) for p in paths if p is not None]


#: The settings of the last command run in this process (what the option test inspects).
LAST: list[Settings] = []


def root_values(ctx: typer.Context) -> tuple[dict[str, Any], set[str]]:
    """The root's option values, and the names given on its command line (not by env/default)."""
    obj = ctx.find_root().obj
    if isinstance(obj, tuple):
        return obj
    values = {name: default for name, (_, default) in SHARED_OPTIONS.items()}
    values["model"] = os.environ.get("EMBCLI_MODEL") or DEFAULT_MODEL
    return values, set()


def on_command_line(ctx: typer.Context, name: str) -> bool:
    source = ctx.get_parameter_source(name)
    return source is not None and source.name == "COMMANDLINE"


def interrupted(outputs: Sequence[Path], written: Sequence[Path]) -> str:
    """What Ctrl-C leaves: which of the command's files were written, which were not.

    Every file embcli writes goes through ``embcli.atomic`` (a temporary file, then a rename),
    so a file is either whole or untouched: nothing half-written to list.
    """

    def belongs(path: Path, out: Path) -> bool:  # out, a file of a pair beside it, or inside it
        return (
            path == out
            or out in path.parents
            or (path.parent == out.parent and path.name.startswith(out.stem + "."))
        )

    mine = [w for w in written if any(belongs(w, o) for o in outputs)]
    missing = [o for o in outputs if not any(belongs(w, o) for w in mine)]
    said = [f"wrote {', '.join(map(str, dict.fromkeys(mine)))}"] if mine else []
    said += [f"{o} was not written" for o in missing]
    return "interrupted; " + ("; ".join(said) if said else "nothing was written")


def one_model(ctx: typer.Context, name: str, after: bool, many: bool, given_at_root: set[str],
              merged: dict[str, Any]) -> None:  # fmt: skip
    """``--model`` as one spec (``merged["model"]``) and as every spec given on the command line
    (``merged["model_given"]``); given more than once to a command that takes one model, a
    usage error rather than the last one silently winning."""
    raw = merged["model"]
    specs = [raw] if isinstance(raw, str) else list(raw or [])
    if len(specs) > 1 and not many:
        raise UsageProblem(
            f"--model was given {len(specs)} times, but 'embcli {name}' takes one model",
            "info, stats, undertrained, neighbors, similarity, analogy, weat, axis and size "
            "take several",
        )
    typed = (after and on_command_line(ctx, "model")) or "model" in given_at_root
    merged["model_given"] = specs if typed else []
    merged["model"] = specs[-1] if specs else os.environ.get("EMBCLI_MODEL") or DEFAULT_MODEL


def command(*uses: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Turn ``func(settings, ...own options)`` into a command taking the shared options ``uses``.

    Options are opt-in: a command declares which shared options it reads, and gets exactly
    those after its name (plus ``--debug``). Given before the command (``embcli -m gpt2
    info``), an option the command does not use is a usage error in one line (exit 2), never
    silently ignored. An option given after the name wins over the same one before it, and
    either given on the command line wins over the environment (``EMBCLI_MODEL``,
    ``EMBCLI_CACHE``). ``func`` receives a :class:`Settings` as its first argument.
    """
    unknown = set(uses) - set(SHARED_OPTIONS)
    if unknown:
        raise TypeError(f"unknown shared options: {sorted(unknown)}")

    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        sig = inspect.signature(func, eval_str=True)
        first, *own = sig.parameters.values()
        if first.name != "settings":
            raise TypeError(f"{func.__name__} must take 'settings' first")
        mine = {p.name for p in own}
        after = [n for n in SHARED_OPTIONS if (n in uses or n in ALWAYS) and n not in mine]
        kw = inspect.Parameter.KEYWORD_ONLY
        params = [inspect.Parameter("ctx", kw, annotation=typer.Context)]
        params += [p.replace(kind=kw) for p in own]
        params += [
            inspect.Parameter(n, kw, default=SHARED_OPTIONS[n][1], annotation=SHARED_OPTIONS[n][0])
            for n in after
        ]

        @functools.wraps(func)
        def wrapper(ctx: typer.Context, **values: Any) -> Any:
            name = ctx.command_path.partition(" ")[2] or func.__name__
            root, given_at_root = root_values(ctx)
            misplaced = sorted(given_at_root - set(uses) - set(ALWAYS), key=list(FLAGS).index)
            if misplaced:
                flags = " and ".join(FLAGS[n] for n in misplaced)
                raise UsageProblem(f"{flags} does not apply to 'embcli {name}'")
            merged = {}
            for n in uses:
                here = values.get(n) if n in after else None
                if n in after and on_command_line(ctx, n):
                    merged[n] = here
                elif n in given_at_root:
                    merged[n] = root[n]
                elif here is not None and here is not False:
                    merged[n] = here  # from the environment, after the name
                else:
                    merged[n] = root[n]
            merged["typed"] = frozenset(
                n for n in uses if (n in after and on_command_line(ctx, n)) or n in given_at_root
            )
            if "model" in uses:
                one_model(ctx, name, "model" in after, "models" in uses, given_at_root, merged)
            for n in after:
                values.pop(n)
            settings = Settings(name, uses, merged)
            LAST[:] = [settings]
            mark = len(written_since(0))
            try:
                return func(settings, **values)
            except KeyboardInterrupt:
                raise Interrupted(interrupted(settings.outputs, written_since(mark))) from None
            finally:
                close_all()  # a progress bar still showing

        wrapper.__signature__ = sig.replace(parameters=params)  # type: ignore[attr-defined]
        wrapper.__annotations__ = {p.name: p.annotation for p in params}
        wrapper.embcli_uses = tuple(uses)  # type: ignore[attr-defined]
        wrapper.embcli_function = func  # type: ignore[attr-defined]
        del wrapper.__wrapped__  # Typer must see the new signature, not the original's
        return wrapper

    return decorate


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
RemoveAxisOpt = Annotated[
    str | None,
    typer.Option(
        "--remove-axis",
        metavar="PAIRS",
        help="Project a direction out of every row first (hard debiasing's neutralise step): "
        "the pca axis of word pairs a:b,c:d, of a file of pairs ('-': stdin) or of a section "
        "of the bundled analogy set (e.g. family).",
        show_default=False,
    ),
]


def axis_to_remove(value: str | None) -> Any:
    """``--remove-axis`` as the library takes it: a file's pairs read, else the text itself."""
    if value is None:
        return None
    from embcli.api.inputs import axis_pairs

    return axis_pairs(value)
