"""`mcp-rag reembed`: a knowledge base embedded again with another model, through the real binary.

The two models are all-MiniLM-L6-v2 and the e5-shaped model of test_embed_cli (MiniLM's weights with
e5's prompts and mean pooling): the same width, other vectors, which is the case where mixing would
go unnoticed by anything but the model's record."""

from __future__ import annotations

import json
import math
import os
import pty
import re
import signal
import sqlite3
import struct
import subprocess
import time

import pytest

from mcp_support import (check_store, connected, error_text, knowledge_base_file, read_store, server_parameters,
                         structured, write_corpus)
from test_cli import clean_env, run, run_json
from test_embed_cli import e5_shaped_model

pytestmark = pytest.mark.anyio


def vector(blob: bytes) -> list[float]:
    return list(struct.unpack(f"<{len(blob) // 4}f", blob))


def cosine(a, b) -> float:
    return sum(x * y for x, y in zip(a, b)) / math.sqrt(sum(x * x for x in a) * sum(y * y for y in b))


def recorded_model(data) -> str:
    return read_store(data, "SELECT value FROM meta WHERE key = 'embedding_model'")[0][0]


async def test_reembed_swaps_in_the_new_models_vectors_and_a_server_on_the_old_one_stops_using_them(
        binary, model_dir, tmp_path):
    docs, data = tmp_path / "docs", tmp_path / "data"
    write_corpus(docs, 6)
    e5 = e5_shaped_model(model_dir, tmp_path / "e5-shaped")
    env = clean_env(tmp_path, model_dir)
    e5_env = {**env, "MCP_RAG_MODEL_DIR": str(e5)}
    ingested, _ = run_json(binary, "ingest", str(docs), "--technology", "notes", "--data-dir", str(data), env=env,
                           timeout=120)
    minilm = recorded_model(data)

    # Before: the e5-shaped model finds another model's vectors, and says what to do.
    before, _ = run_json(binary, "query", "storage layer", "--mode", "semantic", "--data-dir", str(data), env=e5_env)
    assert before["degraded"] and "mcp-rag reembed" in before["degraded_reason"], before

    async with connected(server_parameters(binary, data, model_dir, allowed_roots=[docs])) as (session, _):
        served = structured(await session.call_tool("query_knowledge_base", {"query": "storage layer", "mode": "semantic"}))
        assert served["mode"] == "semantic" and not served["degraded"]

        report, _ = run_json(binary, "reembed", "--data-dir", str(data), env=e5_env, timeout=180)
        assert report["passages"] == ingested["chunks_added"] and report["resumed"] == 0 and not report["already_done"]
        assert report["dimension"] == 384 and report["model_fingerprint"] == recorded_model(data) != minilm

        # The server still on MiniLM sees the change at its next query: keyword answers, saying why.
        after = structured(await session.call_tool("query_knowledge_base", {"query": "storage layer", "mode": "semantic"}))
        assert after["degraded"] and "re-embedded it while this one ran" in after["degraded_reason"], after
        health = structured(await session.call_tool("health_check", {}))
        assert health["dependencies"]["embedding_model"]["status"] == "degraded"
        refused = await session.call_tool("ingest_documents", {"paths": [str(docs)], "technology": "notes"})
        assert "another embedding model" in error_text(refused)

    # The stored vectors are the e5-shaped model's, passage prompt included: one checked against
    # `mcp-rag embed` of the same text (heading and passage, as an ingest embeds them).
    heading, text, blob = read_store(data, "SELECT heading, text, vector FROM chunks ORDER BY rowid LIMIT 1")[0]
    embedded = run(binary, "embed", "--text", f"{heading}\n{text}", env=e5_env)
    assert embedded.returncode == 0, embedded.stderr
    assert cosine(vector(blob), json.loads(embedded.stdout)["embedding"]) >= 0.99999
    check_store(data)

    now, _ = run_json(binary, "query", "storage layer", "--mode", "semantic", "--data-dir", str(data), env=e5_env)
    assert now["mode"] == "semantic" and not now["degraded"] and now["results"]
    old, _ = run_json(binary, "query", "storage layer", "--mode", "semantic", "--data-dir", str(data), env=env)
    assert old["degraded"], old
    again, _ = run_json(binary, "reembed", "--data-dir", str(data), env=e5_env, timeout=60)
    assert again["already_done"] and again["passages"] == 0


