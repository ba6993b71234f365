"""Where GGUF files are kept: a path, Ollama's store, an LM Studio folder, a Hub repo's listing.

Each function answers ``(label, identity, files)``: what to show, what identifies the contents
for the cache key, and the files to open (local paths, or names inside a Hub repository whose
commit sha becomes the identity at resolve time). The first file holds the GGUF metadata; for a
split set (``-00001-of-00003.gguf``) the others follow in order.

- ``ollama:NAME[:TAG]``: a manifest under ``$OLLAMA_MODELS`` (else ``~/.ollama/models``) at
  ``manifests/registry.ollama.ai/library/NAME/TAG`` (``NAMESPACE/NAME`` -> that namespace instead
  of ``library``; ``host/namespace/name`` for models pulled from elsewhere, such as ``hf.co``);
  its layer of media type ``application/vnd.ollama.image.model`` names the blob
  ``blobs/sha256-<hex>``, which is the GGUF file. The digest is the identity.
- a directory of GGUF files (LM Studio keeps ``~/.lmstudio/models/<publisher>/<model>/``):
  ``file=NAME`` or ``quant=Q4_K_M`` chooses; a directory with one model needs neither.
  ``lmstudio:PUBLISHER/MODEL`` (or ``lmstudio:MODEL`` when one publisher has it) names such a
  folder under ``$LMSTUDIO_MODELS``, else ``~/.lmstudio/models``.
- a Hub repository's file list: the same choice by ``file`` or ``quant``.

``quant`` is matched case-insensitively against the usual names (``Model-Q4_K_M.gguf``,
``model.Q4_K_M.gguf``, ``Q4_K_M/Model-Q4_K_M-00001-of-00002.gguf``), never inside a longer
quantisation name (``Q4_K`` does not match ``Q4_K_M``). Projector files (``mmproj-*.gguf``) are
left out unless named by ``file``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import NamedTuple

from embcli.errors import EmbcliError, UsageProblem

OLLAMA_PREFIX = "ollama:"
LMSTUDIO_PREFIX = "lmstudio:"
OLLAMA_REGISTRY = "registry.ollama.ai"
OLLAMA_MODEL_MEDIA = "application/vnd.ollama.image.model"
#: a part of an Ollama name (a folder under manifests/: a host may carry a :port) and a tag
OLLAMA_PART = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._:-]*")
OLLAMA_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]*")
OLLAMA_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
SPLIT = re.compile(r"-(\d{5})-of-(\d{5})\.gguf$", re.IGNORECASE)


class Located(NamedTuple):
    """A GGUF model found: what to show, its content identity, and its files in shard order."""

    label: str
    identity: str
    files: tuple[str, ...]


# -- Ollama --------------------------------------------------------------------------------------


def ollama_root() -> Path:
    """Ollama's model store: ``$OLLAMA_MODELS``, else ``~/.ollama/models``."""
    env = os.environ.get("OLLAMA_MODELS")
    return Path(env).expanduser() if env else Path.home() / ".ollama" / "models"


def is_ollama(spec: str) -> bool:
    return spec.startswith(OLLAMA_PREFIX)


def _manifest_parts(name: str) -> tuple[str, ...]:
    """``llama3.2`` -> registry/library/llama3.2; ``me/m`` -> registry/me/m; ``hf.co/a/b`` as is."""
    parts = tuple(p for p in name.split("/") if p)
    if len(parts) == 1:
        return (OLLAMA_REGISTRY, "library", *parts)
    if len(parts) == 2:
        return (OLLAMA_REGISTRY, *parts)
    return parts


def _split_tag(spec: str) -> tuple[str, str]:
    """``NAME[:TAG]`` (the tag after the last colon not inside a host:port) -> (name, tag)."""
    name, sep, tag = spec.rpartition(":")
    if not sep or "/" in tag:
        return spec, "latest"
    return name, tag or "latest"


