"""The live map (``embcli map --serve``): the map page, and the table's own answers as JSON.

One :class:`MapApp` serves one table of one model, named at start, on a
:class:`http.server.ThreadingHTTPServer` (the standard library's: no dependency, a thread per
request, and nothing here needs more than GET). It answers exactly these paths and nothing
else, so no URL reaches the file system (there is no file-serving code at all):

- ``/`` the map page, built by the same code as ``map -o`` (:class:`embcli.draw.map_page.
  MapPage`), with ``"live": true`` in its data so its script asks the endpoints below;
- ``/api/neighbors?word=W&k=10``: :meth:`Table.neighbors` (``W`` a word or ``#id``);
- ``/api/analogy?a=A&b=B&c=C&k=5&method=3cosadd``: :meth:`Table.analogy`;
- ``/api/similarity?a=A&b=B``: :meth:`Table.similarity` of two words;
- ``/api/axis?pairs=a:b,c:d&k=10&method=pca[&words=w1,w2]``: :meth:`Table.axis`;

each answered with the JSON ``embcli <command> -f json`` prints (the result's ``to_dict()``).
Any other path (``/../x``, ``/%2e%2e/``, ``//etc/passwd``, ``/api/``) is 404 (a target in
absolute form, ``http://HOST:PORT/api/...``, is taken when it names this server); a bad or
missing parameter (an empty word, a query that is not UTF-8) is 400 and a word not in the
table 404, each ``{"error": "one line"}``, never a traceback (http.server's own refusals, a
malformed request line, are that JSON too). The questions run one at a time under a lock
(the table opens lazily and keeps what it computes; the memory-mapped rows are only read); the
page is served beside them.
When bound to a loopback address, a request whose ``Host`` is not that address (a DNS-rebinding
page in the user's browser) is refused with 403.
"""

from __future__ import annotations

import errno
import ipaddress
import json
import socket
import sys
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

from embcli.errors import EmbcliError, UnresolvedWord, UsageProblem

if TYPE_CHECKING:
    from embcli.api.table import Table
    from embcli.draw.map_page import MapPage

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
LIVE_MARK = '<script id="map-data" type="application/json">{'
MAX_QUERY = 8192  # characters of a query string: more is refused (400)
MAX_K = 1000  # results per answer


class BadRequest(UsageProblem):
    """A request the endpoints cannot take: HTTP 400."""


class NotFound(EmbcliError):
    """No such path: HTTP 404."""


def _one(params: dict[str, str], name: str, default: str | None = None) -> str:
    value = params.get(name, default)
    if value is None:
        raise BadRequest(f"missing parameter {name}", param=name)
    return value


def _word(params: dict[str, str], name: str) -> str:
    value = _one(params, name)
    if not value.strip():  # a bad parameter (400), not a word missing from the table (404)
        raise BadRequest(f"empty word: {name} is blank", param=name)
    return value


def _int(params: dict[str, str], name: str, default: int) -> int:
    text = params.get(name)
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        raise BadRequest(f"{name} takes a whole number, not {text!r}", param=name) from None
    if value > MAX_K:  # a page lists tens; a million rows of JSON would only stall the app
        raise BadRequest(f"{name} must be at most {MAX_K:,} here, not {value:,}", param=name)
    return value


def _list(text: str) -> list[str]:
    return [w for w in (part.strip() for part in text.split(",")) if w]


class MapApp:
    """The live map of ``table``: a bound server (``url``), the page once :meth:`show` gets it,
    and :meth:`answer`, the JSON endpoints as a function (what the server calls per request).

    Binding happens here, first, so a port in use is said before minutes of map building.
    """

    def __init__(self, table: Table, host: str | None = None, port: int = DEFAULT_PORT) -> None:
        from embcli.api import checks

        checks.count("port", port, 0, 65535)
        self.table = table
        self.host = host or DEFAULT_HOST
        self.lock = threading.Lock()
        self.page: bytes | None = None
        self.routes: dict[str, Callable[[dict[str, str]], Any]] = {
            "/api/neighbors": self.neighbors,
            "/api/analogy": self.analogy,
            "/api/similarity": self.similarity,
            "/api/axis": self.axis,
        }
        try:
            kind = _Server6 if ":" in self.host else _Server
            self.server = kind((self.host, port), _Handler)
        except OSError as exc:
            why = "address already in use" if exc.errno == errno.EADDRINUSE else exc.strerror
            raise EmbcliError(f"cannot listen on {self.host}:{port}: {why or exc}",
                              param="port") from None  # fmt: skip
        self.server.app = self
        self.port = int(self.server.server_address[1])
        self.loopback = _is_loopback(self.host)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"

    def show(self, page: MapPage) -> None:
        """Serve ``page`` at ``/``: the very page ``map -o`` writes, its data marked live."""
        marker = LIVE_MARK
        if page.html.count(marker) != 1:
            raise EmbcliError("the map page has no data document to mark live")
        self.page = page.html.replace(marker, marker + '"live":true,', 1).encode("utf-8")

    def serve_forever(self) -> None:
        """Answer requests until interrupted (Ctrl-C: KeyboardInterrupt), then close."""
        try:
            self.server.serve_forever(poll_interval=0.25)
        finally:
            self.server.server_close()

    def close(self) -> None:
        """Stop a server running in another thread and close its socket."""
        self.server.shutdown()
        self.server.server_close()

    # -- the endpoints: each one Table method, the result as the CLI's JSON ---------------------

    def answer(self, target: str) -> tuple[int, dict[str, Any]]:
        """``(status, JSON document)`` for a request target of an endpoint (``/api/...?...``)."""
        path, _, query = target.partition("?")
        route = self.routes.get(path)
        if route is None:
            return 404, {"error": f"no such path: {path[:200]}"}
        try:
            if len(query) > MAX_QUERY:
                raise BadRequest(f"the query is longer than {MAX_QUERY:,} characters")
            params = _params(query)
            with self.lock:
                return 200, route(params)
        except UnresolvedWord as exc:
            return 404, {"error": exc.one_line()}
        except EmbcliError as exc:
            return 400, {"error": exc.one_line()}
        except Exception as exc:  # never a traceback to the page: one line, on both sides
            line = f"internal error: {type(exc).__name__}: {exc}".splitlines()[0]
            print(f"embcli: {line}", file=sys.stderr)
            return 500, {"error": line}

    def neighbors(self, params: dict[str, str]) -> Any:
        _allowed(params, "word", "k")
        word = _word(params, "word")
        return self.table.neighbors(word, _int(params, "k", 10)).to_dict()

    def analogy(self, params: dict[str, str]) -> Any:
        _allowed(params, "a", "b", "c", "k", "method")
        a, b, c = (_word(params, name) for name in "abc")
        method = _one(params, "method", "3cosadd")
        return self.table.analogy(a, b, c, _int(params, "k", 5), method=method).to_dict()

    def similarity(self, params: dict[str, str]) -> Any:
        _allowed(params, "a", "b")
        return self.table.similarity(_word(params, "a"), _word(params, "b")).to_dict()

    def axis(self, params: dict[str, str]) -> Any:
        _allowed(params, "pairs", "k", "method", "words")
        pairs = _list(_one(params, "pairs"))
        words = _list(params["words"]) if "words" in params else None
        method = _one(params, "method", "pca")
        return self.table.axis(pairs, k=_int(params, "k", 10), method=method,
                               words=words).to_dict()  # fmt: skip


