"""Faults under load: mcp-rag talks to Redis and to Chroma through proxies that delay, swallow and cut
its connections, while both servers are also killed with SIGKILL and restarted, and a client keeps
querying, ingesting and checking health. Nothing crashes, every request is answered in time, the
breakers' moves show in health_check, and afterwards every chunk is in both the ledger and Chroma."""

from __future__ import annotations

import os
import random
import time
import uuid
from collections import Counter
from pathlib import Path

import anyio
import pytest

from fault_proxy import FaultProxy
from mcp_support import (chunk_ids, connected, error_text, passages_collection, read_store, server_parameters, structured,
                          write_corpus)
from servers import ChromaServer, RedisServer

pytestmark = pytest.mark.anyio

SECONDS = float(os.environ.get("MCP_RAG_TEST_FAULT_SECONDS", "120"))
# What a client may wait for each answer at worst, faults included.
DEADLINES = {"query_knowledge_base": 15.0, "health_check": 15.0, "ingest_documents": 90.0}
QUESTIONS = [f"how does the {topic} layer handle case {case}"
             for topic in ("storage", "network", "caching", "logging") for case in (3, 17, 40)]


def fault_schedule(redis: RedisServer, chroma: ChromaServer, redis_proxy: FaultProxy, chroma_proxy: FaultProxy):
    """(start as a fraction of the run, name, action): each fault lasts until the next entry."""
    def both(mode: str, delay: float = 0.0):
        def act():
            redis_proxy.set_mode(mode, delay)
            chroma_proxy.set_mode(mode, delay)
        return act

    def kill(server):
        def act():
            server.kill()
        return act

    def restart(server):
        def act():
            server.start()
        return act

    def cuts(proxy: FaultProxy):
        def act():
            proxy.cut()
        return act

    return [
        (0.00, "normal", both("pass")),
        (0.06, "redis slow (0.4 s a packet, over its timeout)", lambda: redis_proxy.set_mode("delay", 0.4)),
        (0.13, "normal", both("pass")),
        (0.17, "redis swallowed", lambda: redis_proxy.set_mode("drop")),
        (0.24, "normal", both("pass")),
        (0.28, "chroma slow (2.5 s a packet, over its read timeout)", lambda: chroma_proxy.set_mode("delay", 2.5)),
        (0.35, "normal", both("pass")),
        (0.39, "chroma swallowed", lambda: chroma_proxy.set_mode("drop")),
        (0.46, "normal", both("pass")),
        (0.50, "redis connections cut", cuts(redis_proxy)),
        (0.51, "chroma connections cut", cuts(chroma_proxy)),
        (0.53, "redis refused and cut", lambda: (redis_proxy.set_mode("refuse"), redis_proxy.cut())),
        (0.58, "normal", both("pass")),
        (0.61, "redis kill -9", kill(redis)),
        (0.67, "redis restarted", restart(redis)),
        (0.71, "chroma kill -9", kill(chroma)),
        (0.79, "chroma restarted", restart(chroma)),
        (0.84, "both swallowed", both("drop")),
        (0.90, "normal", both("pass")),
    ]


