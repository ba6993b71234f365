"""One file's bytes, local or on the Hub: the only place that reads a weight file.

A container (safetensors, PyTorch zip, GGUF...) asks a byte source for spans: a few small reads
for headers and directories, then one stream for the table. A GPT-2 checkpoint is 548 MB and its
table 154 MB; a Llama 4 Maverick checkpoint is ~800 GB and its table 2 GB, so on the Hub a build
fetches the header and exactly the table's byte range, a chunk at a time.

:class:`HubFile` makes its requests through huggingface_hub's own HTTP session and URL builder,
so ``HF_ENDPOINT``, ``HF_TOKEN`` and proxies apply as for any Hub download, with
``HF_HUB_DOWNLOAD_TIMEOUT`` as the longest wait for a byte. A transfer that breaks off, stalls or
ends early is resumed from the last byte received (a few times), header reads included; a server
that ignores ``Range`` gets a whole-file download into a scratch directory instead, announced
once, after which the file is read like a local one. Resumption, timeouts, byte progress and that
fallback live here and nowhere else.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Protocol

from embcli.errors import EmbcliError
from embcli.read.hub import hub_timeouts, is_hub_answer, is_network_error, one_line, reason

Notice = Callable[[str], None]
Progress = Callable[[int, int, str], None]  # (done, total, "bytes")
RESUME_ATTEMPTS = 3
CHUNK_BYTES = 4 * 1024 * 1024


class ByteSource(Protocol):
    """One file's bytes. Resume, timeouts, progress (in bytes) live here and nowhere else."""

    name: str  # the file's name inside its directory or repository

    @property
    def path(self) -> Path | None:
        """A local, memory-mappable file, or None (remote)."""
        ...

    def size(self) -> int | None:
        """Total bytes (None while unknown for a remote file)."""
        ...

    def read(self, start: int, end: int) -> bytes:
        """Bytes ``[start, end)``, fewer only if the file ends first (small reads: headers)."""
        ...

    def stream(self, start: int, end: int) -> Iterator[bytes]:
        """Bytes ``[start, end)`` in chunks (large reads); a remote file reports progress."""
        ...

    def local_copy(self) -> Path:
        """The whole file on local disk (a remote one is downloaded to a scratch directory)."""
        ...


