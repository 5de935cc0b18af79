"""Watched folders (issue 29): `mcp-rag serve --watch` keeps every ingested folder in sync while it
runs. Edits, deletions, renames (which keep their vectors), new folders, a folder deleted and made
again, a burst of files, folders ingested through the server and by another process, changes made
while no server ran, two servers on one data folder (one watches; the other takes over when it
ends), the folder limit, and kill -9 in the middle of a watched ingest.

Each step waits, within a deadline, for what the change must lead to (a passage found, a file
listed or gone), asking the server again and again; `health_check`'s `syncs` counts the batches
the watcher applied."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import time

import anyio
import pytest
from mcp import StdioServerParameters

from mcp_support import check_store, command_env, connected, read_store, server_parameters, structured

pytestmark = pytest.mark.anyio
DEADLINE = 120


def watching_server(binary, data, model_dir, allowed_roots=None, **extra_env):
    params = server_parameters(binary, data, model_dir, allowed_roots=allowed_roots, extra_env=extra_env)
    return StdioServerParameters(command=params.command, args=["serve", "--watch"], env=params.env)


def ingest(binary, folder, data, model_dir, home, technology="notes"):
    done = subprocess.run([binary, "ingest", str(folder), "--technology", technology, "--data-dir", str(data)],
                          capture_output=True, text=True, timeout=300, env=command_env(home, model_dir))
    assert done.returncode == 0, done.stderr


async def until(check, what: str):
    """`check()`'s answer once it is true; fails when it is still false after the deadline."""
    end = time.monotonic() + DEADLINE
    while True:
        answer = await check()
        if answer:
            return answer
        assert time.monotonic() < end, f"not reached within {DEADLINE} s: {what}"
        await anyio.sleep(0.05)


async def watch(session) -> dict:
    return structured(await session.call_tool("health_check", {}))


def facts(health: dict) -> dict:
    return health["dependencies"]["folder_watch"]["facts"]


async def settled(session, after: int = 0) -> dict:
    """The health report once the watcher watches, has applied more than `after` batches, and holds
    nothing back."""
    async def check():
        health = await watch(session)
        seen = facts(health)
        return health if seen["watching"] == "yes" and int(seen["syncs"]) > after and seen["pending"] == "0" else None
    return await until(check, f"a batch after {after} applied")


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


def finds(session, query: str, path) -> callable:
    async def check():
        return await top_source(session, query) == str(path)
    return check


def lists(session, expected) -> callable:
    async def check():
        return await sources(session) == {str(path) for path in expected}
    return check


