"""Helpers for driving mcp-rag with the official Python MCP client (the `mcp` package)."""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client


def cpu_flags() -> set[str]:
    """This CPU's feature flags as /proc/cpuinfo lists them (none where it has no `flags` line)."""
    lines = Path("/proc/cpuinfo").read_text().splitlines()
    return set(next((line for line in lines if line.startswith("flags")), "").split())


def command_env(home: Path, model_dir: Path, **extra: str) -> dict[str, str]:
    """A minimal environment for running the binary from a test: PATH, a HOME of the test's own,
    the model, and `extra` (mcp-rag's settings); nothing else leaks in from the caller's."""
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), "MCP_RAG_MODEL_DIR": str(model_dir),
            **extra}


def server_parameters(binary: str, data_dir: Path, model_dir: Path, allowed_roots: list[Path] | None = None,
                      extra_env: dict[str, str] | None = None) -> StdioServerParameters:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/tmp"),
        "MCP_RAG_DATA_DIR": str(data_dir),
        "MCP_RAG_MODEL_DIR": str(model_dir),
        "MCP_RAG_LOG_LEVEL": "warning",
    }
    if allowed_roots:
        env["MCP_RAG_ALLOWED_ROOTS"] = ":".join(str(root) for root in allowed_roots)
    env.update(extra_env or {})
    return StdioServerParameters(command=binary, args=["serve"], env=env)


@contextlib.asynccontextmanager
async def connected(params: StdioServerParameters, errlog=None):
    """An initialised ClientSession on a freshly spawned server; its stderr goes to `errlog` (a
    file opened for writing) when given, else to the test's."""
    async with stdio_client(params, **({"errlog": errlog} if errlog else {})) as (read, write):
        async with ClientSession(read, write) as session:
            init = await session.initialize()
            yield session, init


def structured(result) -> dict:
    """A successful tool result's structured content, checked against its text twin."""
    assert not result.is_error, result.content[0].text if result.content else "isError without content"
    assert result.structured_content is not None, "no structuredContent"
    texts = [item.text for item in result.content if item.type == "text"]
    assert len(texts) == 1, f"expected one text item, got {len(texts)}"
    assert json.loads(texts[0]) == result.structured_content, "text and structuredContent differ"
    return result.structured_content


def error_text(result) -> str:
    """The message of a tool result that must be an error."""
    assert result.is_error, f"expected isError, got {result.structured_content}"
    return " ".join(item.text for item in result.content if item.type == "text")


def write_corpus(folder: Path, files: int, paragraphs: int = 3) -> list[Path]:
    """`files` markdown files of distinct, deterministic prose."""
    topics = ["storage", "network", "security", "memory", "scheduling", "logging", "caching", "parsing"]
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for index in range(files):
        topic = topics[index % len(topics)]
        body = [f"# Note {index} about {topic}", ""]
        for paragraph in range(paragraphs):
            body.append(" ".join(
                f"Paragraph {paragraph} of note {index} explains how the {topic} layer handles case {index * 7 + paragraph}"
                f" with detail {word}." for word in range(12)))
            body.append("")
        path = folder / f"note-{index:04d}.md"
        path.write_text("\n".join(body), encoding="utf-8")
        written.append(path)
    return written


def write_beir_corpus(dataset: Path, folder: Path) -> int:
    """A BEIR corpus (corpus.jsonl) written as one markdown file per document, its title as the
    heading; returns the number of documents."""
    folder.mkdir(parents=True, exist_ok=True)
    count = 0
    with open(dataset / "corpus.jsonl", encoding="utf-8") as corpus:
        for line in corpus:
            document = json.loads(line)
            (folder / f"{document['_id']}.md").write_text(f"# {document['title']}\n\n{document['text']}\n", encoding="utf-8")
            count += 1
    return count


def beir_test_queries(dataset: Path) -> list[str]:
    """The text of every test query of a BEIR dataset that has judgements, in file order."""
    wanted = {line.split("\t")[0] for line in (dataset / "qrels" / "test.tsv").read_text().splitlines()[1:]}
    with open(dataset / "queries.jsonl", encoding="utf-8") as queries:
        return [q["text"] for q in map(json.loads, queries) if q["_id"] in wanted]


