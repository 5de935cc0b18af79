"""End to end: the release binary driven over stdio by the official Python MCP client."""

from __future__ import annotations

import json
import time

import anyio
import jsonschema
import pytest
from mcp import types
from mcp.shared.exceptions import MCPError

from mcp_support import connected, error_text, read_store, server_parameters, structured, write_corpus

pytestmark = pytest.mark.anyio

CORE_TOOLS = {"query_knowledge_base", "health_check", "get_cache_warming_stats", "verify_gpu_acceleration"}
READ_ONLY = CORE_TOOLS | {"list_sources"}


@pytest.fixture
def docs(tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "install.md").write_text(
        "# Install\n\n## Debian\n\nInstall the zebrafish package with apt-get install zebrafish-server.\n\n"
        "## macOS\n\nUse brew install zebrafish on a Mac.\n", encoding="utf-8")
    (folder / "tuning.rst").write_text(
        "Tuning\n======\n\nThe quokka cache keeps 512 entries; raise quokka.size for busy servers.\n", encoding="utf-8")
    (folder / "page.html").write_text(
        "<html><head><script>var ignored = 'marmoset';</script></head><body><h1>Errors</h1>"
        "<p>Error ZX-42 means the disk is full &amp; must be cleaned.</p></body></html>", encoding="utf-8")
    (folder / "pool.py").write_text(
        "def connection_pool_size(default=16):\n    \"\"\"How many pelican connections to keep open.\"\"\"\n"
        "    return default\n", encoding="utf-8")
    (folder / "blob.bin").write_bytes(bytes(range(256)) * 4)
    return folder


@pytest.fixture
def params(binary, model_dir, tmp_path, docs):
    return server_parameters(binary, tmp_path / "data", model_dir, allowed_roots=[docs])


async def test_initialize_names_the_server_and_instructs_the_model(params):
    async with connected(params) as (_, init):
        assert init.server_info.name == "mcp-rag"
        assert init.server_info.version
        # This client speaks a newer protocol; the server answers with the newest it knows.
        assert types.LATEST_PROTOCOL_VERSION > "2025-11-25"
        assert init.protocol_version == "2025-11-25"
        assert "query_knowledge_base" in (init.instructions or "")
        assert init.capabilities.tools is not None


async def test_tools_have_valid_schemas_and_honest_annotations(params):
    async with connected(params) as (session, _):
        tools = (await session.list_tools()).tools
    names = {tool.name for tool in tools}
    assert CORE_TOOLS <= names
    assert {"list_sources", "ingest_documents", "remove_source"} <= names
    for tool in tools:
        for schema in (tool.input_schema, tool.output_schema):
            assert schema is not None, f"{tool.name} lacks a schema"
            jsonschema.Draft202012Validator.check_schema(schema)
            assert schema["type"] == "object"
        for name, field in tool.input_schema["properties"].items():
            assert field.get("description"), f"{tool.name}.{name} has no description"
        assert tool.description
        assert tool.annotations is not None
        assert tool.annotations.open_world_hint is False, tool.name
        assert tool.annotations.read_only_hint is (tool.name in READ_ONLY), tool.name
    query = next(tool for tool in tools if tool.name == "query_knowledge_base")
    assert query.input_schema["required"] == ["query"]
    assert query.input_schema["properties"]["n_results"]["minimum"] == 1
    assert query.input_schema["properties"]["n_results"]["maximum"] == 50
    assert query.input_schema["properties"]["mode"]["enum"] == ["hybrid", "semantic", "keyword"]
    # The mode that won on SciFact (docs/evaluation.md) is the default.
    assert query.input_schema["properties"]["mode"]["default"] == "hybrid"