class LocalFile:
    """A file on local disk. A missing file is reported when first read, not when named, so a
    sharded checkpoint may lack the shards a question does not need."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self.name = path.name

    @property
    def path(self) -> Path:
        return self._path

    def size(self) -> int:
        try:
            return self._path.stat().st_size
        except OSError as exc:
            raise self._error(exc) from None

    def read(self, start: int, end: int) -> bytes:
        try:
            with self._path.open("rb") as fh:
                fh.seek(start)
                return fh.read(max(0, end - start))
        except OSError as exc:
            raise self._error(exc) from None

    def stream(self, start: int, end: int) -> Iterator[bytes]:
        try:
            with self._path.open("rb") as fh:
                fh.seek(start)
                done = start
                while done < end:
                    chunk = fh.read(min(CHUNK_BYTES, end - done))
                    if not chunk:
                        return
                    done += len(chunk)
                    yield chunk
        except OSError as exc:
            raise self._error(exc) from None

    def local_copy(self) -> Path:
        if not self._path.is_file():
            raise self._error(FileNotFoundError())
        return self._path

    def _error(self, exc: OSError) -> EmbcliError:
        if isinstance(exc, FileNotFoundError):
            return EmbcliError(f"missing checkpoint file {self._path}")
        return EmbcliError(f"cannot read {self._path}: {exc.strerror or exc}")


class RangesUnsupported(Exception):
    """The server answered a ``Range`` request with the whole file."""


class HubFile:
    """Ranged access to one file of ``repo_id`` at commit ``sha``."""

    def __init__(
        self,
        repo_id: str,
        sha: str,
        filename: str,
        progress: Progress | None = None,
        notice: Notice | None = None,
    ) -> None:
        self.repo_id, self.sha, self.name = repo_id, sha, filename
        self.progress = progress
        self.notice = notice or (lambda message: None)
        self._size: int | None = None
        self._local: LocalFile | None = None  # set once the whole file had to be downloaded

    @property
    def path(self) -> Path | None:
        return self._local.path if self._local else None

    def size(self) -> int | None:
        """Known from the first ranged answer; asked for with a HEAD request before that."""
        if self._local:
            return self._local.size()
        if self._size is None:
            from embcli.read.hub import file_size

            self._size = file_size(self.repo_id, self.name, self.sha)
        return self._size

    def read(self, start: int, end: int) -> bytes:
        """Bytes ``[start, end)`` (fewer if the file ends first), resumed as :meth:`stream`."""
        return b"".join(self._ranges(start, end, report=False))

    def stream(self, start: int, end: int) -> Iterator[bytes]:
        return self._ranges(start, end, report=True)

    def local_copy(self) -> Path:
        if self._local is None:
            from embcli.read.hub import download, scratch_dir

            self._local = LocalFile(download(self.repo_id, self.name, self.sha, scratch_dir()))
        return self._local.path

    def _ranges(self, start: int, end: int, report: bool) -> Iterator[bytes]:
        """Bytes ``[start, end)`` as a stream of chunks, resuming after a broken transfer.

        A transfer resumes from the last byte received, whether the connection broke, the server
        went silent for ``HF_HUB_DOWNLOAD_TIMEOUT`` seconds, or the body simply ended early;
        each resumption is announced, and the last failure is one line.
        """
        done = start
        failures = 0
        while done < end:
            if self._local is not None:
                yield from self._local.stream(done, end)
                return
            try:
                for chunk in self._get(done, end):
                    done += len(chunk)
                    if self.progress and report:
                        self.progress(done - start, end - start, "bytes")
                    yield chunk
            except RangesUnsupported:
                self.notice(
                    f"the server does not serve byte ranges: downloading all of {self.name}"
                )
                self.local_copy()
                continue
            except Exception as exc:
                if not is_network_error(exc) or is_hub_answer(exc):
                    problem = one_line(exc, self.repo_id, self.sha)
                    if problem is None:
                        raise
                    raise problem from None
                failures += 1
                if failures > RESUME_ATTEMPTS:
                    raise EmbcliError(
                        f"download of {self.repo_id}/{self.name} broke off after "
                        f"{done - start:,} of {end - start:,} bytes ({reason(exc)})",
                        "run the command again; nothing partial was kept",
                    ) from None
                self.notice(f"transfer interrupted at {done - start:,} bytes; resuming")
                continue
            if done < end:  # the server closed the stream early without an error
                if self._size is not None and self._size <= done:
                    return  # the file itself ends here
                failures += 1
                if failures > RESUME_ATTEMPTS:
                    raise EmbcliError(
                        f"download of {self.repo_id}/{self.name} ended after {done - start:,} "
                        f"of {end - start:,} bytes",
                        "run the command again; nothing partial was kept",
                    )
                self.notice(f"transfer ended early at {done - start:,} bytes; resuming")

    def _get(self, start: int, end: int) -> Iterator[bytes]:
        from huggingface_hub import hf_hub_url
        from huggingface_hub.utils import build_hf_headers, get_session, hf_raise_for_status

        headers = {**build_hf_headers(), "Range": f"bytes={start}-{end - 1}",
                   "Accept-Encoding": "identity"}  # fmt: skip
        # The session's own stream, not ``http_stream_backoff``: its retry loop cannot resume a
        # body that breaks off half-way; ``_ranges`` above does that from the last byte received.
        _, timeout = hub_timeouts()  # the client has none: a silent server would hang us
        url = hf_hub_url(self.repo_id, self.name, revision=self.sha)
        with get_session().stream(
            "GET", url, headers=headers, follow_redirects=True, timeout=timeout
        ) as response:
            hf_raise_for_status(response)
            if response.status_code != 206:
                raise RangesUnsupported(self.name)
            total = response.headers.get("Content-Range", "").rpartition("/")[2]
            if total.isdigit():
                self._size = int(total)
            yield from response.iter_bytes(CHUNK_BYTES)
