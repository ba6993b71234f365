"""Files the store derives from a cache entry after it was built, kept in ``<entry>/derived/``.

What a question computes from a table and is worth keeping (a transform's mean and components,
every row's length after it, which tokens are reachable) is computed once and written here
through :mod:`embcli.atomic`, so no reader sees half a file. Each file is a pure function of the
entry: removing the directory loses nothing but time, and a file that does not read back as
expected (truncated, another shape) is computed again.

When the cache cannot be written (a read-only mount, someone else's cache, a full disk) the value
is used from memory for this run, and the cache says so once per run
(:func:`embcli.store.cache.not_kept`), whatever and however many files were not kept.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from embcli.atomic import atomic_write
from embcli.store.cache import not_kept
from embcli.store.npy import NPY_LOCK, load_npy

DIR = "derived"
Notice = Callable[[str], None]


def on_stderr(message: str) -> None:
    """The notice sink used when no other is given: one ``embcli: ...`` line on stderr."""
    print(f"embcli: {message}", file=sys.stderr)


class Derived:
    """The derived files of one cache entry (``entry/derived/<name>``)."""

    def __init__(self, entry: Path, notice: Notice = on_stderr) -> None:
        self.entry = entry
        self.directory = entry / DIR
        self.notice = notice

    def array(
        self, name: str, compute: Callable[[], np.ndarray], shape: tuple[int, ...] | None = None
    ) -> np.ndarray:
        """The array kept as ``name`` (a ``.npy``), else ``compute()``, kept for next time.

        A kept array whose shape is not ``shape`` is computed again.
        """
        path = self.directory / name
        kept = _read(path, lambda: load_npy(path, allow_pickle=False))
        if isinstance(kept, np.ndarray) and (shape is None or kept.shape == shape):
            return kept
        value = np.asarray(compute())
        self.keep(name, lambda tmp: _save(tmp, np.save, value))
        return value

    def arrays(
        self,
        name: str,
        compute: Callable[[], Mapping[str, np.ndarray]],
        shapes: Mapping[str, tuple[int, ...]],
    ) -> dict[str, np.ndarray]:
        """Named arrays kept together as ``name`` (a ``.npz``), else ``compute()``, kept.

        Kept arrays are used only if every name of ``shapes`` is there with that shape.
        """
        path = self.directory / name

        def load() -> dict[str, np.ndarray]:
            # an .npz parses each member's header as it is read: the lock covers the reads too
            with NPY_LOCK, np.load(path, allow_pickle=False) as saved:
                return {k: saved[k] for k in saved.files}

        kept = _read(path, load)
        if isinstance(kept, dict) and all(
            k in kept and kept[k].shape == shape for k, shape in shapes.items()
        ):
            return kept
        values = {k: np.asarray(v) for k, v in compute().items()}
        self.keep(name, lambda tmp: _save(tmp, np.savez, **values))
        return values

    def keep(self, name: str, write: Callable[[Path], None]) -> bool:
        """Write ``name`` atomically through ``write(tmp)``; False (and the run's one notice)
        when the cache cannot be written."""
        try:
            self.directory.mkdir(exist_ok=True)
            atomic_write(self.directory / name, write)
        except OSError as exc:
            not_kept(self.entry.parent, exc, self.notice)
            return False
        return True


def _read(path: Path, load: Callable[[], Any]) -> Any:
    """What ``load()`` reads from ``path``, or None when it is missing or does not read back."""
    if not path.is_file():
        return None
    try:
        return load()
    except Exception:  # truncated, not an array, a bad zip...: computed again, then replaced
        return None


def _save(path: Path, save: Any, *args: Any, **kwargs: Any) -> None:
    """``np.save``/``np.savez`` into exactly ``path`` (they append a suffix to a bare name)."""
    with path.open("wb") as fh:
        save(fh, *args, **kwargs)
