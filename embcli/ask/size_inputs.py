"""Where ``embcli size`` gets a config and a parameter total, in order of trust.

Config: a GGUF's own metadata (a file, a folder of them, an Ollama model); a local model
directory or ``config.json`` path; else the Hub (only ``config.json`` is
fetched); else, offline or when the Hub cannot be reached, the built-in catalog. What-if
arithmetic builds a config from ``--vocab`` and ``--dim``.

Total parameters: a GGUF's tensor directory; safetensors headers (local files, or the Hub's
header-only metadata), else a meta-device build of the config (needs torch and transformers),
else the catalog's figure.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from embcli.ask import catalog, sizing
from embcli.errors import EmbcliError
from embcli.read.facts import ModelFacts


@dataclass
class SizeInput:
    name: str
    config: ModelFacts
    origin: str  # "local", "hub", "catalog" or "what-if"
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
    found_gguf = _from_gguf(spec, file, quant)
    if found_gguf is not None:
        return found_gguf
    path = Path(spec).expanduser()
    if path.is_file():
        return SizeInput(spec, ModelFacts.load(path), "local", str(path.resolve()))
    if path.is_dir():
        from embcli.read.static_model import static_layout

        if static_layout(lambda name: path / name if (path / name).is_file() else None):
            raise _static(spec)
        cfg = ModelFacts.load(path / "config.json")
        return SizeInput(spec, cfg, "local", str(path.resolve()), None, _tokenizer_size(path), path)
    found = catalog.lookup(spec)
    hub_id = found[1]["hub_id"] if found and found[1]["hub_id"] else spec
    reachable_name = found is None or found[1]["hub_id"] is not None
    if not offline and reachable_name and _looks_like_repo(hub_id) and not _hub_offline():
        from embcli.read.hub import HubUnreachable

        try:
            return _from_hub(spec, hub_id)
        except HubUnreachable:
            if found is None:
                raise
            notice(NO_NETWORK)
            return _from_catalog(spec, found, NO_NETWORK)
        except EmbcliError as exc:
            if found is None or "gated" in exc.message or "not authorised" in exc.message:
                raise
            return _from_catalog(spec, found, f"Hub not used ({exc.message})")
    if found is not None:
        why = "--offline" if offline else "HF_HUB_OFFLINE is set" if _hub_offline() else None
        return _from_catalog(spec, found, why)
    raise EmbcliError(
        f"{spec} is not a local model, and offline it is not in the built-in catalog",
        "see the catalog with: embcli size --list",
    )


def _from_gguf(spec: str, file: str | None, quant: str | None) -> SizeInput | None:
    """A local GGUF model's numbers from its header alone: shapes of every tensor, the
    vocabulary's length, the quantisation of the table and the head. None if not a GGUF."""
    from embcli.read.formats import open_container
    from embcli.read.ref import ModelRef
    from embcli.read.sources import names_local_gguf, resolve_local

    ref = ModelRef(spec, file=file, quant=quant)
    if not names_local_gguf(ref):
        return None
    from embcli.read.gguf_file import GGUFModel

    source = resolve_local(ref)
    assert source is not None  # an existing path or an ollama: name
    model = open_container(source)
    assert isinstance(model, GGUFModel)
    summary = model.summary()
    quantised = f"table {summary.table_type}" + (
        f", head {summary.head_type}" if summary.head_type else ""
    )
    return SizeInput(
        spec,
        model.facts(),
        "gguf",
        source.label,
        note=quantised,
        tokenizer_size=summary.n_vocab,
        counted=sizing.count_from_shapes(model.tensor_shapes()),
        gguf=summary.to_dict(),
    )


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


def totals(inp: SizeInput) -> tuple[int | None, int | None, str | None]:
    """(total, active, method) by the first method that works for this input."""
    counted: tuple[int, int] | None = None
    method = None
    if inp.counted is not None:
        counted, method = inp.counted, "GGUF tensor directory"
    elif inp.directory is not None:
        counted, method = sizing.count_local(inp.directory), "safetensors headers"
    elif inp.origin == "hub":
        counted, method = _hub_header_counts(inp.ref), "safetensors headers (Hub metadata)"
    if counted is None and inp.origin == "catalog" and inp.entry is not None:
        e = inp.entry
        how = e.get("params_note") or "meta-device build of the cited config"
        return e["params_total"], e.get("params_active"), f"catalog ({how})"
    if counted is None and inp.origin != "what-if":
        counted, method = sizing.count_meta_device(inp.config), "meta-device model"
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


def _from_hub(spec: str, repo_id: str) -> SizeInput:
    from embcli.read.hub import download

    path = download(repo_id, "config.json", None)
    from embcli.read.families import MODEL2VEC_TYPE

    if _model_type(path) == MODEL2VEC_TYPE:
        raise _static(spec)
    return SizeInput(spec, ModelFacts.load(path), "hub", repo_id)


def _static(spec: str) -> EmbcliError:
    """``size`` reads a transformer's config; a static model's table is the whole model."""
    return EmbcliError(
        f"{spec} is a static-embedding model: its token table is the whole model",
        f"its shape, dtype and quantisation: embcli info -m {spec}",
    )


def _model_type(path: Path) -> str | None:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    return raw.get("model_type") if isinstance(raw, dict) else None


def _hub_header_counts(repo_id: str) -> tuple[int, int] | None:
    try:
        from huggingface_hub import get_safetensors_metadata

        meta = get_safetensors_metadata(repo_id)
    except Exception:
        return None
    shapes = [
        (name, info.shape)
        for fmeta in meta.files_metadata.values()
        for name, info in fmeta.tensors.items()
    ]
    return sizing.count_from_shapes(shapes)


def _tokenizer_size(directory: Path) -> int | None:
    path = directory / "tokenizer.json"
    if not path.is_file():
        return None
    try:
        spec = json.loads(path.read_text(encoding="utf-8"))
        ids = list((spec.get("model") or {}).get("vocab", {}).values())
        ids += [t["id"] for t in spec.get("added_tokens", [])]
        return max(ids) + 1 if ids and all(isinstance(i, int) for i in ids) else None
    except (OSError, ValueError, TypeError, KeyError):
        return None


def _looks_like_repo(name: str) -> bool:
    from embcli.read.sources import REPO_ID

    return bool(REPO_ID.match(name))


def _hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on")
