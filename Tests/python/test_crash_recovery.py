"""kill -9 of `mcp-rag ingest` at random points of a 5,000-document ingest, again and again: the
knowledge base always opens, passes its integrity checks and still holds everything the last finished
ingest stored, and running the ingest again always ends with exactly the chunks the files call for,
none twice.

The first kill interrupts the first ingest of all 5,000 files; each later round changes 500 of them,
deletes 25 and adds 25, and kills the ingest that follows (which reads all 5,000)."""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import time
from pathlib import Path

from mcp_support import check_store, command_env, read_store

DOCUMENTS = 5000
KILLS = int(os.environ.get("MCP_RAG_TEST_KILLS", "20"))
WORDS = ("storage network security memory scheduling logging caching parsing index query vector token "
         "shard replica backup restore").split()


def document_text(number: int, revision: int) -> str:
    # Short enough to be one chunk, so the expected chunk count is the number of files.
    words = " ".join(random.Random(number * 1000 + revision).choice(WORDS) for _ in range(6))
    return f"# Document {number}\n\nRevision {revision} of document {number}: {words}.\n"


def write_documents(folder: Path, numbers, revision: int) -> None:
    for number in numbers:
        (folder / f"doc-{number:05d}.md").write_text(document_text(number, revision), encoding="utf-8")


def ingest_command(binary: str, docs: Path, data: Path) -> list[str]:
    return [binary, "ingest", str(docs), "--technology", "crash", "--data-dir", str(data), "--json"]


def test_kill_9_at_random_points_of_an_ingest_loses_nothing_and_duplicates_nothing(binary, model_dir, tmp_path,
                                                                                    report_figure):
    env = command_env(tmp_path, model_dir, MCP_RAG_LOG_LEVEL="error")
    docs, data = tmp_path / "docs", tmp_path / "data"
    docs.mkdir()
    present = set(range(DOCUMENTS))
    revisions = {number: 0 for number in present}
    write_documents(docs, present, 0)
    rng = random.Random(20261203)
    next_number = DOCUMENTS
    # A round's work as the last round took it (both runs, start-up included): each kill falls
    # uniformly within it. The first falls within a guess; a kill that comes after the ingest has
    # finished is no kill, and the round does not count.
    work_seconds = 8.0
    kills, rounds, killed_at = 0, 0, []
    # What the last finished ingest stored (its exit was its acknowledgement): nothing before the first.
    acknowledged: dict[int, int] = {}
    while kills < KILLS:
        rounds += 1
        assert rounds <= KILLS + 10, "too many rounds ended before their kill: the ingest is faster than the guess"
        if rounds > 1:
            # A new revision of 500 random files, 25 files deleted and 25 new ones, so that the
            # ingest killed (which reads all 5,000) replaces, removes and adds.
            changed = rng.sample(sorted(present), 500)
            for number in changed:
                revisions[number] += 1
            for number in changed:
                (docs / f"doc-{number:05d}.md").write_text(document_text(number, revisions[number]), encoding="utf-8")
            for number in rng.sample(sorted(present - set(changed)), 25):
                (docs / f"doc-{number:05d}.md").unlink()
                present.discard(number)
            for number in range(next_number, next_number + 25):
                revisions[number] = 0
                present.add(number)
            write_documents(docs, range(next_number, next_number + 25), 0)
            next_number += 25

        delay = rng.uniform(0.05, 0.95) * work_seconds
        started = time.monotonic()
        process = subprocess.Popen(ingest_command(binary, docs, data), env=env, stdin=subprocess.DEVNULL,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            process.wait(timeout=delay)
            finished_first = True
        except subprocess.TimeoutExpired:
            finished_first = False
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=10)
            kills += 1
            killed_at.append(round(delay, 2))
        partial = time.monotonic() - started
        if finished_first:
            assert process.returncode == 0, process.stderr.read().decode()
        process.stderr.close()

        # The store opens, intact, whatever the kill interrupted, and holds all that was acknowledged.
        check_store(data)
        assert_nothing_acknowledged_was_lost(data, acknowledged, revisions, present)

        started = time.monotonic()
        rerun = subprocess.run(ingest_command(binary, docs, data), env=env, capture_output=True, text=True,
                               stdin=subprocess.DEVNULL, timeout=600)
        assert rerun.returncode == 0, rerun.stderr
        report = json.loads(rerun.stdout)
        assert report["files_scanned"] == len(present)
        work_seconds = partial + (time.monotonic() - started)

        counts = check_store(data)
        assert counts == {"sources": len(present), "chunks": len(present)}, (rounds, counts, len(present))
        assert_every_file_is_stored_at_its_revision(data, revisions, present)
        acknowledged = {number: revisions[number] for number in present}

    # What a person sees: a search after all that finds a file rewritten along the way, at its
    # last revision. (A number above any revision's, so that only its own passage holds it.)
    probe = max((number for number in present if number >= 100), key=lambda number: (revisions[number], number))
    assert revisions[probe] > 0
    found = subprocess.run([binary, "query", f"document {probe}", "--mode", "keyword", "--data-dir", str(data),
                            "--json"], env=env, capture_output=True, text=True, timeout=120)
    assert found.returncode == 0, found.stderr
    answer = json.loads(found.stdout)
    assert not answer["degraded"], answer.get("degraded_reason")
    top = answer["results"][0]
    assert Path(top["source"]).name == f"doc-{probe:05d}.md", [result["source"] for result in answer["results"]]
    assert f"Revision {revisions[probe]} of document {probe}:" in top["text"], top["text"]
    report_figure(f"kill -9: {kills} kills in {rounds} rounds, at {killed_at} s into the ingest; after each, "
                  f"{len(present)} documents and exactly {len(present)} passages, none twice")


def assert_nothing_acknowledged_was_lost(data: Path, acknowledged: dict[int, int], revisions: dict[int, int],
                                         present: set[int]) -> None:
    """After a kill: every file the last finished ingest stored is still stored, at that revision or,
    if it has changed since, at its new one (a source is replaced in one transaction); a file deleted
    since is gone or still at that revision; a file added since is absent or stored whole; nothing
    else is stored."""
    stored: dict[int, int] = {}
    for source, text in read_store(data, "SELECT source, text FROM chunks"):
        number = int(re.fullmatch(r"doc-(\d{5})\.md", Path(source).name).group(1))
        marker = re.search(r"Revision (\d+) of document (\d+):", text)
        assert marker and int(marker.group(2)) == number, (source, text)
        stored[number] = int(marker.group(1))
    for number, revision in stored.items():
        allowed = {acknowledged.get(number), revisions[number] if number in present else None} - {None}
        assert revision in allowed, f"doc-{number:05d}.md stored at revision {revision}, expected one of {allowed}"
    lost = sorted(number for number in acknowledged if number in present and number not in stored)
    assert not lost, f"{len(lost)} acknowledged files missing after the kill, e.g. {lost[:5]}"


def assert_every_file_is_stored_at_its_revision(data: Path, revisions: dict[int, int], present: set[int]) -> None:
    stored = {Path(source).name: text for source, text in read_store(data, "SELECT source, text FROM chunks")}
    expected = {f"doc-{number:05d}.md": f"Revision {revisions[number]} of document {number}:" for number in present}
    assert stored.keys() == expected.keys()
    stale = [name for name, marker in expected.items() if marker not in stored[name]]
    assert not stale, f"{len(stale)} files stored at an old revision, e.g. {stale[:3]}"