def test_a_reembed_killed_half_way_leaves_the_old_vectors_in_use_and_resumes(binary, model_dir, tmp_path):
    docs, data = tmp_path / "docs", tmp_path / "data"
    docs.mkdir()
    # Many short sections: passages cheap to embed, enough of them that a kill lands half-way.
    sections = [f"## Section {n}\n\nThe tide table {n} lists harbour {n % 17} at hour {n % 24}." for n in range(900)]
    (docs / "tides.md").write_text("# Tides\n\n" + "\n\n".join(sections), encoding="utf-8")
    env = clean_env(tmp_path, model_dir)
    e5_env = {**env, "MCP_RAG_MODEL_DIR": str(e5_shaped_model(model_dir, tmp_path / "e5-shaped"))}
    run_json(binary, "ingest", str(docs), "--technology", "notes", "--data-dir", str(data), env=env, timeout=300)
    minilm = recorded_model(data)
    old_vectors = dict(read_store(data, "SELECT id, vector FROM chunks"))

    def staged() -> int:
        connection = sqlite3.connect(knowledge_base_file(data))
        try:
            return connection.execute("SELECT count(*) FROM reembedding").fetchone()[0]
        except sqlite3.OperationalError:  # the table is made by the run's first step
            return 0
        finally:
            connection.close()

    process = subprocess.Popen([binary, "reembed", "--data-dir", str(data)], env=e5_env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while staged() == 0 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    done = staged()
    assert 0 < done < len(old_vectors), (done, len(old_vectors))

    # Nothing of the new set is in use: the old model's record and vectors, and it still answers.
    assert recorded_model(data) == minilm
    assert dict(read_store(data, "SELECT id, vector FROM chunks")) == old_vectors
    answer, _ = run_json(binary, "query", "harbour 3", "--mode", "semantic", "--data-dir", str(data), env=env)
    assert answer["mode"] == "semantic" and not answer["degraded"]
    check_store(data)

    report, _ = run_json(binary, "reembed", "--data-dir", str(data), env=e5_env, timeout=300)
    assert report["resumed"] >= done and report["passages"] == len(old_vectors), report
    assert recorded_model(data) == report["model_fingerprint"] != minilm
    new_vectors = dict(read_store(data, "SELECT id, vector FROM chunks"))
    assert new_vectors.keys() == old_vectors.keys()
    assert all(new_vectors[key] != old_vectors[key] for key in old_vectors)
    assert staged() == 0
    check_store(data)


def test_reembed_draws_its_progress_on_a_terminal_and_nowhere_else(binary, model_dir, tmp_path):
    """On a terminal, stderr shows one line redrawn in place (carriage return, erase line) with a
    bar and the passages done, up to all of them, then cleared; stdout has the report. When stderr is
    no terminal (a log file, a pipe), none of that is written."""
    docs, data = tmp_path / "docs", tmp_path / "data"
    docs.mkdir()
    sections = [f"## Section {n}\n\nThe ferry {n} leaves pier {n % 11} at {n % 24} o'clock." for n in range(400)]
    (docs / "ferries.md").write_text("# Ferries\n\n" + "\n\n".join(sections), encoding="utf-8")
    env = clean_env(tmp_path, model_dir)
    e5_env = {**env, "MCP_RAG_MODEL_DIR": str(e5_shaped_model(model_dir, tmp_path / "e5-shaped"))}
    run_json(binary, "ingest", str(docs), "--technology", "notes", "--data-dir", str(data), env=env, timeout=300)
    passages = len(read_store(data, "SELECT id FROM chunks"))

    terminal, stderr_side = pty.openpty()
    process = subprocess.Popen([binary, "reembed", "--data-dir", str(data)], env=e5_env, stdout=subprocess.PIPE,
                               stderr=stderr_side)
    os.close(stderr_side)
    drawn = b""
    while True:
        try:
            chunk = os.read(terminal, 65536)
        except OSError:  # EIO: the process closed its end
            break
        if not chunk:
            break
        drawn += chunk
    os.close(terminal)
    stdout = process.stdout.read().decode()
    assert process.wait(timeout=60) == 0, drawn.decode(errors="replace")
    assert f"Re-embedded {passages} passages" in stdout, stdout

    text = drawn.decode()
    redraw = "\r\x1b[K"
    frames = text.split(redraw)[1:]
    steps = []
    for frame in frames:
        match = re.match(r"([█░]{30}) (\d+)/(\d+) passages re-embedded", frame)
        if match:
            bar, done, total = match.groups()
            assert int(total) == passages and bar.count("█") == 30 * int(done) // passages, frame
            steps.append(int(done))
    assert steps and steps == sorted(steps), steps
    assert steps[-1] == passages, steps
    assert text.rstrip("\r\n").endswith(redraw), "the line is cleared at the end"

    # Back to MiniLM, with stderr a pipe: the same work, no bar.
    done = subprocess.run([binary, "reembed", "--data-dir", str(data)], env=env, capture_output=True, timeout=300)
    assert done.returncode == 0, done.stderr.decode()
    assert f"Re-embedded {passages} passages" in done.stdout.decode()
    assert b"\x1b[K" not in done.stderr and "░".encode() not in done.stderr, done.stderr.decode()


async def test_with_chroma_the_old_collection_keeps_the_old_vectors_and_the_new_model_gets_its_own(
        binary, model_dir, tmp_path):
    """In Chroma mode the swap sends nothing to the old model's collection (not from the re-embedding
    process, not from a server still on the old model, which stops using the knowledge base's
    vectors); the next process with the new model fills the new model's collection."""
    from mcp_support import chroma_client, collection_names, drop_chroma_collection

    url, base = os.environ["MCP_RAG_TEST_CHROMA_URL"], f"reembed-{os.getpid()}-{int(time.time())}"
    docs, data = tmp_path / "docs", tmp_path / "data"
    write_corpus(docs, 4)
    env = {**clean_env(tmp_path, model_dir), "CHROMA_URL": url, "CHROMA_COLLECTION": base}
    e5_env = {**env, "MCP_RAG_MODEL_DIR": str(e5_shaped_model(model_dir, tmp_path / "e5-shaped"))}

    def collections() -> dict[str, dict]:
        client = chroma_client(url)
        return {name: client.get_collection(name).get(include=["embeddings"]) for name in collection_names(url)
                if name.startswith(base + "-") and not name.endswith("-sources")}

    try:
        ingested, _ = run_json(binary, "ingest", str(docs), "--technology", "notes", "--data-dir", str(data), env=env,
                               timeout=120)
        minilm = recorded_model(data)
        before = collections()
        assert list(before) == [f"{base}-{minilm}"] and len(before[f"{base}-{minilm}"]["ids"]) == ingested["chunks_added"]

        params = server_parameters(binary, data, model_dir, allowed_roots=[docs],
                                   extra_env={"CHROMA_URL": url, "CHROMA_COLLECTION": base})
        async with connected(params) as (session, _):
            served = structured(await session.call_tool("query_knowledge_base", {"query": "storage", "mode": "semantic"}))
            assert not served["degraded"]
            report, _ = run_json(binary, "reembed", "--data-dir", str(data), env=e5_env, timeout=180)
            assert report["passages"] == ingested["chunks_added"]
            after = structured(await session.call_tool("query_knowledge_base", {"query": "storage", "mode": "semantic"}))
            assert after["degraded"] and "re-embedded" in after["degraded_reason"], after
            # A removal it makes now must not reach the old collection either (checked below).
            await session.call_tool("remove_source", {"source": str(sorted(docs.iterdir())[0])})

        untouched = collections()
        assert list(untouched) == [f"{base}-{minilm}"], untouched.keys()
        old = before[f"{base}-{minilm}"]
        assert untouched[f"{base}-{minilm}"]["ids"] == old["ids"]
        assert all((a == b).all() for a, b in zip(untouched[f"{base}-{minilm}"]["embeddings"], old["embeddings"]))

        # A process with the new model binds the new model's collection and sends every passage there.
        run_json(binary, "ingest", str(docs), "--technology", "notes", "--data-dir", str(data), env=e5_env, timeout=120)
        e5 = recorded_model(data)
        filled = collections()
        assert set(filled) == {f"{base}-{minilm}", f"{base}-{e5}"}
        assert len(filled[f"{base}-{e5}"]["ids"]) == len(read_store(data, "SELECT id FROM chunks"))
        answer, _ = run_json(binary, "query", "storage", "--mode", "semantic", "--data-dir", str(data), env=e5_env)
        assert not answer["degraded"] and answer["results"]
    finally:
        drop_chroma_collection(url, base)
