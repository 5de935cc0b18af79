"""Turns the figures tools/bench collects (figures.json) into report.md, with tables, and PNG plots
beside it. Only what was measured is shown: a step that failed or was skipped says so and why."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no display on a server
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402

MIB = 1024 * 1024
MODES = ("hybrid", "semantic", "keyword")


def number(value: float, digits: int = 1) -> str:
    return f"{value:,.{digits}f}"


def table(header: list[str], rows: list[list[str]]) -> list[str]:
    aligned = ["---"] + ["---:"] * (len(header) - 1)
    return ["| " + " | ".join(header) + " |", "| " + " | ".join(aligned) + " |"] + [
        "| " + " | ".join(row) + " |" for row in rows]


def missing(figures: dict, step: str) -> list[str]:
    """The line that says why a step has no figures, or nothing when it has them."""
    reason = figures.get("skipped", {}).get(step)
    if reason:
        return [f"Not measured: {reason}.", ""]
    return []


def latency_row(name: str, latency: dict) -> list[str]:
    return [name, number(latency["client_p50_ms"], 2), number(latency["client_p99_ms"], 2),
            number(latency["server_p50_ms"], 2), number(latency["server_p99_ms"], 2)]


def machine_section(figures: dict) -> list[str]:
    machine = figures["machine"]
    return ["# mcp-rag benchmark report", "",
            f"Taken {figures['taken']} with mcp-rag {figures['version']} (commit {figures['commit']}) on "
            f"{machine['cpu']}, {machine['cores']} cores, {number(machine['memory_gib'])} GiB, {machine['os']}. "
            f"Raw figures: [figures.json](figures.json). Every number is one run on this machine; a shared "
            f"host can slow any of them.", ""]


def embedding_section(figures: dict) -> tuple[list[str], list[str]]:
    lines = ["## Embedding (`mcp-rag bench embedding`)", "",
             "all-MiniLM-L6-v2, batches of 32 (tokenisation included), best of five timed trials; one query "
             "of 18 tokens timed 300 times.", ""]
    plots: list[str] = []
    backends = figures.get("embedding", {})
    rows = []
    for name, report in backends.items():
        if "unavailable" in report:
            lines.append(f"- {name}: not measured: {report['unavailable']}")
            continue
        rate = {item["tokensPerText"]: item["sentencesPerSecond"] for item in report["throughput"]}
        rows.append([f"{name}, {report['threads']} threads" if report["backend"] == name else
                     f"{name} ({report['backend']}, {report['threads']} threads)",
                     number(report["gemmGFLOPS"], 0), number(rate.get(32, 0)), number(rate.get(240, 0)),
                     number(report["singleQueryP50Milliseconds"], 2), number(report["singleQueryP99Milliseconds"], 2),
                     number(report["modelLoadMilliseconds"], 0), number(report["peakResidentMegabytes"], 0),
                     number(report["tokenizerTokensPerSecond"] / 1e6, 1)])
    if any(line.startswith("- ") for line in lines):
        lines.append("")
    if rows:
        lines += table(["backend", "sgemm GFLOP/s", "32 tokens, sentences/s", "240 tokens, sentences/s", "query p50 ms", "query p99 ms",
                        "model load ms", "peak RSS MB", "tokenizer M tokens/s"], rows)
        lines += ["", "![Embedding throughput per backend](embedding_throughput.png)", ""]
        plots.append("embedding_throughput.png")
    return lines + missing(figures, "embedding"), plots


def server_section(figures: dict) -> tuple[list[str], list[str]]:
    lines = ["## The MCP server on SciFact (`tools/bench-server`)", ""]
    server = figures.get("server")
    if not server:
        return lines + missing(figures, "server"), []
    startup = server["startup"]
    rows = [["spawn → `initialize` answered", f"{number(startup['spawn_to_initialize_ms_p50'])} ms"],
            ["spawn → first query answered", f"{number(startup['spawn_to_first_query_ms_p50'])} ms"],
            ["readiness `health_check` (round trip)", f"{number(startup['readiness_health_round_trip_ms_p50'], 2)} ms"]]
    if "ingest" in server:
        ingest = server["ingest"]
        rows += [["ingestion", f"{ingest['documents']:,} documents, {ingest['chunks']:,} passages in "
                               f"{number(ingest['ingest_seconds'])} s ({number(ingest['ingest_chunks_per_second'])} a second)"],
                 ["ingestion rate ÷ raw embedding rate", number(ingest["ingest_over_raw"], 2)]]
    lines += table(["figure (medians)", "measured"], rows) + [""]
    lines += ["`query_knowledge_base`, the 300 SciFact test queries one at a time through the official Python MCP "
              "client, result cache off unless said (ms):", ""]
    rows = [latency_row(f"embedded, {mode}", server["query"][mode]) for mode in MODES]
    rows += [latency_row(f"Chroma, {mode}", server["chroma"][mode]) for mode in ("hybrid", "semantic") if "chroma" in server]
    if "redis" in server:
        rows += [latency_row("Redis cache miss (hybrid)", server["redis"]["miss"]),
                 latency_row("Redis cache hit", server["redis"]["hit"])]
    lines += table(["query", "client p50", "client p99", "server p50", "server p99"], rows)
    liveness = server["query"]["liveness_call"]
    lines += ["", f"An empty tool call (`health_check` liveness) costs {number(liveness['client_p50_ms'], 2)} ms p50 "
                  "through the client: the protocol's share of every row above.", ""]
    if "chroma" in server:
        chroma = server["chroma"]
        lines += [f"Chroma: the whole knowledge base ({chroma['vectors']:,} vectors) uploaded in "
                  f"{number(chroma['upload_seconds'])} s before the queries.", ""]
    lines += ["![Query latency per configuration](query_latency.png)", ""]
    return lines, ["query_latency.png"]


def http_section(figures: dict) -> tuple[list[str], list[str]]:
    lines = ["## MCP over Streamable HTTP on SciFact (`tools/bench_http.py`)", ""]
    http = figures.get("http")
    if not http:
        return lines + missing(figures, "http"), []
    def row(name: str, level: dict) -> list[str]:
        shared = level.get("queries_per_pass")
        return [name, number(level["queries_per_second"], 0), number(level["client_p50_ms"], 1), number(level["client_p99_ms"], 1),
                number(level["server_cpu_ms_per_query"], 1) if "server_cpu_ms_per_query" in level else "",
                number(shared, 1) if shared is not None else ""]
    rows = [row("stdio, 1 client", http["stdio"])]
    rows += [row(f"HTTP, {clients} client{'s' if clients != '1' else ''}", level) for clients, level in http["http"].items()]
    lines += ["SciFact's test queries, hybrid, result cache off, each client its own session (one curl process "
              "keeping as many requests in flight as there are clients, on the same machine; stdio through raw "
              "pipes). Server CPU: the server process's CPU time over the "
              "level, per query; queries per pass: how many shared each forward pass of the model.", ""]
    lines += table(["transport", "queries/s", "client p50 ms", "client p99 ms", "server CPU ms/query", "queries per pass"], rows)
    memory = http["memory"]
    lines += ["", f"16 clients reach {number(http['speedup_16_over_1'], 2)}× one client's throughput. "
                  f"{memory['sessions']} open sessions cost {number(memory['bytes_per_session'] / 1024, 0)} KiB each "
                  "of resident memory.", ""]
    return lines, []


def redis_section(figures: dict) -> tuple[list[str], list[str]]:
    lines = ["## Redis tracking and cache (`mcp-rag bench redis`)", ""]
    redis = figures.get("redis")
    if not redis:
        return lines + missing(figures, "redis"), []
    rows = [["PING round trip", redis["round_trip"]], ["hybrid query, not tracked", redis["untracked"]],
            ["hybrid query, tracked", redis["tracked"]], ["cache hit from Redis", redis["redis_cache_hit"]],
            ["cache hit in-process", redis["memory_cache_hit"]]]
    lines += [f"Redis {redis.get('server_version') or '?'} at {redis['endpoint']}, in a scratch knowledge base of "
              f"{redis['chunks']} passages, in-process (no protocol).", ""]
    lines += table(["figure", "p50 ms", "p99 ms"], [[name, number(value["p50_ms"], 3), number(value["p99_ms"], 3)]
                                                   for name, value in rows])
    lines += ["", f"Tracking adds {number(redis['tracking_overhead_p50_ms'], 3)} ms to a query at p50; "
                  f"{redis['tracked_written']} of {redis['tracked_sent']} tracked counts reached Redis.", ""]
    return lines, []


def documents_section(figures: dict) -> tuple[list[str], list[str]]:
    lines = ["## Reading documents (`mcp-rag bench documents`, `tools/bench_documents.py`)", ""]
    documents = figures.get("documents")
    if not documents:
        return lines + missing(figures, "documents"), []
    lines += [f"Files made from SciFact's abstracts (8 a file), extracted and chunked in memory, best of "
              f"{documents['rounds']} rounds; embedding the same passages: "
              f"{number(documents['embeddingPassagesPerSecond'])} passages/s ({documents['embeddingBackend']}).", ""]
    lines += table(["format", "files", "pages", "passages", "files/s", "pages/s", "embedding ÷ extraction"],
                   [[row["format"], str(row["files"]), str(row["pages"]), str(row["passages"]), number(row["filesPerSecond"]),
                     number(row["pagesPerSecond"]) if row["pages"] else "–", number(row["embeddingOverExtraction"]) + "×"]
                    for row in documents["formats"]])
    return lines + [""], []


def watch_section(figures: dict) -> tuple[list[str], list[str]]:
    lines = ["## Watched folders (`mcp-rag bench watch`)", ""]
    watch = figures.get("watch")
    if not watch:
        return lines + missing(figures, "watch"), []
    lines += [f"A file saved in a watched folder until a keyword query finds its passage, {watch['saves']} saves one "
              f"at a time (changes rest 200 ms before a batch is taken); then {watch['burst_files']:,} files written "
              "at once, as a checkout writes them.", ""]
    lines += table(["measure", "value"], [
        ["saved → searchable, p50", f"{number(watch['save_to_searchable_p50_ms'])} ms"],
        ["saved → searchable, p90", f"{number(watch['save_to_searchable_p90_ms'])} ms"],
        ["saved → searchable, max", f"{number(watch['save_to_searchable_max_ms'])} ms"],
        [f"burst of {watch['burst_files']:,} files, all searchable",
         f"{number(watch['burst_seconds'])} s ({number(watch['burst_files_per_second'])} files/s) in "
         f"{watch['burst_batches']} batches"],
    ])
    return lines + [""], []


def scale_section(figures: dict) -> tuple[list[str], list[str]]:
    lines = ["## The embedded store at scale (`mcp-rag bench search --keep`)", ""]
    scale = figures.get("scale")
    if not scale:
        return lines + missing(figures, "scale"), []
    lines += ["Synthetic stores: 384-value vectors clustered around 2,000 topic centres, passages of about 40 made-up "
              "words (10 of their topic's, 30 common ones drawn by Zipf's law). The store's own search (no embedding) "
              "is timed in-process over 200 queries against an exact float32 search; then the server is started on "
              "each store and asked 200 questions in the store's words through the MCP client, cache off.", ""]
    rows = []
    for point in scale["search"]:
        rows.append([f"{point['chunks']:,}", number(point["fillSeconds"]), number(point["openSeconds"], 2),
                     number(point["coldOpenSeconds"], 2), number(point["vectorBytes"] / MIB),
                     number(point["mappedBytes"] / MIB), number(point["searchMsP50"], 2), number(point["searchMsP99"], 2),
                     number(point["recallAt10"], 3)])
    lines += table(["chunks", "fill s", "open s", "cold open s", "vectors MiB", "mapped MiB", "search p50 ms",
                    "search p99 ms", "recall@10"], rows) + [""]
    rows = []
    for chunks, point in sorted(scale["mcp"].items(), key=lambda item: int(item[0])):
        rows.append([f"{int(chunks):,}", number(point["spawn_to_first_answer_ms"], 0)]
                    + [f"{number(point[mode]['client_p50_ms'], 1)} / {number(point[mode]['client_p99_ms'], 1)}"
                       for mode in MODES]
                    + [number(point["resident_bytes"] / MIB, 0), number(point["vector_mapped_bytes"] / MIB, 0)])
    lines += table(["chunks", "spawn → first answer ms", "hybrid p50 / p99 ms", "semantic p50 / p99 ms",
                    "keyword p50 / p99 ms", "server RSS MiB", "of it mapped MiB"], rows)
    lines += ["", "![Latency against store size](scale_latency.png)", "",
              "![Memory against store size](scale_memory.png)", ""]
    return lines, ["scale_latency.png", "scale_memory.png"]


def plot_embedding(figures: dict, path: Path) -> None:
    backends = {name: report for name, report in figures["embedding"].items() if "unavailable" not in report}
    figure, axis = plt.subplots(figsize=(7, 4))
    width = 0.8 / max(1, len(backends))
    for index, (name, report) in enumerate(backends.items()):
        rates = [item["sentencesPerSecond"] for item in report["throughput"]]
        labels = [f"{item['tokensPerText']} tokens" for item in report["throughput"]]
        positions = [slot + index * width for slot in range(len(rates))]
        bars = axis.bar(positions, rates, width, label=name)
        axis.bar_label(bars, fmt="%.0f")
        axis.set_xticks([slot + width * (len(backends) - 1) / 2 for slot in range(len(rates))], labels)
    axis.set_ylabel("sentences per second (batch 32)")
    axis.set_title("Embedding throughput per backend")
    axis.legend()
    save(figure, path)


def plot_query_latency(figures: dict, path: Path) -> None:
    server = figures["server"]
    named = [(f"embedded {mode}", server["query"][mode]) for mode in MODES]
    named += [(f"Chroma {mode}", server["chroma"][mode]) for mode in ("hybrid", "semantic") if "chroma" in server]
    if "redis" in server:
        named += [("Redis hit", server["redis"]["hit"])]
    figure, axis = plt.subplots(figsize=(8, 4))
    slots = range(len(named))
    for offset, key, label in ((-0.2, "client_p50_ms", "p50"), (0.2, "client_p99_ms", "p99")):
        bars = axis.bar([slot + offset for slot in slots], [value[key] for _, value in named], 0.4, label=label)
        axis.bar_label(bars, fmt="%.1f", fontsize="x-small")
    axis.set_xticks(list(slots), [name for name, _ in named], rotation=20, ha="right")
    axis.set_ylabel("ms through the MCP client")
    axis.set_title("query_knowledge_base on SciFact")
    axis.legend()
    save(figure, path)


def scale_series(figures: dict) -> tuple[list[dict], list[tuple[int, dict]]]:
    """The in-process points and the through-MCP ones, each by store size."""
    scale = figures["scale"]
    search = sorted(scale["search"], key=lambda point: point["chunks"])
    return search, sorted((int(chunks), point) for chunks, point in scale["mcp"].items())


def plot_scale_latency(figures: dict, path: Path) -> None:
    search, mcp = scale_series(figures)
    figure, axis = plt.subplots(figsize=(7, 4.5))
    axis.plot([p["chunks"] for p in search], [p["searchMsP50"] for p in search], "o-", label="store search p50 (no embedding)")
    for mode in MODES:
        axis.plot([chunks for chunks, _ in mcp], [point[mode]["client_p50_ms"] for _, point in mcp], "o-",
                  label=f"query_knowledge_base {mode} p50")
    size_axis(axis, [p["chunks"] for p in search])
    axis.set_ylabel("ms")
    axis.set_title("Latency against store size")
    axis.legend(fontsize="small")
    save(figure, path)


def plot_scale_memory(figures: dict, path: Path) -> None:
    search, mcp = scale_series(figures)
    figure, axis = plt.subplots(figsize=(7, 4.5))
    axis.plot([chunks for chunks, _ in mcp], [point["resident_bytes"] / MIB for _, point in mcp], "o-",
              label="server resident memory")
    axis.plot([p["chunks"] for p in search], [p["vectorBytes"] / MIB for p in search], "o-", label="vectors (int8 and tables)")
    mapped = [p for p in search if p["mappedBytes"] > 0]  # small stores have no file, and a log axis no zero
    axis.plot([p["chunks"] for p in mapped], [p["mappedBytes"] / MIB for p in mapped], "o--", label="of them mapped from the file")
    size_axis(axis, [p["chunks"] for p in search])
    axis.set_ylabel("MiB")
    axis.set_title("Memory against store size")
    axis.legend(fontsize="small")
    save(figure, path)


def size_axis(axis, sizes: list[int]) -> None:
    """Both axes logarithmic, the store sizes marked as 10k, 100k, 1M, values in plain numbers."""
    axis.set_xscale("log")
    axis.set_yscale("log")
    axis.set_xticks(sizes, [f"{size // 1_000_000}M" if size % 1_000_000 == 0 else f"{size // 1000}k" if size % 1000 == 0
                            else str(size) for size in sizes])
    axis.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
    plain = matplotlib.ticker.FuncFormatter(lambda value, _: f"{value:g}")
    # Minor ticks too: a range of less than a decade labels them, in scientific notation otherwise.
    axis.yaxis.set_major_formatter(plain)
    axis.yaxis.set_minor_formatter(plain)
    axis.grid(True, which="both", alpha=0.3)
    axis.set_xlabel("chunks in the store")


def save(figure, path: Path) -> None:
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


PLOTTERS = {"embedding_throughput.png": plot_embedding, "query_latency.png": plot_query_latency,
            "scale_latency.png": plot_scale_latency, "scale_memory.png": plot_scale_memory}


def write_report(figures: dict, folder: Path) -> Path:
    """report.md and its plots in `folder`; returns the report's path."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = machine_section(figures)
    plots: list[str] = []
    for section in (embedding_section, documents_section, watch_section, server_section, http_section, redis_section, scale_section):
        text, drawn = section(figures)
        lines += text
        plots += drawn
    for name in plots:
        PLOTTERS[name](figures, folder / name)
    report = folder / "report.md"
    report.write_text("\n".join(lines).rstrip() + "\n", encoding="utf-8")
    return report


if __name__ == "__main__":
    # Redraws a report from a figures.json: bench_report.py FOLDER
    target = Path(sys.argv[1])
    print(write_report(json.loads((target / "figures.json").read_text()), target))
