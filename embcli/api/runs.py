"""``embcli.history``: a run's checkpoints, fetched concurrently, analysed in order.

The checkpoints are Hub revisions of one repo (``revisions="step*"`` or a comma list) or local
directories (several specs, or one glob). Each is opened as any model is (the same cache entry
and refs, so ``neighbors -m X --revision step1000`` afterwards is warm), by ``jobs`` threads:
downloads and cache builds spend their time in network and disk I/O and in numpy, all of which
release the GIL. The analysis (:mod:`embcli.ask.history`) runs in the calling thread, in step
order, as the tables arrive; the last checkpoint is fetched first, since every other one is
compared with it.

A checkpoint that cannot be read is named (through ``notice``) and left out; the result lists it
in ``failed`` and the CLI exits with code 4. Finished checkpoints stay cached, so a rerun
fetches only what is missing, and each entry keeps its computed results, so a rerun of the same
question is answered in seconds.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

from embcli.api import checks
from embcli.api.defaults import IMAGE_SUFFIXES
from embcli.api.model import ROLES, Model
from embcli.errors import EmbcliError, UsageProblem

if TYPE_CHECKING:
    from embcli.ask.history import HistoryResult
    from embcli.read.checkpoints import Checkpoint
    from embcli.store.table import EmbeddingTable

PathLike = str | os.PathLike[str]
DEFAULT_JOBS = 4


class Cancelled(Exception):
    """Raised inside a fetch thread (from its progress callback) once the run is stopped."""


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
    by quartile of row id. ``jobs`` checkpoints are fetched at once. ``plot`` draws the metrics
    over steps (.png, .svg, .pdf). A ``Model`` given as ``model`` lends its cache directory,
    pickle policy and notices.

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

    from embcli.ask.history import Point
    from embcli.ask.history import history as analyse

    fetched: dict[Checkpoint, int] = {}
    with _Fetcher(chosen, role, tensor, cache_dir, allow_pickle, say, jobs, fetched) as fetcher:
        points = [Point(c.name, c.step, fetcher.opener(c)) for c in chosen]
        result = analyse(points, model=label, role=role, words=word_list, k=k, sample=sample,
                         seed=seed, notice=say, progress=progress)  # fmt: skip
    by_name = {c.name: fetched.get(c, 0) for c in chosen}
    for record in result.checkpoints:
        record.fetched = by_name.get(record.revision, 0)
    if out is not None:
        from embcli.draw.history_plot import history_plot

        history_plot(result, out)
    return result


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


class _Fetcher:
    """Opens checkpoints' tables in ``jobs`` threads; ``opener(c)()`` waits for one of them.

    The last checkpoint is submitted first, then the rest in order. Each fetch reports bytes and
    rows to a callback that counts the bytes fetched and raises :class:`Cancelled` once the run
    is stopped (an error, Ctrl-C), so leaving the ``with`` block ends every fetch at its next
    chunk, and the cache's build directories are removed as for any interrupted build.
    """

    def __init__(
        self,
        chosen: list[Checkpoint],
        role: str,
        tensor: str | None,
        cache_dir: PathLike | None,
        allow_pickle: bool,
        notice: Callable[[str], None],
        jobs: int,
        fetched: dict[Checkpoint, int],
    ) -> None:
        import threading

        self.role, self.tensor = role, tensor
        self.cache_dir, self.allow_pickle, self.notice = cache_dir, allow_pickle, notice
        self.fetched = fetched
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.said: set[str] = set()
        self.pool = ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="embcli-fetch")
        order = chosen[-1:] + chosen[:-1]
        self.futures: dict[Checkpoint, Future[EmbeddingTable]] = {
            c: self.pool.submit(self._open, c) for c in order
        }

    def __enter__(self) -> _Fetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.pool.shutdown(wait=True, cancel_futures=True)

    def opener(self, checkpoint: Checkpoint) -> Callable[[], EmbeddingTable]:
        def wait() -> EmbeddingTable:
            from embcli.ask.history import CheckpointFailed

            try:
                return self.futures[checkpoint].result()
            except UsageProblem:
                raise
            except (EmbcliError, OSError) as exc:
                message = exc.one_line() if isinstance(exc, EmbcliError) else str(exc)
                raise CheckpointFailed(message) from None

        return wait

    def _open(self, checkpoint: Checkpoint) -> EmbeddingTable:
        if self.stop.is_set():
            raise Cancelled()
        name = checkpoint.name

        def watch(done: int, total: int, unit: str) -> None:
            if self.stop.is_set():
                raise Cancelled()
            if unit == "bytes":
                self.fetched[checkpoint] = max(self.fetched.get(checkpoint, 0), done)

        def say(message: str) -> None:
            """Each notice once per run (a tied head is said for one checkpoint, not 154)."""
            with self.lock:
                if message in self.said:
                    return
                self.said.add(message)
            self.notice(f"{name}: {message}")

        model = Model(checkpoint.spec, revision=checkpoint.revision, cache_dir=self.cache_dir,
                      allow_pickle=self.allow_pickle, notice=say, progress=watch)  # fmt: skip
        return model.embeddings(self.role, self.tensor)
