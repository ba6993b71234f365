"""A model's config without its weights, for ``embcli size``: from a GGUF's metadata, a local
directory or ``config.json``, or the Hub (only ``config.json``, through :mod:`embcli.read.hub`).

Tensor shapes come the same way, headers only: a GGUF's tensor directory, a local model's
safetensors headers, the Hub's header-only safetensors metadata. Which source to trust first,
and the built-in catalog when the Hub cannot be asked, is :mod:`embcli.ask.size_inputs`'s.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from embcli.errors import EmbcliError
from embcli.read.facts import ModelFacts

Shapes = list[tuple[str, list[int]]]


@dataclass
class FoundConfig:
    """A config and where it was read: ``origin`` is "local", "gguf" or "hub"; ``ref`` the
    path or Hub id."""

    config: ModelFacts
    origin: str
    ref: str
    note: str | None = None
    tokenizer_size: int | None = None
    directory: Path | None = None
    shapes: Shapes | None = None  # every tensor's shape, when the source states them
    gguf: dict[str, Any] | None = None  # a GGUF's summary (quantisation of table and head)


def local_config(
    spec: str, file: str | None = None, quant: str | None = None
) -> FoundConfig | None:
    """The config of a local model: a GGUF (a file, a folder of them chosen by ``file`` or
    ``quant``, an Ollama model), a ``config.json`` path or a model directory; None when ``spec``
    names nothing local. A static-embedding model is refused in one line."""
    found = _from_gguf(spec, file, quant)
    if found is not None:
        return found
    path = Path(spec).expanduser()
    if path.is_file():
        return FoundConfig(ModelFacts.load(path), "local", str(path.resolve()))
    if path.is_dir():
        from embcli.read.static_model import static_layout

        if static_layout(lambda name: path / name if (path / name).is_file() else None):
            raise static_model(spec)
        cfg = ModelFacts.load(path / "config.json")
        return FoundConfig(cfg, "local", str(path.resolve()), None, _tokenizer_size(path), path)
    return None


def _from_gguf(spec: str, file: str | None, quant: str | None) -> FoundConfig | None:
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
    return FoundConfig(
        model.facts(),
        "gguf",
        source.label,
        note=quantised,
        tokenizer_size=summary.n_vocab,
        shapes=[(name, list(shape)) for name, shape in model.tensor_shapes()],
        gguf=summary.to_dict(),
    )


def hub_config(spec: str, repo_id: str) -> FoundConfig:
    """``repo_id``'s ``config.json`` from the Hub (nothing else is fetched). Failures are
    :mod:`embcli.read.hub`'s typed errors (unreachable, gated, not authorised, not found)."""
    from embcli.read.families import MODEL2VEC_TYPE
    from embcli.read.hub import download

    path = download(repo_id, "config.json", None)
    if _model_type(path) == MODEL2VEC_TYPE:
        raise static_model(spec)
    return FoundConfig(ModelFacts.load(path), "hub", repo_id)


def local_shapes(directory: Path) -> Shapes | None:
    """Every tensor's shape from the safetensors headers of a local model (no weights)."""
    from embcli.read.byte_source import LocalFile
    from embcli.read.safetensors_container import read_header

    files = sorted(directory.glob("*.safetensors"))
    if not files:
        return None
    shapes: Shapes = []
    for f in files:
        shapes += [(name, list(t.shape)) for name, t in read_header(LocalFile(f)).items()]
    return shapes


def looks_like_repo(name: str) -> bool:
    """Whether ``name`` is spelled as a Hub repo id (``owner/name`` or ``name``)."""
    from embcli.read.sources import REPO_ID

    return bool(REPO_ID.match(name))


def static_model(spec: str) -> EmbcliError:
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
