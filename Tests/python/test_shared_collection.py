"""Several mcp-rag processes, each with a data folder of its own (as on separate machines), sharing
one real Chroma collection and one real Redis: what one ingests or removes, the others answer from."""

from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid
from pathlib import Path

import anyio
import pytest

from servers import ChromaServer
from mcp_support import (check_store, chroma_client, connected, drop_chroma_collection, passages_collection, read_store,
                          server_parameters, structured, write_corpus)

pytestmark = pytest.mark.anyio

QUESTIONS = ["how does the caching layer handle case 42", "security layer detail", "note 5 about logging"]


def shared_params(binary, model_dir, data: Path, roots: list[Path], collection: str, prefix: str,
                  chroma: str | None = None, **extra: str):
    return server_parameters(binary, data, model_dir, allowed_roots=roots, extra_env={
        "CHROMA_URL": chroma or os.environ["MCP_RAG_TEST_CHROMA_URL"], "CHROMA_COLLECTION": collection,
        "REDIS_URL": os.environ["MCP_RAG_TEST_REDIS_URL"], "MCP_RAG_REDIS_PREFIX": prefix,
        # Every answer is computed, so what is compared is what each process found.
        "MCP_RAG_CACHE_TTL": "0", **extra,
    })


async def answers(session) -> list[dict]:
    """Every question in every mode, as a client sees the results."""
    found = []
    for question in QUESTIONS:
        for mode in ("semantic", "keyword", "hybrid"):
            answer = structured(await session.call_tool("query_knowledge_base",
                                                        {"query": question, "mode": mode, "n_results": 8}))
            assert answer["mode"] == mode and not answer["degraded"], answer
            found.append({"question": question, "mode": mode,
                          "results": [{key: result[key] for key in ("id", "text", "source", "heading", "technology")}
                                      | {"score": round(result["score"], 4)} for result in answer["results"]]})
    return found


async def listed(session) -> list[tuple[str, str, int]]:
    listing = structured(await session.call_tool("list_sources", {"limit": 200}))
    return sorted((entry["source"], entry["technology"], entry["chunks"]) for entry in listing["sources"])


async def eventually(check, seconds: float = 5.0):
    """`check()` (async, returning a truth value) true within `seconds`, asked again as soon as it
    answers: how long another process takes to see a change is the bound under test."""
    deadline = time.monotonic() + seconds
    while True:
        if await check():
            return time.monotonic()
        assert time.monotonic() < deadline, f"not seen within {seconds} s"


async def test_what_one_process_ingests_every_other_answers_from_and_a_removal_reaches_all(
        binary, model_dir, tmp_path):
    docs = tmp_path / "docs"
    write_corpus(docs, 12)
    collection, prefix = f"shared-{uuid.uuid4().hex[:8]}", f"shared-{uuid.uuid4().hex[:8]}:"

    def params(name: str):
        return shared_params(binary, model_dir, tmp_path / name, [docs], collection, prefix)

    async with connected(params("a")) as (first, _):
        report = structured(await first.call_tool("ingest_documents", {"paths": [str(docs)], "technology": "Team Notes"}))
        assert report["files_written"] == 12 and report["chunks_embedded"] > 0
        ours = await answers(first)
        sources = await listed(first)

        # A process started afterwards on an empty folder, as on another machine: the same
        # sources, and the same answers in every mode.
        async with connected(params("b")) as (second, _):
            assert await listed(second) == sources
            assert await answers(second) == ours
            # Filters match the label as stored, whatever its case, there too.
            filtered = structured(await second.call_tool("query_knowledge_base", {
                "query": QUESTIONS[0], "technology_filter": "team notes", "mode": "semantic"}))
            assert filtered["results"] and {r["technology"] for r in filtered["results"]} == {"Team Notes"}
            # The same folder again costs no embedding here: the copy knows every file.
            again = structured(await second.call_tool("ingest_documents", {"paths": [str(docs)], "technology": "Team Notes"}))
            assert again["files_unchanged"] == 12 and again["chunks_embedded"] == 0, again

            # A removal on the second process reaches the first within the bound.
            gone = str((docs / "note-0005.md").resolve())
            removed = structured(await second.call_tool("remove_source", {"source": gone}))
            assert removed["removed_sources"] == [gone]

            async def first_lost_it():
                return gone not in {source for source, _, _ in await listed(first)}
            await eventually(first_lost_it)
            for mode in ("semantic", "keyword", "hybrid"):
                answer = structured(await first.call_tool("query_knowledge_base",
                                                          {"query": "note 5 about logging", "mode": mode, "n_results": 30}))
                assert gone not in {r["source"] for r in answer["results"]}, mode

            # A changed file ingested by the second is what the first answers with.
            changed = docs / "note-0003.md"
            changed.write_text("# Note 3\n\nThe wombat protocol replaced the old network layer.\n", encoding="utf-8")
            update = structured(await second.call_tool("ingest_documents", {"paths": [str(changed)], "technology": "Team Notes"}))
            assert update["files_written"] == 1

            async def first_sees_the_wombat():
                answer = structured(await first.call_tool("query_knowledge_base", {"query": "wombat", "mode": "keyword"}))
                return [r["source"] for r in answer["results"]] == [str(changed.resolve())]
            await eventually(first_sees_the_wombat)
            assert await answers(first) == await answers(second)
    drop_chroma_collection(os.environ["MCP_RAG_TEST_CHROMA_URL"], collection)


