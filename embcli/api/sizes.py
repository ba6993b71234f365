"""``embcli.size``: what embedding tables cost, from configs alone (no weights downloaded)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from embcli.ask.size_card import CatalogList, SizeReport
    from embcli.read.facts import ModelFacts


def _log(message: str) -> None:
    import logging  # here: the logging package costs a warm query a few milliseconds

    logging.getLogger("embcli").info(message)


def size(
    *models: str,
    vocab: int | None = None,
    dim: int | None = None,
    dtype: str = "float16",
    untied: bool = False,
    units: str = "MB",
    offline: bool = False,
    notice: Callable[[str], None] | None = None,
    file: str | None = None,
    quant: str | None = None,
) -> SizeReport:
    """The size card of one or more models from their configs alone (no weights downloaded).

    Returns a ``SizeReport``: ``report[0]["table_params"]``, ``report.to_dict()`` (the JSON of
    ``embcli size``); ``vocab`` and ``dim`` add a what-if table. A GGUF (a file, a folder of
    them chosen by ``file`` or ``quant``, ``ollama:NAME``) is sized from its own metadata.
    Notices (the Hub unreachable, figures from the built-in catalog) go to ``notice``, each said
    once however many models it concerns; by default to the ``embcli`` logger.

        >>> embcli.size("gpt2")[0]["vocab_size"]                     # doctest: +SKIP
        50257
        >>> embcli.size(vocab=256_000, dim=8192, dtype="bf16").to_dict()["bytes"]["bfloat16"]
        4194304000
    """
    from embcli.api import checks
    from embcli.ask.size_card import size as size_of

    checks.optional_count("vocab", vocab, 1)
    checks.optional_count("dim", dim, 1)
    said: set[str] = set()
    sink = notice or _log

    def once(message: str) -> None:
        if message not in said:
            said.add(message)
            sink(message)

    return size_of(models, vocab=vocab, dim=dim, dtype=dtype, untied=untied, units=units,
                   offline=offline, notice=once, file=file, quant=quant,
                   count_meta=_count_meta)  # fmt: skip


def _count_meta(cfg: ModelFacts) -> tuple[int, int] | None:
    """A config's parameters from a meta-device build (``run``); None without torch."""
    from embcli.errors import EmbcliError

    try:
        from embcli.run.meta_model import count_meta_device
    except EmbcliError:  # torch or transformers is not installed
        return None
    return count_meta_device(cfg)


def catalog(dtype: str = "float16") -> CatalogList:
    """The built-in catalog of model configs (``embcli size --list``); ``dtype`` is checked as
    ``size`` checks it."""
    from embcli.ask.size_card import catalog_list, dtype_column

    dtype_column(dtype)
    return catalog_list()
