"""The HTTP step of tools/bench: SciFact's test queries through `mcp-rag serve --http` at 1, 4, 16 and
64 concurrent clients (each its own MCP session), the same queries through one stdio session, and
what 100 open sessions cost in memory. The HTTP load comes from one curl process (`--parallel`,
keeping as many requests in flight as the level has clients) and stdio's from raw pipes, so that on
a two-core machine the clients take as little as they can of the CPU the server needs; the result
cache is off, so every query is searched.

    .venv/bin/python tools/bench_http.py --binary .build/release/mcp-rag --data KNOWLEDGE_BASE [--json FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import httpx

from bench_server import model_dir, percentile

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "Tests" / "python"))
from http_support import INITIALIZE, HTTPServer, sample  # noqa: E402
from mcp_support import beir_test_queries  # noqa: E402

CLIENTS = (1, 4, 16, 64)
QUERIES_PER_LEVEL = 640
SESSIONS_FOR_MEMORY = 100


def call(request_id: int, query: str) -> dict:
    return {"jsonrpc": "2.0", "id": request_id, "method": "tools/call",
            "params": {"name": "query_knowledge_base", "arguments": {"query": query}}}


def resident_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


def cpu_seconds(pid: int) -> float:
    """The CPU time (user and system) process `pid` has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def query_passes(server: HTTPServer) -> tuple[float, float]:
    """Query texts embedded and the model's passes for them so far, from the server's /metrics."""
    exposition = server.metrics()

    def total(series: str) -> float:
        # A counter appears once it is first counted: before any query, none.
        return sample(exposition, series) if series in exposition else 0.0

    return (total('mcp_rag_embedded_texts_total{work="query"}'), total('mcp_rag_embedding_passes_total{work="query"}'))


def summary(latencies_ms: list[float], seconds: float) -> dict:
    return {"queries": len(latencies_ms), "queries_per_second": len(latencies_ms) / seconds,
            "client_p50_ms": percentile(latencies_ms, 0.5), "client_p99_ms": percentile(latencies_ms, 0.99)}


async def http_session(client: httpx.AsyncClient, server: HTTPServer) -> dict[str, str]:
    """The headers of a new initialised session."""
    answer = await client.post(server.url, json=INITIALIZE, headers=server.headers())
    answer.raise_for_status()
    headers = server.headers(**{"Mcp-Session-Id": answer.headers["mcp-session-id"], "MCP-Protocol-Version": "2025-11-25"})
    await client.post(server.url, json={"jsonrpc": "2.0", "method": "notifications/initialized"}, headers=headers)
    return headers


def curl_config(url: str, transfers: list[tuple[dict[str, str], Path, Path]]) -> str:
    """A curl config sending each (headers, body file, answer file) as one POST, every answer to its
    file, and for each a line "STATUS SECONDS" on stdout. Options hold for one transfer (`next`
    starts the next), so each block has its own time limit. Paths and headers here hold no quotes."""
    blocks = []
    for headers, body, answer in transfers:
        lines = [f'url = "{url}"', *(f'header = "{name}: {value}"' for name, value in headers.items()),
                 f'data-binary = "@{body}"', f'output = "{answer}"', "max-time = 120",
                 r'write-out = "%{http_code} %{time_total}\n"']
        blocks.append("\n".join(lines))
    return "\nnext\n".join(blocks) + "\n"


