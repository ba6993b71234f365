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
        """A local path for one of the source's files (downloads it from the Hub if needed).

        A weights file is fetched whole only when ranged reads are impossible (a server that
        ignores ``Range``, a PyTorch pickle); it then goes to a scratch directory removed when
        the process exits, not into huggingface_hub's cache, where a 548 MB to 800 GB copy of
        weights embcli has finished with would stay behind unannounced.
        """
        local = self.directory / filename
        if self.kind == "local" or local.is_file():
            return local
        if filename.endswith(WEIGHT_SUFFIXES):
            return hub_download(self.repo_id or "", filename, self.identity, scratch_dir())
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


WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth")
_SCRATCH: list[Path] = []
_REACHED: set[str] = set()


class HubUnreachable(EmbcliError):
    """No answer from the Hub endpoint: no network, a name that does not resolve, a refused
    connection, or a server that accepts and stays silent past the timeout."""


def hub_endpoint() -> str:
    return os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")


def hub_timeouts() -> tuple[float, float]:
    """``(metadata, download)`` timeouts in seconds, as huggingface_hub reads them.

    ``HF_HUB_ETAG_TIMEOUT`` bounds requests for metadata (and connecting), and
    ``HF_HUB_DOWNLOAD_TIMEOUT`` the wait for each piece of a download; both default to 10 s.
    huggingface_hub's shared HTTP client has no timeout of its own, so every request embcli makes
    through it passes one of these.
    """
    from huggingface_hub import constants

    return float(constants.HF_HUB_ETAG_TIMEOUT), float(constants.HF_HUB_DOWNLOAD_TIMEOUT)


def scratch_dir() -> Path:
    """A private directory for whole-file downloads, removed when the process exits."""
    if not _SCRATCH:
        import atexit
        import shutil
        import tempfile

        from huggingface_hub import constants

        base = Path(constants.HF_HOME)
        base.mkdir(parents=True, exist_ok=True)
        path = Path(tempfile.mkdtemp(prefix="embcli-whole-file-", dir=base))
        atexit.register(shutil.rmtree, path, ignore_errors=True)
        _SCRATCH.append(path)
    return _SCRATCH[0]


def ensure_reachable(what: str | None = None) -> None:
    """Fail at once, in one line, if the Hub endpoint does not answer.

    One HEAD request per process, without retries and with ``HF_HUB_ETAG_TIMEOUT``: a name that
    does not resolve or a refused connection is known in milliseconds, a silent server after the
    timeout. Without it huggingface_hub retries a failed file lookup five times with back-off
    (about 24 s, each attempt logged) before giving up.
    """
    endpoint = hub_endpoint()
    if endpoint in _REACHED or _offline():
        return
    from huggingface_hub.utils import get_session, logging

    logging.set_verbosity_error()  # its retry notices are not for our users' terminals
    timeout, _ = hub_timeouts()
    try:
        get_session().head(endpoint + "/", timeout=timeout)
    except Exception as exc:
        if not _is_network_error(exc):
            raise
        why = f"no answer within {timeout:g} s" if "Timeout" in type(exc).__name__ else None
        raise HubUnreachable(
            f"cannot reach the Hugging Face Hub at {endpoint}{f' for {what}' if what else ''} "
            f"({why or _reason(exc)})",
            "check the network or HF_ENDPOINT; a local model directory works offline",
        ) from None
    _REACHED.add(endpoint)


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on")


def _is_network_error(exc: BaseException) -> bool:
    return isinstance(exc, (OSError, ConnectionError)) or type(exc).__module__.startswith(
        ("httpx", "httpcore", "h11", "requests", "urllib3")
    )


def resolve_hub(repo_id: str, revision: str | None) -> Source:
    """Resolve ``revision`` to a commit and fetch the repo's small files (config, tokenizer)."""
    from huggingface_hub import HfApi

    timeout, _ = hub_timeouts()
    info = hub_call(
        repo_id, revision, lambda: HfApi().model_info(repo_id, revision=revision, timeout=timeout)
    )
    sha = str(info.sha)
    names = tuple(s.rfilename for s in (info.siblings or []))
    directory: Path | None = None
    for name in SMALL_FILES:
        if name in names:
            directory = hub_download(repo_id, name, sha).parent
    if directory is None or "config.json" not in names:
        raise EmbcliError(f"{repo_id} has no config.json; is it a transformers model repo?")
    return Source("hub", repo_id, directory, sha, repo_id, revision, names)


def hub_download(
    repo_id: str, filename: str, sha: str | None, local_dir: Path | None = None
) -> Path:
    from huggingface_hub import hf_hub_download

    timeout, _ = hub_timeouts()
    return Path(
        hub_call(
            repo_id,
            sha,
            lambda: hf_hub_download(
                repo_id, filename, revision=sha, etag_timeout=timeout, local_dir=local_dir
            ),
        )
    )


def hub_call(repo_id: str, revision: str | None, call: Any) -> Any:
    """Run a huggingface_hub call, turning its exceptions into one-line messages."""
    from huggingface_hub import errors as hf

    at = f"{repo_id}@{revision}" if revision else repo_id
    try:
        ensure_reachable(at)
        return call()
    except HubUnreachable:
        raise
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
    except Exception as exc:  # httpx errors do not share a base with OSError
        if _is_network_error(exc):
            raise HubUnreachable(
                f"cannot reach the Hugging Face Hub at {hub_endpoint()} for {at} ({_reason(exc)})",
                "check the network; a local model directory works offline",
            ) from None
        raise


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:120] if text else type(exc).__name__
