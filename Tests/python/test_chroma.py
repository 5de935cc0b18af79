"""Chroma end to end: the real binary with its vectors in a real `chroma run`, checked by Chroma's own
Python client, and what it does when Chroma is killed and restarted."""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from pathlib import Path

import anyio
import pytest

from mcp_support import (chroma_client, connected, drop_chroma_collection, passages_collection, server_parameters, structured,
                          write_corpus)
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
    theirs = passages_collection(url, collection).query(query_embeddings=[vector], n_results=5, include=["distances"])
    assert theirs["ids"][0] == [result["id"] for result in answer["results"]]
    for distance, result in zip(theirs["distances"][0], answer["results"]):
        assert abs((1 - distance) - result["score"]) < 1e-4
    drop_chroma_collection(url, collection)


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
            # Still ready: keyword answers need only the ledger, so a probe must not take the server out.
            assert health["ready"] is True, health
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


def test_scifact_through_chroma_by_a_process_that_never_ingested_it_scores_as_the_embedded_store(
        binary, model_dir, tmp_path):
    """The benchmark corpus, 5,183 documents, evaluated twice by `mcp-rag eval`: in the embedded store,
    then sent to a real Chroma (the same vectors, none computed again) and asked of an empty data
    folder that copies the collection, as a second machine would: nDCG@10 within 0.005 in every mode."""
    dataset = os.environ.get("MCP_RAG_TEST_SCIFACT")
    if not dataset:
        pytest.skip("MCP_RAG_TEST_SCIFACT is not set: tools/test sets it when ../shared/datasets/scifact exists")
    url = os.environ["MCP_RAG_TEST_CHROMA_URL"]
    collection = f"scifact-{uuid.uuid4().hex[:8]}"
    data = tmp_path / "data"
    env = {key: value for key, value in os.environ.items()
           if key not in ("REDIS_URL", "CHROMA_URL", "MCP_RAG_DATA_DIR")}
    env.update({"MCP_RAG_MODEL_DIR": str(model_dir), "MCP_RAG_LOG_LEVEL": "error", "TMPDIR": str(tmp_path)})

    def evaluate(*extra: str, **settings: str) -> dict:
        run = subprocess.run([binary, "eval", dataset, "--data-dir", str(data), "--json", *extra],
                             env={**env, **settings}, capture_output=True, text=True, timeout=1800)
        assert run.returncode == 0, run.stderr
        return json.loads(run.stdout)

    client = chroma_client(url)
    try:
        embedded = evaluate()
        assert embedded["ingest"]["documents"] == 5183
        through = evaluate("--through-chroma", CHROMA_URL=url, CHROMA_COLLECTION=collection)
        assert through["ingest"]["chunks_embedded"] == 0, "the stored vectors are sent, not computed again"
        passages = passages_collection(url, collection)
        assert passages.count() == embedded["ingest"]["chunks"]
        assert len(client.get_collection(passages.name + "-sources").get(include=[])["ids"]) == 5183 - \
            embedded["ingest"]["documents_empty"]
        scores = {mode["mode"]: mode["scores"]["ndcg@10"] for mode in embedded["modes"]}
        for mode in through["modes"]:
            # Chroma's index is approximate (HNSW), the embedded search exact; keyword search runs on
            # the copy, which holds the same passages.
            assert abs(mode["scores"]["ndcg@10"] - scores[mode["mode"]]) <= 0.005, (mode, scores)
        # The figures docs/performance.md reports, in the test's log.
        for report in (embedded, through):
            print(report["searched"], [(m["mode"], m["scores"]["ndcg@10"], m["p50_ms"], m["p99_ms"]) for m in report["modes"]])
    finally:
        drop_chroma_collection(url, collection)


def test_each_model_has_its_own_collection_and_a_folder_opened_with_another_model_sends_it_nothing(
        binary, model_dir, tmp_path):
    """Two models of the same width on one CHROMA_COLLECTION: their vectors go to two collections,
    `<base>-<fingerprint>`, each named in its metadata; a data folder embedded by one and opened with
    the other answers by keywords and leaves both collections as they were."""
    from test_cli import clean_env, run, run_json
    from test_embed_cli import e5_shaped_model
    from mcp_support import collection_names

    url, base = os.environ["MCP_RAG_TEST_CHROMA_URL"], f"models-{uuid.uuid4().hex[:8]}"
    e5_shaped = e5_shaped_model(model_dir, tmp_path / "e5-shaped")
    env = {**clean_env(tmp_path, model_dir), "CHROMA_URL": url, "CHROMA_COLLECTION": base}
    write_corpus(tmp_path / "many", 6)
    write_corpus(tmp_path / "few", 2)
    try:
        minilm, _ = run_json(binary, "ingest", str(tmp_path / "many"), "--technology", "notes", "--data-dir", str(tmp_path / "a"), env=env,
                             timeout=120)
        e5, _ = run_json(binary, "ingest", str(tmp_path / "few"), "--technology", "notes", "--data-dir", str(tmp_path / "b"),
                         env={**env, "MCP_RAG_MODEL_DIR": str(e5_shaped)}, timeout=120)
        assert minilm["chunks_added"] != e5["chunks_added"]

        def counts() -> dict[str, int]:
            client = chroma_client(url)
            names = [name for name in collection_names(url) if name.startswith(base + "-") and not name.endswith("-sources")]
            found = {name: client.get_collection(name) for name in names}
            for name, collection in found.items():
                assert collection.metadata["mcp_rag_model"] == name.removeprefix(base + "-")
                assert len(name.removeprefix(base + "-")) == 16
                # The digest of the model's weights beside it (a fine-tune shares the fingerprint).
                assert len(collection.metadata["mcp_rag_weights"]) == 16, collection.metadata
            return {name: collection.count() for name, collection in found.items()}

        before = counts()
        assert sorted(before.values()) == sorted([minilm["chunks_added"], e5["chunks_added"]]), before

        # The MiniLM folder opened with the e5-shaped model: keyword answers, saying why; nothing sent.
        answer, _ = run_json(binary, "query", "storage", "--mode", "hybrid", "--data-dir", str(tmp_path / "a"),
                             env={**env, "MCP_RAG_MODEL_DIR": str(e5_shaped)}, timeout=120)
        assert answer["degraded"] is True and "another embedding model" in answer["degraded_reason"], answer
        refused = run(binary, "ingest", str(tmp_path / "few"), "--technology", "notes", "--data-dir", str(tmp_path / "a"),
                      env={**env, "MCP_RAG_MODEL_DIR": str(e5_shaped)}, timeout=120)
        assert refused.returncode != 0
        assert counts() == before

        # A collection under MiniLM's name whose metadata names another model is never written to.
        minilm_name = next(name for name, count in before.items() if count == minilm["chunks_added"])
        fingerprint = minilm_name.removeprefix(base + "-")
        chroma_client(url).create_collection(f"{base}-other-{fingerprint}", metadata={"mcp_rag_model": "0" * 16})
        mislabelled = run(binary, "ingest", str(tmp_path / "few"), "--technology", "notes", "--data-dir", str(tmp_path / "c"),
                          env={**env, "CHROMA_COLLECTION": f"{base}-other"}, timeout=120)
        assert "holds the vectors of the model 0000000000000000" in mislabelled.stdout + mislabelled.stderr, mislabelled
        assert chroma_client(url).get_collection(f"{base}-other-{fingerprint}").count() == 0
    finally:
        drop_chroma_collection(url, base)
