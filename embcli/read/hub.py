"""The Hugging Face Hub client: reachability, timeouts, one-line errors, whole-file downloads.

Everything goes through ``huggingface_hub`` (imported only when a repo id is used), so
``HF_ENDPOINT``, ``HF_TOKEN``, proxies and ``HF_HUB_OFFLINE`` work as for any Hub download. This
module knows nothing of ranges or containers: ranged reads of one file are
:class:`embcli.read.byte_source.HubFile`, and turning ``--model`` into a repository at a commit is
:mod:`embcli.read.sources`. Both call down into here; nothing here calls back.
"""

from __future__ import annotations

import os
from _thread import allocate_lock  # loaded at start-up; ``threading`` costs the warm path
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from embcli.errors import (
    HubGated,
    HubNotAuthorised,
    HubNotFound,
    HubOffline,
    HubProblem,
    HubRevisionNotFound,
    HubUnreachable,
)

#: The typed failures live in :mod:`embcli.errors`; named here too for the Hub's callers.
__all__ = [
    "HubGated",
    "HubNotAuthorised",
    "HubNotFound",
    "HubOffline",
    "HubProblem",
    "HubRevisionNotFound",
    "HubUnreachable",
    "hub_call",
    "model_info",
]

T = TypeVar("T")
_SCRATCH: list[Path] = []
_SCRATCH_LOCK = allocate_lock()  # builds run in threads (history --jobs): one scratch dir
_REACHED: set[str] = set()


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


def offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on")


def scratch_dir() -> Path:
    """A private directory for whole-file downloads, removed when the process exits.

    Weights fetched whole (a server that ignores ``Range``, a pickle read with ``torch.load``)
    go here rather than into huggingface_hub's cache, where a 548 MB to 800 GB copy of weights
    embcli has finished with would stay behind unannounced.
    """
    with _SCRATCH_LOCK:
        return _scratch_dir()


def _scratch_dir() -> Path:
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
    if endpoint in _REACHED or offline():
        return
    from huggingface_hub.utils import get_session, logging

    logging.set_verbosity_error()  # its retry notices are not for our users' terminals
    timeout, _ = hub_timeouts()
    try:
        get_session().head(endpoint + "/", timeout=timeout)
    except Exception as exc:
        if not is_network_error(exc):
            raise
        why = f"no answer within {timeout:g} s" if "Timeout" in type(exc).__name__ else None
        raise HubUnreachable(
            f"cannot reach the Hugging Face Hub at {endpoint}{f' for {what}' if what else ''} "
            f"({why or reason(exc)})",
            "check the network or HF_ENDPOINT; a local model directory works offline",
        ) from None
    _REACHED.add(endpoint)


def download(repo_id: str, filename: str, sha: str | None, local_dir: Path | None = None) -> Path:
    """One whole file of ``repo_id`` at ``sha`` (huggingface_hub's cache unless ``local_dir``)."""
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


