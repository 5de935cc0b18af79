"""tools/bench's runner and report (tools/bench_run.py, what tools/bench calls once it has built the
binary and started Redis and Chroma): small sizes, so a run takes seconds; the figures are checked
for presence and sense, never for speed."""

import json
import os
import sqlite3
import struct
import subprocess
import sys
from pathlib import Path

from test_eval_cli import write_dataset

ROOT = Path(__file__).resolve().parents[2]
MODES = ("hybrid", "semantic", "keyword")
MIB = 1024 * 1024


def bench(binary: str, model_dir: Path, output: Path, *options: str) -> subprocess.CompletedProcess:
    # Its scratch folder (the kept stores, the knowledge bases) under the test's own.
    scratch = output.parent / "tmp"
    scratch.mkdir(exist_ok=True)
    env = dict(os.environ, MCP_RAG_MODEL_DIR=str(model_dir), TMPDIR=str(scratch))
    return subprocess.run([sys.executable, str(ROOT / "tools" / "bench_run.py"), str(output), "--binary", binary, *options],
                          capture_output=True, text=True, timeout=600, env=env)


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR", f"{path.name} is not a PNG"
    return struct.unpack(">II", data[16:24])


def test_a_run_measures_each_step_and_writes_tables_and_plots(binary, model_dir, tmp_path):
    # A BEIR dataset of a dozen documents for the HTTP step, and few queries per level.
    dataset = write_dataset(tmp_path / "dataset")
    run = bench(binary, model_dir, tmp_path / "report", "--sizes", "1000,3000", "--seconds", "0.1", "--skip", "server",
                "--redis-url", os.environ["MCP_RAG_TEST_REDIS_URL"], "--dataset", str(dataset), "--http-queries", "32",
                "--watch-burst", "40")
    assert run.returncode == 0, run.stderr
    folder = tmp_path / "report"
    figures = json.loads((folder / "figures.json").read_text())
    assert figures["skipped"] == {"server": "left out with --skip"}
    assert figures["machine"]["cores"] >= 1 and figures["version"]

    # Embedding: the CPU measured; each GPU backend measured or said to be missing, with the reason.
    assert figures["embedding"]["cpu"]["backend"] == "cpu"
    for device in ("cuda", "hip"):
        backend = figures["embedding"][device]
        assert backend.get("backend") == device or "cannot serve" in backend["unavailable"], backend
    # Documents: each format made from the dataset, read, and set against embedding.
    documents = {row["format"]: row for row in figures["documents"]["formats"]}
    assert set(documents) == {"pdf", "docx", "html"} and all(row["passages"] > 0 for row in documents.values())
    # Watched folders: every save found, the burst taken in fewer batches than files.
    watch = figures["watch"]
    assert watch["saves"] == 20 and 0 < watch["save_to_searchable_p50_ms"] <= watch["save_to_searchable_max_ms"]
    assert watch["burst_files"] == 40 and 1 <= watch["burst_batches"] < 40, watch
    # HTTP: each level's queries answered, p50 within p99, the stdio baseline, a session's memory.
    http = figures["http"]
    assert sorted(http["http"], key=int) == ["1", "4", "16", "64"]
    for clients, level in http["http"].items():
        assert level["queries"] == max(1, 32 // int(clients)) * int(clients)
        assert level["queries_per_second"] > 0 and 0 < level["client_p50_ms"] <= level["client_p99_ms"]
        # Every query embedded in some pass, no pass empty: between 1 and all the level's clients per pass.
        assert level["server_cpu_ms_per_query"] > 0 and 1 <= level["queries_per_pass"] <= int(clients)
    assert http["stdio"]["queries"] == 32 and http["memory"]["sessions"] == 100
    assert http["memory"]["resident_after_bytes"] > 0 and http["speedup_16_over_1"] > 0
    # Redis: the tracking overhead and the hits, every tracked count written.
    assert figures["redis"]["tracked_written"] == figures["redis"]["tracked_sent"] > 0
    # The scale curve: in-process and through the MCP server, at each size, in every mode.
    assert [point["chunks"] for point in figures["scale"]["search"]] == [1000, 3000]
    assert all(point["recallAt10"] == 1.0 for point in figures["scale"]["search"])
    assert sorted(figures["scale"]["mcp"]) == ["1000", "3000"]
    report = (folder / "report.md").read_text()
    for chunks, point in figures["scale"]["mcp"].items():
        for mode in MODES:
            latency = point[mode]
            assert latency["queries"] == 200
            # Both sides' figures present; each pair is two percentiles of one sample.
            assert 0 < latency["client_p50_ms"] <= latency["client_p99_ms"], (chunks, mode, latency)
            assert 0 < latency["server_p50_ms"] <= latency["server_p99_ms"], (chunks, mode, latency)
        assert point["resident_bytes"] > 0 and point["spawn_to_first_answer_ms"] > 0
        assert point["vector_mapped_bytes"] >= 0
        # The report's row for this size shows exactly these figures, in the table's column order.
        row = [f"{int(chunks):,}", f"{point['spawn_to_first_answer_ms']:,.0f}"]
        row += [f"{point[mode]['client_p50_ms']:,.1f} / {point[mode]['client_p99_ms']:,.1f}" for mode in MODES]
        row += [f"{point['resident_bytes'] / MIB:,.0f}", f"{point['vector_mapped_bytes'] / MIB:,.0f}"]
        assert "| " + " | ".join(row) + " |" in report, f"no row for {chunks} chunks showing {row}"

    assert "| 3,000 |" in report and "recall@10" in report and "hybrid p50 / p99 ms" in report
    assert ("| chunks | spawn → first answer ms | hybrid p50 / p99 ms | semantic p50 / p99 ms | keyword p50 / p99 ms "
            "| server RSS MiB | of it mapped MiB |") in report
    assert "## The MCP server on SciFact" in report and "Not measured: left out with --skip." in report
    assert "Tracking adds" in report
    assert "## Reading documents" in report and "| pdf |" in report
    assert "## Watched folders" in report and "saved → searchable, p50" in report
    assert "| HTTP, 16 clients |" in report and "| stdio, 1 client |" in report
    plots = {name for name in os.listdir(folder) if name.endswith(".png")}
    assert plots == {"embedding_throughput.png", "scale_latency.png", "scale_memory.png"}
    for name in plots:
        assert f"]({name})" in report, f"{name} is not shown in the report"
        width, height = png_size(folder / name)
        assert width > 300 and height > 200
    assert list((tmp_path / "tmp").iterdir()) == [], "the kept stores went with the run's scratch folder"


def test_a_failing_step_is_reported_and_fails_the_run_while_the_others_still_run(binary, model_dir, tmp_path):
    run = bench(binary, model_dir, tmp_path / "report", "--dataset", str(tmp_path / "no-such-dataset"),
                "--sizes", "1000", "--skip", "embedding", "--skip", "redis")
    assert run.returncode == 1
    assert "server failed" in run.stderr
    figures = json.loads((tmp_path / "report" / "figures.json").read_text())
    assert "no SciFact corpus" in figures["skipped"]["server"]
    assert figures["scale"]["search"][0]["chunks"] == 1000, "the step after the failed one ran"
    report = (tmp_path / "report" / "report.md").read_text()
    assert "Not measured: the step failed: no SciFact corpus" in report


def test_bench_search_keeps_stores_a_server_can_open_and_never_overwrites_one(binary, tmp_path):
    keep = tmp_path / "kept"
    command = [binary, "bench", "search", "--chunks", "1000", "--json", "--keep", str(keep), "--folder", str(tmp_path)]
    first = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stderr
    store = keep / "1000" / "knowledge.sqlite3"
    with sqlite3.connect(store) as database:
        assert database.execute("SELECT count(*) FROM chunks").fetchone() == (1000,)
        # Passages of words, so that keyword search has postings to walk.
        text, = database.execute("SELECT text FROM chunks LIMIT 1").fetchone()
        assert len(text.split()) == 40
    questions = json.loads((keep / "1000" / "queries.json").read_text())
    assert len(questions) == 200 and all(isinstance(question, str) and question for question in questions)
    before = store.stat().st_mtime_ns

    again = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert again.returncode != 0
    assert "already holds a knowledge base" in again.stderr
    assert store.stat().st_mtime_ns == before
