"""What a resolved ``--model`` is: a :class:`Source` (what identifies its contents, the cache key,
its files) and its kinds. A leaf of the reader: :mod:`embcli.read.sources` makes them from a
:class:`~embcli.read.ref.ModelRef`, :mod:`embcli.read.formats` opens the container their weight
files make up, and the containers read through them.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from embcli.errors import EmbcliError

SAFETENSORS_INDEX = "model.safetensors.index.json"
PYTORCH_INDEX = "pytorch_model.bin.index.json"

if TYPE_CHECKING:  # byte sources are imported when a file is asked for: not on the warm path
    from embcli.read.byte_source import ByteSource, HubFile, Notice, Progress


@dataclass
class Source:
    """A resolved ``--model``: what it is, what identifies its contents, and its files."""

    kind: str  # "local", "hub", "vectors", "gguf" (a local GGUF), "ollama"
    label: str  # what to show: an absolute path, a repo id (/file for GGUF), "ollama:NAME:TAG"
    #: content fingerprint (local), commit sha (hub; "sha:file" for a Hub GGUF), blob digest
    #: (ollama)
    identity: str
    revision: str | None
    notice: Notice | None = field(default=None, kw_only=True, repr=False, compare=False)
    progress: Progress | None = field(default=None, kw_only=True, repr=False, compare=False)

    def key(self, tensor: str | None) -> str:
        """The cache key: changes whenever the source's contents or the table choice change."""
        parts = [self.kind, self.label, self.identity, tensor or ""]
        if self.kind == "hub":
            from embcli.read.hub import hub_endpoint

            parts.append(hub_endpoint())
        return hashlib.sha256("\0".join(parts).encode()).hexdigest()

    def small_file(self, name: str) -> Path | None:
        """A local path for ``config.json``, a tokenizer file... or None if the source has none."""
        raise NotImplementedError

    def file(self, name: str) -> ByteSource:
        """A weight file's bytes (local, or ranged reads from the Hub)."""
        raise NotImplementedError

    def listing(self) -> list[str]:
        """The names of the files the source holds."""
        raise NotImplementedError


@dataclass
class LocalDir(Source):
    """A Hugging Face model directory on local disk."""

    directory: Path

    def small_file(self, name: str) -> Path | None:
        path = self.directory / name
        return path if path.is_file() else None

    def file(self, name: str) -> ByteSource:
        from embcli.read.byte_source import LocalFile

        return LocalFile(self.directory / name)

    def listing(self) -> list[str]:
        return sorted(p.name for p in self.directory.iterdir() if p.is_file())


@dataclass
class HubRepo(Source):
    """A Hub repository at one commit; its small files are already in ``directory``."""

    repo_id: str
    directory: Path  # huggingface_hub's snapshot folder holding the small files
    names: tuple[str, ...]
    _files: dict[str, HubFile] = field(default_factory=dict, repr=False, compare=False)

    def small_file(self, name: str) -> Path | None:
        path = self.directory / name
        return path if path.is_file() else None

    def file(self, name: str) -> ByteSource:
        """One byte source per file and process, so a whole-file fallback happens once."""
        from embcli.read.byte_source import HubFile

        if name not in self._files:
            self._files[name] = HubFile(
                self.repo_id, self.identity, name, progress=self.progress, notice=self.notice
            )
        return self._files[name]

    def listing(self) -> list[str]:
        return sorted(self.names)


@dataclass
class GgufFiles(Source):
    """A GGUF model on local disk: one file, a split set in shard order, or an Ollama blob."""

    paths: tuple[Path, ...]  # the first holds the metadata

    def small_file(self, name: str) -> Path | None:
        return None  # the vocabulary and the facts are in the GGUF's own metadata

    def file(self, name: str) -> ByteSource:
        from embcli.read.byte_source import LocalFile

        for path in self.paths:
            if path.name == name:
                return LocalFile(path)
        if Path(name).name != name or name in ("", ".", ".."):
            # a shard's name comes from the file's own: it never leads to another folder
            raise EmbcliError(f"{name!r} is not a file of {self.label}: refused")
        return LocalFile(self.paths[0].parent / name)

    def listing(self) -> list[str]:
        return [p.name for p in self.paths]


@dataclass
class HubGguf(Source):
    """GGUF files of a Hub repository at one commit (one model; a split set in shard order),
    read by byte ranges: the header, then the table."""

    repo_id: str
    files: tuple[str, ...]
    _files: dict[str, HubFile] = field(default_factory=dict, repr=False, compare=False)

    def small_file(self, name: str) -> Path | None:
        return None

    def file(self, name: str) -> ByteSource:
        """One byte source per file and process (its size, once known, is kept)."""
        from embcli.read.byte_source import HubFile

        if name not in self._files:
            sha = self.identity.partition(":")[0]
            self._files[name] = HubFile(
                self.repo_id, sha, name, progress=self.progress, notice=self.notice
            )
        return self._files[name]

    def listing(self) -> list[str]:
        return list(self.files)


@dataclass
class VectorFile(Source):
    """A word2vec, GloVe or fastText file."""

    path: Path

    def small_file(self, name: str) -> Path | None:
        return None

    def file(self, name: str) -> ByteSource:
        from embcli.read.byte_source import LocalFile

        return LocalFile(self.path)

    def listing(self) -> list[str]:
        return [self.path.name]


def top_level_names(source: Source) -> list[str]:
    """The source's files outside sub-folders (sentence-transformers' module folders)."""
    return [n for n in source.listing() if "/" not in n]


def index_file(source: Source, name: str, names: list[str]) -> Path | None:
    """The local path of the index ``name`` (``model.safetensors.index.json``) if the source
    lists it, else None."""
    if name not in names:
        return None
    path = source.small_file(name)
    if path is None:
        raise EmbcliError(f"cannot read {name} of {source.label}")
    return path
