"""Redis end to end: real mcp-rag processes sharing query statistics and the result cache through a
real redis-server, and what they do when that server is killed, restarted or refuses the login."""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.request
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import anyio
import pytest

from mcp_support import command_env, connected, free_port, server_parameters, structured, write_corpus

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def data_dir(binary, model_dir, tmp_path_factory) -> Path:
    """A knowledge base of 24 notes, filled once with `mcp-rag ingest` and only read by the servers."""
    tmp = tmp_path_factory.mktemp("redis-kb")
    notes = write_corpus(tmp / "notes", 24)
    env = command_env(tmp, model_dir)
    result = subprocess.run([binary, "ingest", str(notes[0].parent), "--technology", "notes", "--data-dir", str(tmp / "data")],
                            env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=300)
    assert result.returncode == 0, result.stderr
    return tmp / "data"


def redis_params(binary, data_dir, model_dir, url: str, prefix: str, **extra: str):
    return server_parameters(binary, data_dir, model_dir, extra_env={"REDIS_URL": url, "MCP_RAG_REDIS_PREFIX": prefix, **extra})


async def ask(session, query: str) -> dict:
    return structured(await session.call_tool("query_knowledge_base", {"query": query}))


async def test_two_processes_add_up_their_counts_and_share_the_cache(binary, data_dir, model_dir, redis_server):
    prefix = f"t-{uuid.uuid4().hex[:8]}:"
    params = redis_params(binary, data_dir, model_dir, redis_server.url, prefix)
    async with connected(params) as (first, _), connected(params) as (second, _):
        for _ in range(10):
            await ask(first, "How does the storage layer handle a case?")
        for _ in range(15):
            await ask(second, "  how does the STORAGE layer handle a case?  ")
        for index in range(5):
            await ask(second, f"logging detail {index}")

        computed = await ask(first, "which layer handles caching")
        assert computed["cache_hit"] is False and computed["results"]
        shared = await ask(second, "Which layer handles   caching")
        assert shared["cache_hit"] is True, "the other process's answer came from Redis"
        assert shared["results"] == computed["results"]

        # Each report waits for its own process's buffered counts; read the second first so that
        # the first's report sees everything.
        structured(await second.call_tool("get_cache_warming_stats", {}))
        stats = structured(await first.call_tool("get_cache_warming_stats", {"top_n": 3}))
    assert stats["backend"] == "redis" and stats["degraded"] is False
    assert stats["total_queries"] == 10 + 15 + 5 + 2
    assert stats["total_unique_queries"] == 1 + 5 + 1
    top = stats["top_queries"][0]
    assert top["count"] == 25
    assert top["query"] == "how does the STORAGE layer handle a case?", "the latest use's display form"
    assert stats["cache"]["backend"] == "redis" and stats["cache"]["entries"] >= 7
    # What another Redis client sees agrees.
    assert redis_server.cli("ZSCORE", prefix + "query_frequency", "how does the storage layer handle a case?") == "25"
    assert redis_server.cli("GET", prefix + "query_total") == "32"
    ttl = int(redis_server.cli("TTL", prefix + "query_frequency"))
    assert 29 * 86_400 < ttl <= 30 * 86_400