def resolve_ollama(spec: str, root: Path | None = None) -> Located:
    """``ollama:NAME[:TAG]`` -> the GGUF blob its manifest names (one line on any failure)."""
    root = root or ollama_root()
    name, tag = _split_tag(spec.removeprefix(OLLAMA_PREFIX).strip())
    parts = name.split("/")
    if not all(OLLAMA_PART.fullmatch(p) for p in parts) or not OLLAMA_TAG.fullmatch(tag):
        # each part becomes a folder under manifests/: nothing that climbs out ("..", "/x")
        raise UsageProblem(f"{spec!r} is not an Ollama model name (ollama:NAME[:TAG])")
    manifest = root.joinpath("manifests", *_manifest_parts(name), tag)
    label = f"{OLLAMA_PREFIX}{name}:{tag}"
    if not root.is_dir():
        raise EmbcliError(
            f"no Ollama model store at {root}", f"set OLLAMA_MODELS, or run: ollama pull {name}"
        )
    if not manifest.is_file():
        present = ollama_models(root)
        listing = f"present: {', '.join(present)}" if present else "no models are present"
        raise EmbcliError(
            f"no Ollama model {name}:{tag} in {root}; {listing}", f"ollama pull {name}"
        )
    try:
        doc = json.loads(manifest.read_text(encoding="utf-8"))
        layers = doc.get("layers", [])
        layer = next(x for x in layers if x.get("mediaType") == OLLAMA_MODEL_MEDIA)
        digest = str(layer["digest"])
    except StopIteration:
        raise EmbcliError(f"{label}: its manifest lists no model layer ({manifest})") from None
    except (OSError, UnicodeDecodeError, ValueError, AttributeError, KeyError, TypeError):
        raise EmbcliError(f"{label}: cannot read its manifest {manifest}") from None
    if not OLLAMA_DIGEST.fullmatch(digest):
        # the digest becomes a file name in blobs/: only sha256 and 64 hex digits, so no part
        # of it can lead elsewhere ("../x/sha256:...", "/abs/sha256:...")
        raise EmbcliError(
            f"{label}: its manifest names an odd blob digest {digest[:100]!r} "
            "(expected sha256: and 64 hex digits)"
        )
    blobs = root / "blobs"
    blob = blobs / digest.replace(":", "-")
    _inside(blob, blobs, label)
    if not blob.is_file():
        raise EmbcliError(
            f"{label}: its manifest names blob {blob.name}, which is missing from {root / 'blobs'}",
            f"ollama pull {name}:{tag}",
        )
    size = layer.get("size")
    if isinstance(size, int) and blob.stat().st_size != size:
        raise EmbcliError(
            f"{label}: blob {blob.name} has {blob.stat().st_size:,} bytes, its manifest says "
            f"{size:,}",
            f"ollama pull {name}:{tag}",
        )
    return Located(label, digest, (str(blob),))


def _inside(path: Path, folder: Path, label: str) -> None:
    """Refuse ``path`` when it resolves (symlinks followed) outside ``folder``."""
    try:
        where = path.resolve()
        if not where.is_relative_to(folder.resolve()):
            raise EmbcliError(
                f"{label}: its blob {path.name} leads outside {folder} (to {where}); refused"
            )
    except (OSError, RuntimeError):  # a symlink loop
        raise EmbcliError(f"{label}: its blob {path} is a symlink loop") from None


def ollama_models(root: Path | None = None) -> list[str]:
    """The models present, as ``ollama`` lists them (``llama3.2:latest``, ``me/m:1b``)."""
    base = (root or ollama_root()) / "manifests"
    if not base.is_dir():
        return []
    out = []
    for f in sorted(base.rglob("*")):
        if not f.is_file():
            continue
        parts = f.relative_to(base).parts
        if len(parts) < 3:
            continue
        host, path, tag = parts[0], parts[1:-1], parts[-1]
        if host == OLLAMA_REGISTRY:
            path = path[1:] if path[:1] == ("library",) else path
            out.append(f"{'/'.join(path)}:{tag}")
        else:
            out.append(f"{host}/{'/'.join(path)}:{tag}")
    return sorted(out)


# -- LM Studio -----------------------------------------------------------------------------------


def lmstudio_root() -> Path:
    """LM Studio's model folder: ``$LMSTUDIO_MODELS``, else ``~/.lmstudio/models``."""
    env = os.environ.get("LMSTUDIO_MODELS")
    return Path(env).expanduser() if env else Path.home() / ".lmstudio" / "models"


def is_lmstudio(spec: str) -> bool:
    return spec.startswith(LMSTUDIO_PREFIX)


