"""embcli from Python: a :class:`Model` (a source and how to read it), its :class:`Table` objects
(the matrix questions), and results as dataclasses. The CLI is this API's first client.

``embcli neighbors Paris`` and ``embcli.load().neighbors("Paris")`` call the same method and get
the same result object; the CLI only prints it. A result has ``to_dict()`` (exactly the CLI's
JSON), ``view()`` (its table), and shows itself as an HTML table in a notebook
(``_repr_html_``) and as a rich table in a terminal (``rich.print(result)``).

Errors are the CLI's exceptions (:mod:`embcli.errors`) with the same one-line messages, and
arguments are checked here, once (:mod:`embcli.api.checks`); nothing here prints or exits:
notices go to the model's ``notice`` callback (the ``embcli`` logger by default). Queries over
several words keep going past a word that does not resolve and list it in ``result.failed``.

    >>> import embcli
    >>> t = embcli.load("sentence-transformers/all-MiniLM-L6-v2")   # doctest: +SKIP
    >>> [n.token for n in t.neighbors("paris", k=3)]                 # doctest: +SKIP
    ['france', 'french', 'lyon']

The names are imported on first use (PEP 562), so ``import embcli.api`` costs nothing and a
command imports only what it uses: ``size`` and ``cache`` never import numpy.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from embcli.api.defaults import DEFAULT_MODEL

#: Where each public name lives.
_HOMES = {
    "Model": "embcli.api.model",
    "load": "embcli.api.model",
    "ROLES": "embcli.api.model",
    "Table": "embcli.api.table",
    "Space": "embcli.api.table",
    "size": "embcli.api.sizes",
    "catalog": "embcli.api.sizes",
    "cache_entries": "embcli.api.cache",
    "clear_cache": "embcli.api.cache",
    "cached_models": "embcli.api.cache",
    "history": "embcli.api.runs",
    "Index": "embcli.api.index",
    "indexes": "embcli.api.index",
}

__all__ = [
    "DEFAULT_MODEL",
    "ROLES",
    "Index",
    "Model",
    "Space",
    "Table",
    "cache_entries",
    "cached_models",
    "catalog",
    "clear_cache",
    "history",
    "indexes",
    "load",
    "size",
]

if TYPE_CHECKING:
    from embcli.api.cache import cache_entries, cached_models, clear_cache
    from embcli.api.index import Index, indexes
    from embcli.api.model import ROLES, Model, load
    from embcli.api.runs import history
    from embcli.api.sizes import catalog, size
    from embcli.api.table import Space, Table


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'embcli.api' has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)


def __dir__() -> list[str]:
    return sorted({*globals(), *_HOMES})