async def test_processes_with_different_models_never_share_a_cached_answer(
        binary, model_dir, tmp_path, redis_server):
    """Two knowledge bases on one Redis prefix, embedded by two models of the same width (MiniLM,
    and MiniLM pooled by its CLS token): an answer one caches is never the other's, for the same query."""
    other_model = tmp_path / "cls-model"
    for path in model_dir.resolve().rglob("*"):
        target = other_model / path.relative_to(model_dir.resolve())
        if path.is_dir():
            target.mkdir(parents=True, exist_ok=True)
        elif path.relative_to(model_dir.resolve()) != Path("1_Pooling/config.json"):
            target.parent.mkdir(parents=True, exist_ok=True)
            target.symlink_to(path)
    pooling = json.loads((model_dir / "1_Pooling" / "config.json").read_text())
    pooling.update({"pooling_mode_cls_token": True, "pooling_mode_mean_tokens": False})
    (other_model / "1_Pooling" / "config.json").write_text(json.dumps(pooling))

    prefix = f"t-{uuid.uuid4().hex[:8]}:"
    notes = write_corpus(tmp_path / "notes", 6)[0].parent
    folders = {}
    for name, model in [("mean", model_dir), ("cls", other_model)]:
        folders[name] = tmp_path / f"data-{name}"
        result = subprocess.run([binary, "ingest", str(notes), "--technology", "notes", "--data-dir", str(folders[name])],
                                env=command_env(tmp_path, model), capture_output=True, text=True, timeout=300,
                                stdin=subprocess.DEVNULL)
        assert result.returncode == 0, result.stderr
    question = "how does the storage layer handle a case"
    async with connected(redis_params(binary, folders["mean"], model_dir, redis_server.url, prefix)) as (mean, _):
        first = await ask(mean, question)
        again = await ask(mean, question)
    assert first["cache_hit"] is False and again["cache_hit"] is True, "the cache works for one model"
    async with connected(redis_params(binary, folders["cls"], other_model, redis_server.url, prefix)) as (cls, _):
        other = await ask(cls, question)
        other_again = await ask(cls, question)
    assert other["cache_hit"] is False, "the other model's cached answer was served"
    assert other_again["cache_hit"] is True and not other["degraded"]
    # Both entries are there, side by side under the one prefix.
    assert len([key for key in redis_server.cli("KEYS", prefix + "*").split() if "result" in key]) >= 2


async def test_killing_redis_mid_burst_fails_no_query_and_buffered_counts_arrive_after_restart(
        binary, data_dir, model_dir, redis_server):
    prefix = f"t-{uuid.uuid4().hex[:8]}:"
    metrics_port = free_port()
    params = redis_params(binary, data_dir, model_dir, redis_server.url, prefix,
                          MCP_RAG_BREAKER_OPEN_SECONDS="2", MCP_RAG_REDIS_TIMEOUT_MS="300",
                          MCP_RAG_METRICS=f"127.0.0.1:{metrics_port}")

    def breaker_series() -> dict[str, float]:
        """The tracker breaker's series on /metrics, by their labels."""
        with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=30) as answer:
            text = answer.read().decode()
        series = {}
        for line in text.splitlines():
            if line.startswith("mcp_rag_circuit_breaker_") and 'dependency="query_tracker"' in line:
                name, value = line.rsplit(" ", 1)
                series[name] = float(value)
        return series

    burst = 200
    async with connected(params) as (session, _):
        for index in range(burst):
            if index == 60:
                redis_server.kill()
            answer = await ask(session, f"note {index % 20} about storage")
            assert answer["results"], f"query {index} found nothing"
            assert answer["degraded"] is False, "Redis only ever degrades the cache, never the answer"

        health = structured(await session.call_tool("health_check", {}))
        tracker = health["dependencies"]["query_tracker"]
        assert health["status"] == "degraded"
        assert tracker["status"] == "degraded", tracker
        assert tracker["circuit_breaker"] in ("open", "half_open"), tracker
        assert int(tracker["facts"]["breaker_opened"]) >= 1
        # The operator sees it too: the state, and the transition, on /metrics.
        down = breaker_series()
        assert down['mcp_rag_circuit_breaker_transitions_total{dependency="query_tracker",to="open"}'] >= 1, down
        assert (down['mcp_rag_circuit_breaker_state{dependency="query_tracker",state="open"}']
                + down['mcp_rag_circuit_breaker_state{dependency="query_tracker",state="half_open"}']) == 1, down
        assert int(tracker["facts"]["pending"]) > 0, "the counts since the kill are buffered"
        assert "last_error" in tracker["facts"] and "127.0.0.1" in tracker["facts"]["last_error"]
        stats = structured(await session.call_tool("get_cache_warming_stats", {}))
        assert stats["degraded"] is True and stats["degraded_reason"]
        assert stats["tracking"]["pending"] > 0 and stats["tracking"]["dropped"] == 0
        assert stats["cache"]["bypassed"] > 0

        redis_server.start()
        # No MCP call from here on until the counts are in: the writer's own trial closes the breaker.
        deadline = time.monotonic() + 30
        total = 0
        while time.monotonic() < deadline:
            total = int(redis_server.cli("GET", prefix + "query_total") or 0)
            if total >= burst:
                break
            await anyio.sleep(0.2)
        # At least once: a batch Redis applied just as it was killed may be sent again.
        assert burst <= total <= burst + 256, total

        health = structured(await session.call_tool("health_check", {}))
        tracker = health["dependencies"]["query_tracker"]
        assert tracker["status"] == "healthy" and tracker["circuit_breaker"] == "closed", tracker
        assert tracker["facts"]["pending"] == "0"
        up = breaker_series()
        assert up['mcp_rag_circuit_breaker_state{dependency="query_tracker",state="closed"}'] == 1, up
        assert up['mcp_rag_circuit_breaker_transitions_total{dependency="query_tracker",to="half_open"}'] >= 1, up
        assert up['mcp_rag_circuit_breaker_transitions_total{dependency="query_tracker",to="closed"}'] >= 1, up
        stats = structured(await session.call_tool("get_cache_warming_stats", {"top_n": 20}))
        assert stats["degraded"] is False and stats["tracking"]["pending"] == 0
        assert stats["total_unique_queries"] == 20
        assert sum(query["count"] for query in stats["top_queries"]) == stats["total_queries"] >= burst


