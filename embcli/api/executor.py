"""The executor many-table work runs on: ``embcli.ask_many`` (many models) and ``embcli.history``
(a run's checkpoints).

A task is a plain function of small picklable arguments (a :class:`ModelRef`, the question's
options, the cache directory) that opens its table itself and returns a small picklable result,
never a matrix. :class:`_Pool` gives the executor such tasks run on: a process pool of ``jobs``
workers, or a Dask cluster's ``concurrent.futures`` executor (``scheduler="tcp://host:8786"``;
this module is the only importer of ``distributed``, and only when a scheduler is named).
:func:`_outcome` turns a finished task into its result or its error, so one task's failure is
that task's and never the run's.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import (
    Executor,
    Future,
    ProcessPoolExecutor,
    ThreadPoolExecutor,
    as_completed,
)
from typing import Any

from embcli.errors import EmbcliError

#: Seconds to wait for a Dask scheduler before saying it cannot be reached.
CONNECT_TIMEOUT = 5.0


def _outcome(fut: Future[dict[str, Any]]) -> dict[str, Any]:
    """A task's answer, or its failure as that model's error (a worker that died, a task the
    cluster gave up on, an error embcli did not expect)."""
    try:
        return fut.result()
    except EmbcliError as exc:
        return {"error": exc.one_line(), "exit_code": exc.exit_code, "param": exc.param}
    except Exception as exc:  # one model's failure, never the fleet's
        text = str(exc).strip().splitlines()
        detail = f": {text[0]}" if text else ""
        return {"error": f"{type(exc).__name__}{detail}", "exit_code": 1}


class _Pool:
    """The pool tasks run in, and the cache directory they are given: a process pool of
    ``jobs`` workers (the cache directory resolved here, so every worker shares it), ``jobs``
    threads of this process (``threads=True``: the directory as given), or a Dask cluster's
    executor (the directory as the user gave it, else each worker's default)."""

    def __init__(
        self, scheduler: str | None, jobs: int, cache_dir: str | None, threads: bool = False
    ) -> None:
        self.scheduler, self.jobs, self.cache_dir = scheduler, jobs, cache_dir
        self.threads = threads
        self.client: Any = None
        self.pool: Executor | None = None

    def __enter__(self) -> tuple[Executor, str | None]:
        if self.scheduler is not None:
            self.client = connect(self.scheduler)
            self.pool = self.client.get_executor(pure=False)
            return self.pool, self.cache_dir or os.environ.get("EMBCLI_CACHE") or None
        if self.threads:  # tasks that stop at a flag the caller sets (they cannot be killed)
            self.pool = ThreadPoolExecutor(self.jobs, thread_name_prefix="embcli-task")
            return self.pool, self.cache_dir
        import multiprocessing

        from embcli.store.cache import cache_root

        context = multiprocessing.get_context("spawn")  # no inherited threads or locks
        self.pool = ProcessPoolExecutor(self.jobs, mp_context=context, initializer=_quiet)
        return self.pool, str(cache_root(self.cache_dir))

    def __exit__(self, kind: object, exc: object, tb: object) -> None:
        stopping = kind is not None
        if isinstance(self.pool, ThreadPoolExecutor):
            self.pool.shutdown(wait=True, cancel_futures=True)
        elif isinstance(self.pool, ProcessPoolExecutor):
            if stopping:  # Ctrl-C or an error: the tasks still running are not waited for
                with _no_ctrl_c():  # a second one would break the join with a traceback
                    for proc in list(getattr(self.pool, "_processes", {}).values()):
                        proc.terminate()
                    self.pool.shutdown(wait=True, cancel_futures=True)  # workers ended: quick
            else:
                self.pool.shutdown(wait=True, cancel_futures=True)
        elif self.pool is not None:  # a Dask executor: closing the client releases its tasks
            self.pool.shutdown(wait=not stopping)
        if self.client is not None:
            self.client.close()


@contextlib.contextmanager
def _no_ctrl_c() -> Iterator[None]:
    """SIGINT ignored meanwhile (in the main thread; elsewhere it cannot be set)."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    before = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, before)


def _quiet() -> None:
    """A pool worker leaves Ctrl-C to the parent, which cancels and ends it."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def connect(address: str) -> Any:
    """A ``distributed.Client`` of the scheduler at ``address``, or one line saying why not
    (the ``cluster`` extra missing, an address that is not one, the scheduler not answering
    within ``CONNECT_TIMEOUT``)."""
    try:
        from distributed import Client as make_client
    except ImportError:
        raise EmbcliError(
            "a Dask scheduler needs the 'distributed' package",
            "pip install 'embcli[cluster]'",
        ) from None
    _check_address(address)
    try:
        client: Any = make_client  # untyped: distributed has no type information for it
        return client(address, timeout=CONNECT_TIMEOUT, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise EmbcliError(f"cannot reach the Dask scheduler at {address}: {first}") from None


def _check_address(address: str) -> None:
    """Refuse, by distributed's own parsing, an address no client could connect to (no port, a
    scheme with no transport, empty) before a client is made: a client given one retries until
    its timeout and then complains again as it is collected."""
    from distributed.comm.addressing import parse_address, parse_host_port
    from distributed.comm.registry import get_backend

    try:
        scheme, location = parse_address(address)
        get_backend(scheme)
        if scheme != "inproc":  # every other transport is HOST:PORT
            parse_host_port(location)
    except (TypeError, ValueError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise EmbcliError(
            f"not a Dask scheduler address: {address!r}: {first}", "give tcp://HOST:8786"
        ) from None


def run_each(
    task: Callable[..., dict[str, Any]],
    args: Sequence[tuple[Any, ...]],
    take: Callable[[int, dict[str, Any]], None],
    *,
    scheduler: str | None,
    jobs: int,
    cache_dir: str | None,
) -> None:
    """Run ``task(*args[i], cache_dir)`` for every i and hand each outcome (:func:`_outcome`:
    its answer, or its failure as a dict) to ``take(i, outcome)`` as it arrives: in this
    process one after another (``jobs=1``, no scheduler), else on :class:`_Pool`. An exception
    (Ctrl-C among them) cancels what has not started and is raised on."""
    if scheduler is None and jobs == 1:
        for i, a in enumerate(args):
            done: Future[dict[str, Any]] = Future()
            try:
                done.set_result(task(*a, cache_dir))
            except Exception as exc:  # as a worker's failure is: that task's error
                done.set_exception(exc)
            take(i, _outcome(done))
        return
    with _Pool(scheduler, jobs, cache_dir) as (pool, task_dir):
        futures = {pool.submit(task, *a, task_dir): i for i, a in enumerate(args)}
        try:
            for fut in as_completed(futures):
                take(futures[fut], _outcome(fut))
        except BaseException:
            for fut in futures:
                fut.cancel()
            raise
