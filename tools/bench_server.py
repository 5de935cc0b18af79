"""The server benchmark behind tools/bench-server (see that script)."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "Tests" / "python"))
from mcp_support import beir_test_queries, connected, server_parameters, structured, write_beir_corpus  # noqa: E402


def model_dir() -> str:
    if os.environ.get("MCP_RAG_MODEL_DIR"):
        return os.environ["MCP_RAG_MODEL_DIR"]
    data = os.environ.get("MCP_RAG_DATA_DIR") or os.path.join(
        os.environ.get("XDG_DATA_HOME") or os.path.expanduser("~/.local/share"), "mcp-rag")
    return os.path.join(data, "models", "all-MiniLM-L6-v2")


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def startup(binary: str, data: Path, model: str, runs: int = 10) -> dict:
    """Spawn → initialize answer and spawn → first query answer, over raw pipes (no client overhead)."""
    env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp"), "MCP_RAG_DATA_DIR": str(data),
           "MCP_RAG_MODEL_DIR": model, "MCP_RAG_LOG_LEVEL": "error", "MCP_RAG_CACHE_TTL": "0"}
    initialize = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "bench", "version": "0"}}}
    query = {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {
        "name": "query_knowledge_base", "arguments": {"query": "vitamin D deficiency and bone fractures"}}}
    health = {"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": "health_check", "arguments": {}}}
    init_ms, query_ms, health_ms, health_server_ms = [], [], [], []
    for _ in range(runs):
        start = time.perf_counter()
        process = subprocess.Popen([binary, "serve"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                   stderr=subprocess.DEVNULL, env=env)
        process.stdin.write((json.dumps(initialize) + "\n").encode())
        process.stdin.flush()
        json.loads(process.stdout.readline())
        init_ms.append((time.perf_counter() - start) * 1e3)
        process.stdin.write((json.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"}) + "\n"
                             + json.dumps(query) + "\n").encode())
        process.stdin.flush()
        answer = json.loads(process.stdout.readline())
        assert not answer["result"]["isError"], answer
        query_ms.append((time.perf_counter() - start) * 1e3)
        for round_ in range(5):
            sent = time.perf_counter()
            # MCP: an id is never reused within a session.
            process.stdin.write((json.dumps({**health, "id": 3 + round_}) + "\n").encode())
            process.stdin.flush()
            report = json.loads(process.stdout.readline())["result"]["structuredContent"]
            health_ms.append((time.perf_counter() - sent) * 1e3)
            health_server_ms.append(report["duration_ms"])
        process.stdin.close()
        process.wait(timeout=30)
    return {"spawn_to_initialize_ms_p50": statistics.median(init_ms),
            "spawn_to_first_query_ms_p50": statistics.median(query_ms),
            "readiness_health_round_trip_ms_p50": statistics.median(health_ms),
            "readiness_health_duration_ms_p50": statistics.median(health_server_ms)}


def ingest(binary: str, dataset: Path, data: Path, model: str, scratch: Path) -> dict:
    """SciFact written as one markdown file per document, ingested with the CLI; then the same
    passages embedded raw with `mcp-rag embed`, for the ratio."""
    folder = scratch / "scifact"
    write_beir_corpus(dataset, folder)
    env = dict(os.environ, MCP_RAG_DATA_DIR=str(data), MCP_RAG_MODEL_DIR=model, MCP_RAG_LOG_LEVEL="error")
    run = subprocess.run([binary, "ingest", str(folder), "--technology", "scifact", "--json"], env=env,
                         capture_output=True, check=True)
    report = json.loads(run.stdout)
    with sqlite3.connect(data / "knowledge.sqlite3") as database:
        rows = database.execute("SELECT heading, text FROM chunks").fetchall()
    texts = [f"{heading}\n{text}" if heading else text for heading, text in rows]
    lines = "".join(json.dumps(text) + "\n" for text in texts).encode()
    start = time.perf_counter()
    subprocess.run([binary, "embed", "--model-dir", model, "--batch-size", "16"], input=lines,
                   capture_output=True, check=True)
    raw_seconds = time.perf_counter() - start
    ingest_rate = report["chunks_embedded"] / report["seconds"]
    raw_rate = len(texts) / raw_seconds
    return {"documents": report["files_scanned"], "chunks": report["chunks_added"], "ingest_seconds": report["seconds"],
            "ingest_chunks_per_second": ingest_rate, "raw_embed_chunks_per_second": raw_rate,
            "ingest_over_raw": ingest_rate / raw_rate}


def latency_summary(client_ms: list[float], server_ms: list[float]) -> dict:
    """p50 and p99 as the client saw them and as the server reported them (`took_ms`)."""
    return {"queries": len(client_ms), "client_p50_ms": percentile(client_ms, 0.5),
            "client_p99_ms": percentile(client_ms, 0.99), "server_p50_ms": percentile(server_ms, 0.5),
            "server_p99_ms": percentile(server_ms, 0.99)}


async def time_queries(session, texts: list[str], mode: str, check=lambda answer: None) -> dict:
    """`texts` through query_knowledge_base in `mode`, one at a time after 20 of them as a warm-up;
    `check` sees each answer outside the timed part (it is the benchmark's own work)."""
    for text in texts[:20]:
        await session.call_tool("query_knowledge_base", {"query": text, "mode": mode})
    client_ms, server_ms = [], []
    for text in texts:
        start = time.perf_counter()
        result = await session.call_tool("query_knowledge_base", {"query": text, "mode": mode})
        client_ms.append((time.perf_counter() - start) * 1e3)
        answer = structured(result)
        check(answer)
        server_ms.append(answer["took_ms"])
    return latency_summary(client_ms, server_ms)


def not_cached(answer: dict) -> None:
    assert not answer["cache_hit"], answer["query"]


async def queries(binary: str, dataset: Path, data: Path, model: str) -> dict:
    """The 300 SciFact test queries through the MCP client, cache off, one at a time."""
    texts = beir_test_queries(dataset)
    params = server_parameters(binary, data, Path(model), extra_env={"MCP_RAG_CACHE_TTL": "0"})
    results = {}
    async with connected(params) as (session, _):
        # What the client and the protocol cost by themselves: the cheapest tool call there is.
        floor_ms = []
        for _ in range(200):
            start = time.perf_counter()
            result = await session.call_tool("health_check", {"level": "liveness"})
            floor_ms.append((time.perf_counter() - start) * 1e3)
            structured(result)
        results["liveness_call"] = {"client_p50_ms": percentile(floor_ms, 0.5), "client_p99_ms": percentile(floor_ms, 0.99)}
        for mode in ("hybrid", "semantic", "keyword"):
            results[mode] = await time_queries(session, texts, mode, check=not_cached)
    return results


async def redis_queries(binary: str, dataset: Path, data: Path, model: str, url: str) -> dict:
    """The same queries with Redis holding the statistics and the cache: each asked twice, the first
    a miss (searched, stored, tracked), the second a hit. Keys go under a prefix of this run's own,
    deleted afterwards."""
    texts = beir_test_queries(dataset)
    prefix = f"mcp-rag-bench-{uuid.uuid4().hex[:8]}:"
    params = server_parameters(binary, data, Path(model),
                               extra_env={"REDIS_URL": url, "MCP_RAG_REDIS_PREFIX": prefix, "MCP_RAG_WARM_TOP": "0"})
    timings = {"miss": ([], []), "hit": ([], [])}
    try:
        async with connected(params) as (session, _):
            for text in texts[:20]:  # warm-up, under other keys than the measured queries'
                await session.call_tool("query_knowledge_base", {"query": text, "n_results": 6})
            for text in texts:
                for kind in ("miss", "hit"):
                    start = time.perf_counter()
                    result = await session.call_tool("query_knowledge_base", {"query": text})
                    timings[kind][0].append((time.perf_counter() - start) * 1e3)
                    answer = structured(result)
                    timings[kind][1].append(answer["took_ms"])
                    assert answer["cache_hit"] == (kind == "hit"), (kind, text)
    finally:
        keys = subprocess.run(["redis-cli", "-u", url, "--scan", "--pattern", prefix + "*"], capture_output=True, text=True)
        names = keys.stdout.split()
        for start in range(0, len(names), 500):
            subprocess.run(["redis-cli", "-u", url, "UNLINK", *names[start:start + 500]], capture_output=True)
    return {kind: latency_summary(client, server) for kind, (client, server) in timings.items()}


async def chroma_queries(binary: str, dataset: Path, data: Path, model: str, url: str) -> dict:
    """The same queries with the vectors in Chroma: the whole knowledge base uploaded to a collection
    of this run's own (through the outbox, as binding a data folder does), then the test queries
    timed in hybrid and semantic mode, cache off. The collection is deleted afterwards."""
    texts = beir_test_queries(dataset)
    collection = f"bench-{uuid.uuid4().hex[:8]}"
    params = server_parameters(binary, data, Path(model), extra_env={
        "CHROMA_URL": url, "CHROMA_COLLECTION": collection, "MCP_RAG_CACHE_TTL": "0", "MCP_RAG_WARM_TOP": "0"})
    results = {"collection": collection}
    try:
        async with connected(params) as (session, _):
            start = time.perf_counter()
            while True:
                store = structured(await session.call_tool("health_check", {}))["dependencies"]["vector_store"]
                if store["status"] == "healthy" and store["facts"].get("pending") == "0":
                    break
                if time.perf_counter() - start > 900:
                    raise RuntimeError(f"the upload to Chroma did not finish: {store}")
                await asyncio.sleep(0.5)
            results["upload_seconds"] = time.perf_counter() - start
            results["vectors"] = int(store["facts"]["count"])
            assert store["facts"]["count"] == store["facts"]["ledger_chunks"], store
            for mode in ("hybrid", "semantic"):
                def from_chroma(answer: dict, mode=mode) -> None:
                    assert not answer["degraded"] and answer["mode"] == mode, answer.get("degraded_reason")
                results[mode] = await time_queries(session, texts, mode, check=from_chroma)
    finally:
        import urllib.request
        request = urllib.request.Request(
            f"{url}/api/v2/tenants/default_tenant/databases/default_database/collections/{collection}", method="DELETE")
        try:
            urllib.request.urlopen(request, timeout=30)
        except OSError:
            pass
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--binary", required=True)
    parser.add_argument("--dataset", default=str(Path(__file__).resolve().parents[2] / "shared" / "datasets" / "scifact"))
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument("--reuse", help="a folder to keep the ingested knowledge base in; when it already holds one, "
                                        "the ingestion measurement is skipped and only startup and queries are timed")
    parser.add_argument("--redis-url", help="also time the queries with Redis holding the statistics and the cache "
                                            "(misses and hits), e.g. redis://127.0.0.1:6379/0")
    parser.add_argument("--chroma-url", help="also time the queries with the vectors in this Chroma server "
                                             "(the whole knowledge base is uploaded to a collection of the run's own)")
    arguments = parser.parse_args()
    binary, dataset, model = os.path.abspath(arguments.binary), Path(arguments.dataset), model_dir()
    with tempfile.TemporaryDirectory(prefix="mcp-rag-bench-") as scratch:
        scratch = Path(scratch)
        data = Path(arguments.reuse) if arguments.reuse else scratch / "data"
        figures = {}
        if not (data / "knowledge.sqlite3").exists():
            figures["ingest"] = ingest(binary, dataset, data, model, scratch)
        figures["startup"] = startup(binary, data, model)
        figures["query"] = asyncio.run(queries(binary, dataset, data, model))
        if arguments.chroma_url:
            figures["chroma"] = asyncio.run(chroma_queries(binary, dataset, data, model, arguments.chroma_url))
        if arguments.redis_url:
            figures["redis"] = asyncio.run(redis_queries(binary, dataset, data, model, arguments.redis_url))
    print(json.dumps(figures, indent=2))
    if arguments.json:
        Path(arguments.json).write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
