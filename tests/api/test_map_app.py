"""The live map's server (``embcli.api.map_app``, ``embcli map --serve``) without a browser: its
endpoints answer what the CLI prints with ``-f json``, bad requests are one JSON line with 400 or
404, no path reaches a file, two clients at once each get their own answer, and a port in use
is one line and exit 1. The server runs in this process on port 0, on a small planted table."""

from __future__ import annotations

import http.client
import json
import socket
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import embcli
from embcli.api.map_app import MapApp
from embcli.errors import EmbcliError, UsageProblem
from tests import models

WORDS = ["<unk>", "king", "queen", "man", "woman", "paris", "france", "rome", "italy", "cat",
         "dog", "he", "she", "boy", "girl"] + [f"w{i}" for i in range(60)]  # fmt: skip


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    rng = np.random.default_rng(3)
    vectors = rng.normal(size=(len(WORDS), 24))
    return models.planted(tmp_path_factory.mktemp("planted") / "m", WORDS, vectors)


@pytest.fixture(scope="module")
def app(planted, tmp_path_factory):
    """The app of the planted table, serving in a thread (its own cache)."""
    table = embcli.Model(str(planted), cache_dir=tmp_path_factory.mktemp("c")).table()
    served = MapApp(table, port=0)
    thread = threading.Thread(target=served.serve_forever, daemon=True)
    thread.start()
    yield served
    served.close()
    thread.join(10)


def get(app: MapApp, target: str, headers: dict | None = None, method: str = "GET"):
    """``(status, body bytes, content type)`` of one raw request (the target sent as given)."""
    conn = http.client.HTTPConnection("127.0.0.1", app.port, timeout=30)
    conn.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
    conn.putheader("Host", (headers or {}).get("Host", f"127.0.0.1:{app.port}"))
    conn.endheaders()
    resp = conn.getresponse()
    body = resp.read()
    conn.close()
    return resp.status, body, resp.getheader("Content-Type")


def same(got, expected) -> None:
    """Equal JSON documents, floats to 1e-12 (ids, tokens and order exactly)."""
    if isinstance(expected, float):
        assert got == pytest.approx(expected, abs=1e-12)
    elif isinstance(expected, dict):
        assert sorted(got) == sorted(expected)
        for key in expected:
            same(got[key], expected[key])
    elif isinstance(expected, list):
        assert len(got) == len(expected)
        for a, b in zip(got, expected, strict=True):
            same(a, b)
    else:
        assert got == expected


def answer(app: MapApp, target: str):
    status, body, kind = get(app, target)
    assert kind == "application/json; charset=utf-8"
    return status, json.loads(body)


@pytest.mark.parametrize(
    ("target", "argv"),
    [
        ("/api/neighbors?word=paris&k=4", ["neighbors", "paris", "-k", "4"]),
        ("/api/neighbors?word=%237&k=3", ["neighbors", "#7", "-k", "3"]),
        ("/api/neighbors?word=king", ["neighbors", "king"]),
        ("/api/analogy?a=king&b=man&c=woman&k=3", ["analogy", "king", "man", "woman", "-k", "3"]),
        ("/api/analogy?a=king&b=man&c=woman", ["analogy", "king", "man", "woman"]),
        ("/api/analogy?a=paris&b=france&c=italy&method=3cosmul",
         ["analogy", "paris", "france", "italy", "--method", "3cosmul"]),
        ("/api/similarity?a=cat&b=dog", ["similarity", "cat", "dog"]),
        ("/api/axis?pairs=man:woman,king:queen,he:she&k=3",
         ["axis", "--pairs", "man:woman,king:queen,he:she", "-k", "3"]),
        ("/api/axis?pairs=man:woman,he:she&method=mean&words=boy,girl,cat",
         ["axis", "--pairs", "man:woman,he:she", "--method", "mean", "--words", "boy,girl,cat"]),
    ],
)  # fmt: skip
def test_each_endpoint_answers_what_the_cli_prints(app, planted, cli, target, argv):
    status, got = answer(app, target)
    assert status == 200, got
    ran = cli("-m", planted, *argv, "-f", "json")
    assert ran.code == 0, ran.err
    same(got, json.loads(ran.out))