async def http_level(server: HTTPServer, texts: list[str], clients: int, scratch: Path,
                     queries: int = QUERIES_PER_LEVEL) -> dict:
    """The level's latencies and throughput, the server's CPU time per query, and how many queries
    shared each forward pass. The queries go round the level's sessions, and curl keeps `clients`
    of them in flight until all are answered: a POST answered, the next one goes (so a session
    whose POST is slow may briefly have two in flight, as a client that pipelines would)."""
    per_client = max(1, queries // clients)
    async with httpx.AsyncClient(timeout=120) as client:
        sessions = [await http_session(client, server) for _ in range(clients)]
    folder = Path(tempfile.mkdtemp(prefix=f"level-{clients}-", dir=scratch))
    transfers = []
    for index in range(per_client * clients):
        body, answer = folder / f"{index}.request.json", folder / f"{index}.answer.json"
        body.write_text(json.dumps(call(index + 2, texts[index % len(texts)])))
        transfers.append((sessions[index % clients], body, answer))
    config = folder / "curl.config"
    config.write_text(curl_config(server.url, transfers))

    try:
        cpu_before, (texts_before, passes_before) = cpu_seconds(server.process.pid), query_passes(server)
        start = time.perf_counter()
        curl = await asyncio.create_subprocess_exec(
            "curl", "--silent", "--show-error", "--parallel", "--parallel-immediate", "--parallel-max", str(clients),
            "--config", str(config), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        output, errors = await curl.communicate()
        seconds = time.perf_counter() - start
        cpu = cpu_seconds(server.process.pid) - cpu_before
        texts_embedded, passes = (after - before for after, before in zip(query_passes(server), (texts_before, passes_before)))
        lines = output.decode().split()
        if curl.returncode != 0 or len(lines) != 2 * len(transfers):
            raise RuntimeError(f"curl exited {curl.returncode}: {errors.decode()[-2000:]}")
        statuses, latencies = lines[0::2], [float(value) * 1e3 for value in lines[1::2]]
        if set(statuses) != {"200"}:
            raise RuntimeError(f"HTTP statuses other than 200: {sorted(set(statuses))}")
        for _, _, answer in transfers:
            result = json.loads(answer.read_text())["result"]
            assert not result["isError"], result
    finally:
        async with httpx.AsyncClient(timeout=60) as client:
            for headers in sessions:
                await client.delete(server.url, headers=headers)
        shutil.rmtree(folder)
    return summary(latencies, seconds) | {"server_cpu_ms_per_query": 1e3 * cpu / len(latencies),
                                          "queries_per_pass": texts_embedded / passes if passes else None}


async def session_memory(server: HTTPServer) -> dict:
    """Resident memory before and after opening 100 sessions that each listed the tools."""
    async with httpx.AsyncClient(timeout=60) as client:
        before = resident_bytes(server.process.pid)
        sessions = []
        for _ in range(SESSIONS_FOR_MEMORY):
            headers = await http_session(client, server)
            await client.post(server.url, json={"jsonrpc": "2.0", "id": 2, "method": "tools/list"}, headers=headers)
            sessions.append(headers)
        after = resident_bytes(server.process.pid)
        for headers in sessions:
            await client.delete(server.url, headers=headers)
    return {"sessions": SESSIONS_FOR_MEMORY, "resident_before_bytes": before, "resident_after_bytes": after,
            "bytes_per_session": (after - before) / SESSIONS_FOR_MEMORY}


async def stdio_level(binary: str, data: Path, model: str, texts: list[str], queries: int = QUERIES_PER_LEVEL) -> dict:
    """The same queries one at a time through one stdio session, over raw pipes."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/tmp"),
           "MCP_RAG_DATA_DIR": str(data), "MCP_RAG_MODEL_DIR": model, "MCP_RAG_CACHE_TTL": "0",
           "MCP_RAG_LOG_LEVEL": "warning"}
    process = await asyncio.create_subprocess_exec(binary, "serve", stdin=asyncio.subprocess.PIPE,
                                                   stdout=asyncio.subprocess.PIPE, env=env, limit=1 << 24)

    async def ask(message: dict) -> dict:
        process.stdin.write(json.dumps(message).encode() + b"\n")
        await process.stdin.drain()
        while True:
            answer = json.loads(await process.stdout.readline())
            if answer.get("id") == message["id"]:
                return answer

    await ask(INITIALIZE)
    process.stdin.write(b'{"jsonrpc":"2.0","method":"notifications/initialized"}\n')
    for index, text in enumerate(texts[:20]):
        await ask(call(10_000 + index, text))
    latencies = []
    start = time.perf_counter()
    for index in range(queries):
        began = time.perf_counter()
        answer = await ask(call(index + 2, texts[index % len(texts)]))
        latencies.append((time.perf_counter() - began) * 1e3)
        assert not answer["result"]["isError"], answer
    seconds = time.perf_counter() - start
    process.stdin.close()
    await process.wait()
    return summary(latencies, seconds)


async def figures(binary: str, dataset: Path, data: Path, model: str, scratch: Path,
                  queries: int = QUERIES_PER_LEVEL, levels: tuple[int, ...] = CLIENTS) -> dict:
    """`queries` per level (spread over the level's clients), the dataset's test queries in turn.
    `levels` must include 1 and 16, whose throughputs the speedup compares."""
    texts = beir_test_queries(dataset)
    results = {"stdio": await stdio_level(binary, data, model, texts, queries), "http": {}}
    server = HTTPServer(binary, Path(model), scratch, token=None,
                        env={"MCP_RAG_DATA_DIR": str(data), "MCP_RAG_CACHE_TTL": "0", "MCP_RAG_LOG_LEVEL": "warning"})
    try:
        server.wait_ready()
        await http_level(server, texts, 4, scratch, queries)  # warm-up: the model's buffers, the store's pages
        for clients in levels:
            results["http"][str(clients)] = await http_level(server, texts, clients, scratch, queries)
        results["memory"] = await session_memory(server)
    finally:
        server.stop()
    single = results["http"]["1"]["queries_per_second"]
    results["speedup_16_over_1"] = results["http"]["16"]["queries_per_second"] / single
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", required=True)
    parser.add_argument("--data", required=True, help="a knowledge base holding SciFact (tools/bench-server --reuse makes one)")
    parser.add_argument("--dataset", default=str(Path(__file__).resolve().parents[2] / "shared" / "datasets" / "scifact"))
    parser.add_argument("--queries", type=int, default=QUERIES_PER_LEVEL, help="queries per level")
    parser.add_argument("--clients", default=",".join(map(str, CLIENTS)),
                        help="the levels: concurrent clients, comma-separated (1 and 16 among them)")
    parser.add_argument("--json", help="also write the figures to this file")
    arguments = parser.parse_args()
    levels = tuple(int(count) for count in arguments.clients.split(","))
    if not {1, 16} <= set(levels):
        parser.error("--clients must include 1 and 16 (the speedup compares them)")
    with tempfile.TemporaryDirectory(prefix="mcp-rag-bench-http-") as scratch:
        result = asyncio.run(figures(os.path.abspath(arguments.binary), Path(arguments.dataset), Path(arguments.data),
                                     model_dir(), Path(scratch), arguments.queries, levels))
    print(json.dumps(result, indent=2))
    if arguments.json:
        Path(arguments.json).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
