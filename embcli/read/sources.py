"""Turn ``--model`` into something readable: a local model directory or a Hub repository.

A local directory is keyed by a fingerprint of its files (path, size, modification time), so
editing or replacing any file gives a new cache entry. A Hub repository is keyed by the commit
sha its revision resolves to. Hub access goes through ``huggingface_hub`` (imported only when a
repo id is used), so ``HF_ENDPOINT``, ``HF_TOKEN`` and ``HF_HUB_OFFLINE`` work as everywhere else.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from embcli.errors import EmbcliError

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
)


@dataclass
class Source:
    """A resolved model: where its small files are and what identifies its contents."""

    kind: str  # "local" or "hub"
    label: str  # what to show: an absolute path or a repo id
    directory: Path  # holds config.json and tokenizer files (Hub: the local snapshot folder)
    identity: str  # file fingerprint (local) or commit sha (hub)
    repo_id: str | None = None
    revision: str | None = None
    remote_files: tuple[str, ...] = field(default=())

    def key(self, tensor: str | None) -> str:
        """The cache key: changes whenever the source's contents or the table choice change."""
        parts = [self.kind, self.label, self.identity, tensor or ""]
        if self.kind == "hub":
            parts.append(hub_endpoint())
        return hashlib.sha256("\0".join(parts).encode()).hexdigest()

    def fetch(self, filename: str) -> Path:
        """A local path for one of the source's files (downloads it from the Hub if needed)."""
        local = self.directory / filename
        if self.kind == "local" or local.is_file():
            return local
        return hub_download(self.repo_id or "", filename, self.identity)


def looks_like_path(spec: str) -> bool:
    return spec.startswith((".", "/", "~")) or (os.sep in spec and Path(spec).exists())


def resolve_local(spec: str) -> Source | None:
    """A local model directory, or None if ``spec`` names no existing path."""
    path = Path(spec).expanduser()
    if not path.exists():
        if looks_like_path(spec) or not REPO_ID.match(spec):
            raise EmbcliError(f"no such model directory: {spec}")
        return None
    if not path.is_dir():
        from embcli.read.wordvectors import VECTOR_SUFFIXES, is_vector_file

        if is_vector_file(path):
            st = path.stat()
            ident = hashlib.sha256(f"{st.st_size}\0{st.st_mtime_ns}".encode()).hexdigest()
            return Source("vectors", str(path.resolve()), path.resolve().parent, ident)
        raise EmbcliError(
            f"{spec} is a file; --model takes a model directory, a Hub repo id, or a "
            f"word-vector file ({', '.join(VECTOR_SUFFIXES)})"
        )
    path = path.resolve()
    if not (path / "config.json").is_file():
        raise EmbcliError(
            f"{path} has no config.json", "point --model at a Hugging Face model directory"
        )
    return Source("local", str(path), path, _fingerprint(path))


def _fingerprint(directory: Path) -> str:
    """Name, size and mtime of every file that can change the table or its tokens."""
    h = hashlib.sha256()
    for entry in sorted(os.scandir(directory), key=lambda e: e.name):
        if entry.is_file() and (
            entry.name in SMALL_FILES or entry.name.endswith((".safetensors", ".bin"))
        ):
            st = entry.stat()
            h.update(f"{entry.name}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


# -- the Hub -------------------------------------------------------------------------------------


def hub_endpoint() -> str:
    return os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")


def resolve_hub(repo_id: str, revision: str | None) -> Source:
    """Resolve ``revision`` to a commit and fetch the repo's small files (config, tokenizer)."""
    from huggingface_hub import HfApi

    info = hub_call(repo_id, revision, lambda: HfApi().model_info(repo_id, revision=revision))
    sha = str(info.sha)
    names = tuple(s.rfilename for s in (info.siblings or []))
    directory: Path | None = None
    for name in SMALL_FILES:
        if name in names:
            directory = hub_download(repo_id, name, sha).parent
    if directory is None or "config.json" not in names:
        raise EmbcliError(f"{repo_id} has no config.json; is it a transformers model repo?")
    return Source("hub", repo_id, directory, sha, repo_id, revision, names)


def hub_download(repo_id: str, filename: str, sha: str | None) -> Path:
    from huggingface_hub import hf_hub_download

    return Path(hub_call(repo_id, sha, lambda: hf_hub_download(repo_id, filename, revision=sha)))


def hub_call(repo_id: str, revision: str | None, call: Any) -> Any:
    """Run a huggingface_hub call, turning its exceptions into one-line messages."""
    from huggingface_hub import errors as hf

    at = f"{repo_id}@{revision}" if revision else repo_id
    try:
        return call()
    except hf.GatedRepoError:
        raise EmbcliError(
            f"{repo_id} is gated", "accept its licence on the Hub and set HF_TOKEN"
        ) from None
    except hf.RepositoryNotFoundError:
        raise EmbcliError(
            f"no model repo {repo_id} on the Hub ({hub_endpoint()}) and no local directory "
            "of that name",
            "check the name; private repos need HF_TOKEN",
        ) from None
    except hf.RevisionNotFoundError:
        raise EmbcliError(f"revision {revision!r} not found in {repo_id}") from None
    except hf.RemoteEntryNotFoundError as exc:
        raise EmbcliError(f"{at}: file not found on the Hub ({exc})") from None
    except hf.OfflineModeIsEnabled:
        raise EmbcliError(
            f"HF_HUB_OFFLINE is set and {at} is not in the embcli cache",
            "unset HF_HUB_OFFLINE once to fetch it",
        ) from None
    except hf.LocalEntryNotFoundError:
        raise EmbcliError(
            f"cannot reach the Hugging Face Hub for {at} and it is not cached",
            "check the network, or HF_HUB_OFFLINE",
        ) from None
    except hf.HfHubHTTPError as exc:
        status = getattr(getattr(exc, "response", None), "status_code", None)
        if status in (401, 403):
            raise EmbcliError(f"not authorised to read {repo_id}", "set HF_TOKEN") from None
        raise EmbcliError(f"the Hub answered {status} for {at}") from None
    except (OSError, ConnectionError) as exc:
        raise EmbcliError(
            f"cannot reach the Hugging Face Hub at {hub_endpoint()} for {at} ({_reason(exc)})",
            "check the network; a local model directory works offline",
        ) from None
    except Exception as exc:  # httpx errors do not share a base with OSError
        if type(exc).__module__.startswith(("httpx", "httpcore", "requests", "urllib3")):
            raise EmbcliError(
                f"cannot reach the Hugging Face Hub at {hub_endpoint()} for {at} ({_reason(exc)})",
                "check the network; a local model directory works offline",
            ) from None
        raise


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:120] if text else type(exc).__name__
