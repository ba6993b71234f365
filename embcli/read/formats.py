"""Which container a source's weight files make up: the registry of formats.

Each format lives in its own module, which gives two functions beside its container class:

- ``detect(source) -> bool``: whether the source holds this format (cheap: the source's kind
  and file names, or a small file such as ``modules.json``; no weights are read);
- ``from_source(source, allow_pickle, notice) -> Container``: the container, reading nothing
  yet (headers are read when it is first asked about a tensor).

:data:`FORMATS` lists the modules in the order they are asked: the first that detects its format
opens the source (a static model's safetensors before a transformer's, safetensors before
PyTorch ``.bin`` files when both are present). The modules are imported when a source is
opened, never on the warm path. A container may also describe itself
(:func:`embcli.read.container.describe`): the facts of its format that the cache entry keeps.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from embcli.errors import EmbcliError
from embcli.read.source import SAFETENSORS_INDEX

if TYPE_CHECKING:
    from embcli.read.byte_source import Notice
    from embcli.read.container import Container
    from embcli.read.source import Source

#: The format modules, in the order they are asked (full names: the layout test's import scan
#: reads them as imports).
FORMATS = (
    "embcli.read.wordvectors",
    "embcli.read.gguf_file",
    "embcli.read.static_model",
    "embcli.read.safetensors_container",
    "embcli.read.pytorch_container",
)


def open_container(
    source: Source, *, allow_pickle: bool = False, notice: Notice | None = None
) -> Container:
    """The tensor container the source's weight files make up (the first format of
    :data:`FORMATS` that detects itself in it)."""
    for name in FORMATS:
        module = importlib.import_module(name)
        if module.detect(source):
            container: Container = module.from_source(source, allow_pickle, notice)
            return container
    raise EmbcliError(
        f"no weights in {source.label}: expected model.safetensors, shards with "
        f"{SAFETENSORS_INDEX}, or pytorch_model.bin"
    )