def lmstudio_folder(spec: str, root: Path | None = None) -> Path:
    """``lmstudio:PUBLISHER/MODEL`` -> ``<root>/PUBLISHER/MODEL/``; ``lmstudio:MODEL`` -> the one
    ``<root>/*/MODEL/`` there is. The name stays inside the root: no ``..``, no absolute path."""
    root = root or lmstudio_root()
    name = spec.removeprefix(LMSTUDIO_PREFIX).strip()
    parts = name.split("/")
    if not name or len(parts) > 2 or any(p in ("", ".", "..") or "\\" in p for p in parts):
        raise UsageProblem(
            f"{spec!r} is not an LM Studio model name (lmstudio:PUBLISHER/MODEL or lmstudio:MODEL)"
        )
    if not root.is_dir():
        raise EmbcliError(f"no LM Studio model folder at {root}", "set LMSTUDIO_MODELS")
    base = root.resolve()
    if len(parts) == 2:
        found = [root / parts[0] / parts[1]]
    else:
        found = sorted(p for p in root.glob(f"*/{glob_escape(parts[0])}") if p.is_dir())
    found = [p for p in found if p.is_dir() and p.resolve().is_relative_to(base)]
    if len(found) > 1:
        which = ", ".join(f"lmstudio:{p.parent.name}/{p.name}" for p in found)
        raise UsageProblem(f"{spec} names {len(found)} models: {which}", "name the publisher")
    if not found:
        present = lmstudio_models(root)
        listing = f"present: {', '.join(present)}" if present else "no models are present"
        raise EmbcliError(f"no LM Studio model {name} in {root}; {listing}")
    return found[0]


def lmstudio_models(root: Path | None = None) -> list[str]:
    """The models present, as ``PUBLISHER/MODEL`` (folders inside the root holding GGUF files)."""
    base = root or lmstudio_root()
    if not base.is_dir():
        return []
    inside = base.resolve()
    found = [p for p in base.glob("*/*") if p.is_dir() and p.resolve().is_relative_to(inside)]
    return sorted(f"{p.parent.name}/{p.name}" for p in found if holds_gguf(p))


def glob_escape(text: str) -> str:
    """``text`` matched literally by :meth:`Path.glob` (``[``, ``*`` and ``?`` escaped)."""
    return re.sub(r"([\[\]*?])", r"[\1]", text)


# -- choosing among GGUF files -------------------------------------------------------------------


def split_info(name: str) -> tuple[str, int, int] | None:
    """``(name without the -NNNNN-of-NNNNN part, index from 1, count)`` of a shard, else None."""
    m = SPLIT.search(name)
    if m is None:
        return None
    return name[: m.start()] + ".gguf", int(m[1]), int(m[2])


def is_projector(name: str) -> bool:
    return Path(name).name.lower().startswith("mmproj")


def _models(names: Iterable[str]) -> dict[str, list[str]]:
    """GGUF model files grouped: one key per model (a split set is one), files in shard order."""
    groups: dict[str, list[str]] = {}
    for name in sorted(names):
        if not name.lower().endswith(".gguf") or is_projector(name):
            continue
        info = split_info(name)
        groups.setdefault(info[0] if info else name, []).append(name)
    return groups


def quant_label(name: str) -> str:
    """The quantisation a file name states (``Model-Q4_K_M.gguf`` -> ``Q4_K_M``), else the name."""
    info = split_info(name)
    stem = Path(info[0] if info else name).name[: -len(".gguf")]
    m = re.search(r"(?:^|[-._])((?:UD-)?(?:I?Q\d[\w]*|[BF]F?16|F32|TQ\d_\d|MXFP4\w*))$", stem, re.I)
    return m[1] if m else Path(name).name


def _quant_pattern(quant: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![A-Za-z0-9]){re.escape(quant)}(?![A-Za-z0-9_])", re.IGNORECASE)


