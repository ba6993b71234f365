"""A Hugging Face Hub stand-in on 127.0.0.1, serving generated repos to huggingface_hub.

It implements the endpoints huggingface_hub 2.x calls for what embcli does: model info with
revision resolution (``/api/models/{repo}[/revision/{rev}]``), the branches and tags
(``/api/models/{repo}/refs``, what ``HfApi.list_repo_refs`` asks), and
``/{repo}/resolve/{rev}/{file}`` with HEAD, GET and ``Range``. Errors carry the ``X-Error-Code``
headers the real Hub sends, so the client raises its real exception types. Every response body is
logged with its byte count, so tests can assert exactly which bytes were served.

A repo has one commit per revision, each with its own files (:meth:`HubServer.add_revision`:
Pythia's ``step0`` ... ``step143000`` branches); a file is bytes, or a path on disk read by range
when asked for (the benchmark's 154 checkpoints of 160 MB do not fit in memory).
"""

from __future__ import annotations

import hashlib
import json
import re
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

FileData = bytes | Path
PIECE = 8 * 1024 * 1024  # bytes written to the socket at a time


@dataclass
class Repo:
    files: dict[str, FileData]  # the files of the main branch
    sha: str
    refs: dict[str, str] = field(default_factory=lambda: {})
    gated: bool = False
    tags: set[str] = field(default_factory=set)  # which refs are tags (the rest are branches)
    commits: dict[str, dict[str, FileData]] = field(default_factory=dict)  # sha -> files

    def __post_init__(self) -> None:
        self.commits.setdefault(self.sha, self.files)


def _size(data: FileData) -> int:
    return data.stat().st_size if isinstance(data, Path) else len(data)


def _read(data: FileData, start: int, end: int) -> bytes:
    if isinstance(data, Path):
        with data.open("rb") as fh:
            fh.seek(start)
            return fh.read(end - start)
    return data[start:end]


def _etag(data: FileData) -> str:
    if isinstance(data, Path):  # hashing 160 MB per request would be the benchmark's bottleneck
        st = data.stat()
        return hashlib.sha256(f"{data}:{st.st_size}:{st.st_mtime_ns}".encode()).hexdigest()
    return hashlib.sha256(data).hexdigest()


@dataclass
class Served:
    method: str
    repo: str
    filename: str | None
    start: int
    end: int  # exclusive
    sha: str = ""  # the commit a file was served from

    @property
    def nbytes(self) -> int:
        return self.end - self.start


