"""Turn ``--model`` into a :class:`Source`: a local directory, a Hub repo at a commit, a file.

GGUF models come from four places (:mod:`embcli.read.gguf_sources` finds them): a ``.gguf``
path (a shard of a split set brings the whole set), ``ollama:NAME[:TAG]``, a directory of GGUF
files (LM Studio keeps one per model) and a Hub repo with GGUF files, where ``--file NAME`` or
``--quant Q4_K_M`` chooses the file. A local GGUF is keyed by a fingerprint of its files, an
Ollama model by its manifest's blob digest, a Hub file by the commit sha and the file's name.

A source says what identifies its contents (the cache key) and hands out its files: small ones
(``config.json``, tokenizer files) as local paths, weight files as byte sources
(:mod:`embcli.read.byte_source`); the classes are in :mod:`embcli.read.source`, and
:func:`embcli.read.formats.open_container` picks the container their weight files make up. A
local directory is keyed by a fingerprint of its files (path, size,
modification time), so editing or replacing any file gives a new cache entry; a Hub repository
by the commit sha its revision resolves to. Hub access goes through :mod:`embcli.read.hub`
(huggingface_hub is imported only when a repo id is used).
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
from pathlib import Path
from typing import Any

from embcli.errors import EmbcliError, UsageProblem
from embcli.read.ref import ModelRef, Sinks
from embcli.read.source import (
    GgufFiles,
    HubGguf,
    HubRepo,
    LocalDir,
    Source,
    VectorFile,
)

__all__ = ["GgufFiles", "HubGguf", "HubRepo", "LocalDir", "Source", "VectorFile", "resolve"]

REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")
#: Files besides the weights that a table needs: config and every tokenizer format.
SMALL_FILES = (
    "config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "vocab.txt",
    "vocab.json",
    "merges.txt",
    "tokenizer.model",
    "spiece.model",
    "added_tokens.json",
    "model.safetensors.index.json",
    "pytorch_model.bin.index.json",
    "modules.json",  # sentence-transformers' pipeline: says when a model is a static table
)
VECTOR_SUFFIXES = (".txt", ".vec", ".bin", ".w2v", ".glove")
FILE_SUFFIXES = (*VECTOR_SUFFIXES, ".gguf", ".safetensors", ".bin", ".npy")
MODULE_FOLDER = re.compile(r"^\d+_\w+$")  # sentence-transformers' module folders


def resolve(ref: ModelRef | str, sinks: Sinks | None = None) -> Source:
    """The source ``ref`` names: an Ollama name or a local path first, else a Hub repo id.

    Its ``file`` and ``quant`` choose one GGUF model among several (Hub repos and directories);
    where they do not apply they are refused in one line.
    """
    ref = ModelRef.of(ref)
    return resolve_local(ref) or resolve_hub(ref, sinks)


def refuse_gguf_run(ref: ModelRef, command: str) -> None:
    """``context``, ``sentences``, ``search`` and ``index`` run the model with transformers in
    float; a GGUF holds llama.cpp's (quantised) weights, not a model transformers runs."""
    if ref.chosen or names_local_gguf(ref):
        raise EmbcliError(
            f"{command} runs the model in float with transformers, and {ref.source} is a "
            "GGUF model",
            "give the float model with -m: its Hugging Face repo or directory",
        )


def refuse_choice(source: Source, ref: ModelRef) -> None:
    """``--file``/``--quant`` pick a GGUF file; no other source has files to pick from."""
    if ref.chosen:
        option = "--file" if ref.file is not None else "--quant"
        if isinstance(source, GgufFiles):
            raise UsageProblem(
                f"{option} chooses among the GGUF files of a directory or Hub repo, and "
                f"{source.label} is one model already"
            )
        raise UsageProblem(f"{option} chooses a GGUF file, and {source.label} holds none")


def looks_like_path(spec: str) -> bool:
    return spec.startswith((".", "/", "~")) or (os.sep in spec and Path(spec).exists())


def resolve_local(ref: ModelRef) -> Source | None:
    """A local model directory, GGUF model or vector file, or None if ``ref`` names no path.

    Cheap (a ``stat`` of the directory's files, or an Ollama manifest): the warm path calls it
    on every query.
    """
    from embcli.read import gguf_sources

    spec = ref.source
    if gguf_sources.is_lmstudio(spec):
        folder = gguf_sources.lmstudio_folder(spec)
        return _gguf_files(gguf_sources.gguf_directory(folder, file=ref.file, quant=ref.quant))
    if gguf_sources.is_ollama(spec):
        found = gguf_sources.resolve_ollama(spec)
        source: Source = GgufFiles(
            "ollama", found.label, found.identity, None, tuple(Path(f) for f in found.files)
        )
        refuse_choice(source, ref)
        return source
    path = Path(spec).expanduser()
    if not path.exists():
        if looks_like_path(spec) or path.is_symlink() or not REPO_ID.match(spec):
            raise _missing(spec, path)
        if path.suffix.lower() in FILE_SUFFIXES:
            # a file's name, not a repo id (glove.6B.50d.txt): not sent to the Hub to fail there
            raise EmbcliError(f"no such file: {spec}")
        return None
    if path.is_file() and path.suffix.lower() == ".gguf":
        source = _gguf_files(gguf_sources.local_gguf(path))
        refuse_choice(source, ref)
        return source
    if not path.is_dir():
        if path.is_file() and path.suffix.lower() in VECTOR_SUFFIXES:
            st = path.stat()
            ident = hashlib.sha256(f"{st.st_size}\0{st.st_mtime_ns}".encode()).hexdigest()
            resolved = path.resolve()
            source = VectorFile("vectors", str(resolved), ident, None, resolved)
            refuse_choice(source, ref)
            return source
        raise EmbcliError(
            f"{spec} is a file; --model takes a model directory, a Hub repo id, a GGUF file, "
            f"or a word-vector file ({', '.join(VECTOR_SUFFIXES)})"
        )
    path = path.resolve()
    has_config = (path / "config.json").is_file() or (path / "modules.json").is_file()
    if (ref.chosen or not has_config) and gguf_sources.holds_gguf(path):
        return _gguf_files(gguf_sources.gguf_directory(path, file=ref.file, quant=ref.quant))
    if not has_config:
        raise EmbcliError(
            f"{path} has no config.json",
            "point --model at a Hugging Face model directory, a GGUF file or a folder of them",
        )
    source = LocalDir("local", str(path), _fingerprint(path), None, path)
    refuse_choice(source, ref)
    return source


