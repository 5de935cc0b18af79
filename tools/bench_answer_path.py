"""The answer path through a plain stdio client: SciFact's 300 test queries asked one after another
over raw JSON lines (no MCP client library in the way), hybrid mode (or --mode), result cache off, for each
`n_results` size; prints the client round trip's p50 and p99 as JSON lines, beside the server's own
`took_ms` (the query inside the server; the difference is the transport and the encoding). Answers
may take 256 KB (`MCP_RAG_MAX_ANSWER_KB`), so each carries every passage asked for.

    .venv/bin/python tools/bench_answer_path.py --binary .build/release/mcp-rag --data /tmp/bench-kb [--sizes 5,30] [--stages]

--data is a data folder holding SciFact, as `tools/bench-server --reuse DIR` leaves it. The first 30
queries warm the server up (model loaded, pages in) and are not counted. MCP_RAG_MODEL_DIR names the
model, as for the tests; left unset, the one `tools/quickstart` installed."""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from bench_server import model_dir


def test_queries(dataset: Path) -> list[str]:
    ids = {line.split("\t")[0] for line in (dataset / "qrels/test.tsv").read_text().splitlines()[1:]}
    return [q["text"] for q in map(json.loads, (dataset / "queries.jsonl").read_text().splitlines()) if q["_id"] in ids]


def percentiles(values: list[float]) -> tuple[float, float]:
    values = sorted(values)
    return round(statistics.median(values), 2), round(values[int(0.99 * (len(values) - 1))], 2)


def stage_times(log: Path, skip: int) -> dict:
    """p50/p99 of each stage the server logged (`rag.query.<stage>_ms`), warm-up queries left out."""
    stages: dict[str, list[float]] = {}
    lines = [line for line in log.read_text().splitlines() if "query answered" in line][skip:]
    for line in lines:
        for stage, value in re.findall(r"rag\.query\.(\w+)_ms=([0-9.]+)", line):
            stages.setdefault(stage, []).append(float(value))
    return {stage: percentiles(values) for stage, values in sorted(stages.items())}


def measure(binary: str, data: str, queries: list[str], size: int, stages: bool, mode: str) -> dict:
    env = {"PATH": os.environ["PATH"], "HOME": os.environ["HOME"], "MCP_RAG_DATA_DIR": data,
           "MCP_RAG_MODEL_DIR": model_dir(), "MCP_RAG_LOG_LEVEL": "debug" if stages else "error",
           "MCP_RAG_CACHE_TTL": "0", "MCP_RAG_WARM_TOP": "0",
           # Every answer whole, as the answers these figures were first measured on (30 SciFact
           # passages take about 62 KB, and half of them would be cut at the default 64).
           "MCP_RAG_MAX_ANSWER_KB": "256"}
    log = tempfile.NamedTemporaryFile(prefix="mcp-rag-stages-", suffix=".log", delete=False) if stages else None
    server = subprocess.Popen([binary, "serve"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=log or subprocess.DEVNULL, env=env)
    next_id = 0

    def ask(method: str, params: dict) -> dict:
        nonlocal next_id
        next_id += 1
        server.stdin.write((json.dumps({"jsonrpc": "2.0", "id": next_id, "method": method, "params": params}) + "\n").encode())
        server.stdin.flush()
        return json.loads(server.stdout.readline())

    ask("initialize", {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "plain", "version": "0"}})
    server.stdin.write(b'{"jsonrpc":"2.0","method":"notifications/initialized"}\n')
    server.stdin.flush()

    def query(text: str) -> dict:
        return ask("tools/call", {"name": "query_knowledge_base",
                                  "arguments": {"query": text, "n_results": size, "mode": mode}})

    for text in queries[:30]:
        answer = query(text)
        assert "result" in answer and not answer["result"]["isError"], answer
    times, took, answers_cut = [], [], 0
    for text in queries:
        start = time.perf_counter()
        answer = query(text)
        times.append((time.perf_counter() - start) * 1e3)
        content = answer["result"]["structuredContent"]
        # Passages past what an answer may take are counted, not sent (none with the limit above).
        assert len(content["results"]) + content.get("results_omitted", 0) == size, answer
        answers_cut += "results_omitted" in content
        took.append(content["took_ms"])
    server.stdin.close()
    server.wait(timeout=30)
    (p50, p99), (server_p50, server_p99) = percentiles(times), percentiles(took)
    result = {"mode": mode, "n_results": size, "queries": len(times), "p50_ms": p50, "p99_ms": p99,
              "server_p50_ms": server_p50, "server_p99_ms": server_p99, "answers_cut": answers_cut}
    if log:
        log.close()
        result["stages_p50_p99_ms"] = stage_times(Path(log.name), skip=30)
        os.unlink(log.name)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--binary", required=True)
    parser.add_argument("--data", required=True, help="a data folder holding SciFact (tools/bench-server --reuse DIR)")
    parser.add_argument("--sizes", default="5,30", help="n_results values, comma-separated")
    parser.add_argument("--stages", action="store_true",
                        help="also report each stage's p50/p99 from the server's debug log (logging costs a little)")
    parser.add_argument("--mode", default="hybrid", choices=["hybrid", "semantic", "keyword"])
    parser.add_argument("--dataset", default=str(Path(__file__).resolve().parents[2] / "shared" / "datasets" / "scifact"))
    arguments = parser.parse_args()
    queries = test_queries(Path(arguments.dataset))
    for size in (int(s) for s in arguments.sizes.split(",")):
        print(json.dumps(measure(os.path.abspath(arguments.binary), arguments.data, queries, size,
                                 arguments.stages, arguments.mode)), flush=True)


if __name__ == "__main__":
    main()