async def test_ingest_with_progress_then_query_every_mode(params, docs):
    progress = []

    async def on_progress(done, total, message):
        progress.append((done, total, message))

    async with connected(params) as (session, _):
        report = structured(await session.call_tool(
            "ingest_documents", {"paths": [str(docs)], "technology": "zoo"}, progress_callback=on_progress))
        assert report["files_scanned"] == 5
        assert report["files_written"] == 4
        assert [skip["path"].rsplit("/", 1)[1] for skip in report["files_skipped"]] == ["blob.bin"]
        assert report["chunks_added"] >= 4 and report["chunks_embedded"] == report["chunks_added"]
        assert progress, "no progress notification arrived"
        assert progress[-1][0] == progress[-1][1] == 5
        assert all(later[0] >= earlier[0] for earlier, later in zip(progress, progress[1:]))

        again = structured(await session.call_tool("ingest_documents", {"paths": [str(docs)], "technology": "zoo"}))
        assert again["files_unchanged"] == 4 and again["chunks_added"] == 0 and again["chunks_embedded"] == 0

        expectations = {
            "how do I install it on a mac": "install.md",
            "quokka cache size": "tuning.rst",
            "ZX-42": "page.html",
            "pelican connections": "pool.py",
        }
        for mode in ("hybrid", "semantic", "keyword"):
            for question, source in expectations.items():
                answer = structured(await session.call_tool(
                    "query_knowledge_base", {"query": question, "mode": mode, "n_results": 3}))
                assert answer["mode"] == mode and answer["degraded"] is False
                assert answer["results"], f"{mode}: nothing for {question!r}"
                top = answer["results"][0]
                assert top["source"].endswith("/" + source), f"{mode}: {question!r} -> {top['source']}"
                assert top["rank"] == 1 and top["technology"] == "zoo"
                assert [r["rank"] for r in answer["results"]] == list(range(1, len(answer["results"]) + 1))
        html = structured(await session.call_tool("query_knowledge_base", {"query": "ZX-42 disk full", "mode": "keyword"}))
        assert "marmoset" not in json.dumps(html), "script content was ingested"
        assert "disk is full & must be cleaned" in html["results"][0]["text"]

        filtered = structured(await session.call_tool(
            "query_knowledge_base", {"query": "install", "technology_filter": "nothing-like-this"}))
        assert filtered["results"] == []

        repeat = structured(await session.call_tool("query_knowledge_base", {"query": "  QUOKKA   cache size "}))
        first = structured(await session.call_tool("query_knowledge_base", {"query": "quokka cache size"}))
        assert first["mode"] == "hybrid", "a query naming no mode is answered in hybrid mode"
        assert first["cache_hit"] is True and repeat["results"] == first["results"]


async def test_labels_are_what_people_write_and_filters_ignore_case(params, docs):
    """"React Docs" is the label the system mcp-rag descends from used: spaces and any letters are
    accepted, stored as written, and a filter finds them whatever its case, in every mode."""
    async with connected(params) as (session, _):
        structured(await session.call_tool("ingest_documents", {"paths": [str(docs / "install.md")], "technology": "React  Docs"}))
        structured(await session.call_tool("ingest_documents", {"paths": [str(docs / "tuning.rst")], "technology": "Документация"}))
        for mode in ("hybrid", "semantic", "keyword"):
            for label, question, source in [("react docs", "install zebrafish", "install.md"),
                                            ("REACT DOCS", "install zebrafish", "install.md"),
                                            ("документация", "quokka cache", "tuning.rst")]:
                answer = structured(await session.call_tool(
                    "query_knowledge_base", {"query": question, "mode": mode, "technology_filter": label}))
                assert answer["results"], (mode, label)
                assert all(r["source"].endswith(source) for r in answer["results"]), (mode, label, answer)
            other = structured(await session.call_tool(
                "query_knowledge_base", {"query": "install zebrafish", "mode": mode, "technology_filter": "React"}))
            assert other["results"] == [], "a filter is the whole label, not a prefix"
        listed = structured(await session.call_tool("list_sources", {"technology_filter": "react DOCS"}))
        assert [s["source"].rsplit("/", 1)[1] for s in listed["sources"]] == ["install.md"]
        assert listed["sources"][0]["technology"] == "React Docs", "stored as written, spaces made one"


def answer_bytes(result) -> int:
    """The size of a tool result as it travels: its structured content and its text twin."""
    return len(json.dumps(result.model_dump(mode="json", by_alias=True, exclude_none=True)).encode())


