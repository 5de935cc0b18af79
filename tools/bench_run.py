"""Everything behind tools/bench (see that script): runs each benchmark of the project in turn,
keeps their figures in figures.json and writes report.md with its plots (tools/bench_report.py).

A step that fails is named in the report with its error, and the run goes on to the next one; the
exit status is then 1. A GPU backend that this machine does not have is reported as such, and is no
failure."""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import traceback
from pathlib import Path

import bench_documents
import bench_http
import bench_server
from bench_scale import scale_point

STEPS = ("embedding", "documents", "watch", "server", "http", "redis", "scale")
GPU_DEVICES = ("cuda", "hip")


class StepFailed(Exception):
    pass


def say(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def run_json(command: list[str]) -> object:
    """A command's JSON answer on stdout; StepFailed with its last error line when it fails."""
    process = subprocess.run(command, capture_output=True, text=True,
                             env=dict(os.environ, MCP_RAG_MODEL_DIR=bench_server.model_dir()))
    if process.returncode != 0:
        lines = [line for line in process.stderr.splitlines() if line.strip()]
        raise StepFailed(lines[-1].removeprefix("Error: ") if lines else f"{command[0]} exited with status {process.returncode}")
    return json.loads(process.stdout)


def machine() -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                   if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    memory_kib = 0
    try:
        memory_kib = int(next(line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines()
                              if line.startswith("MemTotal")))
    except (OSError, StopIteration):
        pass
    try:
        system = platform.freedesktop_os_release().get("PRETTY_NAME", platform.platform())
    except OSError:  # no /etc/os-release
        system = platform.platform()
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gib": memory_kib / 1024 / 1024, "os": system}


def embedding(arguments, scratch: Path) -> dict:
    """The CPU backend, then each GPU backend this machine has."""
    command = [arguments.binary, "bench", "embedding", "--json", "--seconds", str(arguments.seconds)]
    backends = {"cpu": run_json(command + ["--device", "cpu"])}
    for device in GPU_DEVICES:
        try:
            backends[device] = run_json(command + ["--device", device])
        except StepFailed as error:
            backends[device] = {"unavailable": str(error)}
    return backends


def scifact_knowledge_base(arguments, scratch: Path) -> tuple[Path, Path, str, dict | None]:
    """The SciFact dataset, the knowledge base that holds it (ingested now when it is not there
    yet, with the ingestion's figures), and the model."""
    dataset = Path(arguments.dataset)
    if not (dataset / "corpus.jsonl").exists():
        raise StepFailed(f"no SciFact corpus at {dataset} (give --dataset)")
    data = Path(arguments.reuse) if arguments.reuse else scratch / "scifact-kb"
    model = bench_server.model_dir()
    ingested = None
    if not (data / "knowledge.sqlite3").exists():
        say("ingesting SciFact (about 6 minutes on two cores)")
        ingested = bench_server.ingest(arguments.binary, dataset, data, model, scratch)
    return dataset, data, model, ingested


def documents(arguments, scratch: Path) -> dict:
    """PDF, Word and HTML files made from SciFact, extracted and chunked, against embedding them."""
    folder = bench_documents.make_folder(Path(arguments.dataset), scratch / "documents", 60)
    return bench_documents.bench(arguments.binary, folder)


def watch(arguments, scratch: Path) -> dict:
    """`mcp-rag bench watch`: a file saved in a watched folder to its passage searchable, then a burst."""
    process = subprocess.run([arguments.binary, "bench", "watch", "--saves", "20", "--burst", str(arguments.watch_burst),
                              "--json"], capture_output=True, text=True)
    if process.returncode != 0:
        raise RuntimeError(process.stderr.strip().splitlines()[-1] if process.stderr.strip() else "bench watch failed")
    return json.loads(process.stdout)


def server(arguments, scratch: Path) -> dict:
    """tools/bench-server's figures: startup, ingestion, queries embedded, through Chroma and Redis."""
    dataset, data, model, ingested = scifact_knowledge_base(arguments, scratch)
    figures = {"ingest": ingested} if ingested else {}
    say("server startup and SciFact queries")
    figures["startup"] = bench_server.startup(arguments.binary, data, model)
    figures["query"] = asyncio.run(bench_server.queries(arguments.binary, dataset, data, model))
    if arguments.chroma_url:
        say("SciFact queries through Chroma")
        figures["chroma"] = asyncio.run(bench_server.chroma_queries(arguments.binary, dataset, data, model,
                                                                    arguments.chroma_url))
    if arguments.redis_url:
        say("SciFact queries with the Redis cache")
        figures["redis"] = asyncio.run(bench_server.redis_queries(arguments.binary, dataset, data, model,
                                                                  arguments.redis_url))
    return figures


def http(arguments, scratch: Path) -> dict:
    """SciFact's queries over Streamable HTTP at 1 to 64 clients, over stdio, and a session's memory."""
    dataset, data, model, _ = scifact_knowledge_base(arguments, scratch)
    say("SciFact queries at 1, 4, 16 and 64 HTTP clients")
    return asyncio.run(bench_http.figures(arguments.binary, dataset, data, model, scratch, arguments.http_queries))


def redis(arguments, scratch: Path) -> dict:
    if not arguments.redis_url:
        raise StepFailed("no Redis server (give --redis-url)")
    return run_json([arguments.binary, "bench", "redis", "--json", "--redis-url", arguments.redis_url,
                     "--queries", "1000", "--data-dir", str(scratch / "redis-kb")])


def scale(arguments, scratch: Path) -> dict:
    """`mcp-rag bench search` at each size, keeping the stores; then the server on each of them."""
    kept = scratch / "scale"
    say(f"the store at {arguments.sizes} chunks (a million takes a few minutes to fill)")
    search = run_json([arguments.binary, "bench", "search", "--json", "--chunks", arguments.sizes,
                       "--keep", str(kept), "--folder", str(scratch)])
    through_mcp = {}
    for point in search:
        folder = kept / str(point["chunks"])
        say(f"query_knowledge_base at {point['chunks']} chunks")
        through_mcp[str(point["chunks"])] = asyncio.run(scale_point(arguments.binary, folder, bench_server.model_dir()))
        shutil.rmtree(folder)  # a million chunks take gigabytes
    return {"search": search, "mcp": through_mcp}


def main() -> int:
    parser = argparse.ArgumentParser(description="Runs every benchmark and writes report.md with PNG plots.")
    parser.add_argument("output", help="the folder for report.md, its plots and figures.json (made if missing)")
    parser.add_argument("--binary", required=True)
    parser.add_argument("--sizes", default="10000,100000,1000000", help="store sizes of the scale curve")
    parser.add_argument("--seconds", type=float, default=3, help="seconds per embedding throughput measurement")
    parser.add_argument("--dataset", default=str(Path(__file__).resolve().parents[2] / "shared" / "datasets" / "scifact"))
    parser.add_argument("--http-queries", type=int, default=bench_http.QUERIES_PER_LEVEL,
                        help="queries per level of the HTTP step")
    parser.add_argument("--watch-burst", type=int, default=1000, help="files written at once in the watch step")
    parser.add_argument("--reuse", help="keep the ingested SciFact knowledge base in this folder and reuse it")
    parser.add_argument("--redis-url")
    parser.add_argument("--chroma-url")
    parser.add_argument("--skip", action="append", choices=STEPS, default=[], help="leave a step out (repeatable)")
    arguments = parser.parse_args()
    arguments.binary = os.path.abspath(arguments.binary)
    output = Path(arguments.output)
    version = subprocess.run([arguments.binary, "--version"], capture_output=True, text=True).stdout.strip()
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            cwd=Path(__file__).parent).stdout.strip() or "unknown"
    figures: dict = {"taken": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
                     "version": version, "commit": commit, "machine": machine(), "skipped": {}}
    failed = False
    runners = {"embedding": embedding, "documents": documents, "watch": watch, "server": server, "http": http, "redis": redis,
               "scale": scale}
    with tempfile.TemporaryDirectory(prefix="mcp-rag-bench-") as scratch:
        for step in STEPS:
            if step in arguments.skip:
                figures["skipped"][step] = "left out with --skip"
                continue
            say(f"{step}…")
            try:
                figures[step] = runners[step](arguments, Path(scratch))
            except Exception as error:  # one broken step must not cost the others' figures
                failed = True
                figures["skipped"][step] = f"the step failed: {error}"
                say(f"{step} failed:\n{traceback.format_exc()}")
    output.mkdir(parents=True, exist_ok=True)
    (output / "figures.json").write_text(json.dumps(figures, indent=2) + "\n")
    # Imported only now: matplotlib brings numpy and its BLAS threads, which have no business in the
    # client process while it times the server.
    from bench_report import write_report
    report = write_report(figures, output)
    say(f"wrote {report}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
