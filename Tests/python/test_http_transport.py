"""MCP over Streamable HTTP (`mcp-rag serve --http`, issue 27): the official Python MCP client's
HTTP transport against the real binary, next to the same knowledge base over stdio; many clients at
once; cancellation; the read-only mode; SIGTERM with clients connected."""

from __future__ import annotations

import json
import subprocess
import time

import anyio
import httpx
import pytest

from http_support import INITIALIZE, TOKEN, HTTPServer, http_session, sample
from mcp_support import command_env, connected, free_port, server_parameters, structured, write_corpus

pytestmark = pytest.mark.anyio

QUESTIONS = [f"how does the {topic} layer handle case {number}"
             for topic in ["storage", "network", "security", "memory", "scheduling"] for number in range(10)]


@pytest.fixture(scope="module")
def knowledge_base(binary, model_dir, tmp_path_factory):
    """A data folder with 16 notes ingested by the CLI, and the folder it may ingest from."""
    root = tmp_path_factory.mktemp("http")
    notes = root / "notes"
    write_corpus(notes, 16)
    ingest = subprocess.run([binary, "ingest", str(notes), "--technology", "notes", "--data-dir", str(root / "data")],
                            env=command_env(root, model_dir), capture_output=True, text=True, timeout=300)
    assert ingest.returncode == 0, ingest.stderr
    return root


@pytest.fixture(scope="module")
def server(binary, model_dir, knowledge_base):
    """One HTTP server on that knowledge base, without a result cache so every question is searched."""
    root = knowledge_base
    server = HTTPServer(binary, model_dir, root, env={
        "MCP_RAG_DATA_DIR": str(root / "data"), "MCP_RAG_ALLOWED_ROOTS": str(root), "MCP_RAG_CACHE_TTL": "0"})
    server.wait_ready()
    yield server
    server.stop()


async def stdio_results(binary, model_dir, root, questions) -> dict[str, list]:
    """Each question's results from a stdio server on the same knowledge base."""
    params = server_parameters(binary, root / "data", model_dir, extra_env={"MCP_RAG_CACHE_TTL": "0"})
    async with connected(params) as (session, _):
        return {q: structured(await session.call_tool("query_knowledge_base", {"query": q}))["results"] for q in questions}


async def test_every_tool_answers_over_http_as_over_stdio(binary, model_dir, knowledge_base, server):
    root = knowledge_base
    extra = root / "extra"
    write_corpus(extra, 4)
    expected = await stdio_results(binary, model_dir, root, QUESTIONS[:5])
    async with http_session(server.url) as session:
        names = [tool.name for tool in (await session.list_tools()).tools]
        assert names == ["query_knowledge_base", "health_check", "get_cache_warming_stats", "verify_gpu_acceleration",
                         "list_sources", "ingest_documents", "remove_source"]
        for question in QUESTIONS[:5]:
            answer = structured(await session.call_tool("query_knowledge_base", {"query": question}))
            assert answer["results"] == expected[question]
            assert len(answer["results"]) > 0

        progress = []

        async def on_progress(done, total, message):
            progress.append((done, total, message))

        report = structured(await session.call_tool("ingest_documents", {"paths": [str(extra)], "technology": "extra"},
                                                    progress_callback=on_progress))
        assert report["files_written"] == 4
        assert progress and progress[-1][0] == progress[-1][1] == 4.0, progress
        assert all(later[0] >= earlier[0] for earlier, later in zip(progress, progress[1:]))

        sources = structured(await session.call_tool("list_sources", {}))
        assert sources["total_sources"] == 16 + 4
        health = structured(await session.call_tool("health_check", {}))
        assert health["ready"] is True
        stats = structured(await session.call_tool("get_cache_warming_stats", {"top_n": 3}))
        assert stats["total_queries"] >= 5
        gpu = structured(await session.call_tool("verify_gpu_acceleration", {}))
        assert "backend" in json.dumps(gpu)
        removed = structured(await session.call_tool("remove_source", {"source": str(extra / "note-0000.md")}))
        assert removed["chunks_removed"] > 0

        unknown = await session.call_tool("query_knowledge_base", {"query": ""})
        assert unknown.is_error

    exposition = server.metrics()
    assert sample(exposition, 'mcp_rag_tool_calls_total{tool="ingest_documents",outcome="ok"}') >= 1
    assert sample(exposition, 'mcp_rag_embedded_texts_total{work="bulk"}') >= 1
    assert sample(exposition, 'mcp_rag_embedding_seconds_total{work="query"}') > 0