async def test_a_watched_folder_follows_edits_deletions_renames_and_its_own_recreation(binary, model_dir, tmp_path):
    docs, data = tmp_path / "docs", tmp_path / "data"
    docs.mkdir()
    (docs / "alpha.md").write_text("# Alpha\n\nThe alpha note is about gardening tools.\n")
    (docs / "beta.md").write_text("# Beta\n\nThe beta note is about sailing knots.\n")
    ingest(binary, docs, data, model_dir, tmp_path)
    kitchen, shed = tmp_path / "kitchen", tmp_path / "shed"
    kitchen.mkdir()
    shed.mkdir()
    (kitchen / "gamma.md").write_text("# Gamma\n\nThe gamma note is about bread baking.\n")
    (shed / "zeta.md").write_text("# Zeta\n\nThe zeta note is about lawn mowers.\n")
    log = tmp_path / "server.log"

    params = watching_server(binary, data, model_dir, allowed_roots=[tmp_path], MCP_RAG_LOG_LEVEL="info")
    with open(log, "w") as errlog:
        async with connected(params, errlog=errlog) as (session, _):
            # At start the folder is read in full (catching up), then watched.
            health = await settled(session)
            assert health["watched_folders"] == [{"path": str(docs), "label": "notes", "state": "watching"}]
            assert health["dependencies"]["folder_watch"]["status"] == "healthy"
            assert facts(health)["last_sync"] and facts(health)["folders"] == "1"

            (docs / "alpha.md").write_text("# Alpha\n\nThe alpha note now explains how an ocelot hunts at night.\n")
            await until(finds(session, "ocelot hunting at night", docs / "alpha.md"), "the edit is searchable")

            (docs / "beta.md").unlink()
            await until(lists(session, [docs / "alpha.md"]), "the deleted file left")

            # A rename moves the file's passages and keeps their vectors: nothing is embedded.
            (docs / "alpha.md").rename(docs / "renamed.md")
            await until(lists(session, [docs / "renamed.md"]), "the renamed file moved")
            assert await top_source(session, "ocelot hunting at night") == str(docs / "renamed.md")
            renamed = [line for line in log.read_text().splitlines()
                       if "ingest finished" in line and "rag.ingest.written=1" in line][-1]
            assert "rag.ingest.embedded=0" in renamed, renamed

            # A folder made inside is read with everything written into it.
            (docs / "sub").mkdir()
            (docs / "sub" / "delta.md").write_text("# Delta\n\nThe delta note covers glacier formation.\n")
            await until(finds(session, "glacier formation", docs / "sub" / "delta.md"), "the new folder's file")

            # A folder ingested through the server is watched from then on, under its label.
            structured(await session.call_tool("ingest_documents", {"paths": [str(kitchen)], "technology": "kitchen"}))
            (kitchen / "gamma.md").write_text("# Gamma\n\nThe gamma note now covers sourdough starters.\n")
            await until(finds(session, "sourdough starter", kitchen / "gamma.md"), "the server's ingested folder")
            listing = structured(await session.call_tool("list_sources", {"limit": 100}))["sources"]
            assert {entry["source"]: entry["technology"] for entry in listing}[str(kitchen / "gamma.md")] == "kitchen"
            # So is one that another process ingests.
            ingest(binary, shed, data, model_dir, tmp_path, technology="shed")
            await until(lambda: _folder_watched(session, shed), "the other process's folder is watched")
            (shed / "zeta.md").write_text("# Zeta\n\nThe zeta note now covers chainsaw chains.\n")
            await until(finds(session, "chainsaw chains", shed / "zeta.md"), "the other process's folder")

            # A burst of files is a few batches, not one per file.
            count = int(facts(await settled(session))["syncs"])
            for index in range(150):
                (docs / f"burst-{index:03d}.md").write_text(f"# Burst {index}\n\nBurst file {index} about topic {index * 7}.\n")

            async def burst_stored():
                return len([source for source in await sources(session) if "/burst-" in source]) == 150
            await until(burst_stored, "every file of the burst")
            health = await settled(session, count - 1)
            assert int(facts(health)["syncs"]) - count <= 3, facts(health)

            # The folder deleted: its files leave; made again: read again.
            shutil.rmtree(docs)
            await until(lists(session, [kitchen / "gamma.md", shed / "zeta.md"]), "the deleted folder's files left")
            states = {folder["path"]: folder["state"] for folder in (await watch(session))["watched_folders"]}
            assert states[str(docs)].startswith("missing"), states
            docs.mkdir()
            (docs / "epsilon.md").write_text("# Epsilon\n\nThe epsilon note is about volcanic glass.\n")
            await until(finds(session, "volcanic glass", docs / "epsilon.md"), "the folder made again")
            states = {folder["path"]: folder["state"] for folder in (await watch(session))["watched_folders"]}
            assert states[str(docs)] == "watching"

            # Removing a folder ends its watch: what is written there later stays out.
            structured(await session.call_tool("remove_source", {"source": str(kitchen)}))
            await until(lambda: _folder_watched(session, kitchen, watched=False), "the removed folder's watch ends")
            (kitchen / "late.md").write_text("# Late\n\nThe late note is about pickled herring.\n")
            (docs / "marker.md").write_text("# Marker\n\nThe marker note is about lighthouse lenses.\n")
            await until(finds(session, "lighthouse lenses", docs / "marker.md"), "a change after the removal")
            assert str(kitchen / "late.md") not in await sources(session)
    assert check_store(data)["sources"] == 3


async def _folder_watched(session, folder, watched: bool = True) -> bool:
    paths = [entry["path"] for entry in (await watch(session))["watched_folders"]]
    return (str(folder) in paths) == watched


