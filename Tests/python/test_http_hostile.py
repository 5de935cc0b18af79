"""Hostile requests to `mcp-rag serve --http` (issue 27): each is answered with the right status and
a body that says why, nothing is served without the token, memory stays bounded, and the server
keeps serving. Plain HTTP requests (httpx) and raw sockets against the real binary."""

from __future__ import annotations

import json
import socket
import subprocess
import time

import anyio
import httpx
import pytest

from http_support import INITIALIZE, TOKEN, HTTPServer, http_session, sample
from mcp_support import structured, write_corpus

pytestmark = pytest.mark.anyio

MAX_SESSIONS = 200


@pytest.fixture(scope="module")
def server(binary, model_dir, tmp_path_factory):
    """A server with a token and at most 200 sessions."""
    root = tmp_path_factory.mktemp("hostile")
    notes = root / "notes"
    write_corpus(notes, 4)
    server = HTTPServer(binary, model_dir, root, args=["--max-sessions", str(MAX_SESSIONS)],
                        env={"MCP_RAG_DATA_DIR": str(root / "data"), "MCP_RAG_ALLOWED_ROOTS": str(notes)})
    server.wait_ready()
    yield server
    server.stop()


def sessions_open(server) -> float:
    return sample(server.metrics(), "mcp_rag_http_sessions_open ")


def post(server, body, headers=None, raw: bytes | None = None, **overrides):
    merged = server.headers(**overrides)
    for name, value in (headers or {}).items():
        if value is None:
            merged.pop(name, None)
        else:
            merged[name] = value
    return httpx.post(server.url, content=raw if raw is not None else json.dumps(body).encode(), headers=merged, timeout=30)


def error_of(answer) -> dict:
    assert answer.headers["content-type"].startswith("application/json"), answer.headers
    return json.loads(answer.content)["error"]


async def still_serves(server) -> None:
    async with http_session(server.url) as session:
        answer = structured(await session.call_tool("query_knowledge_base", {"query": "storage layer"}))
        assert answer["mode"]


async def test_without_the_token_nothing_is_served(server):
    for headers, url in [
        ({"Authorization": None}, server.url),
        ({"Authorization": "Bearer wrong-token-0123456789"}, server.url),
        ({"Authorization": TOKEN}, server.url),  # no scheme
        ({"Authorization": None}, f"{server.url}?token={TOKEN}"),
        ({"Authorization": None}, f"{server.url}?access_token={TOKEN}"),
    ]:
        merged = server.headers()
        for name, value in headers.items():
            if value is None:
                merged.pop(name)
            else:
                merged[name] = value
        answer = httpx.post(url, json=INITIALIZE, headers=merged, timeout=30)
        assert answer.status_code == 401, (headers, url, answer.status_code)
        assert answer.headers["www-authenticate"].startswith("Bearer")
        # RFC 6750: a token sent and refused is named invalid; no token, no error code.
        sent = (headers.get("Authorization") or "").startswith("Bearer ")
        assert ('error="invalid_token"' in answer.headers["www-authenticate"]) == sent, answer.headers["www-authenticate"]
        assert "mcp-session-id" not in answer.headers and "serverInfo" not in answer.text
    assert httpx.get(server.base + "/metrics", timeout=30).status_code == 401
    # The probes reveal nothing but the status, so they need no token.
    assert httpx.get(server.base + "/readyz", timeout=30).json() == {"status": "ready"}
    assert TOKEN not in server.log()
    await still_serves(server)


