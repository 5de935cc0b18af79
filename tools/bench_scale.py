"""The scale curve through the MCP server: `query_knowledge_base` against the synthetic stores that
`mcp-rag bench search --keep` leaves (one data folder per size, with questions in the store's
made-up words), so the latency includes what a client sees: the query's embedding, the search, the
passages read back and the protocol."""

from __future__ import annotations

import json
import time
from pathlib import Path

from bench_server import time_queries  # first: it puts Tests/python, where mcp_support is, on the path
from mcp_support import connected, server_parameters, structured

MODES = ("hybrid", "semantic", "keyword")


def found_something(answer: dict) -> None:
    # Every question has words of its topic in it: an empty answer means a broken store.
    assert answer["results"], (answer["mode"], answer["query"])


async def scale_point(binary: str, folder: Path, model: str) -> dict:
    """One kept store: spawn → first answer (the store opened and the model loaded on the way),
    each mode's latency over the store's questions (cache off), and the server's memory after."""
    texts = json.loads((folder / "queries.json").read_text())
    params = server_parameters(binary, folder, Path(model),
                               extra_env={"MCP_RAG_CACHE_TTL": "0", "MCP_RAG_WARM_TOP": "0", "MCP_RAG_LOG_LEVEL": "error"})
    start = time.perf_counter()
    async with connected(params) as (session, _):
        first = structured(await session.call_tool("query_knowledge_base", {"query": texts[0]}))
        point = {"spawn_to_first_answer_ms": (time.perf_counter() - start) * 1e3}
        assert first["results"], f"the store in {folder} answered nothing"
        for mode in MODES:
            point[mode] = await time_queries(session, texts, mode, check=found_something)
        process = structured(await session.call_tool("health_check", {}))["process"]
    point.update(resident_bytes=process["resident_bytes"], peak_resident_bytes=process["peak_resident_bytes"],
                 vector_mapped_bytes=process.get("vector_mapped_bytes", 0))
    return point