async def test_a_new_process_warms_the_cache_from_the_shared_top_queries(binary, data_dir, model_dir, redis_server):
    prefix = f"t-{uuid.uuid4().hex[:8]}:"
    params = redis_params(binary, data_dir, model_dir, redis_server.url, prefix, MCP_RAG_WARM_TOP="3")
    asked = {"alpha storage": 5, "beta network": 4, "gamma memory": 3, "delta logging": 1}
    async with connected(params) as (first, _):
        for query, count in asked.items():
            for _ in range(count):
                await ask(first, query)
    # The first process has gone; forget the answers it cached, so only warming can fill the cache.
    redis_server.cli("INCR", prefix + "result_generation")
    async with connected(params) as (second, _):
        deadline = time.monotonic() + 30
        while True:
            stats = structured(await second.call_tool("get_cache_warming_stats", {}))
            if stats["cache"]["warmed"] or time.monotonic() > deadline:
                break
            await anyio.sleep(0.1)
        assert stats["total_queries"] == 13, "every count of the first process arrived, its last ones included"
        assert stats["cache"]["warmed"] == 3 and stats["cache"]["last_warm_at"], stats["cache"]
        for query in ("alpha storage", "beta network", "gamma memory"):
            assert (await ask(second, query))["cache_hit"] is True, query
        assert (await ask(second, "delta logging"))["cache_hit"] is False, "only the top 3 were warmed"


async def test_a_wrong_password_shows_in_health_and_queries_still_answer(binary, data_dir, model_dir):
    good = urlsplit(os.environ["MCP_RAG_TEST_REDIS_AUTH_URL"])
    right_password = good.password
    assert right_password, "tools/test starts the second redis-server with a password"
    wrong_url = f"redis://:wrong-password-{uuid.uuid4().hex[:6]}@{good.hostname}:{good.port}/0"
    wrong_password = urlsplit(wrong_url).password
    params = redis_params(binary, data_dir, model_dir, wrong_url, f"t-{uuid.uuid4().hex[:8]}:")
    async with connected(params) as (session, _):
        for index in range(8):
            answer = await ask(session, f"security note {index}")
            assert answer["results"] and answer["degraded"] is False
        health = structured(await session.call_tool("health_check", {}))
        stats = structured(await session.call_tool("get_cache_warming_stats", {}))
    tracker = health["dependencies"]["query_tracker"]
    assert tracker["status"] == "degraded"
    assert "refused the login" in tracker["detail"] and "REDIS_URL" in tracker["detail"], tracker["detail"]
    assert health["dependencies"]["result_cache"]["status"] == "degraded"
    assert stats["degraded"] is True and "refused the login" in stats["degraded_reason"]
    everything = json.dumps(health) + json.dumps(stats)
    assert wrong_password not in everything and right_password not in everything
    assert ":***@" in tracker["facts"]["endpoint"]


def test_a_redis_url_that_cannot_be_served_stops_the_server_at_startup(binary, model_dir, tmp_path):
    env = command_env(tmp_path, model_dir, MCP_RAG_DATA_DIR=str(tmp_path / "data"),
                      REDIS_URL="rediss://:hunter2@cache.example:6380/0")
    result = subprocess.run([binary, "serve"], env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=30)
    assert result.returncode != 0
    assert result.stdout == "", "stdout is for MCP messages only"
    assert "REDIS_URL" in result.stderr and "TLS" in result.stderr, result.stderr
    assert "hunter2" not in result.stderr
