"""How long an ingest on one mcp-rag takes to be answered by another that shares its Chroma
collection: two servers with data folders of their own (as on two machines), one Chroma; each round
waits a random part of the polling interval, writes a new file with a word of its own, ingests it on
the first server, and asks the second for the word (keyword mode, which reads the second's copy of
the collection) until it answers. Prints the
ingest's own time and the time from the ingest's answer to the first hit, p50 and p99, as JSON.

    .venv/bin/python tools/bench_shared_visibility.py --binary .build/release/mcp-rag --chroma http://127.0.0.1:8000 [--rounds 20]

MCP_RAG_MODEL_DIR names the model, as for the tests (left unset, the one `tools/quickstart` installed).
The collection is made for the run and deleted."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

from bench_server import model_dir


def parameters(binary: str, data: Path, roots: Path, chroma: str, collection: str, follow_ms: int) -> StdioServerParameters:
    return StdioServerParameters(command=binary, args=["serve"], env={
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/tmp"),
        "MCP_RAG_DATA_DIR": str(data), "MCP_RAG_MODEL_DIR": model_dir(),
        "MCP_RAG_ALLOWED_ROOTS": str(roots), "MCP_RAG_LOG_LEVEL": "warning", "MCP_RAG_CACHE_TTL": "0",
        "CHROMA_URL": chroma, "CHROMA_COLLECTION": collection, "MCP_RAG_CHROMA_FOLLOW_MS": str(follow_ms)})


def percentiles(values: list[float]) -> tuple[float, float]:
    values = sorted(values)
    return round(statistics.median(values), 1), round(values[int(0.99 * (len(values) - 1))], 1)


async def run(binary: str, chroma: str, rounds: int, follow_ms: int) -> dict:
    collection = f"visibility-{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        docs = root / "docs"
        docs.mkdir()
        writer = parameters(binary, root / "writer", docs, chroma, collection, follow_ms)
        reader = parameters(binary, root / "reader", docs, chroma, collection, follow_ms)
        ingest_ms, visible_ms = [], []
        async with stdio_client(writer) as (w_read, w_write), ClientSession(w_read, w_write) as first, \
                stdio_client(reader) as (r_read, r_write), ClientSession(r_read, r_write) as second:
            await first.initialize()
            await second.initialize()
            for index in range(rounds):
                # Rounds start at random points of the reader's polling cycle; otherwise each would
                # begin just after the catch-up that answered the last one.
                await asyncio.sleep(random.uniform(0, follow_ms / 1000))
                word = f"zq{uuid.uuid4().hex[:10]}"
                path = docs / f"round-{index}.md"
                path.write_text(f"# Round {index}\n\nThe marker word is {word}.\n", encoding="utf-8")
                started = time.monotonic()
                result = await first.call_tool("ingest_documents", {"paths": [str(path)], "technology": "bench"})
                assert not result.is_error, result.content[0].text
                ingested = time.monotonic()
                while True:
                    answer = await second.call_tool("query_knowledge_base", {"query": word, "mode": "keyword"})
                    if answer.structured_content and answer.structured_content["results"]:
                        break
                ingest_ms.append((ingested - started) * 1000)
                visible_ms.append((time.monotonic() - ingested) * 1000)
        import chromadb
        from urllib.parse import urlsplit
        parts = urlsplit(chroma)
        client = chromadb.HttpClient(host=parts.hostname, port=parts.port)
        for name in (collection, collection + "-sources"):
            client.delete_collection(name)
    return {"rounds": rounds, "follow_ms": follow_ms, "ingest_p50_p99_ms": percentiles(ingest_ms),
            "ingest_to_hit_elsewhere_p50_p99_ms": percentiles(visible_ms)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--binary", required=True)
    parser.add_argument("--chroma", required=True, help="a Chroma server's URL")
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--follow-ms", type=int, default=1000, help="MCP_RAG_CHROMA_FOLLOW_MS for both servers")
    arguments = parser.parse_args()
    print(json.dumps(asyncio.run(run(arguments.binary, arguments.chroma, arguments.rounds, arguments.follow_ms))))


if __name__ == "__main__":
    main()