def snapshot(
    repo_id: str, revision: str | None, allow: list[str], ignore: list[str], bars: bool
) -> Path:
    """The files of ``repo_id`` at ``revision`` that ``allow`` and not ``ignore`` match, in
    huggingface_hub's cache (what running the model needs); its progress bars only if ``bars``."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.utils import disable_progress_bars

    if not bars:
        disable_progress_bars()
    return Path(
        hub_call(
            repo_id,
            revision,
            lambda: snapshot_download(
                repo_id, revision=revision, allow_patterns=allow, ignore_patterns=ignore
            ),
        )
    )


def file_size(repo_id: str, filename: str, sha: str) -> int | None:
    """The size of one file from a HEAD request (no body is transferred)."""
    from huggingface_hub import get_hf_file_metadata, hf_hub_url

    timeout, _ = hub_timeouts()
    url = hf_hub_url(repo_id, filename, revision=sha)
    meta = hub_call(repo_id, sha, lambda: get_hf_file_metadata(url, timeout=timeout))
    return int(meta.size) if meta.size is not None else None


def hub_call(repo_id: str, revision: str | None, call: Callable[[], T]) -> T:
    """Run a huggingface_hub call, turning its exceptions into one-line messages."""
    try:
        ensure_reachable(f"{repo_id}@{revision}" if revision else repo_id)
        return call()
    except HubUnreachable:
        raise
    except Exception as exc:
        problem = one_line(exc, repo_id, revision)
        if problem is None:
            raise
        raise problem from None


def one_line(exc: BaseException, repo_id: str, revision: str | None) -> HubProblem | None:
    """The one-line error a huggingface_hub or network exception stands for (None: a bug),
    typed by cause (:mod:`embcli.errors`: not found, gated, revision not found, offline,
    unreachable)."""
    from huggingface_hub import errors as hf

    at = f"{repo_id}@{revision}" if revision else repo_id
    if isinstance(exc, hf.GatedRepoError):
        return HubGated(f"{repo_id} is gated", "accept its licence on the Hub and set HF_TOKEN")
    if isinstance(exc, hf.RepositoryNotFoundError):
        return HubNotFound(
            f"no model repo {repo_id} on the Hub ({hub_endpoint()}) and no local directory "
            "of that name",
            "check the name; private repos need HF_TOKEN",
        )
    if isinstance(exc, hf.RevisionNotFoundError):
        return HubRevisionNotFound(f"revision {revision!r} not found in {repo_id}")
    if isinstance(exc, hf.RemoteEntryNotFoundError):
        return HubNotFound(f"{at}: file not found on the Hub ({exc})")
    if isinstance(exc, hf.OfflineModeIsEnabled):
        return HubOffline(
            f"HF_HUB_OFFLINE is set and {at} is not in the embcli cache",
            "unset HF_HUB_OFFLINE once to fetch it",
        )
    if isinstance(exc, hf.LocalEntryNotFoundError):
        return HubUnreachable(
            f"cannot reach the Hugging Face Hub for {at} and it is not cached",
            "check the network, or HF_HUB_OFFLINE",
        )
    if isinstance(exc, hf.HfHubHTTPError):
        status = getattr(getattr(exc, "response", None), "status_code", None)
        if status in (401, 403):
            return HubNotAuthorised(f"not authorised to read {repo_id}", "set HF_TOKEN")
        return HubProblem(f"the Hub answered {status} for {at}")
    if is_network_error(exc):  # httpx errors do not share a base with OSError
        return HubUnreachable(
            f"cannot reach the Hugging Face Hub at {hub_endpoint()} for {at} ({reason(exc)})",
            "check the network; a local model directory works offline",
        )
    return None


def is_network_error(exc: BaseException) -> bool:
    return isinstance(exc, (OSError, ConnectionError)) or type(exc).__module__.startswith(
        ("httpx", "httpcore", "h11", "requests", "urllib3")
    )


def is_hub_answer(exc: BaseException) -> bool:
    """An HTTP error the Hub answered with (401, 404...): not a transfer to resume."""
    from huggingface_hub import errors as hf

    return isinstance(exc, hf.HfHubHTTPError) and getattr(exc, "response", None) is not None


def reason(exc: BaseException) -> str:
    """The first line of an exception's message (its type name if it has none)."""
    text = str(exc).strip().splitlines()
    return text[0][:120] if text else type(exc).__name__


def safetensors_shapes(repo_id: str) -> list[tuple[str, list[int]]] | None:
    """Every tensor's name and shape from the Hub's header-only safetensors metadata of
    ``repo_id`` (no weights fetched); None when the repository has none or cannot be asked."""
    from huggingface_hub import get_safetensors_metadata

    try:
        meta = hub_call(repo_id, None, lambda: get_safetensors_metadata(repo_id))
    except Exception:  # best effort: the caller has other ways to count
        return None
    return [
        (name, list(info.shape))
        for fmeta in meta.files_metadata.values()
        for name, info in fmeta.tensors.items()
    ]


def list_refs(repo_id: str) -> list[str]:
    """The names of the repository's branches and tags, as the Hub API lists them."""
    from huggingface_hub import HfApi

    refs = hub_call(repo_id, None, lambda: HfApi().list_repo_refs(repo_id))
    return [r.name for r in [*refs.branches, *refs.tags]]


def model_info(repo_id: str, revision: str | None) -> Any:
    """The repository's commit sha and file list at ``revision``."""
    from huggingface_hub import HfApi

    timeout, _ = hub_timeouts()
    return hub_call(
        repo_id, revision, lambda: HfApi().model_info(repo_id, revision=revision, timeout=timeout)
    )