def free_port() -> int:
    """A loopback port nothing listens on now."""
    import socket
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class ServerProcess:
    """A server the test owns (redis-server, chroma), so that it can be killed with SIGKILL and
    started again on the same port; subclasses say how to start it."""

    process = None

    def kill(self) -> None:
        import signal
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=20)


def knowledge_base_file(data_dir: Path) -> Path:
    return data_dir / "knowledge.sqlite3"


def check_store(data_dir: Path) -> dict:
    """Opens the knowledge base with Python's own sqlite3 (no mcp-rag process may be running on it)
    and checks it: SQLite's integrity check, the full-text index against the chunks, every ledger
    row's chunk count against its chunks, and no chunk twice. Returns the counts."""
    import sqlite3
    connection = sqlite3.connect(knowledge_base_file(data_dir))
    try:
        assert connection.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        # rank = 1 compares the index with the content table, not only its own structure.
        connection.execute("INSERT INTO chunks_fts(chunks_fts, rank) VALUES ('integrity-check', 1)")
        mismatched = connection.execute("""
            SELECT s.source, s.chunk_count, count(c.id) FROM sources s LEFT JOIN chunks c ON c.source = s.source
            GROUP BY s.source HAVING s.chunk_count != count(c.id)""").fetchall()
        assert not mismatched, f"ledger rows whose chunk count is wrong: {mismatched[:5]}"
        duplicates = connection.execute(
            "SELECT source, ordinal, count(*) FROM chunks GROUP BY source, ordinal HAVING count(*) > 1").fetchall()
        assert not duplicates, f"chunks stored twice: {duplicates[:5]}"
        orphans = connection.execute(
            "SELECT count(*) FROM chunks WHERE source NOT IN (SELECT source FROM sources)").fetchone()[0]
        assert orphans == 0, f"{orphans} chunks without a ledger row"
        return {
            "sources": connection.execute("SELECT count(*) FROM sources").fetchone()[0],
            "chunks": connection.execute("SELECT count(*) FROM chunks").fetchone()[0],
        }
    finally:
        connection.close()


def read_store(data_dir: Path, sql: str, file: str | None = None) -> list[tuple]:
    """The rows of `sql` run on the knowledge base (or `file`, another SQLite file of the data
    folder), opened read-only with Python's own sqlite3."""
    import sqlite3
    path = knowledge_base_file(data_dir) if file is None else data_dir / file
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return connection.execute(sql).fetchall()
    finally:
        connection.close()


def chunk_ids(data_dir: Path) -> set[str]:
    return {row[0] for row in read_store(data_dir, "SELECT id FROM chunks")}


def collection_names(url: str) -> list[str]:
    return [c.name if hasattr(c, "name") else c for c in chroma_client(url).list_collections()]


def drop_chroma_collection(url: str, collection: str) -> None:
    """Deletes every collection mcp-rag made for the base name `collection` (one per model, each
    with its sources manifest) from the Chroma at `url`."""
    client = chroma_client(url)
    for name in collection_names(url):
        if name == collection or name.startswith(collection + "-"):
            try:
                client.delete_collection(name)
            except Exception:  # noqa: BLE001 - another test's cleanup may have taken it
                pass


def passages_collection(url: str, collection: str):
    """The one passages collection mcp-rag made for the base name `collection` (`<base>-<model>`),
    checked to hold that model's fingerprint in its metadata."""
    names = [name for name in collection_names(url)
             if name.startswith(collection + "-") and not name.endswith("-sources")]
    assert len(names) == 1, names
    found = chroma_client(url).get_collection(names[0])
    assert found.metadata["mcp_rag_model"] == names[0].removeprefix(collection + "-"), found.metadata
    return found


def chroma_client(url: str):
    """Chroma's own Python client for the server at `url`."""
    from urllib.parse import urlsplit

    import chromadb
    parts = urlsplit(url)
    return chromadb.HttpClient(host=parts.hostname, port=parts.port)