async def test_two_processes_ingesting_the_same_folder_at_once_leave_one_copy_of_each_passage(
        binary, model_dir, tmp_path):
    docs = tmp_path / "docs"
    write_corpus(docs, 10)
    collection, prefix = f"race-{uuid.uuid4().hex[:8]}", f"race-{uuid.uuid4().hex[:8]}:"
    reports = {}

    async def ingest(name: str):
        params = shared_params(binary, model_dir, tmp_path / name, [docs], collection, prefix)
        async with connected(params) as (session, _):
            reports[name] = structured(await session.call_tool("ingest_documents",
                                                               {"paths": [str(docs)], "technology": "notes"}))
            reports[name + "-listing"] = await listed(session)

    async with anyio.create_task_group() as group:
        group.start_soon(ingest, "c")
        group.start_soon(ingest, "d")
    client = chroma_client(os.environ["MCP_RAG_TEST_CHROMA_URL"])
    passages = passages_collection(os.environ["MCP_RAG_TEST_CHROMA_URL"], collection)
    stored = passages.get(include=["metadatas", "documents"])
    ids = stored["ids"]
    # Ids come from the content, so the two ingests wrote the same records: one copy each.
    assert len(ids) == len(set(ids)) == reports["c"]["chunks_added"] + reports["c"]["chunks_unchanged"]
    assert {m["source"] for m in stored["metadatas"]} == {str(p.resolve()) for p in docs.iterdir()}
    assert all(document for document in stored["documents"]), "every record carries its passage"
    manifest = client.get_collection(passages.name + "-sources").get(include=["metadatas"])
    assert len(manifest["ids"]) == 10 and not any(m["removed"] for m in manifest["metadatas"])
    drop_chroma_collection(os.environ["MCP_RAG_TEST_CHROMA_URL"], collection)


