"""Where ``embcli size`` gets a config and a parameter total, in order of trust.

Config: a GGUF's own metadata (a file, a folder of them, an Ollama model); a local model
directory or ``config.json`` path; else the Hub (only ``config.json`` is
fetched); else, offline or when the Hub cannot be reached, the built-in catalog. What-if
arithmetic builds a config from ``--vocab`` and ``--dim``.

Total parameters: a GGUF's tensor directory; safetensors headers (local files, or the Hub's
header-only metadata), else a meta-device build of the config (needs torch and transformers),
else the catalog's figure.

This module holds the order of trust only: reading a config or tensor headers (local files, a
GGUF, the Hub) is :mod:`embcli.read.model_config`'s and :mod:`embcli.read.hub`'s, and the
meta-device build is :mod:`embcli.run.meta_model`'s, handed in by the API (``count_meta``).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from embcli.ask import catalog, sizing
from embcli.errors import EmbcliError
from embcli.read.facts import ModelFacts

if TYPE_CHECKING:
    from embcli.read.model_config import FoundConfig

#: Counts a config's parameters by building it (the api hands in the ``run`` stage's meta-device
#: build; None: no such count).
MetaCount = Callable[[ModelFacts], tuple[int, int] | None]


@dataclass
class SizeInput:
    name: str
    config: ModelFacts
    origin: str  # "local", "gguf", "hub", "catalog" or "what-if"
    ref: str  # path, Hub id, or the catalog's cited source
    note: str | None = None
    tokenizer_size: int | None = None
    directory: Path | None = None
    entry: dict[str, Any] | None = None
    counted: tuple[int, int] | None = None  # (total, routed-expert) parameters, when known
    gguf: dict[str, Any] | None = None  # a GGUF's summary (quantisation of table and head)


NO_NETWORK = "no network: figures from the built-in catalog"


def _stderr(message: str) -> None:
    print(f"embcli: {message}", file=sys.stderr)


def resolve(
    spec: str,
    offline: bool,
    notice: Callable[[str], None] = _stderr,
    file: str | None = None,
    quant: str | None = None,
) -> SizeInput:
    """Where ``spec``'s config comes from; an unreachable Hub falls back to the catalog at once,
    with one line through ``notice``. A GGUF (a file, a folder of them chosen by ``file`` or
    ``quant``, an Ollama model) states everything in its metadata."""
    from embcli.read import hub, model_config

    local = model_config.local_config(spec, file, quant)
    if local is not None:
        return _of(spec, local)
    found = catalog.lookup(spec)
    hub_id = found[1]["hub_id"] if found and found[1]["hub_id"] else spec
    reachable_name = found is None or found[1]["hub_id"] is not None
    asked = not offline and not hub.offline()
    if asked and reachable_name and model_config.looks_like_repo(hub_id):
        try:
            return _of(spec, model_config.hub_config(spec, hub_id))
        except hub.HubUnreachable:
            if found is None:
                raise
            notice(NO_NETWORK)
            return _from_catalog(spec, found, NO_NETWORK)
        except (hub.HubGated, hub.HubNotAuthorised):
            raise  # the name is right; the catalog would hide what the user must do
        except EmbcliError as exc:
            if found is None:
                raise
            return _from_catalog(spec, found, f"Hub not used ({exc.message})")
    if found is not None:
        why = "--offline" if offline else "HF_HUB_OFFLINE is set" if hub.offline() else None
        return _from_catalog(spec, found, why)
    raise EmbcliError(
        f"{spec} is not a local model, and offline it is not in the built-in catalog",
        "see the catalog with: embcli size --list",
    )


def _of(spec: str, found: FoundConfig) -> SizeInput:
    """A :class:`SizeInput` from what :mod:`embcli.read.model_config` found."""
    counted = sizing.count_from_shapes(found.shapes) if found.shapes is not None else None
    return SizeInput(spec, found.config, found.origin, found.ref, found.note,
                     found.tokenizer_size, found.directory, counted=counted,
                     gguf=found.gguf)  # fmt: skip


def what_if(vocab: int, dim: int, dtype: str | None, tied: bool) -> SizeInput:
    raw: dict[str, Any] = {
        "model_type": "what-if",
        "vocab_size": vocab,
        "hidden_size": dim,
        "tie_word_embeddings": tied,
    }
    if dtype:
        raw["torch_dtype"] = dtype
    return SizeInput(f"{vocab:,} x {dim:,}", ModelFacts.from_dict(raw), "what-if", "--vocab/--dim")


def totals(
    inp: SizeInput, count_meta: MetaCount | None = None
) -> tuple[int | None, int | None, str | None]:
    """(total, active, method) by the first method that works for this input; ``count_meta``
    builds the config when nothing states the total (a meta-device model, from ``run``)."""
    from embcli.read import hub, model_config

    counted: tuple[int, int] | None = None
    method = None
    shapes = None
    if inp.counted is not None:
        counted, method = inp.counted, "GGUF tensor directory"
    elif inp.directory is not None:
        shapes, method = model_config.local_shapes(inp.directory), "safetensors headers"
    elif inp.origin == "hub":
        shapes, method = hub.safetensors_shapes(inp.ref), "safetensors headers (Hub metadata)"
    if shapes is not None:
        counted = sizing.count_from_shapes(shapes)
    if counted is None and inp.origin == "catalog" and inp.entry is not None:
        e = inp.entry
        how = e.get("params_note") or "meta-device build of the cited config"
        return e["params_total"], e.get("params_active"), f"catalog ({how})"
    if counted is None and inp.origin != "what-if" and count_meta is not None:
        counted, method = count_meta(inp.config), "meta-device model"
    if counted is None:
        return None, None, None
    total, experts = counted
    return total, sizing.active_params(inp.config, total, experts), method


def _from_catalog(spec: str, found: tuple[str, dict[str, Any]], note: str | None) -> SizeInput:
    key, entry = found
    cfg = ModelFacts.from_dict(entry["config"], f"catalog entry {key}")
    raw = dict(cfg.raw)
    raw.setdefault("torch_dtype", entry["dtype"])
    cfg = ModelFacts.from_dict(raw, f"catalog entry {key}")
    return SizeInput(spec, cfg, "catalog", entry["source"], note, entry=entry)
