"""The weight files of a model directory, read one tensor at a time.

A checkpoint is one of: a single ``*.safetensors`` file, safetensors shards listed in
``model.safetensors.index.json``, or (only when no safetensors exist) PyTorch ``.bin`` files.
Tensor *names* come from the index or headers, never from loading weights; *shapes* are read
only for the few tensors that may be the embedding table, from the header of the shard that
holds them. Shards that do not hold the table are never opened, so they may be missing or corrupt.

PyTorch files are pickles. They are opened with ``torch.load(weights_only=True, mmap=True)``,
which refuses arbitrary code; a checkpoint that needs full unpickling is loaded only when the
user passes ``--allow-pickle``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from embcli.errors import EmbcliError
from embcli.read.safetensors_header import (
    FLOAT_DTYPES,
    RAW_DTYPES,
    TensorEntry,
    memmap_tensor,
    read_header,
    to_float32,
)
from embcli.read.sources import Source

if TYPE_CHECKING:
    from embcli.read.modelconfig import ModelConfig

Progress = Callable[[int, int, str], None]  # (done, total, "rows" or "bytes")
SAFETENSORS_INDEX = "model.safetensors.index.json"
PYTORCH_INDEX = "pytorch_model.bin.index.json"


def weight_files(
    directory: Path, listing: Sequence[str] | None = None
) -> tuple[str, list[Path], Path | None]:
    """Find the checkpoint in ``directory``: (format, files, index file or None).

    ``listing`` names the files of a remote repository (they need not exist locally yet).
    safetensors wins over PyTorch pickles whenever both are present.
    """
    names = (
        sorted(listing)
        if listing is not None
        else sorted(p.name for p in directory.iterdir() if p.is_file())
    )
    for fmt, index_name, ext in (
        ("safetensors", SAFETENSORS_INDEX, ".safetensors"),
        ("pytorch", PYTORCH_INDEX, ".bin"),
    ):
        files = [directory / n for n in names if n.endswith(ext) and "/" not in n]
        if fmt == "pytorch":
            files = [p for p in files if p.name.startswith(("pytorch_model", "model"))]
        if index_name in names or files:
            return fmt, files, directory / index_name if index_name in names else None
    raise EmbcliError(
        f"no weights in {directory}: expected model.safetensors, shards with "
        f"{SAFETENSORS_INDEX}, or pytorch_model.bin"
    )


@dataclass
class Checkpoint:
    """Names, shapes and row reads of the tensors in one model directory."""

    directory: Path
    format: str
    files: list[Path]
    index: Path | None
    allow_pickle: bool = False
    fetch: Callable[[str], Path] | None = None  # downloads a whole remote file
    remote: Any = None  # an ``embcli.read.hub.HubFiles`` for ranged reads of remote files
    notice: Callable[[str], None] | None = None
    _weight_map: dict[str, str] | None = field(default=None, repr=False)
    _headers: dict[Path, dict[str, TensorEntry]] = field(default_factory=dict, repr=False)
    _torch: dict[Path, dict[str, Any]] = field(default_factory=dict, repr=False)

    @classmethod
    def open(
        cls,
        directory: Path,
        allow_pickle: bool = False,
        listing: Sequence[str] | None = None,
        fetch: Callable[[str], Path] | None = None,
        remote: Any = None,
        notice: Callable[[str], None] | None = None,
    ) -> Checkpoint:
        fmt, files, index = weight_files(directory, listing)
        return cls(directory, fmt, files, index, allow_pickle, fetch, remote, notice)

    def _local(self, path: Path) -> Path:
        if not path.is_file() and self.fetch is not None:
            return self.fetch(path.name)
        return path

    # -- names -------------------------------------------------------------------------------
    def weight_map(self) -> dict[str, str]:
        """tensor name -> file name, from the index when there is one (no shard is opened)."""
        if self._weight_map is None:
            if self.index is not None:
                try:
                    data = json.loads(self._local(self.index).read_text())
                    self._weight_map = {str(k): str(v) for k, v in data["weight_map"].items()}
                except (OSError, ValueError, KeyError, AttributeError) as exc:
                    raise EmbcliError(f"cannot read {self.index.name}: {exc}") from None
            else:
                self._weight_map = {}
                for path in self.files:
                    for name in self._names_in(path):
                        self._weight_map[name] = path.name
        return self._weight_map

    def names(self) -> list[str]:
        return list(self.weight_map())

    def file_of(self, name: str) -> Path:
        try:
            return self.directory / self.weight_map()[name]
        except KeyError:
            raise EmbcliError(f"no tensor named {name!r} in {self.directory}") from None

    def _names_in(self, path: Path) -> list[str]:
        if self.format == "safetensors":
            return list(self._header(path))
        return list(self._torch_state(path))

    # -- one tensor --------------------------------------------------------------------------
    def shape(self, name: str) -> tuple[int, ...]:
        path = self.file_of(name)
        if self.format == "safetensors":
            return self._entry(path, name).shape
        return tuple(self._torch_state(path)[name].shape)

    def dtype(self, name: str) -> str:
        """The stored dtype, in safetensors spelling (``BF16``, ``F16``, ``F32``...)."""
        path = self.file_of(name)
        if self.format == "safetensors":
            return self._entry(path, name).dtype
        return _TORCH_TO_ST.get(str(self._torch_state(path)[name].dtype), "?")

    def iter_rows(self, name: str, chunk_rows: int = 8192) -> Iterator[tuple[int, np.ndarray]]:
        """Yield ``(first_row, float32 block)`` over a 2-D tensor, one chunk at a time.

        Only the chunk being converted is in memory (beside the page cache of the mapped file),
        which bounds peak memory whatever the size of the rest of the checkpoint.
        """
        path = self.file_of(name)
        if self.format == "safetensors":
            entry = self._entry(path, name)
            if not entry.file.is_file():
                yield from self._remote_rows(entry, chunk_rows)
                return
            raw = memmap_tensor(entry)
            for lo in range(0, entry.shape[0], chunk_rows):
                yield lo, to_float32(raw[lo : lo + chunk_rows], entry.dtype)
            del raw
        else:
            import torch

            tensor = self._torch_state(path)[name]
            for lo in range(0, tensor.shape[0], chunk_rows):
                yield lo, tensor[lo : lo + chunk_rows].to(torch.float32).numpy()

    def _remote_rows(self, entry: TensorEntry, chunk_rows: int) -> Iterator[tuple[int, np.ndarray]]:
        """Stream a remote tensor's bytes and cut them into row blocks as they arrive."""
        raw_dtype, width = RAW_DTYPES[entry.dtype]
        if entry.dtype not in FLOAT_DTYPES:
            memmap_tensor(entry)  # raises the unsupported-dtype error
        row_bytes = width * int(np.prod(entry.shape[1:]))
        block_bytes = row_bytes * chunk_rows
        pending = bytearray()
        row = 0
        for chunk in self.remote.stream(entry.file.name, entry.start, entry.end):
            pending += chunk
            while len(pending) >= block_bytes:
                yield row, self._rows(pending[:block_bytes], raw_dtype, entry)
                del pending[:block_bytes]
                row += chunk_rows
        if pending:
            yield row, self._rows(pending, raw_dtype, entry)

    @staticmethod
    def _rows(data: bytearray, raw_dtype: str, entry: TensorEntry) -> np.ndarray:
        flat = np.frombuffer(bytes(data), dtype=raw_dtype)
        return to_float32(flat.reshape(-1, *entry.shape[1:]), entry.dtype)

    # -- file access -------------------------------------------------------------------------
    def _header(self, path: Path) -> dict[str, TensorEntry]:
        if path not in self._headers:
            if not path.is_file() and self.remote is not None:
                self._headers[path] = self._remote_header(path)
                return self._headers[path]
            local = self._local(path)
            if not local.is_file():
                raise EmbcliError(f"missing checkpoint file {path}")
            self._headers[path] = read_header(local)
        return self._headers[path]

    def _remote_header(self, path: Path) -> dict[str, TensorEntry]:
        from embcli.read.hub import RangesUnsupported

        try:
            return self.remote.header(path.name)
        except RangesUnsupported:
            if self.notice:
                self.notice(
                    f"the server does not serve byte ranges: downloading all of {path.name}"
                )
            self.remote = None
            return read_header(self._local(path))

    def _entry(self, path: Path, name: str) -> TensorEntry:
        header = self._header(path)
        if name not in header:
            raise EmbcliError(f"{path.name} does not contain {name!r} although the index says so")
        return header[name]

    def _torch_state(self, path: Path) -> dict[str, Any]:
        if path not in self._torch:
            self._torch[path] = load_torch_state(self._local(path), self.allow_pickle)
        return self._torch[path]