async def test_answers_stay_small_on_a_big_knowledge_base(binary, model_dir, tmp_path):
    """A knowledge base of many files with long paths, and an ingest that skips many more: every answer
    stays under 64 KB; list_sources summarises, then pages through every file exactly once; long
    passages, a folder removed and long tracked queries are cut with a count of what was left out."""
    root = tmp_path / "kb"
    deep = "section-" + "d" * 180
    paths = []
    for group in ("alpha", "beta", "gamma"):
        folder = root / group / deep
        folder.mkdir(parents=True)
        for index in range(400):
            path = folder / f"note-{index:04d}-{'n' * 40}.md"
            path.write_text(f"# Note {index} of {group}\n\nThe {group} fact number {index}.\n", encoding="utf-8")
            paths.append(str(path))
    blobs = root / "blobs"
    blobs.mkdir()
    for index in range(1500):
        (blobs / f"blob-{index:04d}-{'b' * 60}.bin").write_bytes(b"\0" * 8)
    long = root / "long"
    long.mkdir()
    for index in range(30):
        sentences = " ".join(f"The \"zebrafish\" fin {index}-{n} regrows after injury." for n in range(200))
        (long / f"fins-{index}.md").write_text(f"# Fins {index}\n\n{sentences}\n", encoding="utf-8")
    params = server_parameters(binary, tmp_path / "data", model_dir, allowed_roots=[root])
    async with connected(params) as (session, _):
        ingest = await session.call_tool("ingest_documents", {"paths": [str(root)], "technology": "Big KB"})
        report = structured(ingest)
        assert answer_bytes(ingest) < 64_000, answer_bytes(ingest)
        assert report["files_written"] == 1230
        assert len(report["files_skipped"]) + report["files_skipped_omitted"] == 1500
        assert 0 < len(report["files_skipped"]) <= 100

        listed, cursor, pages = [], None, 0
        while True:
            result = await session.call_tool("list_sources", {"cursor": cursor} if cursor else {})
            page = structured(result)
            assert answer_bytes(result) < 64_000, answer_bytes(result)
            assert page["total_sources"] == 1230 and page["total_chunks"] >= 1230
            assert [(t["name"], t["sources"]) for t in page["technologies"]] == [("Big KB", 1230)]
            assert [(f["name"].rsplit("/", 1)[1], f["sources"]) for f in page["folders"]] == [
                ("alpha", 400), ("beta", 400), ("gamma", 400), ("long", 30)]
            listed += [source["source"] for source in page["sources"]]
            pages += 1
            cursor = page.get("next_cursor")
            if not cursor:
                break
        assert pages > 1
        paths += [str(path) for path in long.iterdir()]
        assert listed == sorted(paths, key=lambda p: p.encode()), "every file once, in path order"

        bad = await session.call_tool("list_sources", {"cursor": "not-a-cursor"})
        assert "cursor" in error_text(bad)

        # Fifty passages of about 4 KB: the best ones that fit, and a count of the rest.
        for mode in ("hybrid", "semantic", "keyword"):
            result = await session.call_tool("query_knowledge_base", {"query": "zebrafish fin regrows", "n_results": 50, "mode": mode})
            answer = structured(result)
            assert answer_bytes(result) < 64_000, (mode, answer_bytes(result))
            assert 1 < len(answer["results"]) < 50 and len(answer["results"]) + answer["results_omitted"] == 50, mode
            assert [r["rank"] for r in answer["results"]] == list(range(1, len(answer["results"]) + 1))
        few = structured(await session.call_tool("query_knowledge_base", {"query": "zebrafish fin regrows", "n_results": 3}))
        assert len(few["results"]) == 3 and "results_omitted" not in few

        # Long queries, asked and counted: the most asked that fit.
        for index in range(40):
            structured(await session.call_tool("query_knowledge_base", {"query": f"fin {index} " + "regrowth " * 400, "mode": "keyword"}))
        result = await session.call_tool("get_cache_warming_stats", {"top_n": 1000})
        stats = structured(result)
        assert answer_bytes(result) < 64_000, answer_bytes(result)
        assert len(stats["top_queries"]) + stats["top_queries_omitted"] == stats["total_unique_queries"]
        assert stats["top_queries_omitted"] > 0

        # A server told to allow larger answers sends all fifty.
        larger = server_parameters(binary, tmp_path / "data", model_dir, allowed_roots=[root],
                                   extra_env={"MCP_RAG_MAX_ANSWER_KB": "512"})
        async with connected(larger) as (other, _):
            whole = structured(await other.call_tool("query_knowledge_base", {"query": "zebrafish fin regrows", "n_results": 50}))
        assert len(whole["results"]) == 50 and "results_omitted" not in whole

        # A folder of 400 files removed: the first paths, and how many more.
        result = await session.call_tool("remove_source", {"source": str(root / "alpha")})
        removed = structured(result)
        assert answer_bytes(result) < 64_000, answer_bytes(result)
        assert 0 < len(removed["removed_sources"]) <= 100
        assert len(removed["removed_sources"]) + removed["removed_sources_omitted"] == 400