async def test_two_minutes_of_load_through_delays_drops_cuts_and_kills_lose_nothing(binary, model_dir, tmp_path,
                                                                                  report_figure):
    redis = RedisServer(tmp_path / "redis")
    chroma = ChromaServer(tmp_path / "chroma")
    redis.start()
    chroma.start()
    redis_proxy, chroma_proxy = FaultProxy(redis.port), FaultProxy(chroma.port)
    docs = write_corpus(tmp_path / "docs", 12)[0].parent
    prefix = f"faults-{uuid.uuid4().hex[:8]}:"
    params = server_parameters(binary, tmp_path / "data", model_dir, allowed_roots=[docs], extra_env={
        "REDIS_URL": f"redis://127.0.0.1:{redis_proxy.port}/0", "MCP_RAG_REDIS_PREFIX": prefix,
        "MCP_RAG_REDIS_TIMEOUT_MS": "300",
        "CHROMA_URL": f"http://127.0.0.1:{chroma_proxy.port}", "CHROMA_COLLECTION": "faults",
        "MCP_RAG_CHROMA_READ_TIMEOUT_MS": "1500", "MCP_RAG_CHROMA_TIMEOUT_MS": "5000",
        "MCP_RAG_BREAKER_OPEN_SECONDS": "1", "MCP_RAG_LOG_LEVEL": "info",
    })
    latencies: dict[str, list[float]] = {name: [] for name in DEADLINES}
    late: list[str] = []
    unexpected: list[str] = []
    breaker_states = {"vector_store": Counter(), "query_tracker": Counter()}
    degraded_answers = Counter()
    ingests = Counter()
    written_files: list[Path] = []
    faults_applied: list[str] = []
    rng = random.Random(9)
    errlog_path = tmp_path / "mcp-rag.stderr"

    try:
        with open(errlog_path, "w") as errlog:
            async with connected(params, errlog=errlog) as (session, _):
                structured(await session.call_tool("ingest_documents", {"paths": [str(docs)], "technology": "notes"}))
                started = time.monotonic()
                stop_at = started + SECONDS

                async def timed(tool: str, arguments: dict):
                    with anyio.move_on_after(DEADLINES[tool]) as scope:
                        t0 = time.monotonic()
                        result = await session.call_tool(tool, arguments)
                        latencies[tool].append(time.monotonic() - t0)
                        return result
                    if scope.cancelled_caught:
                        late.append(f"{tool} {arguments} unanswered after {DEADLINES[tool]} s at "
                                    f"{time.monotonic() - started:.1f} s ({faults_applied[-1:]})")
                    return None

                async def querier(worker: int) -> None:
                    while time.monotonic() < stop_at:
                        mode = ("hybrid", "semantic", "keyword")[rng.randrange(3)]
                        result = await timed("query_knowledge_base", {"query": rng.choice(QUESTIONS), "mode": mode})
                        if result is None:
                            continue
                        if result.is_error:
                            unexpected.append(error_text(result))
                            continue
                        answer = structured(result)
                        if not answer["results"]:
                            unexpected.append(f"no results for {answer['query']} ({answer['mode']})")
                        if answer["degraded"]:
                            degraded_answers[answer["mode"]] += 1

                async def ingester() -> None:
                    number = 0
                    while time.monotonic() < stop_at:
                        path = docs / f"live-{number:03d}.md"
                        path.write_text(f"# Live note {number}\n\nThe live note {number} arrived during the faults, "
                                        f"carrying the marker walrus{number}.\n", encoding="utf-8")
                        written_files.append(path)
                        number += 1
                        result = await timed("ingest_documents", {"paths": [str(docs)], "technology": "notes"})
                        if result is None:
                            continue
                        if result.is_error:
                            text = error_text(result)
                            # Chroma away: the passages are saved and their vectors wait, as it says.
                            if "run the same ingest again" in text.lower():
                                ingests["vectors waiting"] += 1
                            else:
                                unexpected.append(text)
                        else:
                            ingests["complete"] += 1
                        await anyio.sleep(1.5)

                async def watcher() -> None:
                    while time.monotonic() < stop_at:
                        result = await timed("health_check", {})
                        if result is not None and not result.is_error:
                            health = structured(result)
                            for name in breaker_states:
                                breaker_states[name][health["dependencies"][name]["circuit_breaker"]] += 1
                        await anyio.sleep(0.5)

                async def saboteur() -> None:
                    for fraction, name, act in fault_schedule(redis, chroma, redis_proxy, chroma_proxy):
                        await anyio.sleep(max(0.0, started + fraction * SECONDS - time.monotonic()))
                        # Starting a server blocks for a few seconds; the event loop must not.
                        await anyio.to_thread.run_sync(act)
                        faults_applied.append(name)

                async with anyio.create_task_group() as group:
                    for worker in range(3):
                        group.start_soon(querier, worker)
                    group.start_soon(ingester)
                    group.start_soon(watcher)
                    group.start_soon(saboteur)

                # All faults over: the breakers close by themselves (their trials succeed) ...
                redis_proxy.set_mode("pass")
                chroma_proxy.set_mode("pass")
                deadline = time.monotonic() + 60
                while True:
                    health = structured(await session.call_tool("health_check", {}))
                    states = {name: health["dependencies"][name]["circuit_breaker"] for name in breaker_states}
                    if set(states.values()) == {"closed"} and health["status"] == "healthy":
                        break
                    assert time.monotonic() < deadline, f"not recovered a minute after the faults: {health}"
                    await anyio.sleep(0.5)
                # ... and running the same ingest again sends the vectors that waited, as promised.
                final = structured(await session.call_tool("ingest_documents", {"paths": [str(docs)], "technology": "notes"}))
                health = structured(await session.call_tool("health_check", {}))
                # The tracking writer sends what it buffered once a call through the breaker finds
                # Redis back (docs/configuration.md#redis): wait for it.
                deadline = time.monotonic() + 60
                while True:
                    tracking = structured(await session.call_tool("get_cache_warming_stats", {}))["tracking"]
                    if tracking["pending"] == 0 or time.monotonic() > deadline:
                        break
                    await anyio.sleep(0.5)
                found = structured(await session.call_tool(
                    "query_knowledge_base", {"query": f"walrus{len(written_files) - 1}", "mode": "keyword"}))
                assert health["uptime_s"] >= SECONDS, "the same process served throughout"

        assert not late, late[:5]
        assert not unexpected, unexpected[:5]
        assert faults_applied == [name for _, name, _ in fault_schedule(redis, chroma, redis_proxy, chroma_proxy)]
        # The breakers' moves were visible while they happened.
        for name, seen in breaker_states.items():
            assert seen["open"] + seen["half_open"] > 0, (name, seen)
        store, tracker = health["dependencies"]["vector_store"], health["dependencies"]["query_tracker"]
        assert int(store["facts"]["breaker_opened"]) >= 2 and int(tracker["facts"]["breaker_opened"]) >= 2
        assert degraded_answers["keyword"] > 0, "queries fell back to keywords while Chroma was away"
        assert ingests["complete"] > 0 and ingests["vectors waiting"] > 0, ingests

        # Nothing lost: every file written is in the ledger, and Chroma holds exactly the ledger's chunks.
        assert final["files_scanned"] == 12 + len(written_files)
        assert store["facts"]["pending"] == "0"
        ledger = chunk_ids(tmp_path / "data")
        remote = set(passages_collection(chroma.url, "faults").get(include=[])["ids"])
        assert remote == ledger, (len(remote - ledger), len(ledger - remote))
        sources = {Path(source) for (source,) in read_store(tmp_path / "data", "SELECT source FROM sources")}
        assert {path.resolve() for path in written_files} <= sources
        assert found["results"] and found["results"][0]["source"].endswith(f"live-{len(written_files) - 1:03d}.md")
        # Query counts: exactly once each. A batch applied as its connection broke is sent again
        # under its id and changes nothing; none was dropped by the buffer.
        answered = len(latencies["query_knowledge_base"]) + 1  # the load's, and the walrus check after it
        total = int(redis.cli("GET", prefix + "query_total") or 0)
        assert tracking["dropped"] == 0 and tracking["pending"] == 0, tracking
        assert total == answered, (total, answered)

        stderr = errlog_path.read_text(errors="replace")
        for word in ("Fatal error", "Segmentation", "panic", "Illegal instruction"):
            assert word not in stderr
        summary = {tool: (len(values), round(max(values), 2)) for tool, values in latencies.items()}
        report_figure(f"faults: {SECONDS:.0f} s, faults {len(faults_applied)}, answered (count, slowest s) {summary}, "
              f"degraded answers {dict(degraded_answers)}, ingests {dict(ingests)}, breaker states {breaker_states}, "
              f"breaker openings chroma {store['facts']['breaker_opened']} redis {tracker['facts']['breaker_opened']}, "
              f"proxy cuts {redis_proxy.cuts + chroma_proxy.cuts}, chunks {len(ledger)} in both, "
              f"queries counted {total} for {answered} answered")
    finally:
        redis_proxy.close()
        chroma_proxy.close()
        redis.stop()
        chroma.stop()
