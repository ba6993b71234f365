"""Reading the store's ``.npy`` files: a leaf module (numpy and the standard library only), so
:mod:`embcli.store.cache` and :mod:`embcli.store.lookup` both use it without importing each
other."""

from __future__ import annotations

from _thread import allocate_lock
from pathlib import Path
from typing import Any

#: ``np.load`` parses a ``.npy`` header with ``ast.literal_eval``, and CPython 3.11 can fail
#: ``ast.parse`` run in two threads at once ("SystemError: AST constructor recursion depth
#: mismatch", python/cpython#106905); ``history`` opens checkpoints in threads. Every ``np.load``
#: of the store goes through :func:`load_npy`, which takes this lock for the call (``_thread``:
#: a builtin, so the warm path imports nothing for it).
NPY_LOCK = allocate_lock()


def load_npy(path: Path, **options: Any) -> Any:
    """``np.load(path, **options)``, one thread at a time (see :data:`NPY_LOCK`)."""
    import numpy as np

    with NPY_LOCK:
        return np.load(path, **options)


def mapped(path: Path) -> Any:
    """The ``.npy`` array at ``path``, memory-mapped read-only, as a plain ``ndarray`` view.

    ``np.memmap`` runs Python code on every index (``__getitem__``, ``__array_finalize__``);
    a warm query indexes the token and lookup arrays about a hundred times, which cost more
    than its matrix product. The view shares the mapping, which stays open as long as it does.
    """
    import numpy as np

    return np.asarray(load_npy(path, mmap_mode="r"))


__all__ = ["NPY_LOCK", "load_npy", "mapped"]