class HubServer:
    """``with HubServer() as hub: hub.add(...); os.environ["HF_ENDPOINT"] = hub.url``."""

    def __init__(self) -> None:
        self.repos: dict[str, Repo] = {}
        self.log: list[Served] = []
        self.ranges = True  # False: ignore Range and send whole files
        self.drop_after: int | None = None  # close the connection after this many body bytes
        self.drops_left = 0  # how many responses to cut short
        # Only responses for which this says True are cut, stalled or shortened (default: all).
        self.only: Callable[[str, int, int], bool] | None = None
        self.stall_after: int | None = None  # send this many body bytes, then wait for release
        self.stalls_left = 0
        self.release = threading.Event()  # set to let stalled responses finish (by closing)
        self.stalled = threading.Event()  # set once a response has stalled
        self.short_after: int | None = None  # answer a range with only this many bytes, validly
        self.shorts_left = 0
        self._lock = threading.Lock()
        self._named_main: set[str] = set()  # repos whose main branch was added by name
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def add(self, repo_id: str, directory: Path, gated: bool = False, tag: str | None = None):
        files = {p.relative_to(directory).as_posix(): p.read_bytes()
                 for p in sorted(directory.rglob("*")) if p.is_file()}  # fmt: skip
        sha = hashlib.sha1(b"".join(files.values())).hexdigest()
        refs = {"main": sha, **({tag: sha} if tag else {})}
        self.repos[repo_id] = Repo(files, sha, refs, gated, {tag} if tag else set())
        return self.repos[repo_id]

    def add_revision(
        self, repo_id: str, ref: str, directory: Path, *, tag: bool = False, lazy: bool = False
    ) -> str:
        """A commit of ``repo_id`` holding ``directory``'s files, as branch (or tag) ``ref``.

        The repo is created on first use; its main branch is the last revision added unless one
        is named ``main``. ``lazy``: files are served from disk, read by range on request.
        Returns the commit sha.
        """
        paths = sorted(p for p in directory.iterdir() if p.is_file())
        files: dict[str, FileData] = {p.name: p if lazy else p.read_bytes() for p in paths}
        h = hashlib.sha1(ref.encode())
        for p in paths:
            st = p.stat()
            h.update(f"{p.name}:{st.st_size}:{st.st_mtime_ns}".encode())
        sha = h.hexdigest()
        repo = self.repos.get(repo_id)
        if repo is None:
            repo = self.repos[repo_id] = Repo(files, sha, {"main": sha})
        repo.commits[sha] = files
        repo.refs[ref] = sha
        if tag:
            repo.tags.add(ref)
        if ref == "main" or repo_id not in self._named_main:
            repo.refs["main"], repo.sha, repo.files = sha, sha, files
        if ref == "main":
            self._named_main.add(repo_id)
        return sha

    def bytes_served(self, filename: str | None = None, method: str = "GET") -> int:
        return sum(s.nbytes for s in self.log if s.method == method and
                   (filename is None or s.filename == filename))  # fmt: skip

    def __enter__(self) -> HubServer:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        hub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:  # keep test output quiet
                pass

            def do_GET(self) -> None:
                self._route(head=False)

            def do_HEAD(self) -> None:
                self._route(head=True)

            def _error(self, status: int, code: str, message: str) -> None:
                body = json.dumps({"error": message}).encode()
                self.send_response(status)
                self.send_header("X-Error-Code", code)
                self.send_header("X-Error-Message", message)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def _repo(self, repo_id: str) -> Repo | None:
                repo = hub.repos.get(repo_id)
                if repo is None:
                    self._error(404, "RepoNotFound", "Repository not found")
                    return None
                if repo.gated and "authorization" not in {k.lower() for k in self.headers}:
                    self._error(401, "GatedRepo", "Access to this model is restricted")
                    return None
                return repo

            def _route(self, head: bool) -> None:
                path = self.path.split("?")[0]
                m = re.fullmatch(r"/api/models/([^/]+/[^/]+)(?:/revision/([^/]+))?", path)
                if m:
                    return self._info(m.group(1), m.group(2) or "main")
                m = re.fullmatch(r"/api/models/([^/]+/[^/]+)/tree/([^/]+)", path)
                if m:
                    return self._tree(m.group(1), m.group(2))
                m = re.fullmatch(r"/api/models/([^/]+/[^/]+)/refs", path)
                if m:
                    return self._refs(m.group(1))
                m = re.fullmatch(r"/([^/]+/[^/]+)/resolve/([^/]+)/(.+)", path)
                if m:
                    return self._file(m.group(1), m.group(2), m.group(3), head)
                self._error(404, "EntryNotFound", f"no route {path}")

            def _sha(self, repo: Repo, revision: str) -> str | None:
                sha = repo.refs.get(revision, revision if revision in repo.commits else None)
                if sha is None:
                    self._error(404, "RevisionNotFound", f"Invalid rev id: {revision}")
                return sha

            def _info(self, repo_id: str, revision: str) -> None:
                repo = self._repo(repo_id)
                sha = repo and self._sha(repo, revision)
                if not repo or not sha:
                    return
                body = json.dumps({
                    "id": repo_id, "modelId": repo_id, "sha": sha, "private": False,
                    "gated": repo.gated, "disabled": False, "downloads": 0, "likes": 0,
                    "tags": [], "siblings": [{"rfilename": f} for f in repo.commits[sha]],
                }).encode()  # fmt: skip
                self._json(repo_id, body)

            def _json(self, repo_id: str, body: bytes) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                hub.log.append(Served("GET", repo_id, None, 0, len(body)))

            def _refs(self, repo_id: str) -> None:
                """Branches and tags, as ``HfApi.list_repo_refs`` reads them."""
                repo = self._repo(repo_id)
                if not repo:
                    return
                kinds: dict[str, list[dict[str, str]]] = {"branches": [], "tags": []}
                for name, sha in repo.refs.items():
                    kind = "tags" if name in repo.tags else "branches"
                    ref = f"refs/{'tags' if kind == 'tags' else 'heads'}/{name}"
                    kinds[kind].append({"name": name, "ref": ref, "targetCommit": sha})
                self._json(repo_id, json.dumps({**kinds, "converts": []}).encode())

            def _tree(self, repo_id: str, revision: str) -> None:
                """The listing ``snapshot_download`` asks for (used by the benchmark)."""
                repo = self._repo(repo_id)
                sha = repo and self._sha(repo, revision)
                if not repo or not sha:
                    return
                body = json.dumps([
                    {"type": "file", "path": f, "size": _size(d), "oid": _etag(d)[:40]}
                    for f, d in repo.commits[sha].items()
                ]).encode()  # fmt: skip
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _file(self, repo_id: str, revision: str, filename: str, head: bool) -> None:
                repo = self._repo(repo_id)
                sha = repo and self._sha(repo, revision)
                if not repo or not sha:
                    return
                files = repo.commits[sha]
                if filename not in files:
                    return self._error(404, "EntryNotFound", f"{filename} does not exist")
                data = files[filename]
                size = _size(data)
                start, end, status = 0, size, 200
                rng = self.headers.get("Range")
                if rng and hub.ranges and not head:
                    m = re.fullmatch(r"bytes=(\d+)-(\d*)", rng.strip())
                    if m:
                        start = int(m.group(1))
                        end = min(size, int(m.group(2)) + 1 if m.group(2) else size)
                        status = 206
                chosen = not head and (hub.only is None or hub.only(filename, start, end))
                with hub._lock:
                    short = chosen and hub.shorts_left > 0 and status == 206
                    if short and hub.short_after is not None and end - start > hub.short_after:
                        hub.shorts_left -= 1
                        end = start + hub.short_after
                    stall = chosen and hub.stalls_left > 0 and hub.stall_after is not None
                    if stall:
                        hub.stalls_left -= 1
                if stall:
                    return self._stall(data, start, end, status, sha)
                self.send_response(status)
                self.send_header("X-Repo-Commit", sha)
                self.send_header("ETag", '"' + _etag(data) + '"')
                self.send_header("Accept-Ranges", "bytes" if hub.ranges else "none")
                self.send_header("Content-Length", str(end - start))
                if status == 206:
                    self.send_header("Content-Range", f"bytes {start}-{end - 1}/{size}")
                self.end_headers()
                if head:
                    hub.log.append(Served("HEAD", repo_id, filename, 0, 0, sha))
                    return
                with hub._lock:
                    cut = (
                        chosen
                        and hub.drop_after is not None
                        and hub.drops_left > 0
                        and end - start > hub.drop_after
                    )
                    if cut:
                        hub.drops_left -= 1
                if cut:
                    end = start + (hub.drop_after or 0)
                    self.close_connection = True
                sent = start
                while sent < end:  # in pieces: a lazy file's range is read as it is sent
                    piece = _read(data, sent, min(end, sent + PIECE))
                    if not piece:
                        break
                    try:
                        self.wfile.write(piece)
                    except OSError:  # the client went away (a cancelled fetch)
                        break
                    sent += len(piece)
                hub.log.append(Served("GET", repo_id, filename, start, sent, sha))
                if cut:
                    self.wfile.flush()
                    self.connection.shutdown(2)

            def _stall(self, data: FileData, start: int, end: int, status: int, sha: str) -> None:
                """Headers and the first ``stall_after`` bytes, then silence until released."""
                self.send_response(status)
                self.send_header("X-Repo-Commit", sha)
                self.send_header("Content-Length", str(end - start))
                if status == 206:
                    self.send_header("Content-Range", f"bytes {start}-{end - 1}/{_size(data)}")
                self.end_headers()
                try:
                    self.wfile.write(_read(data, start, start + (hub.stall_after or 0)))
                    self.wfile.flush()
                    hub.stalled.set()
                    hub.release.wait(timeout=60)
                except OSError:
                    pass
                self.close_connection = True

        return Handler


class SilentServer:
    """Accepts TCP connections on 127.0.0.1 and never answers; counts the connections."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.accepted = 0
        self.held: list[socket.socket] = []
        self._stop = threading.Event()

    def _serve(self) -> None:
        self.sock.settimeout(0.1)
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.accepted += 1
            self.held.append(conn)  # kept open, never read from or written to

    def __enter__(self) -> SilentServer:
        threading.Thread(target=self._serve, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for conn in self.held:
            conn.close()
        self.sock.close()