def test_the_analogy_is_the_table_method_and_independently_right(app, planted):
    status, got = answer(app, "/api/analogy?a=king&b=man&c=woman&k=3")
    assert status == 200
    raw = np.asarray(models_rows(planted), np.float64)
    unit = raw / np.linalg.norm(raw, axis=1, keepdims=True)
    i = {w: n for n, w in enumerate(WORDS)}
    query = unit[i["king"]] - unit[i["man"]] + unit[i["woman"]]
    query /= np.linalg.norm(query)
    scores = unit @ query
    scores[[0, i["king"], i["man"], i["woman"]]] = -np.inf  # the unknown token, the inputs
    best = np.argsort(-scores, kind="stable")[:3]
    assert [r["id"] for r in got["results"]] == best.tolist()
    # the table keeps float32 rows: its scores are float64 sums of float32 products
    assert [r["score"] for r in got["results"]] == pytest.approx(scores[best].tolist(), abs=1e-6)


def models_rows(planted):
    from safetensors.numpy import load_file

    return load_file(str(planted / "model.safetensors"))["model.embed_tokens.weight"]


@pytest.mark.parametrize(
    ("target", "status", "says"),
    [
        ("/api/neighbors?k=3", 400, "missing parameter word"),
        ("/api/neighbors?word=paris&k=x", 400, "k takes a whole number, not 'x'"),
        ("/api/neighbors?word=paris&k=-2", 400, "k must be 0 or more, not -2"),
        ("/api/neighbors?word=paris&k=1001", 400, "k must be at most 1,000 here, not 1,001"),
        ("/api/neighbors?word=paris&word=rome", 400, "word is given twice"),
        ("/api/neighbors?word=paris&top=3", 400, "unknown parameter top"),
        ("/api/neighbors?word=%ff%fe", 400, "unreadable query"),
        ("/api/neighbors?word=", 400, "empty word: word"),
        ("/api/neighbors?word=%20", 400, "empty word: word"),
        ("/api/similarity?a=cat&b=", 400, "empty word: b"),
        ("/api/neighbors?word=zebra", 404, "zebra"),
        ("/api/analogy?a=king&b=man", 400, "missing parameter c"),
        ("/api/analogy?a=king&b=man&c=woman&method=best", 400, "method must be"),
        ("/api/similarity?a=cat&b=unicorn", 404, "unicorn"),
        ("/api/axis?pairs=man:woman", 400, "pair"),
        ("/api/axis?pairs=", 400, ""),
        ("/api/nothing", 404, "no such path: /api/nothing"),
    ],
)
def test_bad_requests_are_one_json_line_never_a_traceback(app, target, status, says):
    got_status, got = answer(app, target)
    assert got_status == status, got
    assert list(got) == ["error"] and says in got["error"]
    assert "\n" not in got["error"] and "Traceback" not in got["error"]


@pytest.mark.parametrize(
    "target",
    [
        "/../../../../etc/passwd",
        "/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
        "/%2E%2E%2F%2E%2E%2Fetc%2Fpasswd",
        "//etc/passwd",
        "/etc/passwd",
        "/api/../../etc/passwd",
        "/api/neighbors/../../../etc/passwd",
        "/index.html/../../etc/passwd",
        "/..%5c..%5cetc%5cpasswd",
        "/%2fetc%2fpasswd",
        "http://127.0.0.1/etc/passwd",
        "file:///etc/passwd",
        "/api/../api/neighbors?word=paris",
        "/embcli/data/map-page.js",
        "/map-page.js",
        "/favicon.ico",
    ],
)
def test_no_path_reaches_a_file(app, target):
    status, body, kind = get(app, target)
    assert status == 404
    assert kind == "application/json; charset=utf-8"
    assert b"root:" not in body and b"function" not in body