async def test_query_counts_kept_in_the_knowledge_base_file_are_moved_to_their_own(params, docs, tmp_path):
    """Older versions counted queries in a table of knowledge.sqlite3; they now have queries.sqlite3,
    so that a query's count does not empty the page cache the keyword search reads through."""
    import sqlite3
    async with connected(params) as (session, _):
        structured(await session.call_tool("ingest_documents", {"paths": [str(docs)], "technology": "zoo"}))
    data = tmp_path / "data"
    for name in ("queries.sqlite3", "queries.sqlite3-wal", "queries.sqlite3-shm"):
        (data / name).unlink(missing_ok=True)
    with sqlite3.connect(data / "knowledge.sqlite3") as former:
        former.execute("CREATE TABLE query_stats (normalized TEXT PRIMARY KEY, query TEXT NOT NULL, "
                       "count INTEGER NOT NULL, last_accessed REAL NOT NULL, technology_filter TEXT)")
        former.execute("INSERT INTO query_stats VALUES ('quokka habits', 'Quokka habits', 7, ?, 'zoo')", (time.time(),))
    former.close()
    async with connected(params) as (session, _):
        structured(await session.call_tool("query_knowledge_base", {"query": "quokka habits"}))
        stats = structured(await session.call_tool("get_cache_warming_stats", {"top_n": 5}))
    assert stats["top_queries"][0]["query"] == "quokka habits" and stats["top_queries"][0]["count"] == 8, stats
    assert read_store(data, "SELECT count(*) FROM sqlite_master WHERE name = 'query_stats'") == [(0,)]
    assert read_store(data, "SELECT sum(count) FROM query_stats", file="queries.sqlite3") == [(8,)]


async def test_every_tool_answers(params, docs):
    async with connected(params) as (session, _):
        structured(await session.call_tool("ingest_documents", {"paths": [str(docs)], "technology": "zoo"}))
        for question in ["install on debian", "install on debian", "quokka"]:
            structured(await session.call_tool("query_knowledge_base", {"query": question}))

        live = structured(await session.call_tool("health_check", {"level": "liveness"}))
        assert live["status"] == "healthy" and live["dependencies"] == {} and live["uptime_s"] > 0
        ready = structured(await session.call_tool("health_check", {}))
        assert ready["status"] == "healthy", ready
        assert {"vector_store", "query_tracker", "result_cache", "embedding_model", "gpu"} <= set(ready["dependencies"])
        assert ready["dependencies"]["vector_store"]["facts"]["chunks"] != "0"
        assert ready["process"]["resident_bytes"] > 0 and ready["process"]["open_file_descriptors"] > 0
        assert ready["process"]["vector_bytes"] > 0
        deep = structured(await session.call_tool("health_check", {"level": "deep"}))
        assert deep["status"] == "healthy", deep
        assert deep["dependencies"]["embedding_model"]["latency_ms"] > 0
        assert "search" in deep["dependencies"]

        # Counts are written off the query's path; the report waits for those of the queries before it.
        stats = structured(await session.call_tool("get_cache_warming_stats", {"top_n": 2}))
        assert stats["total_queries"] == 3 and stats["total_unique_queries"] == 2
        assert stats["top_queries"][0]["query"] == "install on debian" and stats["top_queries"][0]["count"] == 2
        assert len(stats["top_queries"]) == 2
        assert stats["cache"]["hits"] == 1 and stats["backend"] == "sqlite"

        gpu = structured(await session.call_tool("verify_gpu_acceleration", {"run_benchmark": False}))
        assert gpu["selected_backend"] == "cpu" and {r["name"] for r in gpu["runtimes"]} == {"hip", "cuda"}
        assert all(r["reason"] for r in gpu["runtimes"]) and gpu.get("cpu") is None
        measured = structured(await session.call_tool("verify_gpu_acceleration", {}))
        assert measured["cpu"]["sentences_per_second"] > 0 and measured["cpu"]["single_query_ms"] > 0

        listed = structured(await session.call_tool("list_sources", {}))
        assert len(listed["sources"]) == 4 and [t["name"] for t in listed["technologies"]] == ["zoo"]
        assert listed["total_sources"] == 4 and "next_cursor" not in listed
        removed = structured(await session.call_tool("remove_source", {"source": str(docs / "tuning.rst")}))
        assert removed["removed_sources"] == [str((docs / "tuning.rst").resolve())] and removed["chunks_removed"] >= 1
        assert len(structured(await session.call_tool("list_sources", {}))["sources"]) == 3
        gone = structured(await session.call_tool("query_knowledge_base", {"query": "quokka", "mode": "keyword"}))
        assert all(not r["source"].endswith("tuning.rst") for r in gone["results"])