def _missing(spec: str, path: Path) -> EmbcliError:
    """What is wrong with a path that does not exist: a symlink loop, a dangling symlink, a
    missing file (a name with a weight file's suffix), else a missing model directory."""
    try:
        os.stat(path)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return EmbcliError(f"{spec} is a symlink loop")
    if path.is_symlink():
        return EmbcliError(f"{spec} is a symlink to {os.readlink(path)}, which does not exist")
    if path.suffix.lower() in FILE_SUFFIXES:
        return EmbcliError(f"no such file: {spec}")
    return EmbcliError(f"no such model directory: {spec}")


def names_local_gguf(ref: ModelRef) -> bool:
    """Whether ``ref`` names a GGUF model on this machine: an ``ollama:`` name, a ``.gguf``
    file, or a folder of GGUF files (without ``config.json``, or with ``--file``/``--quant``).
    Cheap: nothing is opened."""
    from embcli.read import gguf_sources

    spec = ref.source
    if gguf_sources.is_ollama(spec) or gguf_sources.is_lmstudio(spec):
        return True
    path = Path(spec).expanduser()
    if path.is_file():
        return path.suffix.lower() == ".gguf"
    return (
        path.is_dir()
        and (ref.chosen or not (path / "config.json").is_file())
        and gguf_sources.holds_gguf(path)
    )


def _gguf_files(found: Any) -> GgufFiles:
    """A :class:`GgufFiles` from what :mod:`embcli.read.gguf_sources` located."""
    return GgufFiles("gguf", found.label, found.identity, None, tuple(Path(f) for f in found.files))


def _fingerprint(directory: Path) -> str:
    """Name, size and mtime of every file that can change the table or its tokens.

    sentence-transformers keeps a module's files in a numbered folder (``0_StaticEmbedding/``:
    a static model's table and tokenizer), so those folders count too.
    """
    h = hashlib.sha256()
    for entry in sorted(os.scandir(directory), key=lambda e: e.name):
        if entry.is_dir() and MODULE_FOLDER.match(entry.name):
            for inner in sorted(os.scandir(entry.path), key=lambda e: e.name):
                _add_file(h, inner, f"{entry.name}/")
        else:
            _add_file(h, entry, "")
    return h.hexdigest()


def _add_file(h: Any, entry: os.DirEntry[str], prefix: str) -> None:
    if entry.is_file() and (
        entry.name in SMALL_FILES or entry.name.endswith((".safetensors", ".bin"))
    ):
        st = entry.stat()
        h.update(f"{prefix}{entry.name}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())


def resolve_hub(ref: ModelRef, sinks: Sinks | None = None) -> Source:
    """Resolve ``revision`` to a commit; a transformers repo's small files are fetched (config,
    tokenizer), a GGUF repo's chosen file is only named (its header is read by ranges later).

    A repo holding GGUF files is read as GGUF when it has no ``config.json``, or when
    ``--file``/``--quant`` is given.
    """
    from embcli.read import gguf_sources, hub

    repo_id, revision = ref.source, ref.revision
    notice, progress = (sinks.notice, sinks.progress) if sinks else (None, None)
    info = hub.model_info(repo_id, revision)
    sha = str(info.sha)
    names = tuple(s.rfilename for s in (info.siblings or []))
    ggufs = any(n.lower().endswith(".gguf") for n in names)
    if ggufs and ("config.json" not in names or ref.chosen):
        files = gguf_sources.choose_gguf(names, repo_id, file=ref.file, quant=ref.quant)
        return HubGguf(
            "hub",
            f"{repo_id}/{files[0]}",
            f"{sha}:{files[0]}",
            revision,
            repo_id,
            tuple(files),
            notice=notice,
            progress=progress,
        )
    directory: Path | None = None
    for name in SMALL_FILES:
        if name in names:
            directory = hub.download(repo_id, name, sha).parent
    static = None if directory is None else _static_files(repo_id, sha, directory, names)
    if directory is None or ("config.json" not in names and static is None):
        raise EmbcliError(f"{repo_id} has no config.json; is it a transformers model repo?")
    source = HubRepo(
        "hub", repo_id, sha, revision, repo_id, directory, names, notice=notice, progress=progress
    )
    refuse_choice(source, ref)
    return source


def _static_files(repo_id: str, sha: str, directory: Path, names: tuple[str, ...]) -> str | None:
    """A static-embedding model's folder, its small files fetched too; None for other models."""
    from embcli.read import hub
    from embcli.read.static_model import STATIC_SMALL_FILES, static_folder

    modules = directory / "modules.json"
    folder = static_folder(modules if modules.is_file() else None)
    for name in STATIC_SMALL_FILES if folder else ():
        if f"{folder}/{name}" in names:
            hub.download(repo_id, f"{folder}/{name}", sha)
    return folder
