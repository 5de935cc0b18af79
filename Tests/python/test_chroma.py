"""Chroma end to end: the real binary with its vectors in a real `chroma run`, checked by Chroma's own
Python client, and what it does when Chroma is killed and restarted."""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import anyio
import pytest

from mcp_support import beir_test_queries, connected, server_parameters, structured, write_beir_corpus, write_corpus
from servers import ChromaServer

pytestmark = pytest.mark.anyio


@pytest.fixture
def docs(tmp_path) -> Path:
    write_corpus(tmp_path / "docs", 16)
    return tmp_path / "docs"


def chroma_params(binary, data: Path, model_dir, docs: Path, url: str, collection: str, **extra: str):
    return server_parameters(binary, data, model_dir, allowed_roots=[docs],
                             extra_env={"CHROMA_URL": url, "CHROMA_COLLECTION": collection, **extra})


async def test_searches_run_in_chroma_and_chromas_own_client_agrees(binary, model_dir, tmp_path, docs):
    url = os.environ["MCP_RAG_TEST_CHROMA_URL"]
    collection = f"e2e-{uuid.uuid4().hex[:8]}"
    params = chroma_params(binary, tmp_path / "data", model_dir, docs, url, collection)
    question = "how does the caching layer handle case 42"
    async with connected(params) as (session, _):
        report = structured(await session.call_tool("ingest_documents", {"paths": [str(docs)], "technology": "notes"}))
        assert report["chunks_added"] > 0
        answer = structured(await session.call_tool("query_knowledge_base",
                                                    {"query": question, "mode": "semantic", "n_results": 5}))
        health = structured(await session.call_tool("health_check", {}))
        deep = structured(await session.call_tool("health_check", {"level": "deep"}))
    assert answer["mode"] == "semantic" and answer["degraded"] is False and len(answer["results"]) == 5
    # The deep probe searches where searches run: in Chroma.
    assert deep["status"] == "healthy" and deep["dependencies"]["search"]["status"] == "healthy", deep
    store = health["dependencies"]["vector_store"]
    assert store["status"] == "healthy" and store["facts"]["backend"] == "chroma", store
    assert store["circuit_breaker"] == "closed"
    assert store["facts"]["count"] == store["facts"]["ledger_chunks"] == str(report["chunks_added"])
    assert store["facts"]["pending"] == "0"
    # Chroma searches the vectors, so none are held in memory nor written to a snapshot file.
    assert health["process"]["vector_bytes"] == 0, health["process"]
    assert not (tmp_path / "data" / "knowledge.sqlite3-vectors").exists()

    # Chroma's own client, given the embedding mcp-rag computes for the question, finds the same
    # passages in the same order in the collection mcp-rag wrote.
    embedded = subprocess.run([binary, "embed", "--text", question, "--model-dir", str(model_dir)],
                              capture_output=True, text=True, timeout=60)
    assert embedded.returncode == 0, embedded.stderr
    vector = json.loads(embedded.stdout)["embedding"]
    import chromadb
    parts = urlsplit(url)
    client = chromadb.HttpClient(host=parts.hostname, port=parts.port)
    theirs = client.get_collection(collection).query(query_embeddings=[vector], n_results=5, include=["distances"])
    assert theirs["ids"][0] == [result["id"] for result in answer["results"]]
    for distance, result in zip(theirs["distances"][0], answer["results"]):
        assert abs((1 - distance) - result["score"]) < 1e-4
    client.delete_collection(collection)


