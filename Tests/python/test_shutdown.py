"""Graceful shutdown (issue 25): SIGTERM or SIGINT to a serving mcp-rag stops reading requests, answers
every call it had started (an ingest stops and says so), writes the query counts it still held and
exits 0, leaving a knowledge base that passes its integrity checks. Driven over raw pipes; the counts
at stake are those buffered for a redis-server of the test's own, and those written in the background
to the SQLite file."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import threading

import pytest

from mcp_support import check_store, command_env, write_corpus

INITIALIZE = {"jsonrpc": "2.0", "id": "init", "method": "initialize", "params": {
    "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "raw", "version": "0"}}}
INITIALIZED = {"jsonrpc": "2.0", "method": "notifications/initialized"}
QUERIES = 50


def frame(message) -> bytes:
    return json.dumps(message).encode() + b"\n"


def spawn(binary, model_dir, tmp_path, docs, redis_url: str | None):
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "MCP_RAG_DATA_DIR": str(tmp_path / "data"),
           "MCP_RAG_MODEL_DIR": str(model_dir), "MCP_RAG_LOG_LEVEL": "info", "MCP_RAG_ALLOWED_ROOTS": str(docs),
           # No result cache: every answered query is counted once and nothing else is.
           "MCP_RAG_CACHE_TTL": "0"}
    if redis_url:
        env.update({"REDIS_URL": redis_url, "MCP_RAG_REDIS_PREFIX": "shutdown:"})
    errlog = open(tmp_path / "server.stderr", "ab")
    return subprocess.Popen([binary, "serve"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errlog, env=env)


class Answers:
    """Reads the server's stdout on a thread of its own until it closes; `wait_for` blocks until a
    condition on what has been read holds."""

    def __init__(self, process):
        self.messages: list[dict] = []
        self.closed = False
        self.changed = threading.Condition()
        threading.Thread(target=self._read, args=(process.stdout,), daemon=True).start()

    def _read(self, stdout) -> None:
        for line in iter(stdout.readline, b""):
            with self.changed:
                self.messages.append(json.loads(line))
                self.changed.notify_all()
        with self.changed:
            self.closed = True
            self.changed.notify_all()

    def wait_for(self, condition, timeout=120) -> None:
        with self.changed:
            assert self.changed.wait_for(lambda: condition(self.messages) or self.closed, timeout), "nothing came"
            assert condition(self.messages), f"stdout closed first; read {self.messages[-3:]}"

    def wait_closed(self, timeout=120) -> list[dict]:
        with self.changed:
            assert self.changed.wait_for(lambda: self.closed, timeout), "stdout never closed"
            return list(self.messages)


def answers_to(messages, prefix: str) -> dict[str, dict]:
    return {m["id"]: m for m in messages if isinstance(m.get("id"), str) and m["id"].startswith(prefix)}


def tool_call(request_id: str, name: str, arguments: dict, progress: str | None = None) -> dict:
    params = {"name": name, "arguments": arguments}
    if progress:
        params["_meta"] = {"progressToken": progress}
    return {"jsonrpc": "2.0", "id": request_id, "method": "tools/call", "params": params}


def counted_queries(binary, model_dir, tmp_path, redis_url) -> int:
    """total_queries as a fresh server on the same Redis and data folder reports it."""
    process = spawn(binary, model_dir, tmp_path, tmp_path / "docs", redis_url)
    output, _ = process.communicate(b"".join(frame(m) for m in [
        INITIALIZE, INITIALIZED, tool_call("stats", "get_cache_warming_stats", {"top_n": 1})]), timeout=120)
    stats = [json.loads(line) for line in output.splitlines() if json.loads(line).get("id") == "stats"][0]
    return stats["result"]["structuredContent"]["total_queries"]


@pytest.mark.parametrize("signal_number, tracker", [(signal.SIGTERM, "redis"), (signal.SIGINT, "sqlite")],
                         ids=["SIGTERM-redis", "SIGINT-sqlite"])
def test_a_signal_during_queries_answers_every_started_call_and_keeps_every_count(
        binary, model_dir, tmp_path, redis_server, signal_number, tracker):
    docs = tmp_path / "docs"
    write_corpus(docs, 40)
    redis_url = redis_server.url if tracker == "redis" else None
    process = spawn(binary, model_dir, tmp_path, docs, redis_url)
    answers = Answers(process)
    process.stdin.write(b"".join(frame(m) for m in [
        INITIALIZE, INITIALIZED, tool_call("ingest", "ingest_documents", {"paths": [str(docs)], "technology": "t"})]))
    process.stdin.flush()
    answers.wait_for(lambda messages: "ingest" in answers_to(messages, "ingest"))

    # Fifty distinct queries at once; the signal comes once the first few are answered. Each is long
    # (about 200 word pieces), so that the rest are still being answered when the signal arrives.
    filler = " ".join(f"detail{j} of the storage layer" for j in range(40))
    process.stdin.write(b"".join(frame(tool_call(f"q{i}", "query_knowledge_base",
                                                 {"query": f"topic {i} of the notes, {filler}"}))
                                 for i in range(QUERIES)))
    process.stdin.flush()
    answers.wait_for(lambda messages: len(answers_to(messages, "q")) >= 5)
    process.send_signal(signal_number)
    with answers.changed:
        answered_before_the_signal = len(answers_to(answers.messages, "q"))
    messages = answers.wait_closed()
    assert process.wait(timeout=60) == 0, "a graceful shutdown exits 0"

    answered = answers_to(messages, "q")
    assert len(answered) > answered_before_the_signal, \
        f"all {len(answered)} answers came before the signal: nothing was in flight"
    ids = [m["id"] for m in messages if isinstance(m.get("id"), str) and m["id"].startswith("q")]
    assert len(ids) == len(set(ids)), "an id answered twice"
    assert all("result" in m and not m["result"].get("isError") for m in answered.values()), \
        [m for m in answered.values() if "error" in m or m["result"].get("isError")][:2]
    # Requests are read in order: what was answered is a prefix of what was sent, and the rest was
    # never started (left unread, so no answer is owed for it).
    assert sorted(answered, key=lambda i: int(i[1:])) == [f"q{i}" for i in range(len(answered))]
    log = (tmp_path / "server.stderr").read_text(errors="replace")
    assert "shutting down" in log, log[-2000:]

    # Every answered query was counted, none twice, though the process ended right after.
    assert counted_queries(binary, model_dir, tmp_path, redis_url) == len(answered)
    assert check_store(tmp_path / "data")["sources"] == 40
    if tracker == "sqlite":
        # The counts written on the way out left their own file whole too.
        connection = sqlite3.connect(tmp_path / "data" / "queries.sqlite3")
        try:
            assert connection.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        finally:
            connection.close()


def test_sigterm_during_an_ingest_stops_it_with_an_answer_and_keeps_what_was_written(binary, model_dir, tmp_path):
    docs = tmp_path / "docs"
    write_corpus(docs, 400, paragraphs=6)
    process = spawn(binary, model_dir, tmp_path, docs, None)
    answers = Answers(process)
    process.stdin.write(b"".join(frame(m) for m in [
        INITIALIZE, INITIALIZED,
        tool_call("ingest", "ingest_documents", {"paths": [str(docs)], "technology": "t"}, progress="p")]))
    process.stdin.flush()
    answers.wait_for(lambda messages: any(m.get("method") == "notifications/progress" for m in messages))
    process.send_signal(signal.SIGTERM)
    messages = answers.wait_closed()
    assert process.wait(timeout=60) == 0

    answer = answers_to(messages, "ingest")["ingest"]["result"]
    assert answer["isError"], "an ingest of 400 files does not finish in the moment after its first file"
    assert "shutting down" in answer["content"][0]["text"], answer
    written = check_store(tmp_path / "data")
    assert written["sources"] < 400

    # What it wrote stays; the same ingest again finishes the rest, each file once.
    env = command_env(tmp_path, model_dir)
    again = subprocess.run([binary, "ingest", str(docs), "--technology", "t", "--data-dir", str(tmp_path / "data"),
                            "--json"], env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=600)
    assert again.returncode == 0, again.stderr
    report = json.loads(again.stdout)
    assert report["files_unchanged"] == written["sources"] and report["files_written"] == 400 - written["sources"]
    assert check_store(tmp_path / "data")["sources"] == 400
