"""The vector snapshot file through the real binary: `mcp-rag ingest` writes it, servers map it and
rank exactly as a server that read every vector from SQLite, a server follows another process's
later ingest on top of it, and a damaged file changes no answer."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from mcp_support import command_env, connected, server_parameters, structured, write_corpus

pytestmark = pytest.mark.anyio

QUESTIONS = ["how does the storage layer handle case 3", "network layer detail 5", "security case 120",
             "which lighthouse keeper logged ships in fog"]
# Small enough that the test's corpus gets a snapshot file, as a store of 10,000 passages would.
SNAPSHOT_AT = {"MCP_RAG_SNAPSHOT_MIN_CHUNKS": "10"}
NO_SNAPSHOT = {"MCP_RAG_SNAPSHOT_MIN_CHUNKS": "1000000000"}


def ingest(binary: str, folder: Path, data: Path, env: dict[str, str]) -> None:
    done = subprocess.run([binary, "ingest", str(folder), "--technology", "notes", "--data-dir", str(data)],
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr


async def rankings_and_health(binary: str, data: Path, model_dir: Path, env: dict[str, str]):
    params = server_parameters(binary, data, model_dir, extra_env={"MCP_RAG_CACHE_TTL": "0", **env})
    async with connected(params) as (session, _):
        ranked = {}
        for question in QUESTIONS:
            answer = structured(await session.call_tool("query_knowledge_base",
                                                        {"query": question, "mode": "semantic", "n_results": 6}))
            ranked[question] = [(result["id"], round(result["score"], 6)) for result in answer["results"]]
        health = structured(await session.call_tool("health_check", {}))
        return ranked, health["process"]


def copy_without_snapshot(data: Path, target: Path) -> Path:
    shutil.copytree(data, target, ignore=shutil.ignore_patterns("*-vectors*"))
    return target


async def test_servers_map_the_snapshot_ingest_wrote_and_rank_as_from_sqlite(binary, model_dir, tmp_path):
    data = tmp_path / "data"
    env = command_env(tmp_path, model_dir, **SNAPSHOT_AT)
    ingest(binary, write_corpus(tmp_path / "notes", 20)[0].parent, data, env)
    snapshot = data / "knowledge.sqlite3-vectors"
    assert snapshot.is_file(), "the ingest left a snapshot file"
    assert not list(data.glob("*.tmp-*")), "and no temporary file"

    mapped, mapped_process = await rankings_and_health(binary, data, model_dir, SNAPSHOT_AT)
    # The codes are mapped; the float32 vectors after them are read row by row, not mapped.
    assert 0 < mapped_process["vector_mapped_bytes"] < snapshot.stat().st_size
    reference = copy_without_snapshot(data, tmp_path / "reference")
    from_sqlite, sqlite_process = await rankings_and_health(binary, reference, model_dir, NO_SNAPSHOT)
    assert sqlite_process["vector_mapped_bytes"] == 0
    assert all(from_sqlite[question] for question in QUESTIONS)
    assert mapped == from_sqlite


async def test_a_server_follows_another_processes_ingest_and_a_damaged_file_changes_nothing(binary, model_dir, tmp_path):
    data = tmp_path / "data"
    env = command_env(tmp_path, model_dir, **SNAPSHOT_AT)
    ingest(binary, write_corpus(tmp_path / "notes", 20)[0].parent, data, env)
    harbour = tmp_path / "harbour"
    harbour.mkdir()
    for index in range(12):
        (harbour / f"log-{index:02d}.md").write_text(
            f"# Harbour log {index}\n\nThe lighthouse keeper {index} logged {index * 3} ships in fog at Quokkaville.\n",
            encoding="utf-8")

    params = server_parameters(binary, data, model_dir, extra_env={"MCP_RAG_CACHE_TTL": "0", **SNAPSHOT_AT})
    async with connected(params) as (session, _):
        async def semantic(question: str) -> list[str]:
            answer = structured(await session.call_tool("query_knowledge_base",
                                                        {"query": question, "mode": "semantic", "n_results": 3}))
            return [result["source"] for result in answer["results"]]

        assert not any("log-" in source for source in await semantic(QUESTIONS[-1]))
        ingest(binary, harbour, data, env)  # another process, while this server maps the older file
        assert all("log-" in source for source in await semantic(QUESTIONS[-1])), "the server followed the ingest"

    reference, _ = await rankings_and_health(binary, copy_without_snapshot(data, tmp_path / "reference"), model_dir,
                                             NO_SNAPSHOT)
    fresh, process = await rankings_and_health(binary, data, model_dir, NO_SNAPSHOT)
    assert process["vector_mapped_bytes"] > 0
    assert fresh == reference, "a server opening the newer file ranks as one reading SQLite"

    (data / "knowledge.sqlite3-vectors").write_bytes(b"MRAGVEC1" + b"\xff" * 200)
    damaged, process = await rankings_and_health(binary, data, model_dir, NO_SNAPSHOT)
    assert process["vector_mapped_bytes"] == 0, "the damaged file was not used"
    assert damaged == reference