async def test_killing_chroma_degrades_to_keywords_and_a_restart_brings_full_answers_back(
        binary, model_dir, tmp_path, docs):
    chroma = ChromaServer(tmp_path / "chroma")
    chroma.start()
    try:
        params = chroma_params(binary, tmp_path / "data", model_dir, docs, chroma.url, "killed",
                               MCP_RAG_BREAKER_OPEN_SECONDS="1", MCP_RAG_CACHE_TTL="0")
        async with connected(params) as (session, _):
            structured(await session.call_tool("ingest_documents", {"paths": [str(docs)], "technology": "notes"}))
            degraded = []
            for index in range(60):
                if index == 20:
                    chroma.kill()
                answer = structured(await session.call_tool(
                    "query_knowledge_base", {"query": f"note {index % 16} about the storage layer"}))
                assert answer["results"], f"query {index} found nothing"
                if index < 20:
                    assert answer["mode"] == "hybrid" and answer["degraded"] is False
                else:
                    degraded.append(answer)
            assert all(a["degraded"] and a["mode"] == "keyword" for a in degraded), [a["mode"] for a in degraded]
            assert "Chroma" in degraded[-1]["degraded_reason"] or "chroma" in degraded[-1]["degraded_reason"]
            health = structured(await session.call_tool("health_check", {}))
            store = health["dependencies"]["vector_store"]
            assert store["status"] == "degraded" and store["circuit_breaker"] in ("open", "half_open"), store
            assert int(store["facts"]["breaker_opened"]) >= 1
            # Degraded, not unhealthy: the answers go on from keywords.
            deep = structured(await session.call_tool("health_check", {"level": "deep"}))
            assert deep["status"] == "degraded", deep

            # An ingest while Chroma is down keeps its vectors for later and says so.
            (docs / "late.md").write_text("# Late\n\nA quokka arrived after Chroma went away.\n", encoding="utf-8")
            late = await session.call_tool("ingest_documents", {"paths": [str(docs)], "technology": "notes"})
            assert late.is_error and "run the same ingest again" in late.content[0].text.lower()

            chroma.start()
            deadline = time.monotonic() + 30
            answer = None
            while time.monotonic() < deadline:
                answer = structured(await session.call_tool("query_knowledge_base", {"query": "note 3 about the storage layer"}))
                if not answer["degraded"]:
                    break
                await anyio.sleep(0.3)
            assert answer and answer["degraded"] is False and answer["mode"] == "hybrid", answer

            again = structured(await session.call_tool("ingest_documents", {"paths": [str(docs)], "technology": "notes"}))
            assert again["files_written"] == 0, "the late file was already in the ledger"
            health = structured(await session.call_tool("health_check", {}))
            store = health["dependencies"]["vector_store"]
            assert store["status"] == "healthy" and store["circuit_breaker"] == "closed", store
            assert store["facts"]["pending"] == "0"
            assert store["facts"]["count"] == store["facts"]["ledger_chunks"], "Chroma and the ledger agree again"
            found = structured(await session.call_tool("query_knowledge_base", {"query": "quokka arrived", "mode": "semantic"}))
            assert found["results"][0]["source"].endswith("late.md")
    finally:
        chroma.stop()


async def test_the_whole_scifact_corpus_goes_into_chroma_and_is_searched_there(binary, model_dir, tmp_path):
    """The benchmark corpus, 5,183 documents, ingested with Chroma configured: every chunk arrives,
    semantic search in Chroma's index finds what the exact embedded search finds, and removing a
    source removes its vectors."""
    dataset = os.environ.get("MCP_RAG_TEST_SCIFACT")
    if not dataset:
        pytest.skip("MCP_RAG_TEST_SCIFACT is not set: tools/test sets it when ../shared/datasets/scifact exists")
    dataset = Path(dataset)
    url = os.environ["MCP_RAG_TEST_CHROMA_URL"]
    collection = f"scifact-{uuid.uuid4().hex[:8]}"
    corpus, data = tmp_path / "scifact", tmp_path / "data"
    documents = write_beir_corpus(dataset, corpus)
    env = {**os.environ, "MCP_RAG_DATA_DIR": str(data), "MCP_RAG_MODEL_DIR": str(model_dir),
           "MCP_RAG_LOG_LEVEL": "error", "CHROMA_URL": url, "CHROMA_COLLECTION": collection}
    import chromadb
    parts = urlsplit(url)
    client = chromadb.HttpClient(host=parts.hostname, port=parts.port)
    try:
        run = subprocess.run([binary, "ingest", str(corpus), "--technology", "scifact", "--json"],
                             env=env, capture_output=True, text=True, timeout=1800)
        assert run.returncode == 0, run.stderr
        report = json.loads(run.stdout)
        assert report["files_scanned"] == documents == 5183
        assert client.get_collection(collection).count() == report["chunks_added"] > documents

        questions = beir_test_queries(dataset)[:40]
        remote = chroma_params(binary, data, model_dir, corpus, url, collection, MCP_RAG_CACHE_TTL="0")
        local = server_parameters(binary, data, model_dir, extra_env={"MCP_RAG_CACHE_TTL": "0"})
        rankings = {}
        for name, params in (("chroma", remote), ("embedded", local)):
            async with connected(params) as (session, _):
                answers = [structured(await session.call_tool(
                    "query_knowledge_base", {"query": question, "mode": "semantic", "n_results": 10}))
                    for question in questions]
            assert all(a["mode"] == "semantic" and not a["degraded"] for a in answers), name
            rankings[name] = [[result["id"] for result in answer["results"]] for answer in answers]
        # Chroma's index is approximate (HNSW), the embedded search exact: nearly all of the top ten
        # agree, and the best passage almost always.
        overlap = sum(len(set(c) & set(e)) for c, e in zip(rankings["chroma"], rankings["embedded"])) / (10 * len(questions))
        first = sum(c[0] == e[0] for c, e in zip(rankings["chroma"], rankings["embedded"])) / len(questions)
        assert overlap >= 0.95 and first >= 0.95, (overlap, first)

        async with connected(remote) as (session, _):
            sources = structured(await session.call_tool("list_sources", {}))["sources"]
            gone = max(sources, key=lambda source: source["chunks"])
            structured(await session.call_tool("remove_source", {"source": gone["source"]}))
        assert client.get_collection(collection).count() == report["chunks_added"] - gone["chunks"]
    finally:
        try:
            client.delete_collection(collection)
        except Exception:  # noqa: BLE001 - the ingest may have failed before creating it
            pass
