"""embcli: explore the token-embedding tables of pretrained language models.

The package follows the path of a question, and imports point only down it:

- ``embcli.read``   bytes and facts from outside (safetensors headers, checkpoints, the Hub,
  configs, tokenizers, word-vector files)
- ``embcli.store``  the normalised on-disk cache and ``EmbeddingTable``, its one owner
- ``embcli.ask``    the questions as functions over arrays (neighbours, analogies, sizes, ...)
- ``embcli.draw``   projections and pictures
- ``embcli.cli``    the Typer commands: parse, call, render

From Python, ``embcli.load(model)`` opens a table (:class:`embcli.api.Table`) whose methods ask
the same questions as the commands, and ``embcli.size(...)`` gives the size card. They are
imported on first use (PEP 562), so ``import embcli`` stays as light as the warm path: neither
torch, transformers nor matplotlib is imported until a question needs it.

The warm path (a query answered from the cache) imports only numpy and the standard library.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["Table", "__version__", "load", "size"]

if TYPE_CHECKING:
    from embcli.api import Table, load, size


def __getattr__(name: str) -> Any:
    if name in ("load", "size", "Table"):
        from embcli import api

        return getattr(api, name)
    raise AttributeError(f"module 'embcli' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), "load", "size", "Table"})