def test_the_page_is_the_map_page_marked_live(planted, tmp_path):
    table = embcli.Model(str(planted), cache_dir=tmp_path / "c").table()
    served = MapApp(table, port=0)
    page = table.map(clusters=3, k=3)
    served.show(page)
    thread = threading.Thread(target=served.serve_forever, daemon=True)
    thread.start()
    try:
        status, body, kind = get(served, "/")
        assert status == 200 and kind == "text/html; charset=utf-8"
        text = body.decode("utf-8")
        data = json.loads(text.split('<script id="map-data" type="application/json">')[1]
                          .split("</script>")[0])  # fmt: skip
        assert data["live"] is True
        from embcli.draw.map_page import page_data

        assert {k: v for k, v in data.items() if k != "live"} == json.loads(
            json.dumps(page_data(page.map))
        )
        assert get(served, "/index.html")[0] == 200
        assert get(served, "/", method="HEAD")[:2] == (200, b"")
    finally:
        served.close()


def test_other_methods_and_foreign_hosts_are_refused(app):
    status, body, _ = get(app, "/api/neighbors?word=paris", method="POST")
    assert status == 405 and json.loads(body) == {"error": "only GET is answered"}
    # a page of another site that rebinds its name to 127.0.0.1 (DNS rebinding) is refused
    status, body, _ = get(app, "/api/neighbors?word=paris", {"Host": "evil.example:80"})
    assert status == 403 and "error" in json.loads(body)
    for host in (f"localhost:{app.port}", f"127.0.0.1:{app.port}"):
        assert get(app, "/api/similarity?a=cat&b=dog", {"Host": host})[0] == 200


def test_two_clients_at_once_each_get_their_own_answer(app):
    targets = [f"/api/neighbors?word={w}&k=5" for w in WORDS[1:15]]
    targets += ["/api/analogy?a=king&b=man&c=woman", "/api/similarity?a=cat&b=dog",
                "/api/axis?pairs=man:woman,king:queen&k=4"]  # fmt: skip
    expected = {t: answer(app, t) for t in targets}  # one at a time first
    jobs = targets * 6
    np.random.default_rng(0).shuffle(jobs)
    with ThreadPoolExecutor(2) as pool:  # two clients, each its own connection per request
        got = list(pool.map(lambda t: (t, answer(app, t)), jobs))
    for t, (status, doc) in got:
        assert status == expected[t][0] == 200
        same(doc, expected[t][1])


def test_a_port_in_use_is_one_line_and_exit_1(planted, cli):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        with pytest.raises(EmbcliError, match="address already in use"):
            MapApp(embcli.Model(str(planted)).table(), port=port)
        ran = cli("-m", planted, "map", "--serve", "--port", port)
    assert ran.code == 1
    assert ran.err == f"embcli: cannot listen on 127.0.0.1:{port}: address already in use\n"
    assert ran.out == ""


def test_serve_options_are_checked(planted, cli, tmp_path):
    with pytest.raises(UsageProblem, match="port must be at most 65,535"):
        MapApp(embcli.Model(str(planted)).table(), port=70000)
    ran = cli("-m", planted, "map", "--port", "8000")
    assert ran.code == 2 and "--host and --port go with --serve" in ran.err
    ran = cli("-m", planted, "map", "--serve", "-o", tmp_path / "x.html")
    assert ran.code == 2 and "leave out --output" in ran.err
    assert not (tmp_path / "x.html").exists()
    ran = cli("-m", planted, "map", "--serve", "--port", "-1")
    assert ran.code == 2 and ran.err.startswith("embcli: --port must be 0 or more")