_TORCH_TO_ST = {
    "torch.float32": "F32",
    "torch.float16": "F16",
    "torch.bfloat16": "BF16",
    "torch.float64": "F64",
}


def load_torch_state(path: Path, allow_pickle: bool) -> dict[str, Any]:
    """Open a PyTorch checkpoint lazily (memory-mapped) and safely.

    ``weights_only=True`` restricts unpickling to tensors and plain containers, so a malicious
    file cannot run code. Full unpickling happens only with ``allow_pickle``.
    """
    if not path.is_file():
        raise EmbcliError(f"missing checkpoint file {path}")
    try:
        import torch
    except ImportError:
        raise EmbcliError(
            f"{path.name} is a PyTorch checkpoint and reading it needs torch",
            "pip install torch, or convert the model to safetensors",
        ) from None
    try:
        state = torch.load(path, map_location="cpu", weights_only=not allow_pickle, mmap=True)
    except RuntimeError as exc:
        if "mmap" in str(exc):  # legacy (non-zip) format cannot be memory-mapped
            state = torch.load(path, map_location="cpu", weights_only=not allow_pickle)
        else:
            raise EmbcliError(f"cannot read {path.name}: {str(exc).splitlines()[0]}") from None
    except Exception as exc:  # torch raises UnpicklingError and friends
        if not allow_pickle and "weights_only" in str(exc):
            raise EmbcliError(
                f"{path.name} is a pickle that weights_only loading refuses "
                "(it contains objects other than tensors)",
                "if you trust its author, re-run with --allow-pickle",
            ) from None
        raise EmbcliError(f"cannot read {path.name}: {str(exc).splitlines()[0]}") from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise EmbcliError(f"{path.name} does not hold a state dict of tensors")
    return {k: v for k, v in state.items() if hasattr(v, "shape") and hasattr(v, "dtype")}


