"""How a table is read, as one value: :class:`ModelRef` (what to read) and :class:`Sinks`
(where notices and progress go).

A ``ModelRef`` is built once by the API from a :class:`embcli.Model` and handed down whole:
``store.load.open_table(ref)`` resolves its source, keys the cache by it and builds from it.
It is frozen, hashable and picklable (plain strings and a bool), so it can key a dict or be
sent to a worker process. The sinks are callables, kept apart: they say where reports go,
not what is read.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

Notice = Callable[[str], None]
Progress = Callable[[int, int, str], None]  # (done, total, "bytes" or "rows")


@dataclass(frozen=True)
class ModelRef:
    """A model's table, as the user named it.

    ``source`` is ``--model`` (a Hub repo id, a local directory or file, ``ollama:NAME``);
    ``revision`` a Hub commit, branch or tag; ``file``/``quant`` choose one GGUF model of a
    directory or Hub repo; ``tensor`` names a checkpoint tensor; ``role`` is "input",
    "output" (the head) or "target" (a decoder's own table); ``allow_pickle`` lets legacy
    pickles be unpickled with torch.
    """

    source: str
    revision: str | None = None
    file: str | None = None
    quant: str | None = None
    tensor: str | None = None
    role: str = "input"
    allow_pickle: bool = False

    @classmethod
    def of(cls, model: ModelRef | str) -> ModelRef:
        """``model`` as a reference: a bare name is its input table, read as the defaults say."""
        return model if isinstance(model, ModelRef) else cls(model)

    def but(self, **changes: object) -> ModelRef:
        """This reference with some fields changed (``ref.but(role="input", tensor=None)``)."""
        return replace(self, **changes)  # type: ignore[arg-type]

    @property
    def chosen(self) -> bool:
        """Whether ``--file`` or ``--quant`` picks a GGUF file."""
        return self.file is not None or self.quant is not None

    def choice_parts(self) -> list[str]:
        """``--file``/``--quant`` as extra parts of a Hub ref, only when given (older refs stay
        valid)."""
        return [
            f"{k}={v}" for k, v in (("file", self.file), ("quant", self.quant)) if v is not None
        ]


@dataclass(frozen=True)
class Sinks:
    """Where a read reports: ``notice(message)`` (a tied head, a rebuilt entry) and
    ``progress(done, total, unit)`` (bytes received, rows converted)."""

    notice: Notice | None = None
    progress: Progress | None = None


class Reads:
    """One model's reading: its :class:`ModelRef`, cache directory and sinks, with the ref's
    fields as properties. :class:`embcli.Model` is one; an index opened by name makes another
    (``embcli.api.index``), so the two spell these once."""

    ref: ModelRef
    cache_dir: str | None
    notice: Notice
    progress: Progress | None

    @property
    def spec(self) -> str:
        return self.ref.source

    @property
    def revision(self) -> str | None:
        return self.ref.revision

    @property
    def allow_pickle(self) -> bool:
        return self.ref.allow_pickle

    @property
    def file(self) -> str | None:
        return self.ref.file

    @property
    def quant(self) -> str | None:
        return self.ref.quant

    @property
    def sinks(self) -> Sinks:
        """Where this model's reads report: its notice sink and progress callback."""
        return Sinks(self.notice, self.progress)