async def test_32_clients_asking_50_questions_each_get_the_stdio_answers(binary, model_dir, knowledge_base, server, report_figure):
    expected = await stdio_results(binary, model_dir, knowledge_base, QUESTIONS)
    answered = []
    opened = []

    async def client(number: int) -> None:
        async with http_session(server.url) as session:
            opened.append(sample(server.metrics(), "mcp_rag_http_sessions_open "))
            # Each client asks the questions in an order of its own.
            for question in QUESTIONS[number % len(QUESTIONS):] + QUESTIONS[:number % len(QUESTIONS)]:
                answer = structured(await session.call_tool("query_knowledge_base", {"query": question}))
                assert answer["results"] and answer["results"] == expected[question], question
                answered.append(question)

    async with anyio.create_task_group() as group:
        for number in range(32):
            group.start_soon(client, number)
    assert len(answered) == 32 * 50
    assert max(opened) > 1, "the sessions were open at the same time"
    # Closed by the client (DELETE) as each one ended.
    assert sample(server.metrics(), "mcp_rag_http_sessions_open ") == 0
    report_figure(f"HTTP: 32 sessions answered {len(answered)} questions, each as over stdio")


async def test_a_cancelled_ingest_stops_and_the_session_goes_on(knowledge_base, server):
    big = knowledge_base / "big"
    write_corpus(big, 300, paragraphs=6)
    def cancelled() -> float:
        """Ingests the server cancelled, from its metrics (the series appears with the first)."""
        exposition = server.metrics()
        prefix = 'mcp_rag_tool_calls_total{tool="ingest_documents",outcome="cancelled"}'
        return sample(exposition, prefix) if prefix in exposition else 0

    before = cancelled()
    async with http_session(server.url) as session:
        started = anyio.Event()

        async def on_progress(done, total, message):
            started.set()

        async def ingest():
            await session.call_tool("ingest_documents", {"paths": [str(big)], "technology": "big"}, progress_callback=on_progress)

        async with anyio.create_task_group() as group:
            group.start_soon(ingest)
            await started.wait()
            group.cancel_scope.cancel()

        # The server stopped the call (the client sent notifications/cancelled) and answers the next.
        with anyio.fail_after(60):
            while cancelled() <= before:
                await anyio.sleep(0.1)
        answer = structured(await session.call_tool("query_knowledge_base", {"query": QUESTIONS[0]}))
        assert answer["results"]
        sources = structured(await session.call_tool("list_sources", {"technology_filter": "big"}))
        assert sources["total_sources"] < 300, "an ingest of 300 files does not finish in the moment after its first progress"