def open_source_checkpoint(
    source: Source,
    allow_pickle: bool,
    progress: Progress | None,
    notice: Callable[[str], None] | None,
) -> Checkpoint:
    """The checkpoint of a resolved source: local files, or ranged reads from the Hub."""
    if source.kind == "local":
        return Checkpoint.open(source.directory, allow_pickle)
    from embcli.read.hub import HubFiles

    def transfer(done: int, total: int) -> None:
        if progress:
            progress(done, total, "bytes")

    remote = HubFiles(source.repo_id or "", source.identity, notice, transfer)
    return Checkpoint.open(
        source.directory, allow_pickle, source.remote_files, source.fetch, remote, notice
    )


def find_position_tensor(
    model: str, revision: str | None = None, allow_pickle: bool = False
) -> tuple[ModelConfig, str | None]:
    """The model's config and the checkpoint name of its learned position table.

    The name is None when the config says positions are not stored (rotary, ALiBi, relative
    bias); the caller words why. Only the checkpoint's header (tensor names) is read.
    """
    from embcli.read.modelconfig import ModelConfig
    from embcli.read.sources import resolve_hub, resolve_local

    source = resolve_local(model) or resolve_hub(model, revision)
    if source.kind == "vectors":
        raise EmbcliError(f"{model} is a word-vector file: it has no position table")
    cfg = ModelConfig.load(source.fetch("config.json"))
    spec = cfg.position_table()
    if spec is None:
        return cfg, None
    ckpt = open_source_checkpoint(source, allow_pickle, None, None)
    suffix = spec[1]
    names = [n for n in ckpt.names() if n == suffix or n.endswith("." + suffix)]
    if not names:
        raise EmbcliError(f"no tensor ending in {suffix} in {model}")
    return cfg, sorted(names, key=len)[0]