def test_a_host_that_cannot_be_bound_is_one_line(planted, cli):
    ran = cli("-m", planted, "map", "--serve", "--host", "nosuch.invalid", "--port", "0")
    assert ran.code == 1 and ran.out == ""
    assert ran.err.startswith("embcli: cannot listen on nosuch.invalid:0: ")
    assert ran.err.count("\n") == 1


def test_ipv6_loopback_is_served_and_guarded(planted, tmp_path):
    if not socket.has_ipv6:
        pytest.skip("no IPv6 here")
    table = embcli.Model(str(planted), cache_dir=tmp_path / "c").table()
    try:
        served = MapApp(table, host="::1", port=0)
    except EmbcliError as exc:
        pytest.skip(f"::1 cannot be bound here: {exc}")
    assert served.url == f"http://[::1]:{served.port}/"
    thread = threading.Thread(target=served.serve_forever, daemon=True)
    thread.start()
    try:
        conn = http.client.HTTPConnection("::1", served.port, timeout=30)
        conn.request("GET", "/api/similarity?a=cat&b=dog")
        resp = conn.getresponse()
        assert resp.status == 200 and "cosine" in json.loads(resp.read())
        conn.close()
    finally:
        served.close()


def raw(app: MapApp, request: bytes) -> tuple[bytes, bytes]:
    """The status line and headers, and the body, the server answers to raw request bytes."""
    with socket.create_connection(("127.0.0.1", app.port), timeout=30) as conn:
        conn.sendall(request)
        got = b""
        while chunk := conn.recv(65536):
            got += chunk
    head, _, body = got.partition(b"\r\n\r\n")
    return head, body


@pytest.mark.parametrize(
    "line",
    [b"GARBAGE", b"GET /api/neighbors?word=paris HTTP/1.1 extra", b"GET / HTTP/9.9",
     b"BREW /api/neighbors?word=paris HTTP/1.1"],
)  # fmt: skip
def test_http_servers_own_refusals_are_json_too(app, line):
    head, body = raw(app, line + b"\r\nHost: 127.0.0.1:%d\r\n\r\n" % app.port)
    status = int(head.split(b" ")[1])
    assert 400 <= status < 600
    assert b"Content-Type: application/json; charset=utf-8" in head
    doc = json.loads(body)
    assert list(doc) == ["error"] and doc["error"] and "<" not in doc["error"]


def test_raw_bytes_that_are_not_utf8_are_an_unreadable_query(app):
    head, body = raw(app, b"GET /api/neighbors?word=\xff\xfe HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                          b"Connection: close\r\n\r\n" % app.port)  # fmt: skip
    assert head.startswith(b"HTTP/1.1 400 ")
    assert json.loads(body)["error"].startswith("unreadable query")
    # raw UTF-8 is read as UTF-8, as its percent-encoded form is
    head, body = raw(app, "GET /api/neighbors?word=pâris HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                          "Connection: close\r\n\r\n".encode() % app.port)  # fmt: skip
    assert head.startswith(b"HTTP/1.1 404 ") and "pâris" in json.loads(body)["error"]


def test_an_absolute_form_target_naming_this_server_is_answered(app):
    plain = answer(app, "/api/similarity?a=cat&b=dog")
    assert plain[0] == 200
    for authority in (f"127.0.0.1:{app.port}", f"localhost:{app.port}"):
        assert answer(app, f"http://{authority}/api/similarity?a=cat&b=dog") == plain
    # another server's name is a path this one does not know, as before
    assert answer(app, "http://evil.example/api/similarity?a=cat&b=dog")[0] == 404
    assert answer(app, f"http://127.0.0.1:{app.port + 1}/api/similarity?a=cat&b=dog")[0] == 404


def test_the_server_header_is_its_name_alone(app):
    conn = http.client.HTTPConnection("127.0.0.1", app.port, timeout=30)
    conn.request("GET", "/api/similarity?a=cat&b=dog")
    resp = conn.getresponse()
    resp.read()
    conn.close()
    assert resp.getheader("Server") == "embcli-map"
