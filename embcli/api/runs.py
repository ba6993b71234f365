"""``embcli.history``: a run's checkpoints, a map over checkpoints then a reduce over pairs.

The checkpoints are Hub revisions of one repo (``revisions="step*"`` or a comma list) or local
directories (several specs, or one glob). Each is one task, which takes a :class:`ModelRef` to
the checkpoint (never a matrix), opens it as any model is opened (the same cache entry and refs,
so ``neighbors -m X --revision step1000`` afterwards is warm) and measures it; then each
checkpoint is compared with the one before it and with the last, one task each, which read the
tables from the cache; the report is assembled here from the tasks' small results
(:mod:`embcli.ask.history`). Tasks run ``jobs`` at a time in threads of this process (reading is
network and disk I/O, measuring is numpy: both release the GIL), or on a Dask cluster
(``scheduler``, :mod:`embcli.api.executor`), whose workers must see the cache directory for the
comparisons to find the tables the reads cached. Either way the numbers are the same.

A checkpoint that cannot be read is named (through ``notice``) and left out; the result lists it
in ``failed`` and the CLI exits with code 4. Finished checkpoints stay cached, and each entry
keeps its computed results (its memo, written by the task, on a worker too), so a rerun reads and
computes only what is missing. Ctrl-C cancels the tasks not yet done and says which checkpoints
were.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, wait
from pathlib import Path
from typing import TYPE_CHECKING, Any

from embcli.api import checks
from embcli.api.defaults import IMAGE_SUFFIXES
from embcli.api.executor import _Pool
from embcli.api.model import ROLES, Model
from embcli.errors import EmbcliError, Interrupted, UsageProblem
from embcli.read.ref import ModelRef

if TYPE_CHECKING:
    from embcli.ask.history import HistoryResult, Measured
    from embcli.read.checkpoints import Checkpoint
    from embcli.store.table import EmbeddingTable

PathLike = str | os.PathLike[str]
DEFAULT_JOBS = 4
#: Held while a task computes: reads run ``jobs`` at once, the arithmetic one task at a time per
#: process, each with all of BLAS's threads. Two BLAS calls at once split their sums otherwise
#: (measured: CKA moved by 1e-9), and a report would depend on which tasks overlapped.
_COMPUTE = threading.Lock()


class Cancelled(Exception):
    """Raised inside a task thread (from its progress callback) once the run is stopped."""


def history(
    model: PathLike | Sequence[PathLike] | Model | None = None,
    *,
    revisions: str | Sequence[str] | None = None,
    every: bool = False,
    count: int = 12,
    role: str = "input",
    tensor: str | None = None,
    words: Sequence[str] | None = None,
    k: int = 10,
    sample: int = 1000,
    seed: int = 0,
    jobs: int = DEFAULT_JOBS,
    scheduler: str | None = None,
    plot: PathLike | None = None,
    cache_dir: PathLike | None = None,
    allow_pickle: bool = False,
    notice: Callable[[str], None] | None = None,
    progress: Callable[[int, int, str], None] | None = None,
) -> HistoryResult:
    """How a table learns, checkpoint by checkpoint (``embcli history``).

    ``model`` is a Hub repo id with ``revisions`` (a comma list or list of revisions, or a glob
    such as ``"step*"`` matched against its branches and tags), or local checkpoint directories:
    several paths, or one glob (``"runs/my-model/checkpoint-*"``). A glob that matches many
    takes about ``count``, log-spaced in step (``every=True``: all of them); a list is taken
    whole. ``role``/``tensor`` choose the table as for any model. ``words`` are followed
    through the checkpoints (their top-``k`` neighbours, and the step at which each settles);
    ``sample`` word-like tokens (seeded by ``seed``) give the neighbour drift and settle steps
    by quartile of row id. ``jobs`` checkpoints are read and measured at once, in threads of this
    process; ``scheduler`` (a Dask scheduler's address, ``tcp://host:8786``) runs them on that
    cluster instead, whose workers must see the checkpoints and, shared, the cache directory.
    ``plot`` draws the metrics over steps (.png, .svg, .pdf). A ``Model`` given as ``model``
    lends its cache directory, pickle policy and notices.

        >>> r = embcli.history("EleutherAI/pythia-70m", revisions="step*",
        ...                    words=["cat"])                              # doctest: +SKIP
        >>> r.words[0].settle_step                                         # doctest: +SKIP
        4000
    """
    if isinstance(model, Model):
        specs = [model.spec]
        cache_dir = cache_dir if cache_dir is not None else model.cache_dir
        allow_pickle = allow_pickle or model.allow_pickle
        notice = notice or model.notice
    elif model is None or isinstance(model, (str, os.PathLike)):
        specs = [str(Model(model).spec)]
    else:
        specs = [str(m) for m in model]
    say = notice or Model().notice
    checks.choice("role", role, ROLES)
    if tensor is not None and role == "output":
        raise UsageProblem("--tensor names the table to read; leave out --table output with it")
    checks.count("count", count, 2)
    checks.count("k", k, 1)
    checks.count("sample", sample)
    checks.count("seed", seed)
    checks.count("jobs", jobs, 1)
    word_list = list(dict.fromkeys(checks.texts(words, "words"))) if words is not None else []
    out = checks.output_file(plot, IMAGE_SUFFIXES, "history --plot") if plot else None
    chosen, label = _checkpoints(specs, revisions, every, count, cache_dir, say)

    refs = [ModelRef(_where(c, scheduler), revision=c.revision, role=role, tensor=tensor,
                     allow_pickle=allow_pickle) for c in chosen]  # fmt: skip
    run = _Run(chosen, refs, word_list, k, sample, seed, say, progress)
    cache = str(cache_dir) if cache_dir is not None else None
    run.go(scheduler, jobs, cache)
    from embcli.ask.history import assemble

    result = assemble(run.measured, run.ref_index(), run.found or {}, model=label, role=role, k=k,
                      seed=seed, notice=say)  # fmt: skip
    if out is not None:
        from embcli.draw.history_plot import history_plot

        history_plot(result, out)
    return result


def _where(checkpoint: Checkpoint, scheduler: str | None) -> str:
    """How a task names the checkpoint: a local directory as an absolute path when the tasks
    run on a cluster (its workers do not share this process's working directory)."""
    spec = checkpoint.spec
    path = os.path.expanduser(spec)
    if scheduler is not None and checkpoint.revision is None and os.path.exists(path):
        return os.path.abspath(path)
    return spec


def _checkpoints(
    specs: list[str],
    revisions: str | Sequence[str] | None,
    every: bool,
    count: int,
    cache_dir: PathLike | None,
    notice: Callable[[str], None],
) -> tuple[list[Checkpoint], str]:
    """The checkpoints to read, in order, and the name the result gives the run."""
    from embcli.read import checkpoints as ck
    from embcli.read.sources import looks_like_path
    from embcli.store import cache

    if revisions is not None:
        if len(specs) != 1:
            raise UsageProblem("--revisions picks revisions of one Hub repo: give -m once")
        spec = specs[0]
        if ck.is_glob(spec) or looks_like_path(spec) or Path(spec).expanduser().exists():
            raise UsageProblem(
                f"{spec} is a local path: --revisions picks Hub revisions; for local "
                "checkpoints give -m once per directory, or a quoted glob"
            )
        text = revisions if isinstance(revisions, str) else ",".join(revisions)
        root = cache.cache_root(str(cache_dir) if cache_dir is not None else None)
        found, from_glob = ck.hub_checkpoints(spec, text, lambda r: cache.hub_refs(root, r, notice))
        label = spec
    else:
        if len(specs) == 1 and not ck.is_glob(specs[0]):
            notice(
                f"one checkpoint ({specs[0]}): nothing to follow; give --revisions LIST or "
                "'GLOB' for a Hub repo, -m once per checkpoint directory, or -m 'DIR/checkpoint-*'"
            )
        found, from_glob = ck.local_checkpoints(specs)
        label = specs[0] if len(specs) == 1 else _common_parent([c.spec for c in found])
    found = _once(found, notice)
    chosen = ck.choose(found, from_glob=from_glob, every=every, count=count)
    if len(chosen) < len(found):
        notice(
            f"{len(found)} checkpoints match; reading {len(chosen)}, log-spaced in step "
            "(--all for every one)"
        )
    return chosen, label


def _once(found: list[Checkpoint], notice: Callable[[str], None]) -> list[Checkpoint]:
    """Each checkpoint once: one given twice (``-m A -m A``, a directory spelt two ways, a glob
    and a directory it matches, a revision listed twice) is read once, and said so, so that the
    count of checkpoints that match is of distinct ones and no ``--all`` is promised to bring a
    repeat back."""
    seen: dict[tuple[str, str | None], Checkpoint] = {}
    times: dict[tuple[str, str | None], int] = {}
    for c in found:
        where = os.path.expanduser(c.spec)
        key = (os.path.realpath(where) if c.revision is None and os.path.isdir(where) else c.spec,
               c.revision)  # fmt: skip
        seen.setdefault(key, c)
        times[key] = times.get(key, 0) + 1
    for key, n in times.items():
        if n > 1:
            c = seen[key]
            name = c.spec if c.revision is None else c.revision
            notice(f"{name} given {'twice' if n == 2 else f'{n} times'}: read once")
    return list(seen.values())


def _common_parent(paths: list[str]) -> str:
    try:
        return os.path.commonpath([str(Path(p).resolve()) for p in paths])
    except ValueError:
        return ", ".join(paths)


# -- the tasks: each takes references and small options, opens its tables itself --------------


def _open(
    ref: ModelRef,
    cache_dir: str | None,
    stop: threading.Event | None,
    notices: list[str],
    fetched: list[int],
) -> EmbeddingTable:
    """The checkpoint's table (from the cache, or read into it); its notices kept, its bytes
    fetched added to ``fetched[0]``; ``stop`` set ends a read at its next chunk."""
    got = [0]

    def watch(done: int, total: int, unit: str) -> None:
        if stop is not None and stop.is_set():
            raise Cancelled()
        if unit == "bytes":
            got[0] = max(got[0], done)

    if stop is not None and stop.is_set():
        raise Cancelled()
    model = Model(ref.source, revision=ref.revision, cache_dir=cache_dir,
                  allow_pickle=ref.allow_pickle, notice=notices.append, progress=watch,
                  file=ref.file, quant=ref.quant)  # fmt: skip
    try:
        return model.embeddings(ref.role, ref.tensor)
    finally:
        fetched[0] += got[0]


def read_task(
    ref: ModelRef, cache_dir: str | None, seed: int, stop: threading.Event | None = None
) -> dict[str, Any]:
    """Read one checkpoint and measure it alone: ``{"read", "fetched", "notices"}``, or
    ``{"error", "fetched", "notices"}`` when it cannot be read."""
    from embcli.ask.history import read_checkpoint

    notices: list[str] = []
    fetched = [0]
    try:
        table = _open(ref, cache_dir, stop, notices, fetched)
        with _COMPUTE:
            found = read_checkpoint(table, seed)
        return {"read": found, "fetched": fetched[0], "notices": notices}
    except UsageProblem:
        raise
    except (EmbcliError, OSError) as exc:
        message = exc.one_line() if isinstance(exc, EmbcliError) else str(exc)
        return {"error": message, "fetched": fetched[0], "notices": notices}


def reference_task(
    ref: ModelRef,
    cache_dir: str | None,
    words: list[str],
    sample: int,
    seed: int,
    stop: threading.Event | None = None,
) -> dict[str, Any]:
    """What the reference checkpoint fixes: the sample and the words' rows
    (:func:`embcli.ask.history.reference`); an unknown word raises, as it stops the run."""
    from embcli.ask.history import reference

    table = _open(ref, cache_dir, stop, [], [0])
    with _COMPUTE:
        return reference(table, words, sample, seed)


def compare_task(
    ref: ModelRef,
    prev: ModelRef | None,
    last: ModelRef,
    cache_dir: str | None,
    queries: list[int],
    word_rows: list[int],
    k: int,
    stop: threading.Event | None = None,
) -> dict[str, Any]:
    """One checkpoint compared with ``prev`` and ``last`` (:func:`embcli.ask.history.
    compare_checkpoint`): ``{"compared", "fetched"}``, or ``{"error", "fetched"}``."""
    from embcli.ask.history import compare_checkpoint

    notices: list[str] = []
    fetched = [0]
    try:
        table = _open(ref, cache_dir, stop, notices, fetched)
        before = _open(prev, cache_dir, stop, notices, fetched) if prev is not None else None
        end = table if last == ref else _open(last, cache_dir, stop, notices, fetched)
        with _COMPUTE:
            found = compare_checkpoint(table, before, end, queries, word_rows, k)
        return {"compared": found, "fetched": fetched[0]}
    except UsageProblem:
        raise
    except (EmbcliError, OSError) as exc:
        message = exc.one_line() if isinstance(exc, EmbcliError) else str(exc)
        return {"error": message, "fetched": fetched[0]}


def _failure(fut: Future[Any]) -> dict[str, Any]:
    """A task's result, or what stopped it as its error: a worker that died, a task the
    cluster gave up on, an error embcli did not expect (a usage problem stops the run)."""
    try:
        result: dict[str, Any] = fut.result()
        return result
    except UsageProblem:
        raise
    except EmbcliError as exc:
        return {"error": exc.one_line(), "fetched": 0}
    except Exception as exc:  # that checkpoint's failure, never the run's
        text = str(exc).strip().splitlines()
        return {"error": f"{type(exc).__name__}{': ' + text[0] if text else ''}", "fetched": 0}


class _Run:
    """The tasks of one history, submitted as soon as what they need is known: every read at
    once (the last checkpoint's first); the reference once the last readable checkpoint is
    known; each comparison once the checkpoints before it are read (which one is its previous)
    and the reference's sample is known."""

    def __init__(
        self,
        chosen: list[Checkpoint],
        refs: list[ModelRef],
        words: list[str],
        k: int,
        sample: int,
        seed: int,
        notice: Callable[[str], None],
        progress: Callable[[int, int, str], None] | None,
    ) -> None:
        from embcli.ask.history import Measured

        self.refs, self.words, self.k, self.sample, self.seed = refs, words, k, sample, seed
        self.notice, self.progress = notice, progress
        self.measured: list[Measured] = [Measured(c.name, c.step) for c in chosen]
        self.found: dict[str, Any] | None = None
        self.said: set[str] = set()
        self.stop = threading.Event()

    # what is known
    def ref_index(self) -> int:
        """The last checkpoint read (every later one failed), or -1 while unknown or none."""
        for i in reversed(range(len(self.measured))):
            m = self.measured[i]
            if m.read is not None:
                return i
            if m.error is None:
                return -1
        return -1

    def _done(self, m: Measured) -> bool:
        """Whether nothing more is to be done for ``m``: it failed, was compared, or has another
        shape than the reference (left out of drift)."""
        if m.error is not None or m.compared is not None or m.compare_error is not None:
            return True
        ref = self.ref_index()
        theirs = self.measured[ref].read if ref >= 0 else None
        return m.read is not None and theirs is not None and m.read["shape"] != theirs["shape"]

    def go(self, scheduler: str | None, jobs: int, cache_dir: str | None) -> None:
        n = len(self.measured)
        pending: dict[Future[Any], tuple[str, int]] = {}
        compared: set[int] = set()
        reference_sent = False
        threads = scheduler is None
        with _Pool(scheduler, jobs, cache_dir, threads=threads) as (pool, task_dir):
            extra = {"stop": self.stop} if threads else {}
            try:
                for i in [n - 1, *range(n - 1)]:
                    fut = pool.submit(read_task, self.refs[i], task_dir, self.seed, **extra)
                    pending[fut] = ("read", i)
                while pending:
                    finished, _ = wait(list(pending), return_when=FIRST_COMPLETED)
                    for fut in finished:
                        kind, i = pending.pop(fut)
                        self._take(kind, i, fut)
                    ref = self.ref_index()
                    if ref < 0 and all(m.error is not None for m in self.measured):
                        break
                    if ref >= 0 and not reference_sent:
                        reference_sent = True
                        fut = pool.submit(reference_task, self.refs[ref], task_dir, self.words,
                                          self.sample, self.seed, **extra)  # fmt: skip
                        pending[fut] = ("reference", ref)
                    if self.found is None:
                        continue
                    for i, prev in self._ready(ref, compared):
                        compared.add(i)
                        before = self.refs[prev] if prev is not None else None
                        fut = pool.submit(compare_task, self.refs[i], before, self.refs[ref],
                                          task_dir, self.found["queries"],
                                          [w[1] for w in self.found["words"]], self.k,
                                          **extra)  # fmt: skip
                        pending[fut] = ("compare", i)
            except KeyboardInterrupt:
                self.stop.set()
                for fut in pending:
                    fut.cancel()
                raise Interrupted(f"interrupted; {self._finished()}") from None
            except BaseException:
                self.stop.set()
                for fut in pending:
                    fut.cancel()
                raise
        if self.ref_index() < 0:
            raise EmbcliError(
                f"none of the {n} checkpoints could be read",
                "; ".join(f"{m.name}: {m.error}" for m in self.measured)[:500],
            )

    def _ready(self, ref: int, sent: set[int]) -> list[tuple[int, int | None]]:
        """The comparisons that can start: (checkpoint, its previous included checkpoint)."""
        theirs = self.measured[ref].read
        shape = theirs["shape"] if theirs is not None else None
        out: list[tuple[int, int | None]] = []
        prev: int | None = None
        for i, m in enumerate(self.measured):
            if m.read is None and m.error is None:
                break  # not read yet: what follows does not know its previous checkpoint
            if m.read is None or m.read["shape"] != shape:
                continue
            if i not in sent:
                out.append((i, prev))
            prev = i
        return out

    def _take(self, kind: str, i: int, fut: Future[Any]) -> None:
        m = self.measured[i]
        if kind == "reference":
            try:
                self.found = fut.result()
            except EmbcliError:
                raise  # an unknown word stops the run (exit 3)
            except Exception as exc:
                first = (str(exc).strip().splitlines() or [""])[0]
                raise EmbcliError(
                    f"{m.name}: the reference checkpoint could not be read: "
                    f"{type(exc).__name__}: {first}"
                ) from None
            return
        got = _failure(fut)
        for line in got.get("notices", ()):
            self._say(m.name, line)
        m.fetched += int(got.get("fetched", 0))
        if kind == "read":
            if "read" in got:
                m.read = got["read"]
            else:
                m.error = str(got["error"])
                self.notice(f"{m.name}: {m.error}")
        elif "compared" in got:
            m.compared = got["compared"]
        else:
            m.compare_error = str(got["error"])
            self.notice(f"{m.name}: could not be compared: {m.compare_error}")
        if self.progress is not None:
            self.progress(sum(self._done(x) for x in self.measured), len(self.measured),
                          "checkpoints")  # fmt: skip

    def _say(self, name: str, message: str) -> None:
        """Each notice once per run (a tied head is said for one checkpoint, not 154)."""
        if message not in self.said:
            self.said.add(message)
            self.notice(f"{name}: {message}")

    def _finished(self) -> str:
        done = [m.name for m in self.measured if self._done(m)]
        left = [m.name for m in self.measured if not self._done(m)]
        said = f"{len(done)} of {len(self.measured)} checkpoints done"
        said += f" ({', '.join(done)})" if done else ""
        said += f"; not done: {', '.join(left)}" if left else ""
        return said + "; what was read and computed is kept in the cache"
