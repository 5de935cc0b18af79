"""Escapes from the allowed folders, driven as a hostile client would (issue 24): canonically
equivalent names, symlinks out of a root, an existence oracle, and the files a walk meets that it
cannot read. Each case failed on the server before its fix."""

from __future__ import annotations

import os
import socket
import unicodedata

import pytest

from mcp_support import connected, error_text, read_store, server_parameters, structured

pytestmark = pytest.mark.anyio

PRECOMPOSED = unicodedata.normalize("NFC", "café")
DECOMPOSED = unicodedata.normalize("NFD", "café")


def write(path, text="# Note\n\nThe walrus ledger records every tide.\n"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


async def test_a_folder_canonically_equivalent_to_a_root_is_outside(binary, model_dir, tmp_path):
    assert PRECOMPOSED != DECOMPOSED and PRECOMPOSED.encode() != DECOMPOSED.encode()
    allowed = tmp_path / PRECOMPOSED
    write(allowed / "ok.md")
    secret = write(tmp_path / DECOMPOSED / "secret.md", "# Secret\n\nThe vault combination is 7-3-1.\n")
    params = server_parameters(binary, tmp_path / "data", model_dir, allowed_roots=[allowed])
    async with connected(params) as (session, _):
        for target in (secret, secret.parent):
            refused = error_text(await session.call_tool("ingest_documents", {"paths": [str(target)], "technology": "t"}))
            assert "outside the allowed folders" in refused
        ingested = structured(await session.call_tool("ingest_documents", {"paths": [str(allowed)], "technology": "t"}))
        assert ingested["files_written"] == 1
        refused = error_text(await session.call_tool("remove_source", {"source": str(secret.parent)}))
        assert "outside the allowed folders" in refused
        sources = structured(await session.call_tool("list_sources", {}))
    names = [row[0] for row in read_store(tmp_path / "data", "SELECT source FROM sources")]
    assert names == [str(allowed / "ok.md")], names
    assert "vault" not in str(sources)


async def test_a_symlink_out_of_a_root_is_one_skipped_entry(binary, model_dir, tmp_path):
    docs = tmp_path / "docs"
    write(docs / "inside.md")
    (docs / "etc").symlink_to("/etc")
    (docs / "everything").symlink_to("/")
    params = server_parameters(binary, tmp_path / "data", model_dir, allowed_roots=[docs],
                               extra_env={"MCP_RAG_MAX_FILES": "100"})
    async with connected(params) as (session, _):
        report = structured(await session.call_tool("ingest_documents", {"paths": [str(docs)], "technology": "t"}))
    assert report["files_written"] == 1
    skipped = {entry["path"]: entry["reason"] for entry in report["files_skipped"]}
    assert set(skipped) == {str(docs / "etc"), str(docs / "everything")}, sorted(skipped)[:5]
    assert all("outside the allowed folders" in reason for reason in skipped.values())


async def test_outside_paths_are_refused_alike_whether_they_exist_or_not(binary, model_dir, tmp_path):
    docs = tmp_path / "docs"
    write(docs / "inside.md")
    write(tmp_path / "outside.md")
    (docs / "to-existing").symlink_to(tmp_path / "outside.md")
    (docs / "to-missing").symlink_to(tmp_path / "missing.md")
    params = server_parameters(binary, tmp_path / "data", model_dir, allowed_roots=[docs])
    pairs = [("/etc/passwd", "/etc/no-such-file-here"), (str(tmp_path / "outside.md"), str(tmp_path / "missing.md")),
             (str(docs / "to-existing"), str(docs / "to-missing"))]
    async with connected(params) as (session, _):
        for existing, missing in pairs:
            for tool, arguments in (("ingest_documents", lambda p: {"paths": [p], "technology": "t"}),
                                    ("remove_source", lambda p: {"source": p})):
                said = [error_text(await session.call_tool(tool, arguments(path))).replace(path, "PATH")
                        for path in (existing, missing)]
                assert said[0] == said[1], (tool, said)


async def test_files_a_walk_cannot_take_are_listed_with_the_reason(binary, model_dir, tmp_path):
    docs = tmp_path / "docs"
    write(docs / "inside.md")
    os.mkfifo(docs / "pipe.md")
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(docs / "socket.md"))
    # 2 GB, sparse: refused from its size, before a byte of it is read (it used to be hashed whole first).
    with open(docs / "sparse.md", "wb") as sparse:
        sparse.truncate(2 << 30)
    os.close(os.open(os.fsencode(docs) + b"/caf\xe9.md", os.O_CREAT | os.O_WRONLY, 0o600))
    # A NUL byte past the first 8 KiB: the text after it used to be silently dropped.
    (docs / "late-nul.md").write_bytes(b"# Long\n\n" + b"tide " * 3000 + b"\0" + b"the part after the NUL")
    params = server_parameters(binary, tmp_path / "data", model_dir, allowed_roots=[docs])
    async with connected(params) as (session, _):
        report = structured(await session.call_tool("ingest_documents", {"paths": [str(docs)], "technology": "t"}))
    reasons = {os.path.basename(entry["path"]): entry["reason"] for entry in report["files_skipped"]}
    listener.close()
    assert "FIFO" in reasons.get("pipe.md", ""), reasons
    assert "socket" in reasons.get("socket.md", ""), reasons
    assert "too large (2147483648 bytes" in reasons.get("sparse.md", ""), reasons
    assert "not valid UTF-8" in reasons.get("caf\ufffd.md", ""), reasons
    assert "NUL byte at offset" in reasons.get("late-nul.md", ""), reasons
    assert report["files_written"] == 1
    assert report["files_scanned"] == 6


async def test_limits_count_scalars_and_labels_refuse_nul(binary, model_dir, tmp_path):
    docs = tmp_path / "docs"
    write(docs / "inside.md")
    params = server_parameters(binary, tmp_path / "data", model_dir, allowed_roots=[docs])
    bomb = "a" + "\u0301" * 100_000  # one grapheme cluster, 200 KB
    async with connected(params) as (session, _):
        structured(await session.call_tool("ingest_documents", {"paths": [str(docs)], "technology": "t1"}))
        for arguments in ({"query": bomb}, {"query": "walrus", "technology_filter": bomb},
                          {"query": "walrus", "technology_filter": "t1\u0000"}):
            said = error_text(await session.call_tool("query_knowledge_base", arguments))
            assert "query" in said or "technology_filter" in said, said[:300]
        said = error_text(await session.call_tool("ingest_documents", {"paths": [str(docs) + "/" + bomb],
                                                                     "technology": "t1"}))
        assert "paths" in said, said[:300]
        said = error_text(await session.call_tool("ingest_documents", {"paths": [str(docs)], "technology": "t" + bomb}))
        assert "technology" in said, said[:300]
        # The filter that matches is still found, so the refusals above are about the input alone.
        found = structured(await session.call_tool("query_knowledge_base", {"query": "walrus", "technology_filter": "t1"}))
        assert found["results"], found
    stored = read_store(tmp_path / "data", "SELECT query FROM query_stats", file="queries.sqlite3")
    assert all(len(row[0].encode()) < 10_000 for row in stored), [len(row[0]) for row in stored]