async def test_one_server_of_a_data_folder_watches_and_another_takes_over_when_it_ends(binary, model_dir, tmp_path):
    docs, data = tmp_path / "docs", tmp_path / "data"
    docs.mkdir()
    (docs / "one.md").write_text("# One\n\nThe first note is about harbour cranes.\n")
    ingest(binary, docs, data, model_dir, tmp_path)
    first_watches, first_may_end = anyio.Event(), anyio.Event()

    async def first_server():
        async with connected(watching_server(binary, data, model_dir)) as (session, _):
            await settled(session)
            first_watches.set()
            await first_may_end.wait()

    async with anyio.create_task_group() as group:
        group.start_soon(first_server)
        await first_watches.wait()
        # The variable turns the watch on as the flag does; this one reads at most 5 files an ingest.
        params = server_parameters(binary, data, model_dir, extra_env={"MCP_RAG_WATCH": "1", "MCP_RAG_MAX_FILES": "5"})
        async with connected(params) as (second, _):
            async def waits():
                health = await watch(second)
                return "another process" in health["dependencies"]["folder_watch"]["detail"] and health
            health = await until(waits, "the second server sees the first watching")
            assert facts(health)["watching"] == "no"
            assert health["watched_folders"][0]["state"].startswith("watched by another process (pid "), health
            first_may_end.set()
            await settled(second)
            (docs / "two.md").write_text("# Two\n\nThe second note is about tugboat engines.\n")
            await until(finds(second, "tugboat engines", docs / "two.md"), "the second server took over")

            # A folder that cannot be read (here, past the file limit) is left out with its reason;
            # the rest of its batch is applied.
            (docs / "crowd").mkdir()
            for index in range(6):
                (docs / "crowd" / f"c{index}.md").write_text(f"# Crowd {index}\n\nCrowd note {index}.\n")
            (docs / "three.md").write_text("# Three\n\nThe third note is about dredger buckets.\n")
            await until(finds(second, "dredger buckets", docs / "three.md"), "the rest of the batch")

            async def left_out():
                detail = (await watch(second))["dependencies"]["folder_watch"]
                return detail["status"] == "degraded" and detail
            detail = await until(left_out, "the folder left out is reported")
            assert f"{docs / 'crowd'}: more than 5 files to ingest" in detail["facts"]["last_error"], detail
            assert not any("/crowd/" in source for source in await sources(second))


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
        deadline = time.monotonic() + DEADLINE
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

    # Started again, it catches up on everything: the changes made while nothing ran and the rest
    # of the batch; a folder limit reached is a warning, not a silent gap.
    params = watching_server(binary, data, model_dir, MCP_RAG_WATCH_FOLDER_LIMIT="1")
    async with connected(params) as (session, _):
        async def caught_up():
            names = {os.path.basename(source) for source in await sources(session)}
            return len([name for name in names if name.startswith("bulk-")]) == files and names
        names = await until(caught_up, "every file of the interrupted batch")
        assert {"keep.md", "change.md", "added.md"} <= names and "delete.md" not in names
        assert await top_source(session, "narwhal") == str(docs / "change.md")
        watch_health = (await settled(session))["dependencies"]["folder_watch"]
        assert watch_health["status"] == "degraded", watch_health
        assert re.search(r"MCP_RAG_WATCH_FOLDER_LIMIT \(1 folders\) is reached; raise it", watch_health["detail"])
        assert str(docs / "more") in watch_health["detail"] and watch_health["facts"]["unwatched_subfolders"] == "1"
    counts = check_store(data)
    assert counts["sources"] == files + 3
    assert counts["chunks"] == files + 3


async def test_health_lists_the_folders_that_need_attention_first_and_stays_small(binary, model_dir, tmp_path):
    """Six hundred recorded folders with long paths: `health_check` lists those that need attention
    first (one deleted while no server ran), as many as fit, and counts the rest; the answer stays
    under 64 KB."""
    docs, data = tmp_path / "docs", tmp_path / "data"
    folders = []
    for index in range(600):
        folder = docs / f"project-{index:03d}-{'p' * 200}"
        folder.mkdir(parents=True)
        (folder / "note.md").write_text(f"# Project {index}\n\nProject {index} ships on a Tuesday.\n")
        folders.append(folder)
    done = subprocess.run([binary, "ingest", *map(str, folders), "--technology", "projects", "--data-dir", str(data)],
                          capture_output=True, text=True, timeout=600, env=command_env(tmp_path, model_dir))
    assert done.returncode == 0, done.stderr
    gone = folders[417]
    shutil.rmtree(gone)
    async with connected(watching_server(binary, data, model_dir, allowed_roots=[docs])) as (session, _):
        await settled(session)  # the deleted folder's file taken out of the knowledge base
        result = await session.call_tool("health_check", {})
        size = len(json.dumps(result.model_dump(mode="json", by_alias=True, exclude_none=True)).encode())
        assert size < 64_000, size
        health = structured(result)
        listed = health["watched_folders"]
        assert facts(health)["folders"] == "600"
        assert 10 < len(listed) < 600 and len(listed) + health["watched_folders_omitted"] == 600
        assert listed[0]["path"] == str(gone) and listed[0]["state"].startswith("missing"), listed[0]
        assert all(folder["state"] == "watching" for folder in listed[1:])
        assert len({folder["path"] for folder in listed}) == len(listed)
