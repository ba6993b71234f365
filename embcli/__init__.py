"""embcli: explore the token-embedding tables of pretrained language models.

The package follows the path of a question, and imports point only down it:

- ``embcli.read``   bytes and facts from outside (safetensors headers, checkpoints, the Hub,
  configs, tokenizers, word-vector files)
- ``embcli.store``  the normalised on-disk cache and ``EmbeddingTable``, its one owner
- ``embcli.ask``    the questions as functions over arrays (neighbours, analogies, sizes, ...)
- ``embcli.draw``   projections and pictures; ``embcli.run`` runs the model (torch)
- ``embcli.api``    ``Model`` and ``Table``: every question as a method, checked once
- ``embcli.cli``    the Typer commands: parse, call one API method, render

From Python, ``embcli.load(model)`` opens a table (:class:`embcli.api.Table`) whose methods ask
the same questions as the commands; ``embcli.Model(model)`` is the model itself (its tables,
and running it: context, sentences); ``embcli.size(...)`` gives the size card;
``embcli.history(...)`` follows a table through a run's checkpoints. They are
imported on first use (PEP 562), so ``import embcli`` stays as light as the warm path: neither
torch, transformers nor matplotlib is imported until a question needs it.

The warm path (a query answered from the cache) imports only numpy and the standard library.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from embcli.version import __version__

__all__ = ["Index", "Model", "Space", "Table", "__version__", "history", "indexes", "load", "size"]
_API = ("load", "size", "history", "Model", "Table", "Space", "Index", "indexes")

if TYPE_CHECKING:
    from embcli.api import Index, Model, Space, Table, history, indexes, load, size


def __getattr__(name: str) -> Any:
    if name in _API:
        from embcli import api

        return getattr(api, name)
    raise AttributeError(f"module 'embcli' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_API})