@pytest.mark.parametrize("arguments, fragment", [
    ({}, "needs \"query\""),
    ({"query": ""}, "query is empty"),
    ({"query": "x", "n_results": 0}, "between 1 and 50"),
    ({"query": "x", "n_results": 51}, "between 1 and 50"),
    ({"query": "x", "n_results": "five"}, "whole number"),
    ({"query": "x", "n_results": 2.5}, "whole number"),
    ({"query": "x", "mode": "fuzzy"}, "hybrid, semantic, keyword"),
    ({"query": "x", "n_result": 3}, "no argument \"n_result\""),
    ({"query": 42}, "must be a string"),
    ({"query": "x" * 5000}, "limit is 4096"),
])
async def test_bad_arguments_are_tool_errors(params, arguments, fragment):
    async with connected(params) as (session, _):
        result = await session.call_tool("query_knowledge_base", arguments)
        message = error_text(result)
        assert fragment in message, message
        # The kind of failure, for programs: change the request and ask again.
        assert result.meta == {"mcp-rag/error": "invalid_request"}, result.meta
        # The server is still there and answers.
        structured(await session.call_tool("health_check", {"level": "liveness"}))


async def test_passages_that_look_like_data_urls_stay_text(binary, model_dir, tmp_path):
    """A passage is text, whatever it looks like: the SDK's generic value type would turn this one into
    base64 binary data in structuredContent."""
    folder = tmp_path / "urls"
    folder.mkdir()
    (folder / "inline.txt").write_text("data:text/plain,Hello%20World\n", encoding="utf-8")
    params = server_parameters(binary, tmp_path / "data", model_dir, allowed_roots=[folder])
    async with connected(params) as (session, _):
        structured(await session.call_tool("ingest_documents", {"paths": [str(folder)], "technology": "urls"}))
        # structured() also checks that the text content says the same.
        answer = structured(await session.call_tool("query_knowledge_base", {"query": "hello world", "mode": "keyword"}))
    assert answer["results"][0]["text"] == "data:text/plain,Hello%20World"


async def test_a_data_folder_elsewhere_finds_the_quick_starts_model(binary, model_dir, tmp_path, docs):
    """The quick start installs the model in the default data folder (~/.local/share/mcp-rag); a user who
    then keeps the knowledge base elsewhere (MCP_RAG_DATA_DIR) and names no model must still get semantic
    answers, not keyword-only ones."""
    home = tmp_path / "home"
    installed = home / ".local/share/mcp-rag/models/all-MiniLM-L6-v2"
    installed.parent.mkdir(parents=True)
    installed.symlink_to(model_dir.resolve(), target_is_directory=True)
    params = server_parameters(binary, tmp_path / "elsewhere", model_dir, allowed_roots=[docs])
    del params.env["MCP_RAG_MODEL_DIR"]
    params.env["HOME"] = str(home)
    async with connected(params) as (session, _):
        structured(await session.call_tool("ingest_documents", {"paths": [str(docs)], "technology": "zoo"}))
        answer = structured(await session.call_tool(
            "query_knowledge_base", {"query": "which package do I install on Debian", "mode": "semantic"}))
        ready = structured(await session.call_tool("health_check", {"level": "deep"}))
    assert ready["dependencies"]["embedding_model"]["status"] == "healthy", ready
    assert answer["mode"] == "semantic" and not answer["degraded"], answer
    assert answer["results"] and answer["results"][0]["source"].endswith("install.md"), answer
    assert not (tmp_path / "elsewhere/models").exists(), "the model is used where it is, not copied"


async def test_unknown_tool_is_a_protocol_error(params):
    async with connected(params) as (session, _):
        with pytest.raises(MCPError) as raised:
            await session.call_tool("no_such_tool", {})
        assert raised.value.error.code == types.INVALID_PARAMS
        assert "no_such_tool" in raised.value.error.message