def _params(query: str) -> dict[str, str]:
    """The query's parameters, each given once (percent-decoded as UTF-8; bad bytes refused)."""
    out: dict[str, str] = {}
    try:
        pairs = parse_qsl(query, keep_blank_values=True, errors="strict", max_num_fields=32)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(f"unreadable query: {str(exc).splitlines()[0]}") from None
    for name, value in pairs:
        if name in out:
            raise BadRequest(f"{name} is given twice", param=name)
        out[name] = value
    return out


def _allowed(params: dict[str, str], *names: str) -> None:
    unknown = sorted(set(params) - set(names))
    if unknown:
        raise BadRequest(f"unknown parameter {unknown[0]} (this endpoint takes "
                         f"{', '.join(names)})", param=unknown[0])  # fmt: skip


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # a client that holds its connection does not hold up Ctrl-C
    app: MapApp

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client gone mid-answer (reset, broken pipe) is no error of the server's


class _Server6(_Server):
    address_family = socket.AF_INET6


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    server_version = "embcli-map"
    sys_version = ""
    protocol_version = "HTTP/1.1"
    timeout = 120  # seconds an idle kept-alive connection holds its thread

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet: the terminal shows the URL and notices, not a line per request

    def version_string(self) -> str:
        return self.server_version  # "embcli-map", no Python version nor trailing space

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """http.server's own refusals (a malformed request line, an unknown method, a header
        too long) as the endpoints' JSON, not its HTML page."""
        if self.request_version == "HTTP/0.9":  # unparsed: answer with a status line anyway
            self.request_version = "HTTP/1.0"
        self.close_connection = True
        short = self.responses.get(code, ("error", ""))[0]
        line = " ".join((message or short).split())[:200]
        body = json.dumps({"error": line}, ensure_ascii=False).encode("utf-8")
        self.send_response(code, short)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _send(self, status: int, body: bytes, kind: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, doc: Any) -> None:
        body = json.dumps(doc, ensure_ascii=False).encode("utf-8")
        self._send(status, body, "application/json; charset=utf-8")

    def _host_ok(self, host: str) -> bool:
        app = self.server.app
        if not app.loopback:
            return True
        host = host.strip().lower()
        allowed = {f"{name}:{app.port}" for name in ("127.0.0.1", "localhost", "[::1]")}
        allowed.add(f"{app.host}:{app.port}".lower())
        return host in allowed

    def do_GET(self) -> None:
        app = self.server.app
        try:  # http.server read the request line as latin-1: its bytes must be UTF-8
            target = self.path.encode("latin-1").decode("utf-8")
        except UnicodeError as exc:
            self._json(400, {"error": f"unreadable query: {str(exc).splitlines()[0]}"})
            return
        host = self.headers.get("Host") or ""
        if target[:7].lower() == "http://":  # absolute-form (RFC 9112 3.2.2): its authority
            parts = urlsplit(target)  # stands for Host; another server's is a path unknown here
            try:
                port = parts.port
            except ValueError:
                port = None
            own = self._host_ok(parts.netloc) and (app.loopback or port == app.port)
            if not own:
                self._json(404, {"error": f"no such path: {target[:200]}"})
                return
            host = parts.netloc
            target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        if not self._host_ok(host):
            self._json(403, {"error": "this server answers only requests to " + app.url})
            return
        path = target.partition("?")[0]
        if path in ("/", "/index.html") and app.page is not None:
            self._send(200, app.page, "text/html; charset=utf-8")
            return
        status, doc = app.answer(target)
        self._json(status, doc)

    def do_HEAD(self) -> None:
        self.do_GET()

    def _refuse(self) -> None:
        self.close_connection = True  # its body is not read
        self.send_response(405)
        body = b'{"error": "only GET is answered"}'
        self.send_header("Allow", "GET, HEAD")
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _refuse