async def test_a_read_only_server_on_any_address_serves_only_what_reads(binary, model_dir, knowledge_base, tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text("read-only-token-91d2c7a4e5f6\n")
    root = knowledge_base
    server = HTTPServer(binary, model_dir, tmp_path, host="0.0.0.0", token=None,
                        args=["--read-only", "--http-token-file", str(token_file)],
                        env={"MCP_RAG_DATA_DIR": str(root / "data"), "MCP_RAG_ALLOWED_ROOTS": str(root)})
    try:
        server.wait_ready()
        assert httpx.post(server.url, json={}, headers=server.headers(), timeout=10).status_code == 401
        async with http_session(server.url, token="read-only-token-91d2c7a4e5f6") as session:
            names = [tool.name for tool in (await session.list_tools()).tools]
            assert names == ["query_knowledge_base", "health_check", "get_cache_warming_stats", "verify_gpu_acceleration",
                             "list_sources"]
            with pytest.raises(Exception, match="read-only"):
                await session.call_tool("ingest_documents", {"paths": [str(root / "notes")], "technology": "x"})
            with pytest.raises(Exception, match="read-only"):
                await session.call_tool("remove_source", {"source": str(root / "notes" / "note-0001.md")})
            assert structured(await session.call_tool("query_knowledge_base", {"query": QUESTIONS[1]}))["results"]
        assert "read-only-token-91d2c7a4e5f6" not in server.log()
    finally:
        server.stop()


async def test_sigterm_with_clients_connected_answers_what_runs_and_exits(binary, model_dir, tmp_path):
    docs = tmp_path / "docs"
    write_corpus(docs, 300, paragraphs=6)
    server = HTTPServer(binary, model_dir, tmp_path, env={"MCP_RAG_DATA_DIR": str(tmp_path / "data"),
                                                          "MCP_RAG_ALLOWED_ROOTS": str(docs)})
    server.wait_ready()
    outcomes: dict[str, list] = {"answered": [], "refused": [], "ingest": []}
    ingesting = anyio.Event()

    async def asker(number: int) -> None:
        try:
            async with http_session(server.url) as session:
                while True:
                    result = await session.call_tool("query_knowledge_base", {"query": QUESTIONS[number]})
                    outcomes["answered"].append(result)
        except Exception as error:  # noqa: BLE001 - the end of the server ends every client
            outcomes["refused"].append(repr(error))

    async def ingester() -> None:
        async def on_progress(done, total, message):
            ingesting.set()
        try:
            async with http_session(server.url) as session:
                result = await session.call_tool("ingest_documents", {"paths": [str(docs)], "technology": "t"},
                                                 progress_callback=on_progress)
                outcomes["ingest"].append(result)
        except Exception as error:  # noqa: BLE001
            outcomes["ingest"].append(repr(error))
            ingesting.set()

    with anyio.fail_after(120):
        async with anyio.create_task_group() as group:
            group.start_soon(ingester)
            await ingesting.wait()
            for number in range(8):
                group.start_soon(asker, number)
            while len(outcomes["answered"]) < 16:
                await anyio.sleep(0.05)
            status = await anyio.to_thread.run_sync(server.terminate)
    assert status == 0, server.log()[-3000:]
    assert len(outcomes["refused"]) == 8, "every client ended once the server did"
    assert all(not result.is_error for result in outcomes["answered"])
    # The ingest in flight was stopped and answered saying so.
    [ingest] = outcomes["ingest"]
    assert not isinstance(ingest, str), ingest
    assert ingest.is_error and "shutting down" in ingest.content[0].text, ingest
    assert TOKEN not in server.log()


def test_an_http_server_that_must_not_start_says_why(binary, model_dir, tmp_path):
    env = command_env(tmp_path, model_dir, MCP_RAG_DATA_DIR=str(tmp_path / "data"))
    cases = [
        (["--http", "0.0.0.0:8765"], "without a token"),
        (["--http", "127.0.0.1:8765", "--metrics", "127.0.0.1:8766"], "--metrics is for stdio"),
        (["--http", "127.0.0.1:99999"], "--http"),
        (["--http", "127.0.0.1:8765", "--allowed-origin", "evil.example"], "not a web origin"),
        (["--max-sessions", "5"], "only with --http"),
        (["--max-in-flight", "4"], "only with --http"),
        (["--http", "127.0.0.1:8765", "--max-in-flight", "0"], "--max-in-flight"),
    ]
    for args, reason in cases:
        result = subprocess.run([binary, "serve", *args], env=env, capture_output=True, text=True, timeout=60,
                                stdin=subprocess.DEVNULL)
        assert result.returncode != 0 and reason in result.stderr, (args, result.stderr)
        assert result.stdout == ""


def test_the_http_settings_are_read_from_the_environment_too(binary, model_dir, tmp_path):
    """MCP_RAG_HTTP and its companions, as a container or a systemd unit sets them, with no flag."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = command_env(tmp_path, model_dir, MCP_RAG_DATA_DIR=str(tmp_path / "data"), MCP_RAG_HTTP=f"127.0.0.1:{port}",
                      MCP_RAG_HTTP_MAX_SESSIONS="2", MCP_RAG_HTTP_SESSION_IDLE="600",
                      MCP_RAG_HTTP_ALLOWED_ORIGINS="http://app.example, https://docs.example:8443")
    process = subprocess.Popen([binary, "serve"], env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=(tmp_path / "stderr.log").open("wb"))
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            assert process.poll() is None, (tmp_path / "stderr.log").read_text()
            try:
                if httpx.get(base + "/readyz", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        headers = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
        opened = [httpx.post(base + "/mcp", json=INITIALIZE, headers={**headers, "Origin": origin}, timeout=30)
                  for origin in ["http://app.example", "https://docs.example:8443"]]
        assert [answer.status_code for answer in opened] == [200, 200], "the origins the variable allows"
        # The protocol revision the issue names, negotiated as the client asked.
        assert opened[0].headers["content-type"].startswith("application/json")
        assert opened[0].json()["result"]["protocolVersion"] == "2025-11-25"
        refused = httpx.post(base + "/mcp", json=INITIALIZE, headers={**headers, "Origin": "http://evil.example"}, timeout=30)
        assert refused.status_code == 403
        full = httpx.post(base + "/mcp", json=INITIALIZE, headers=headers, timeout=30)
        assert full.status_code == 503 and "Retry-After" in full.headers, "two sessions at most"
    finally:
        process.terminate()
        process.wait(timeout=30)
    # A bad value names the variable, and nothing starts.
    for name, value in [("MCP_RAG_HTTP", "127.0.0.1:http"), ("MCP_RAG_HTTP_MAX_SESSIONS", "0"),
                        ("MCP_RAG_HTTP_MAX_IN_FLIGHT", "2000"), ("MCP_RAG_HTTP_SESSION_IDLE", "forever")]:
        bad = command_env(tmp_path, model_dir, MCP_RAG_DATA_DIR=str(tmp_path / "other"), MCP_RAG_HTTP=f"127.0.0.1:{port}")
        bad[name] = value
        result = subprocess.run([binary, "serve"], env=bad, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
        assert result.returncode != 0 and name in result.stderr, (name, result.stderr)
        assert not (tmp_path / "other").exists()


def test_config_for_a_remote_server_refers_to_the_token_without_printing_it(binary, tmp_path):
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "MCP_RAG_HTTP_TOKEN": TOKEN}
    gemini = subprocess.run([binary, "config", "gemini", "--http", "http://10.1.2.3:8765"], env=env,
                            capture_output=True, text=True, timeout=60)
    assert gemini.returncode == 0, gemini.stderr
    entry = json.loads(gemini.stdout)["mcpServers"]["mcp-rag"]
    assert entry["httpUrl"] == "http://10.1.2.3:8765/mcp"
    assert entry["headers"] == {"Authorization": "Bearer ${MCP_RAG_HTTP_TOKEN}"}
    claude = subprocess.run([binary, "config", "claude", "--http", "https://kb.example.com/mcp"], env=env,
                            capture_output=True, text=True, timeout=60)
    assert claude.returncode == 0, claude.stderr
    entry = json.loads(claude.stdout)["mcpServers"]["mcp-rag"]
    assert entry["command"] == "npx" and "https://kb.example.com/mcp" in entry["args"]
    assert entry["env"] == {"MCP_RAG_AUTHORIZATION": "Bearer <TOKEN>"}
    assert TOKEN not in gemini.stdout + gemini.stderr + claude.stdout + claude.stderr
    # Without a token here, the entry for another machine's server says it will be refused.
    bare = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    untokened = subprocess.run([binary, "config", "gemini", "--http", "http://10.1.2.3:8765"], env=bare,
                               capture_output=True, text=True, timeout=60)
    assert untokened.returncode == 0 and "headers" not in json.loads(untokened.stdout)["mcpServers"]["mcp-rag"]
    assert "needs one" in untokened.stderr, untokened.stderr
    local = subprocess.run([binary, "config", "gemini", "--http", "http://127.0.0.1:8765"], env=bare,
                           capture_output=True, text=True, timeout=60)
    assert local.returncode == 0 and "needs one" not in local.stderr, "a loopback server needs no token"
    bad = subprocess.run([binary, "config", "gemini", "--http", "file:///etc/passwd"], env=env,
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode != 0 and "not the URL of a server" in bad.stderr
    # mcp-remote takes plain HTTP only to localhost and 127.0.0.1 unless told --allow-http; the
    # note says what crosses the network unencrypted.
    for url, allowed, warned in [("http://10.1.2.3:8765/mcp", True, True), ("http://127.0.0.2:8765/mcp", True, False),
                                 ("http://127.0.0.1:8765/mcp", False, False), ("https://kb.example.com/mcp", False, False)]:
        plain = subprocess.run([binary, "config", "claude", "--http", url], env=env, capture_output=True, text=True, timeout=60)
        assert plain.returncode == 0, plain.stderr
        arguments = json.loads(plain.stdout)["mcpServers"]["mcp-rag"]["args"]
        assert arguments[:3] == ["-y", "mcp-remote", url] and ("--allow-http" in arguments) == allowed, (url, arguments)
        assert ("unencrypted" in plain.stderr) == warned and ("the token" in plain.stderr) == warned, (url, plain.stderr)