def test_a_store_that_cannot_be_read_is_alive_but_not_ready(binary, model_dir, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    unreadable = b"this is not a database, " * 512
    (data / "knowledge.sqlite3").write_bytes(unreadable)
    server = HTTPServer(binary, model_dir, tmp_path, env={"MCP_RAG_DATA_DIR": str(data)})
    try:
        live = None
        deadline = time.monotonic() + 120
        while live is None and time.monotonic() < deadline:
            assert server.process.poll() is None, f"the server exited: {server.log()[-3000:]}"
            try:
                live = httpx.get(server.base + "/livez", timeout=5)
            except httpx.TransportError:
                time.sleep(0.1)
        assert live is not None and live.status_code == 200 and live.json() == {"status": "alive"}
        ready = httpx.get(server.base + "/readyz", timeout=30)
        assert ready.status_code == 503 and ready.json() == {"status": "not ready"}, ready.text
        assert sample(server.metrics(), "mcp_rag_ready ") == 0
    finally:
        server.stop()
    assert (data / "knowledge.sqlite3").read_bytes() == unreadable, "the unreadable file is left as it was"


async def test_requests_that_break_the_rules_get_the_status_that_says_so(server):
    session = server.session_id()
    cases = [
        # DNS rebinding: a page on another origin, or a name that is not this machine's.
        ({"Origin": "http://evil.example"}, INITIALIZE, None, 403),
        ({"Host": "evil.example:80"}, INITIALIZE, None, 421),
        ({"Accept": "application/json"}, INITIALIZE, None, 406),
        ({"Content-Type": "text/plain"}, INITIALIZE, None, 415),
        ({"Mcp-Session-Id": session, "MCP-Protocol-Version": "1999-01-01"},
         {"jsonrpc": "2.0", "id": 2, "method": "ping"}, None, 400),
        # Sessions: none given, one that never existed.
        ({}, {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}, None, 400),
        ({"Mcp-Session-Id": "0" * 32}, {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}, None, 404),
        # Bodies: none, not JSON, JSON nested 10,000 deep, a batch.
        ({"Mcp-Session-Id": session}, None, b"", 400),
        ({"Mcp-Session-Id": session}, None, b'{"jsonrpc": "2.0", "id": 3, "method": ', 400),
        ({"Mcp-Session-Id": session}, None, b"[" * 10_000 + b"]" * 10_000, 400),
        ({"Mcp-Session-Id": session}, None, b'{"a":' * 5_000 + b"1" + b"}" * 5_000, 400),
        ({"Mcp-Session-Id": session}, [{"jsonrpc": "2.0", "id": 4, "method": "ping"}], None, 400),
        # Not a request, not a notification, not an answer: refused on its own POST, whatever its id.
        ({"Mcp-Session-Id": session}, {"jsonrpc": "2.0", "id": 5}, None, 400),
        # Not JSON, though a lenient reader finds its id: refused on its POST, not left waiting.
        ({"Mcp-Session-Id": session}, None, b'{"jsonrpc":"2.0","id":9,"method":"ping",}', 400),
        ({"Mcp-Session-Id": session}, None, b'{"jsonrpc":"2.0","id":10,"method":"ping","params":{"q":"a\tb"}}', 400),
        ({"Mcp-Session-Id": session}, None, b'{"jsonrpc":"2.0","id":"a\\ud800","method":"ping"}', 400),
        ({"Mcp-Session-Id": session}, None, b'{"jsonrpc":"2.0","id":11,"method":"ping","params":{"q":"\xc3\x28"}}', 400),
        # JSONDecoder reads a null id as "" where MCP allows none.
        ({"Mcp-Session-Id": session}, None, b'{"jsonrpc":"2.0","id":null,"method":"ping"}', 400),
    ]
    for headers, body, raw, status in cases:
        answer = post(server, body, headers, raw)
        assert answer.status_code == status, (headers, (raw or b"")[:40], answer.status_code, answer.text[:300])
        assert error_of(answer)["message"], answer.text
    malformed = post(server, None, {"Mcp-Session-Id": session}, b'{"jsonrpc": "2.0", "id": 3, "method": ')
    assert error_of(malformed)["code"] == -32700
    deep = post(server, None, {"Mcp-Session-Id": session}, b"[" * 10_000 + b"]" * 10_000)
    assert "nests" in error_of(deep)["message"]

    # Params the SDK could not read are refused under the request's own id, in its POST's answer.
    unreadable = post(server, None, {"Mcp-Session-Id": session}, b'{"jsonrpc":"2.0","id":8,"method":"ping","params":{"x":1e999}}')
    assert unreadable.status_code == 200 and unreadable.json()["id"] == 8 and error_of(unreadable)["code"] == -32602
    # So are a request of another JSON-RPC version and one holding half a surrogate pair; what is no
    # request at all is refused with 400.
    other_version = post(server, None, {"Mcp-Session-Id": session}, b'{"jsonrpc":"1.0","id":12,"method":"ping"}')
    assert other_version.status_code == 200 and other_version.json()["id"] == 12, other_version.text
    assert error_of(other_version)["code"] == -32600 and "2.0" in error_of(other_version)["message"]
    half = post(server, None, {"Mcp-Session-Id": session}, b'{"jsonrpc":"2.0","id":14,"method":"ping","params":{"q":"\\ud800"}}')
    assert half.status_code == 200 and half.json()["id"] == 14 and error_of(half)["code"] == -32700, half.text
    # Without a session such a request (an initialize, say) is refused with its own reason.
    refused_initialize = post(server, None, {}, b'{"jsonrpc":"1.0","id":1,"method":"initialize","params":{}}')
    assert refused_initialize.status_code == 400 and "2.0" in error_of(refused_initialize)["message"], refused_initialize.text
    # Nesting is refused at the HTTP endpoint's own limit, 64, before anything deeper is read.
    nested = b'{"jsonrpc":"2.0","id":13,"method":"ping","params":{"x":' + b"[" * 63 + b"]" * 63 + b"}}"
    assert post(server, None, {"Mcp-Session-Id": session}, nested).status_code == 400
    assert "more than 64 deep" in error_of(post(server, None, {"Mcp-Session-Id": session}, nested))["message"]

    # A body over 1 MiB is refused unread.
    huge = post(server, None, {"Mcp-Session-Id": session}, b'{"jsonrpc":"2.0","id":5,"method":"ping","params":{"x":"'
                + b"a" * (2 << 20) + b'"}}')
    assert huge.status_code == 413 and "over 1048576 bytes" in huge.text, huge.text

    # No stream of the server's own messages to open; other methods are not served.
    get = httpx.get(server.url, headers=server.headers(**{"Mcp-Session-Id": session}), timeout=30)
    assert get.status_code == 405 and get.headers["allow"] == "POST, DELETE"
    assert httpx.put(server.url, headers=server.headers(), content=b"{}", timeout=30).status_code == 405

    # Headers over the limit: 400, and the connection is closed.
    big = httpx.post(server.url, json=INITIALIZE, headers=server.headers(**{"X-Padding": "a" * (64 << 10)}), timeout=30)
    assert big.status_code in (400, 431)

    # The session is still there, and a DELETE ends it.
    ping = post(server, {"jsonrpc": "2.0", "id": 6, "method": "ping"}, {"Mcp-Session-Id": session})
    assert ping.status_code == 200 and ping.json()["id"] == 6
    deleted = httpx.delete(server.url, headers=server.headers(**{"Mcp-Session-Id": session}), timeout=30)
    assert deleted.status_code == 200
    gone = post(server, {"jsonrpc": "2.0", "id": 7, "method": "ping"}, {"Mcp-Session-Id": session})
    assert gone.status_code == 404
    await still_serves(server)


async def test_slow_clients_do_not_hold_up_the_others(server):
    # Fifty connections that send part of their headers and then nothing: each holds a socket, not a thread.
    slow = []
    for _ in range(50):
        connection = socket.create_connection(("127.0.0.1", server.port), timeout=10)
        connection.sendall(b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nX-Slow: ")
        slow.append(connection)
    try:
        await still_serves(server)
    finally:
        for connection in slow:
            connection.close()


def trickle(connection: socket.socket, byte: bytes, most: int) -> int | None:
    """Sends `byte` once a second, up to `most` times; how many went before the server closed the
    connection (nothing is owed, so anything read means it is done with it), or None."""
    for sent in range(1, most):
        try:
            connection.sendall(byte)
            connection.settimeout(1.0)
            if connection.recv(1024) == b"":
                return sent
        except socket.timeout:
            continue
        except (BrokenPipeError, ConnectionResetError):
            return sent
    return None


def test_a_client_that_trickles_its_headers_is_cut_off(server):
    """One header byte a second never lets the connection go idle, so only the deadline on the whole
    head (10 s) ends it: the server closes the connection while the client is still writing."""
    connection = socket.create_connection(("127.0.0.1", server.port), timeout=30)
    connection.sendall(b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
    try:
        closed_after = trickle(connection, b"a", 40)
    finally:
        connection.close()
    assert closed_after is not None and closed_after < 30, "the trickling client was never cut off"


def test_a_client_that_trickles_its_body_is_cut_off(server):
    """A whole head (with the token), then the body one byte a second: the deadline on the body
    (30 s after the head) ends it, so a token holder cannot hold connections either."""
    connection = socket.create_connection(("127.0.0.1", server.port), timeout=30)
    head = (f"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nAuthorization: Bearer {server.token}\r\n"
            "Content-Type: application/json\r\nAccept: application/json, text/event-stream\r\nContent-Length: 100\r\n\r\n")
    connection.sendall(head.encode())
    try:
        closed_after = trickle(connection, b" ", 90)
    finally:
        connection.close()
    assert closed_after is not None and 20 < closed_after < 60, f"cut off after {closed_after} bytes"


async def test_a_thousand_abandoned_sessions_are_capped_and_cost_little_memory(server, report_figure):
    # The sessions earlier tests left open, closed (the client's DELETE) or still counted.
    already = sessions_open(server)
    before = sample(server.metrics(), "process_resident_memory_bytes ")
    statuses: list[int] = []
    refusals: list[str] = []
    opened_ids: list[str] = []

    async def opener(client: httpx.AsyncClient, count: int) -> None:
        for _ in range(count):
            answer = await client.post(server.url, json=INITIALIZE, headers=server.headers())
            statuses.append(answer.status_code)
            if answer.status_code == 200:
                opened_ids.append(answer.headers["mcp-session-id"])
            if answer.status_code == 503:
                refusals.append(error_of(answer)["message"])
                assert answer.headers["retry-after"]

    async with httpx.AsyncClient(timeout=60) as client:
        async with anyio.create_task_group() as group:
            for _ in range(20):
                group.start_soon(opener, client, 50)
    opened = statuses.count(200)
    assert opened == MAX_SESSIONS - already and statuses.count(503) == 1000 - opened, sorted(set(statuses))
    assert "Too many open sessions" in refusals[0]
    exposition = server.metrics()
    grown = sample(exposition, "process_resident_memory_bytes ") - before
    assert sessions_open(server) == MAX_SESSIONS
    # Bounded: the cap holds memory to what 200 sessions cost (tools/bench measures a session's cost
    # alone; here 20 clients at once also grow the allocator's arenas).
    assert grown < MAX_SESSIONS * 250_000, f"{grown / opened:.0f} bytes per session"
    report_figure(f"HTTP: {opened} of 1000 abandoned sessions opened, {statuses.count(503)} refused; "
                  f"resident memory grew {grown / 1e6:.1f} MB")
    # Full, the server still answers all but a new session, and a DELETE makes room for one.
    assert httpx.get(server.base + "/readyz", timeout=30).status_code == 200
    assert post(server, INITIALIZE).status_code == 503
    assert httpx.delete(server.url, headers=server.headers(**{"Mcp-Session-Id": opened_ids[0]}), timeout=30).status_code == 200
    assert post(server, INITIALIZE).status_code == 200


async def test_idle_sessions_are_closed_and_make_room(binary, model_dir, tmp_path):
    server = HTTPServer(binary, model_dir, tmp_path, args=["--max-sessions", "3", "--session-idle", "1"],
                        env={"MCP_RAG_DATA_DIR": str(tmp_path / "data")})
    try:
        server.wait_ready()
        abandoned = [server.session_id() for _ in range(3)]
        assert post(server, INITIALIZE).status_code == 503
        # Idle for a second, they are closed (the server checks a few times a second) ...
        with anyio.fail_after(30):
            while sessions_open(server) != 0:
                await anyio.sleep(0.1)
        gone = post(server, {"jsonrpc": "2.0", "id": 2, "method": "ping"}, {"Mcp-Session-Id": abandoned[0]})
        assert gone.status_code == 404 and "initialize a new session" in error_of(gone)["message"]
        # ... and a new client gets in.
        await still_serves(server)
    finally:
        server.stop()


def test_a_server_without_a_token_refuses_what_a_proxy_forwards(binary, model_dir, tmp_path):
    server = HTTPServer(binary, model_dir, tmp_path, token=None, env={"MCP_RAG_DATA_DIR": str(tmp_path / "data")})
    try:
        server.wait_ready()
        for header in ("Forwarded", "X-Forwarded-For", "X-Real-IP"):
            answer = httpx.post(server.url, json=INITIALIZE, headers=server.headers(**{header: "for=203.0.113.7"}), timeout=30)
            assert answer.status_code == 403 and "needs a token" in answer.text, (header, answer.status_code)
        # Straight from this machine it needs none.
        assert httpx.post(server.url, json=INITIALIZE, headers=server.headers(), timeout=30).status_code == 200
    finally:
        server.stop()



def test_a_server_on_another_loopback_address_answers_requests_that_name_it(binary, model_dir, tmp_path):
    # 127.0.0.2 is this machine too: requests naming it (as every client of that address does) are
    # served on /mcp as on /metrics, and other names still refused.
    server = HTTPServer(binary, model_dir, tmp_path, host="127.0.0.2", token=None,
                        env={"MCP_RAG_DATA_DIR": str(tmp_path / "data")})
    try:
        server.wait_ready()
        own = {"Host": f"127.0.0.2:{server.port}", "Origin": f"http://127.0.0.2:{server.port}"}
        answer = httpx.post(server.url, json=INITIALIZE, headers=server.headers(**own), timeout=30)
        assert answer.status_code == 200 and "mcp-session-id" in answer.headers, (answer.status_code, answer.text)
        assert httpx.get(server.base + "/metrics", headers=own, timeout=30).status_code == 200
        for headers, status in [({"Host": f"evil.example:{server.port}"}, 421), ({"Origin": "http://evil.example"}, 403)]:
            assert httpx.post(server.url, json=INITIALIZE, headers=server.headers(**headers), timeout=30).status_code == status
    finally:
        server.stop()


def test_a_server_without_a_token_serves_its_metrics_to_no_other_site(binary, model_dir, tmp_path):
    # DNS rebinding: a page on evil.example that resolves its name to 127.0.0.1 sends its own name
    # in Host, and its origin; without a token, nothing else stops it from reading /metrics.
    server = HTTPServer(binary, model_dir, tmp_path, token=None, env={"MCP_RAG_DATA_DIR": str(tmp_path / "data")})
    try:
        server.wait_ready()
        metrics = server.base + "/metrics"
        for headers, status in [({"Host": f"evil.example:{server.port}"}, 421),
                                ({"Host": f"127.a.evil.example:{server.port}"}, 421),
                                ({"Origin": f"http://evil.example:{server.port}"}, 403),
                                ({"Origin": "null"}, 403)]:
            answer = httpx.get(metrics, headers=headers, timeout=30)
            assert answer.status_code == status and "mcp_rag" not in answer.text, (headers, answer.status_code)
        assert httpx.get(metrics, headers={"Host": f"localhost:{server.port}"}, timeout=30).status_code == 200
        assert httpx.get(metrics, headers={"Origin": f"http://127.0.0.1:{server.port}"}, timeout=30).status_code == 200
        exposition = httpx.get(metrics, timeout=30).text
        assert "mcp_rag_ready 1" in exposition and "mcp_rag_http_sessions_open " in exposition
        # Prometheus' own linter on what the HTTP server exposes (the stdio endpoint's is checked in test_metrics).
        check = subprocess.run(["promtool", "check", "metrics"], input=exposition, capture_output=True, text=True)
        assert check.returncode == 0, check.stdout + check.stderr
    finally:
        server.stop()