async def test_ingest_is_confined_to_allowed_roots(binary, model_dir, tmp_path, docs):
    outside = tmp_path / "secret.md"
    outside.write_text("# Secret\n\nThe password is swordfish.\n", encoding="utf-8")
    (docs / "link.md").symlink_to(outside)
    async with connected(server_parameters(binary, tmp_path / "data", model_dir, allowed_roots=[docs])) as (session, _):
        for path in [str(outside), str(docs / ".." / "secret.md"), str(docs / "link.md"), "/proc/self/environ", "/etc/passwd"]:
            result = await session.call_tool("ingest_documents", {"paths": [path], "technology": "x"})
            message = error_text(result)
            assert "outside the allowed folders" in message or "never ingested" in message, message
            assert result.meta == {"mcp-rag/error": "invalid_request"}, result.meta
        assert error_text(await session.call_tool("ingest_documents", {"paths": [str(docs)], "technology": "bad\u202elabel"}))
        # A folder walk follows the symlink to its target, which is outside: it must not be read either.
        report = structured(await session.call_tool("ingest_documents", {"paths": [str(docs)], "technology": "zoo"}))
        assert all("secret" not in s["source"] for s in structured(await session.call_tool("list_sources", {}))["sources"])
        assert report["files_written"] == 4
    async with connected(server_parameters(binary, tmp_path / "data2", model_dir)) as (session, _):
        message = error_text(await session.call_tool("ingest_documents", {"paths": [str(docs)], "technology": "x"}))
        assert "MCP_RAG_ALLOWED_ROOTS" in message


async def test_ingest_limits_and_special_files_are_refused_and_change_nothing(binary, model_dir, tmp_path, docs):
    import os
    (docs / "big.md").write_text("# Big\n\n" + "A paragraph of filler words. " * 40, encoding="utf-8")
    fifo = docs / "pipe.md"
    os.mkfifo(fifo)
    params = server_parameters(binary, tmp_path / "data", model_dir, allowed_roots=[docs],
                               extra_env={"MCP_RAG_MAX_FILES": "3", "MCP_RAG_MAX_FILE_BYTES": "600"})
    async with connected(params) as (session, _):
        message = error_text(await session.call_tool("ingest_documents", {"paths": [str(docs)], "technology": "x"}))
        assert "MCP_RAG_MAX_FILES" in message, message
        assert structured(await session.call_tool("list_sources", {}))["sources"] == [], "nothing was written"
        message = error_text(await session.call_tool("ingest_documents", {"paths": [str(fifo)], "technology": "x"}))
        assert "pipe.md" in message, message
        small = structured(await session.call_tool("ingest_documents", {
            "paths": [str(docs / "install.md"), str(docs / "big.md")], "technology": "x"}))
        assert small["files_written"] == 1
        assert any("big.md" in skipped["path"] and "MCP_RAG_MAX_FILE_BYTES" in skipped["reason"]
                   for skipped in small["files_skipped"]), small["files_skipped"]


async def test_cancelling_an_ingest_stops_it_cleanly(binary, model_dir, tmp_path):
    corpus = tmp_path / "corpus"
    # About two passages per file: the first 64 passages (32 files) are embedded and written
    # together, and the cancellation arrives while the next group is being read.
    files = write_corpus(corpus, files=60, paragraphs=2)
    probe = tmp_path / "probe"
    write_corpus(probe, files=1)
    params = server_parameters(binary, tmp_path / "data", model_dir, allowed_roots=[corpus, probe])
    async with connected(params) as (session, _):
        started = anyio.Event()

        async def on_progress(done, total, message):
            if done >= 40:
                started.set()

        async def ingest(scope):
            with scope:
                await session.call_tool("ingest_documents", {"paths": [str(corpus)], "technology": "notes"},
                                        progress_callback=on_progress)

        async with anyio.create_task_group() as group:
            # Abandoning the call makes the client send notifications/cancelled for it.
            scope = anyio.CancelScope()
            group.start_soon(ingest, scope)
            await started.wait()
            scope.cancel()

        # Ingests run one at a time: this one's answer means the cancelled one has ended.
        probe_ingest = {"paths": [str(probe)], "technology": "probe"}
        assert structured(await session.call_tool("ingest_documents", probe_ingest))["files_written"] == 1
        listed = structured(await session.call_tool("list_sources", {"technology_filter": "notes"}))
        assert 0 < listed["total_sources"] < len(files), listed["total_sources"]
        assert structured(await session.call_tool("remove_source", {"source": str(probe)}))["chunks_removed"] > 0
        health = structured(await session.call_tool("health_check", {"level": "deep"}))
        assert health["status"] == "healthy"

        finished = structured(await session.call_tool("ingest_documents", {"paths": [str(corpus)], "technology": "notes"}))
        assert finished["files_unchanged"] == listed["total_sources"]
        assert finished["files_written"] == len(files) - listed["total_sources"]
        assert structured(await session.call_tool("list_sources", {}))["total_sources"] == len(files)