def choose_gguf(
    names: Sequence[str], where: str, file: str | None = None, quant: str | None = None
) -> list[str]:
    """The files of the one GGUF model in ``names`` that ``file`` or ``quant`` picks.

    With neither, a listing holding a single model gives it; otherwise the one-line error lists
    what there is to choose from. ``file`` may name any shard of a split set: the whole set is
    returned, in order, so that the shard holding the table can be followed.
    """
    names = [n for n in names if _plain(n)]
    groups = _models(names)
    if file is not None:
        if file not in names:
            raise EmbcliError(f"{where} has no file {file!r}; {_listing(groups)}")
        info = split_info(file)
        return [file] if info is None else _whole(where, info[0], groups.get(info[0], [file]))
    if quant is not None:
        pattern = _quant_pattern(quant.strip())
        hits = {k: v for k, v in groups.items() if pattern.search(k)}
        if not hits:
            raise EmbcliError(
                f"no GGUF file in {where} matches --quant {quant}; {_listing(groups)}"
            )
        if len(hits) > 1:
            raise UsageProblem(
                f"--quant {quant} matches {len(hits)} models in {where}: "
                f"{', '.join(v[0] for v in hits.values())}",
                "choose one with --file NAME",
            )
        return _whole(where, *next(iter(hits.items())))
    if len(groups) == 1:
        return _whole(where, *next(iter(groups.items())))
    if not groups:
        raise EmbcliError(f"{where} holds no GGUF model files")
    raise UsageProblem(f"{where} holds {len(groups)} GGUF models; {_listing(groups)}")


def _plain(name: str) -> bool:
    """A listed name that stays inside its folder or repository: relative, no ``.``/``..``
    parts, no backslashes or NULs (a listing from elsewhere is not trusted to be)."""
    parts = name.split("/")
    return "\\" not in name and "\0" not in name and all(p not in ("", ".", "..") for p in parts)


def _whole(where: str, key: str, files: list[str]) -> list[str]:
    """A model's files: a single file, or a split set's shards in order (one line if a shard is
    missing from the listing)."""
    shards = [(split_info(f), f) for f in files]
    if shards[0][0] is None:
        return files[:1]
    count = shards[0][0][2]
    have = {info[1]: f for info, f in shards if info is not None}
    missing = [i for i in range(1, count + 1) if i not in have]
    if missing:
        stem = Path(key).name[: -len(".gguf")]
        raise EmbcliError(
            f"{where}: the split set {stem} lacks shard(s) "
            f"{', '.join(f'{i:05d}-of-{count:05d}' for i in missing)}"
        )
    return [have[i] for i in range(1, count + 1)]


def _same_set(name: str, key: str) -> bool:
    info = split_info(name)
    return info is not None and info[0] == key


def _listing(groups: dict[str, list[str]]) -> str:
    if not groups:
        return "it holds no GGUF model files"
    labels = [quant_label(k) for k in groups]
    if len(set(labels)) == len(labels):
        return "choose --quant " + " | ".join(labels) + " (or --file NAME)"
    return "choose --file " + " | ".join(v[0] for v in groups.values())


# -- local paths ---------------------------------------------------------------------------------


def _fingerprint(paths: Sequence[Path]) -> str:
    h = hashlib.sha256()
    for p in paths:
        st = p.stat()
        h.update(f"{p.name}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def local_gguf(path: Path) -> Located:
    """A ``.gguf`` path; a shard of a split set brings its siblings (all must be present)."""
    path = path.expanduser().resolve()
    if not path.is_file():
        raise EmbcliError(f"no such file: {path}")
    info = split_info(path.name)
    if info is None:
        return Located(str(path), _fingerprint([path]), (str(path),))
    siblings = sorted(p.name for p in path.parent.iterdir() if _same_set(p.name, info[0]))
    files = _whole(str(path.parent), info[0], siblings)
    paths = [path.parent / f for f in files]
    return Located(str(paths[0]), _fingerprint(paths), tuple(str(p) for p in paths))


def gguf_directory(directory: Path, file: str | None = None, quant: str | None = None) -> Located:
    """A directory holding GGUF files (LM Studio's layout), narrowed by ``file`` or ``quant``."""
    directory = directory.expanduser().resolve()
    names = _gguf_names(directory)
    files = choose_gguf(names, str(directory), file=file, quant=quant)
    paths = [directory / f for f in files]
    return Located(str(paths[0]), _fingerprint(paths), tuple(str(p) for p in paths))


def holds_gguf(directory: Path) -> bool:
    """Whether a directory holds GGUF files (in it, or one folder down as split sets are)."""
    return bool(_gguf_names(directory))


def _gguf_names(directory: Path) -> list[str]:
    """GGUF files in ``directory`` and its direct subfolders, as relative names (sorted)."""
    found = [*directory.glob("*.gguf"), *directory.glob("*/*.gguf")]
    return sorted(str(p.relative_to(directory)) for p in found if p.is_file())
