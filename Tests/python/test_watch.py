"""Watched folders (issue 29): `mcp-rag serve --watch` keeps every ingested folder in sync while it
runs. Edits, deletions, renames, new folders, a folder deleted and made again, a burst of files,
changes made while no server ran, a second server on the same data folder (only one watches), the
folder limit, and kill -9 in the middle of a watched ingest.

Each step waits for the watcher's batch to be applied: `health_check` counts the batches (`syncs`)
and the changes still waiting (`pending`); the test asks until the count moves past the one before
the change and nothing waits, within a deadline."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time

import anyio
import pytest
from mcp import StdioServerParameters

from mcp_support import check_store, command_env, connected, read_store, server_parameters, structured

pytestmark = pytest.mark.anyio


def watching_server(binary, data, model_dir, allowed_roots=None, **extra_env):
    params = server_parameters(binary, data, model_dir, allowed_roots=allowed_roots, extra_env=extra_env)
    return StdioServerParameters(command=params.command, args=["serve", "--watch"], env=params.env)


def ingest(binary, folder, data, model_dir, home, technology="notes"):
    done = subprocess.run([binary, "ingest", str(folder), "--technology", technology, "--data-dir", str(data)],
                          capture_output=True, text=True, timeout=300, env=command_env(home, model_dir))
    assert done.returncode == 0, done.stderr


async def watch_health(session) -> dict:
    health = structured(await session.call_tool("health_check", {}))
    return health


async def synced(session, after: int, deadline: float = 120) -> dict:
    """The health report once more than `after` batches are applied and no change waits."""
    end = time.monotonic() + deadline
    while True:
        health = await watch_health(session)
        facts = health["dependencies"]["folder_watch"]["facts"]
        if facts["watching"] == "yes" and int(facts["syncs"]) > after and facts["pending"] == "0":
            return health
        assert time.monotonic() < end, health["dependencies"]["folder_watch"]
        await anyio.sleep(0.05)


def syncs(health: dict) -> int:
    return int(health["dependencies"]["folder_watch"]["facts"]["syncs"])


async def sources(session) -> set[str]:
    found, arguments = set(), {"limit": 500}
    while True:
        listing = structured(await session.call_tool("list_sources", arguments))
        found |= {entry["source"] for entry in listing["sources"]}
        if not listing.get("next_cursor"):
            return found
        arguments = {"limit": 500, "cursor": listing["next_cursor"]}


async def top_source(session, query: str) -> str:
    answer = structured(await session.call_tool("query_knowledge_base", {"query": query, "n_results": 1}))
    return answer["results"][0]["source"] if answer["results"] else ""


async def test_a_watched_folder_follows_edits_deletions_renames_and_its_own_recreation(binary, model_dir, tmp_path):
    docs, data = tmp_path / "docs", tmp_path / "data"
    docs.mkdir()
    (docs / "alpha.md").write_text("# Alpha\n\nThe alpha note is about gardening tools.\n")
    (docs / "beta.md").write_text("# Beta\n\nThe beta note is about sailing knots.\n")
    ingest(binary, docs, data, model_dir, tmp_path)
    other = tmp_path / "other"
    other.mkdir()
    (other / "gamma.md").write_text("# Gamma\n\nThe gamma note is about bread baking.\n")

    async with connected(watching_server(binary, data, model_dir, allowed_roots=[tmp_path])) as (session, _):
        # At start the folder is read in full (catching up), then watched.
        health = await synced(session, 0)
        assert health["watched_folders"] == [{"path": str(docs), "label": "notes", "state": "watching"}]
        assert health["dependencies"]["folder_watch"]["status"] == "healthy"

        count = syncs(health)
        (docs / "alpha.md").write_text("# Alpha\n\nThe alpha note now explains how an ocelot hunts at night.\n")
        count = syncs(await synced(session, count))
        assert await top_source(session, "ocelot hunting at night") == str(docs / "alpha.md")

        (docs / "beta.md").unlink()
        count = syncs(await synced(session, count))
        assert await sources(session) == {str(docs / "alpha.md")}

        (docs / "alpha.md").rename(docs / "renamed.md")
        count = syncs(await synced(session, count))
        assert await sources(session) == {str(docs / "renamed.md")}
        assert await top_source(session, "ocelot hunting at night") == str(docs / "renamed.md")

        # A folder made inside is read with everything written into it.
        (docs / "sub").mkdir()
        (docs / "sub" / "delta.md").write_text("# Delta\n\nThe delta note covers glacier formation.\n")
        count = syncs(await synced(session, count))
        assert str(docs / "sub" / "delta.md") in await sources(session)

        # A folder ingested through the server is watched from then on.
        structured(await session.call_tool("ingest_documents", {"paths": [str(other)], "technology": "kitchen"}))
        (other / "gamma.md").write_text("# Gamma\n\nThe gamma note now covers sourdough starters.\n")
        count = syncs(await synced(session, count))
        listing = structured(await session.call_tool("list_sources", {"limit": 100}))["sources"]
        assert {entry["source"]: entry["technology"] for entry in listing}[str(other / "gamma.md")] == "kitchen"
        assert await top_source(session, "sourdough starter") == str(other / "gamma.md")

        # A burst of files is a few batches, not one per file.
        for index in range(150):
            (docs / f"burst-{index:03d}.md").write_text(f"# Burst {index}\n\nBurst file {index} about topic {index * 7}.\n")
        health = await synced(session, count)
        assert syncs(health) - count <= 3, health["dependencies"]["folder_watch"]
        count = syncs(health)
        assert len([source for source in await sources(session) if "/burst-" in source]) == 150

        # The folder deleted: its files leave; made again: read again.
        shutil.rmtree(docs)
        health = await synced(session, count)
        count = syncs(health)
        assert {folder["path"]: folder["state"] for folder in health["watched_folders"]}[str(docs)].startswith("missing")
        assert await sources(session) == {str(other / "gamma.md")}
        docs.mkdir()
        (docs / "epsilon.md").write_text("# Epsilon\n\nThe epsilon note is about volcanic glass.\n")
        health = await synced(session, count)
        count = syncs(health)
        assert await top_source(session, "volcanic glass") == str(docs / "epsilon.md")
        assert {folder["path"]: folder["state"] for folder in health["watched_folders"]}[str(docs)] == "watching"

        # A second server on the same data folder does not watch; it takes over when the first ends.
        async with connected(watching_server(binary, data, model_dir, allowed_roots=[tmp_path])) as (second, _):
            waiting = (await watch_health(second))["dependencies"]["folder_watch"]
            assert waiting["facts"]["watching"] == "no" and "another process" in waiting["detail"], waiting
    # The first has ended; a new second one holds the lock at once.
    async with connected(watching_server(binary, data, model_dir, allowed_roots=[tmp_path])) as (session, _):
        await synced(session, 0)
        # Removing a folder stops its watch.
        structured(await session.call_tool("remove_source", {"source": str(other)}))
        health = await watch_health(session)
        assert [folder["path"] for folder in health["watched_folders"]] == [str(docs)]
    assert check_store(data)["sources"] == 1


async def test_changes_made_while_no_server_ran_are_caught_up_and_kill_9_mid_sync_loses_nothing(binary, model_dir, tmp_path):
    docs, data = tmp_path / "docs", tmp_path / "data"
    (docs / "more").mkdir(parents=True)
    for name in ("keep", "change", "delete"):
        (docs / f"{name}.md").write_text(f"# {name}\n\nThe {name} note, first version.\n")
    ingest(binary, docs, data, model_dir, tmp_path)
    (docs / "change.md").write_text("# change\n\nThe change note, second version about a narwhal.\n")
    (docs / "delete.md").unlink()
    (docs / "more" / "added.md").write_text("# added\n\nThe added note is about a capybara.\n")

    # A server killed with SIGKILL while it applies a large batch it saw.
    env = server_parameters(binary, data, model_dir).env
    server = subprocess.Popen([binary, "serve", "--watch"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, env=env)
    try:
        files = 600
        for index in range(files):
            (docs / f"bulk-{index:04d}.md").write_text(f"# Bulk {index}\n\nBulk note {index} on subject {index * 13}.\n")
        deadline = time.monotonic() + 120
        while True:
            stored = read_store(data, "SELECT count(*) FROM sources WHERE source LIKE '%/bulk-%'")[0][0]
            if stored > 0:
                break
            assert server.poll() is None and time.monotonic() < deadline
            time.sleep(0.02)
        server.send_signal(signal.SIGKILL)
        server.wait(timeout=10)
    finally:
        if server.poll() is None:
            server.kill()
    assert stored < files, "the kill came after the whole batch: nothing was interrupted"
    assert check_store(data)["sources"] >= 3

    # Restarted, it catches up on everything: the changes made while nothing ran and the rest of
    # the batch; a folder limit reached is a warning, not a silent gap.
    params = watching_server(binary, data, model_dir, MCP_RAG_WATCH_FOLDER_LIMIT="1")
    async with connected(params) as (session, _):
        health = await synced(session, 0)
        watch = health["dependencies"]["folder_watch"]
        assert watch["status"] == "degraded" and "MCP_RAG_WATCH_FOLDER_LIMIT (1 folders) is reached" in watch["detail"], watch
        assert str(docs / "more") in watch["detail"]
        names = {os.path.basename(source) for source in await sources(session)}
        assert {"keep.md", "change.md", "added.md"} <= names and "delete.md" not in names
        assert len([name for name in names if name.startswith("bulk-")]) == files
        assert await top_source(session, "narwhal") == str(docs / "change.md")
    counts = check_store(data)
    assert counts["sources"] == files + 3
    assert counts["chunks"] == files + 3
