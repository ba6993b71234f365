"""PyTorch ``.bin`` checkpoints: ``pytorch_model.bin``, or shards listed in its index.

PyTorch files are pickles. They are opened with ``torch.load(weights_only=True, mmap=True)``,
which refuses arbitrary code; a checkpoint that needs full unpickling is loaded only when the
user passes ``--allow-pickle``. A remote file is downloaded whole first (to a scratch directory
removed at exit).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from embcli.errors import EmbcliError
from embcli.read.byte_source import ByteSource
from embcli.read.container import FileSet, TensorInfo

_TORCH_TO_ST = {
    "torch.float32": "F32",
    "torch.float16": "F16",
    "torch.bfloat16": "BF16",
    "torch.float64": "F64",
}


class PyTorchContainer(FileSet):
    format = "pytorch"

    def __init__(
        self,
        label: str,
        files: list[str],
        index: Path | None,
        open_file: Callable[[str], ByteSource],
        allow_pickle: bool = False,
    ) -> None:
        super().__init__(label, files, index, open_file)
        self.allow_pickle = allow_pickle
        self._state: dict[str, dict[str, Any]] = {}

    def read_file(self, source: ByteSource) -> dict[str, TensorInfo]:
        state = load_torch_state(source.local_copy(), self.allow_pickle)
        self._state[source.name] = state
        return {
            name: TensorInfo(
                name, tuple(t.shape), _TORCH_TO_ST.get(str(t.dtype), "?"), source.name, 0, 0
            )
            for name, t in state.items()
        }

    def rows(self, name: str, block_rows: int) -> Iterator[tuple[int, np.ndarray]]:
        import torch

        file = self.info(name).file
        tensor = self._state[file][name]
        for lo in range(0, tensor.shape[0], block_rows):
            yield lo, tensor[lo : lo + block_rows].to(torch.float32).numpy()


def load_torch_state(path: Path, allow_pickle: bool) -> dict[str, Any]:
    """Open a PyTorch checkpoint lazily (memory-mapped) and safely.

    ``weights_only=True`` restricts unpickling to tensors and plain containers, so a malicious
    file cannot run code. Full unpickling happens only with ``allow_pickle``.
    """
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
