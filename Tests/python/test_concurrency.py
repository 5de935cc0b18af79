"""Concurrency: 64 tool calls in flight at once from one client, and 4 server processes sharing one
data folder while two of them ingest and all of them query."""

from __future__ import annotations

import subprocess
from pathlib import Path

import anyio
import pytest

from mcp_support import check_store, command_env, connected, server_parameters, structured, write_corpus

pytestmark = pytest.mark.anyio

QUESTIONS = [f"how does the {topic} layer handle case {case}"
             for topic in ("storage", "network", "security", "memory") for case in (3, 17, 40, 90)]


async def test_64_concurrent_calls_from_one_client_all_succeed_and_agree_with_calls_made_one_by_one(
        binary, model_dir, tmp_path):
    notes = write_corpus(tmp_path / "notes", 24)[0].parent
    env = command_env(tmp_path, model_dir)
    filled = subprocess.run([binary, "ingest", str(notes), "--technology", "notes", "--data-dir", str(tmp_path / "data")],
                            env=env, capture_output=True, text=True, timeout=300)
    assert filled.returncode == 0, filled.stderr
    # No result cache: every concurrent query is computed, not read back.
    params = server_parameters(binary, tmp_path / "data", model_dir, extra_env={"MCP_RAG_CACHE_TTL": "0"})
    modes = ("hybrid", "semantic", "keyword")
    async with connected(params) as (session, _):
        async def ranking(question: str, mode: str) -> list[str]:
            answer = structured(await session.call_tool("query_knowledge_base",
                                                        {"query": question, "mode": mode, "n_results": 8}))
            assert answer["mode"] == mode and not answer["degraded"]
            return [result["id"] for result in answer["results"]]

        one_by_one = {(q, m): await ranking(q, m) for q in QUESTIONS for m in modes}
        before = structured(await session.call_tool("get_cache_warming_stats", {}))["total_queries"]

        calls = [("query", q, modes[i % 3]) for i, q in enumerate(QUESTIONS * 3)]  # 48 queries
        calls += [("health_check", None, None)] * 8 + [("get_cache_warming_stats", None, None)] * 4
        calls += [("list_sources", None, None)] * 4
        assert len(calls) == 64
        outcomes: dict[int, object] = {}

        async def call(index: int, kind: str, question: str | None, mode: str | None) -> None:
            if kind == "query":
                outcomes[index] = await ranking(question, mode)
            else:
                outcomes[index] = structured(await session.call_tool(kind, {}))

        with anyio.fail_after(300):
            async with anyio.create_task_group() as group:
                for index, (kind, question, mode) in enumerate(calls):
                    group.start_soon(call, index, kind, question, mode)

        assert len(outcomes) == 64, "every call was answered"
        for index, (kind, question, mode) in enumerate(calls):
            if kind == "query":
                assert outcomes[index] == one_by_one[(question, mode)], (question, mode)
            elif kind == "health_check":
                assert outcomes[index]["status"] == "healthy", outcomes[index]
            elif kind == "list_sources":
                assert len(outcomes[index]["sources"]) == 24
        after = structured(await session.call_tool("get_cache_warming_stats", {}))["total_queries"]
        assert after - before == 48, "each concurrent query was counted once"


async def test_four_processes_share_one_data_folder_while_two_ingest_and_all_query(binary, model_dir, tmp_path,
                                                                                  report_figure):
    data = tmp_path / "data"
    first = write_corpus(tmp_path / "first", 30)[0].parent
    second = tmp_path / "second"
    second.mkdir()
    for index in range(30):
        # Words of their own, so a search can tell the two halves apart.
        (second / f"second-{index:02d}.md").write_text(
            f"# Harbour log {index}\n\nThe lighthouse keeper {index} logged {index * 3} ships, fog and tides "
            f"at the harbour of Quokkaville in season {index}.\n", encoding="utf-8")
    params = server_parameters(binary, data, model_dir, allowed_roots=[first, second])
    questions = ["how does the caching layer handle case 40", "lighthouse keeper logged ships in the fog",
                 "security layer detail", "harbour of Quokkaville tides", "memory layer handles case 90"]
    failures: list[str] = []

    async with connected(params) as (one, _), connected(params) as (two, _), \
            connected(params) as (three, _), connected(params) as (four, _):
        sessions = [one, two, three, four]
        ingests: dict[str, dict] = {}
        queried = {"count": 0}
        done = anyio.Event()

        async def ingest(session, folder: Path) -> None:
            ingests[folder.name] = structured(await session.call_tool(
                "ingest_documents", {"paths": [str(folder)], "technology": folder.name}))

        async def keep_querying(session) -> None:
            while not done.is_set():
                for question in questions:
                    result = await session.call_tool("query_knowledge_base", {"query": question})
                    if result.is_error:
                        failures.append(result.content[0].text)
                    queried["count"] += 1

        with anyio.fail_after(600):
            async with anyio.create_task_group() as group:
                for session in sessions:
                    group.start_soon(keep_querying, session)
                async with anyio.create_task_group() as writers:
                    writers.start_soon(ingest, one, first)
                    writers.start_soon(ingest, two, second)
                done.set()

        assert not failures, failures[:3]
        assert queried["count"] >= 4 * len(questions)
        added = ingests["first"]["chunks_added"] + ingests["second"]["chunks_added"]
        assert ingests["first"]["files_written"] == ingests["second"]["files_written"] == 30

        # Every process now answers every question alike, in each mode: those that only read
        # learnt of both ingests, and those that wrote learnt of each other's.
        answers = {}
        for mode in ("semantic", "keyword", "hybrid"):
            for question in questions:
                rankings = []
                for session in sessions:
                    answer = structured(await session.call_tool(
                        "query_knowledge_base", {"query": question, "mode": mode, "n_results": 10}))
                    rankings.append([result["id"] for result in answer["results"]])
                assert all(ranking == rankings[0] for ranking in rankings), (mode, question, rankings)
                answers[(mode, question)] = rankings[0]
        harbour = structured(await three.call_tool("query_knowledge_base",
                                                   {"query": "lighthouse keeper Quokkaville", "mode": "semantic"}))
        assert harbour["results"][0]["source"].startswith(str(second.resolve()))

    # A process started afterwards, with nothing in memory from before, agrees too.
    async with connected(params) as (fresh, _):
        for (mode, question), ranking in answers.items():
            answer = structured(await fresh.call_tool("query_knowledge_base",
                                                      {"query": question, "mode": mode, "n_results": 10}))
            assert [result["id"] for result in answer["results"]] == ranking, (mode, question)
    counts = check_store(data)
    assert counts == {"sources": 60, "chunks": added}
    report_figure(f"four processes on one folder: {queried['count']} queries during two ingests of 30 files, "
                  f"{added} passages, {len(answers)} rankings alike in all five processes")