async def test_a_writer_killed_mid_ingest_loses_nothing_it_committed_and_the_others_get_it_all(
        binary, model_dir, tmp_path):
    """kill -9 of an ingesting process at an arbitrary moment: once it is started again, every
    source it had committed reaches a process on another data folder, and its own file is sound."""
    docs = tmp_path / "docs"
    write_corpus(docs, 40, paragraphs=6)
    collection, prefix = f"killed-{uuid.uuid4().hex[:8]}", f"killed-{uuid.uuid4().hex[:8]}:"
    writer_data = tmp_path / "writer"
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path), "MCP_RAG_DATA_DIR": str(writer_data),
           "MCP_RAG_MODEL_DIR": str(model_dir), "MCP_RAG_LOG_LEVEL": "error",
           "CHROMA_URL": os.environ["MCP_RAG_TEST_CHROMA_URL"], "CHROMA_COLLECTION": collection}
    ingest = subprocess.Popen([binary, "ingest", str(docs), "--technology", "notes"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        # Killed once some sources are committed, wherever it is then (embedding, writing, sending).
        while ingest.poll() is None:
            if (writer_data / "knowledge.sqlite3").exists():
                try:
                    if read_store(writer_data, "SELECT count(*) FROM sources")[0][0] >= 8:
                        break
                except Exception:  # noqa: BLE001 - the file is being created
                    pass
        ingest.send_signal(signal.SIGKILL)
    finally:
        ingest.wait(timeout=30)
    committed = {row[0] for row in read_store(writer_data, "SELECT source FROM sources")}
    assert len(committed) >= 8
    check_store(writer_data)

    writer = shared_params(binary, model_dir, writer_data, [docs], collection, prefix)
    reader = shared_params(binary, model_dir, tmp_path / "reader", [docs], collection, prefix)
    async with connected(writer) as (first, _), connected(reader) as (second, _):
        # The writer started again sends what its outbox kept.
        async def nothing_pending():
            health = structured(await first.call_tool("health_check", {}))
            return health["dependencies"]["vector_store"]["facts"]["pending"] == "0"
        await eventually(nothing_pending, seconds=60)

        async def reader_has_everything():
            return {source for source, _, _ in await listed(second)} == committed
        await eventually(reader_has_everything)
        counts = {source: chunks for source, _, chunks in await listed(first)}
        assert {source: chunks for source, _, chunks in await listed(second)} == counts
    assert passages_collection(os.environ["MCP_RAG_TEST_CHROMA_URL"], collection).count() == sum(counts.values())
    drop_chroma_collection(os.environ["MCP_RAG_TEST_CHROMA_URL"], collection)


async def test_while_chroma_is_away_each_process_answers_from_its_copy_and_all_agree_again_after(
        binary, model_dir, tmp_path):
    docs = tmp_path / "docs"
    write_corpus(docs, 6)
    chroma = ChromaServer(tmp_path / "chroma")
    chroma.start()
    prefix = f"away-{uuid.uuid4().hex[:8]}:"

    def params(name: str):
        return shared_params(binary, model_dir, tmp_path / name, [docs], "away", prefix, chroma=chroma.url,
                             MCP_RAG_BREAKER_OPEN_SECONDS="1")

    try:
        async with connected(params("a")) as (first, _), connected(params("b")) as (second, _):
            structured(await first.call_tool("ingest_documents", {"paths": [str(docs)], "technology": "notes"}))
            sources = await listed(first)
            assert await listed(second) == sources

            chroma.kill()
            # Chroma away: the second answers from its copy, by keywords, and says so.
            answer = structured(await second.call_tool("query_knowledge_base", {"query": "note 2 about scheduling"}))
            assert answer["degraded"] and answer["mode"] == "keyword" and answer["results"]
            assert await listed(second) == sources
            # The first takes a new file and keeps it for Chroma.
            (docs / "late.md").write_text("# Late\n\nA numbat came while Chroma was away.\n", encoding="utf-8")
            late = await first.call_tool("ingest_documents", {"paths": [str(docs)], "technology": "notes"})
            assert late.is_error and "run the same ingest again" in late.content[0].text.lower()
            missing = structured(await second.call_tool("query_knowledge_base", {"query": "numbat", "mode": "keyword"}))
            assert not missing["results"], "only the first knows of it while Chroma is away"

            chroma.start()
            # The first sends what its outbox kept on its own, and the second catches up.
            async def second_has_the_numbat():
                # In its copy (keyword search reads nothing else), not only in Chroma's answers.
                answer = structured(await second.call_tool("query_knowledge_base", {"query": "numbat", "mode": "keyword"}))
                return [r["source"] for r in answer["results"]] == [str((docs / "late.md").resolve())]
            await eventually(second_has_the_numbat, seconds=30)
            assert await listed(second) == await listed(first)

            async def second_searches_chroma_again():
                answer = structured(await second.call_tool("query_knowledge_base", {"query": "numbat", "mode": "hybrid"}))
                return not answer["degraded"]
            await eventually(second_searches_chroma_again, seconds=30)
            answer = structured(await second.call_tool("query_knowledge_base", {"query": "numbat", "mode": "hybrid"}))
            assert answer["results"][0]["source"] == str((docs / "late.md").resolve())
            health = structured(await first.call_tool("health_check", {}))
            assert health["dependencies"]["vector_store"]["facts"]["pending"] == "0"
    finally:
        chroma.stop()
