"""Byte-range reads of a Hub repository's files: the header, then only the embedding table.

A GPT-2 checkpoint is 548 MB and its table 154 MB; a Llama 4 Maverick checkpoint is ~800 GB and
its table 2 GB. We read each candidate shard's safetensors header with two small ``Range``
requests, then stream exactly the table's byte range into the cache build, a chunk at a time.

Requests go through huggingface_hub's own HTTP session and URL builder, so ``HF_ENDPOINT``,
``HF_TOKEN`` and proxies apply as for any Hub download, with ``HF_HUB_DOWNLOAD_TIMEOUT`` as the
longest wait for a byte. A transfer that breaks off, stalls or ends early is resumed from the
last byte received (a few times), header reads included; a server that ignores ``Range`` gets a
whole-file download instead, and the user is told.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from pathlib import Path

from embcli.errors import EmbcliError
from embcli.read.safetensors_header import MAX_HEADER_BYTES, TensorEntry, parse_header

RESUME_ATTEMPTS = 3
CHUNK_BYTES = 4 * 1024 * 1024


class RangesUnsupported(Exception):
    """The server answered a ``Range`` request with the whole file."""


class HubFiles:
    """Ranged access to the files of ``repo_id`` at commit ``sha``."""

    def __init__(
        self,
        repo_id: str,
        sha: str,
        notice: Callable[[str], None] | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> None:
        self.repo_id, self.sha = repo_id, sha
        self.notice = notice or (lambda message: None)
        self.progress = progress
        self.sizes: dict[str, int] = {}

    def url(self, filename: str) -> str:
        from huggingface_hub import hf_hub_url

        return hf_hub_url(self.repo_id, filename, revision=self.sha)

    def read(self, filename: str, start: int, end: int) -> bytes:
        """Bytes ``[start, end)`` of ``filename`` (fewer if the file ends first), resumed as
        :meth:`stream` resumes."""
        return b"".join(self.stream(filename, start, end, report=False))

    def header(self, filename: str) -> dict[str, TensorEntry]:
        """The safetensors header of a remote file, from two small range requests."""
        head = self.read(filename, 0, 8)
        if len(head) < 8:
            raise EmbcliError(f"{self.repo_id}/{filename} is not a safetensors file")
        (hlen,) = struct.unpack("<Q", head)
        if hlen > MAX_HEADER_BYTES:
            raise EmbcliError(f"{self.repo_id}/{filename}: impossible header length {hlen}")
        blob = head + self.read(filename, 8, 8 + hlen)
        return parse_header(blob, Path(filename), self.sizes.get(filename))

    def stream(self, filename: str, start: int, end: int, report: bool = True) -> Iterator[bytes]:
        """Bytes ``[start, end)`` as a stream of chunks, resuming after a broken transfer.

        A transfer resumes from the last byte received, whether the connection broke, the server
        went silent for ``HF_HUB_DOWNLOAD_TIMEOUT`` seconds, or the body simply ended early;
        each resumption is announced, and the last failure is one line.
        """
        done = start
        failures = 0
        while done < end:
            try:
                for chunk in self._get(filename, done, end):
                    done += len(chunk)
                    if self.progress and report:
                        self.progress(done - start, end - start)
                    yield chunk
            except RangesUnsupported:
                raise
            except Exception as exc:
                if not _is_transfer_error(exc):
                    raise
                failures += 1
                if failures > RESUME_ATTEMPTS:
                    raise EmbcliError(
                        f"download of {self.repo_id}/{filename} broke off after "
                        f"{done - start:,} of {end - start:,} bytes ({_reason(exc)})",
                        "run the command again; nothing partial was kept",
                    ) from None
                self.notice(f"transfer interrupted at {done - start:,} bytes; resuming")
                continue
            if done < end:  # the server closed the stream early without an error
                if self.sizes.get(filename, end) <= done:
                    return  # the file itself ends here
                failures += 1
                if failures > RESUME_ATTEMPTS:
                    raise EmbcliError(
                        f"download of {self.repo_id}/{filename} ended after {done - start:,} "
                        f"of {end - start:,} bytes",
                        "run the command again; nothing partial was kept",
                    )
                self.notice(f"transfer ended early at {done - start:,} bytes; resuming")

    def _get(self, filename: str, start: int, end: int) -> Iterator[bytes]:
        from huggingface_hub.utils import build_hf_headers, get_session, hf_raise_for_status

        from embcli.read.sources import hub_timeouts

        headers = {**build_hf_headers(), "Range": f"bytes={start}-{end - 1}",
                   "Accept-Encoding": "identity"}  # fmt: skip
        # The session's own stream, not ``http_stream_backoff``: its retry loop cannot resume a
        # body that breaks off half-way; ``stream`` above does that from the last byte received.
        _, timeout = hub_timeouts()  # the client has none: a silent server would hang us
        with get_session().stream(
            "GET", self.url(filename), headers=headers, follow_redirects=True, timeout=timeout
        ) as response:
            hf_raise_for_status(response)
            if response.status_code != 206:
                raise RangesUnsupported(filename)
            total = response.headers.get("Content-Range", "").rpartition("/")[2]
            if total.isdigit():
                self.sizes[filename] = int(total)
            yield from response.iter_bytes(CHUNK_BYTES)


def _is_transfer_error(exc: BaseException) -> bool:
    return isinstance(exc, (OSError, ConnectionError)) or type(exc).__module__.startswith(
        ("httpx", "httpcore", "h11")
    )


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:120] if text else type(exc).__name__
