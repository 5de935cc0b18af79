"""The shell commands as a person or a script runs them: `selftest`, `ingest`, `query` and `config`."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

TOOLS = ["query_knowledge_base", "health_check", "get_cache_warming_stats", "verify_gpu_acceleration",
         "list_sources", "ingest_documents", "remove_source"]
OPTIONAL_PARTS = {"redis", "chroma", "gpu"}


def clean_env(tmp: Path, model_dir: Path | None) -> dict[str, str]:
    """The caller's environment without mcp-rag's settings, with scratch folders inside `tmp`.

    MCP_RAG_DATA_DIR points at a folder no test uses, so nothing can land in the user's real data
    folder even where a command is run without --data-dir.
    """
    drop = {"REDIS_URL", "CHROMA_URL", "XDG_DATA_HOME", "XDG_CACHE_HOME", "HF_HOME", "HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"}
    env = {k: v for k, v in os.environ.items() if not k.startswith("MCP_RAG_") and k not in drop}
    (tmp / "home").mkdir(parents=True, exist_ok=True)
    (tmp / "scratch").mkdir(parents=True, exist_ok=True)
    env["HOME"] = str(tmp / "home")
    env["TMPDIR"] = str(tmp / "scratch")
    env["MCP_RAG_DATA_DIR"] = str(tmp / "unused-data")
    if model_dir is not None:
        env["MCP_RAG_MODEL_DIR"] = str(model_dir)
    return env


def run(binary: str, *args: str, env: dict[str, str], cwd: Path | None = None,
        timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([binary, *args], env=env, cwd=cwd, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=timeout)


def run_json(binary: str, *args: str, env: dict[str, str], cwd: Path | None = None, timeout: float = 60):
    """Runs a command with --json that must succeed; its whole stdout must be one JSON document."""
    result = run(binary, *args, "--json", env=env, cwd=cwd, timeout=timeout)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout), result


def assert_refused(result: subprocess.CompletedProcess, *phrases: str) -> None:
    """A usage error: non-zero exit (not a crash), nothing on stdout, the reason on stderr."""
    assert result.returncode in (1, 64), (result.returncode, result.stderr)
    assert result.stdout == ""
    assert result.stderr.startswith("Error: "), result.stderr
    for phrase in phrases:
        assert phrase in result.stderr, result.stderr


# --- selftest ---------------------------------------------------------------------------------


def parse_selftest_text(stdout: str) -> list[tuple[str, str, str]]:
    """(mark, name, detail) for each check line of the text report."""
    checks = []
    for line in stdout.splitlines():
        if line[:4] in ("PASS", "FAIL", "----"):
            assert line[4:6] == "  " and line[40] == " ", f"misaligned line: {line!r}"
            checks.append((line[:4], line[6:40].rstrip(), line[41:]))
    return checks


@pytest.fixture(scope="module")
def selftest_run(binary, model_dir, tmp_path_factory):
    """`mcp-rag selftest --json` with MCP_RAG_DATA_DIR set and no --data-dir."""
    tmp = tmp_path_factory.mktemp("selftest")
    env = clean_env(tmp, model_dir)
    result = run(binary, "selftest", "--json", env=env, timeout=120)
    return result, tmp


def test_selftest_json_passes_and_names_every_tool(selftest_run, binary):
    result, tmp = selftest_run
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stderr == "", "a passing self-test logs nothing at its default level"
    report = json.loads(result.stdout)
    version = run(binary, "--version", env=clean_env(tmp, None)).stdout.strip()
    assert report["version"] == version
    assert report["passed"] is True
    outcomes = {check["name"]: check["outcome"] for check in report["checks"]}
    assert len(outcomes) == len(report["checks"]), "two checks share a name"
    failed = {c["name"]: c["detail"] for c in report["checks"] if c["outcome"] != "pass" and c["name"] not in OPTIONAL_PARTS}
    assert not failed
    for tool in TOOLS:
        assert any(name == tool or name.startswith(tool + " (") for name in outcomes), f"no check of {tool}"
    for mode in ("hybrid", "semantic", "keyword"):
        assert outcomes[f"query_knowledge_base ({mode})"] == "pass"
    for level in ("liveness", "readiness", "deep"):
        assert outcomes[f"health_check ({level})"] == "pass"
    listed = next(check["detail"] for check in report["checks"] if check["name"] == "tools/list")
    assert f"{len(TOOLS)} tools" in listed
    for tool in TOOLS:
        assert tool in listed


def test_selftest_reports_redis_chroma_and_gpu_as_not_configured(selftest_run):
    result, _ = selftest_run
    report = json.loads(result.stdout)
    optional = {check["name"]: check for check in report["checks"] if check["name"] in OPTIONAL_PARTS}
    assert set(optional) == OPTIONAL_PARTS
    for check in optional.values():
        assert check["outcome"] == "not_configured", check
        assert check["detail"], check
    assert "REDIS_URL is not set" in optional["redis"]["detail"]
    assert "CHROMA_URL is not set" in optional["chroma"]["detail"]
    assert report["passed"] is True


def test_selftest_without_data_dir_uses_a_temporary_folder_and_removes_it(selftest_run):
    result, tmp = selftest_run
    report = json.loads(result.stdout)
    data = Path(report["data_directory"])
    assert data.parent == tmp / "scratch", "the self-test did not run in a folder under TMPDIR"
    assert not data.exists(), f"{data} was left behind"
    assert list((tmp / "scratch").iterdir()) == []
    assert not (tmp / "unused-data").exists(), "the self-test touched MCP_RAG_DATA_DIR"


def test_selftest_text_prints_one_aligned_line_per_check(binary, model_dir, tmp_path, selftest_run):
    reference = json.loads(selftest_run[0].stdout)
    data = tmp_path / "selftest-data"
    result = run(binary, "selftest", "--data-dir", str(data), env=clean_env(tmp_path, model_dir), timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    version = reference["version"]
    assert lines[0] == f"mcp-rag {version} self-test (data in {data})"
    assert lines[-1] == "All required checks passed."
    checks = parse_selftest_text(result.stdout)
    assert [name for _, name, _ in checks] == [check["name"] for check in reference["checks"]]
    marks = {"pass": "PASS", "not_configured": "----"}
    assert [mark for mark, _, _ in checks] == [marks[check["outcome"]] for check in reference["checks"]]
    assert all(detail.strip() for _, _, detail in checks)
    # The named folder is the one used: the knowledge base is in it, and the sample is gone again.
    assert (data / "knowledge.sqlite3").is_file()
    assert not (data / "selftest-sample").exists()


def test_dash_dash_selftest_is_the_same_report(binary, model_dir, tmp_path, selftest_run):
    reference = json.loads(selftest_run[0].stdout)
    report, _ = run_json(binary, "--selftest", env=clean_env(tmp_path, model_dir), timeout=120)
    assert report["passed"] is True
    assert [(c["name"], c["outcome"]) for c in report["checks"]] == \
        [(c["name"], c["outcome"]) for c in reference["checks"]]


def test_selftest_exercises_a_configured_redis_and_removes_its_keys(binary, model_dir, tmp_path):
    url = os.environ["MCP_RAG_TEST_REDIS_URL"]
    env = clean_env(tmp_path, model_dir)
    env["REDIS_URL"] = url
    env["MCP_RAG_REDIS_PREFIX"] = prefix = f"selftest-test-{os.getpid()}:"
    report, _ = run_json(binary, "selftest", env=env, timeout=120)
    assert report["passed"] is True, [c for c in report["checks"] if c["outcome"] == "fail"]
    redis = next(check for check in report["checks"] if check["name"] == "redis")
    assert redis["outcome"] == "pass" and url in redis["detail"], redis
    outcomes = {check["name"]: check["outcome"] for check in report["checks"]}
    assert outcomes["result cache"] == outcomes["get_cache_warming_stats"] == "pass"
    port = url.rsplit(":", 1)[1].split("/")[0]
    left = subprocess.run(["redis-cli", "-p", port, "--scan", "--pattern", prefix + "*"], capture_output=True, text=True)
    assert left.returncode == 0 and left.stdout.strip() == "", "the self-test's keys were not removed"


def test_selftest_exercises_a_configured_chroma_and_deletes_its_collection(binary, model_dir, tmp_path):
    # Chroma searches the vectors here, so every check, the deep health probe's search included,
    # goes through it; the self-test's collection is gone afterwards.
    url = os.environ["MCP_RAG_TEST_CHROMA_URL"]
    env = clean_env(tmp_path, model_dir)
    env["CHROMA_URL"] = url
    report, _ = run_json(binary, "selftest", env=env, timeout=180)
    assert report["passed"] is True, [c for c in report["checks"] if c["outcome"] == "fail"]
    outcomes = {check["name"]: check["outcome"] for check in report["checks"]}
    assert outcomes["chroma"] == "pass" and outcomes["health_check (deep)"] == "pass", outcomes
    chroma = next(check for check in report["checks"] if check["name"] == "chroma")
    # Its collection is named after its base and the model: selftest-<8 hex>-<16 hex>.
    collection = re.search(r"collection (selftest-[0-9a-f]{8}-[0-9a-f]{16})\b", chroma["detail"]).group(1)
    from mcp_support import collection_names
    names = collection_names(url)
    assert not any(name.startswith(collection) for name in names), "the self-test's collections were not deleted"


def test_selftest_with_an_unreachable_redis_fails_and_says_why(binary, model_dir, tmp_path):
    env = clean_env(tmp_path, model_dir)
    env["REDIS_URL"] = "redis://:hunter2@127.0.0.1:1"
    result = run(binary, "selftest", "--json", env=env, timeout=120)
    assert result.returncode == 1, result.stderr
    report = json.loads(result.stdout)
    assert report["passed"] is False
    redis = next(check for check in report["checks"] if check["name"] == "redis")
    assert redis["outcome"] == "fail" and "127.0.0.1:1" in redis["detail"], redis
    # Queries still answered: only the parts that need Redis failed.
    outcomes = {check["name"]: check["outcome"] for check in report["checks"]}
    assert outcomes["query_knowledge_base (hybrid)"] == "pass"
    assert "hunter2" not in result.stdout + result.stderr


def test_selftest_with_a_missing_model_dir_fails_and_names_the_folder(binary, tmp_path):
    missing = tmp_path / "no-such-model"
    env = clean_env(tmp_path, None)
    result = run(binary, "selftest", "--data-dir", str(tmp_path / "data"), "--model-dir", str(missing),
                 env=env, timeout=120)
    assert result.returncode == 1, result.stdout + result.stderr
    checks = parse_selftest_text(result.stdout)
    by_name = {name: (mark, detail) for mark, name, detail in checks}
    mark, detail = by_name["embedding model loaded"]
    assert mark == "FAIL"
    assert str(missing) in detail and "does not exist" in detail
    failures = sum(1 for mark, _, _ in checks if mark == "FAIL")
    assert result.stdout.splitlines()[-1] == f"{failures} required check(s) failed."
    # Optional parts stay "not configured" even when the run fails.
    assert all(by_name[part][0] == "----" for part in OPTIONAL_PARTS)


def test_selftest_in_a_filled_data_dir_passes_and_leaves_its_passages_alone(binary, model_dir, tmp_path):
    """The README promises a temporary folder; a data folder that already holds a knowledge base
    must neither make the self-test fail nor receive its sample."""
    env = clean_env(tmp_path, model_dir)
    data = tmp_path / "data"
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "note.md").write_text("# Note\n\nThe zebrafish tank needs a heater.\n", encoding="utf-8")
    run_json(binary, "ingest", str(docs), "--technology", "notes", "--data-dir", str(data), env=env)
    before, _ = run_json(binary, "query", "harbor", "--mode", "semantic", "-n", "50", "--data-dir", str(data), env=env)

    result = run(binary, "selftest", "--data-dir", str(data), env=env, timeout=120)

    after, _ = run_json(binary, "query", "harbor", "--mode", "semantic", "-n", "50", "--data-dir", str(data), env=env)
    problems = []
    added = sorted({r["source"] for r in after["results"]} - {r["source"] for r in before["results"]})
    if added:
        problems.append(f"the self-test left {added} in the knowledge base")
    if result.returncode != 0:
        problems.append(f"exit {result.returncode}: " + "; ".join(
            line for line in result.stdout.splitlines() if line.startswith("FAIL")))
    assert not problems


# --- ingest -----------------------------------------------------------------------------------

TEXT_FILES = {
    "aquarium.md": "# Aquarium\n\n## Zebrafish\n\nThe zebrafish is a small striped fish that regrows its fins"
                   " within days.\n\n## Feeding\n\nFeed the tank twice a day with flakes and brine shrimp.\n",
    "kettles.rst": "Kettles\n=======\n\nA whistling kettle announces boiling water with a sharp tone.\n",
    "lanterns.html": "<html><head><style>p { color: red }</style></head><body><h1>Paper lanterns</h1>"
                     "<p>Paper lanterns glow softly at the harvest festival.</p>"
                     "<script>var zebrafish = 1;</script></body></html>",
    "parrots.py": 'def greet_parrot(name):\n    """Parrots repeat what they hear."""\n    return f"hello {name}"\n',
}
BINARY_FILES = {
    "blob.txt": b"header\x00\x01\x02\x03 binary payload",   # a supported name, binary content
    "photo.png": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",     # an unsupported type
}
IGNORED_FILES = {".hidden.md": "# Hidden\n\nNever read.\n", "node_modules/pkg/readme.md": "# Dependency\n\nNever read.\n"}


def write_folder(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in {**TEXT_FILES, **IGNORED_FILES}.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text, encoding="utf-8")
    for name, data in BINARY_FILES.items():
        (folder / name).write_bytes(data)


def all_passages(binary: str, data: Path, env: dict[str, str]) -> list[dict]:
    """Every stored passage (a semantic search returns the top n of all vectors)."""
    answer, _ = run_json(binary, "query", "anything", "--mode", "semantic", "-n", "50", "--data-dir", str(data), env=env)
    return answer["results"]


@pytest.fixture
def ingest_setup(binary, model_dir, tmp_path):
    """A folder of mixed files, a data folder, and a function that ingests the folder with --json."""
    env = clean_env(tmp_path, model_dir)
    docs = tmp_path / "docs"
    data = tmp_path / "data"
    write_folder(docs)

    def ingest(*extra: str) -> tuple[dict, subprocess.CompletedProcess]:
        # A relative path, run from tmp_path: sources must still be stored as absolute paths.
        return run_json(binary, "ingest", "docs", "--technology", "notes", "--data-dir", str(data), *extra,
                        env=env, cwd=tmp_path)

    return env, docs.resolve(), data, ingest


def test_ingest_json_counts_agree_with_the_files_written(binary, ingest_setup):
    env, docs, data, ingest = ingest_setup
    report, result = ingest()
    assert report["files_scanned"] == len(TEXT_FILES) + len(BINARY_FILES), "hidden or dependency files were read"
    assert report["files_written"] == len(TEXT_FILES)
    assert report["files_unchanged"] == 0
    skipped = {Path(s["path"]).name: s["reason"] for s in report["files_skipped"]}
    assert set(skipped) == set(BINARY_FILES)
    assert "binary" in skipped["blob.txt"]
    assert ".png" in skipped["photo.png"]
    assert all(Path(s["path"]) == docs / Path(s["path"]).name for s in report["files_skipped"])
    assert report["sources_removed"] == []
    assert report["chunks_removed"] == 0 and report["chunks_unchanged"] == 0
    assert report["chunks_added"] == report["chunks_embedded"] >= len(TEXT_FILES)

    passages = all_passages(binary, data, env)
    assert len(passages) == report["chunks_added"]
    assert {p["source"] for p in passages} == {str(docs / name) for name in TEXT_FILES}
    assert {p["technology"] for p in passages} == {"notes"}
    aquarium = [p for p in passages if p["source"].endswith("/aquarium.md")]
    assert sorted(p["heading"] for p in aquarium) == ["Aquarium > Feeding", "Aquarium > Zebrafish"]


def test_skipped_binary_files_are_warned_about_on_stderr(ingest_setup):
    _, docs, _, ingest = ingest_setup
    _, result = ingest()
    warnings = [line for line in result.stderr.splitlines() if "warning" in line and "skipped" in line]
    assert any(str(docs / "blob.txt") in line and "binary" in line for line in warnings), result.stderr
    assert any(str(docs / "photo.png") in line for line in warnings), result.stderr
    assert "warning" not in result.stdout and "skipped a file" not in result.stdout


def test_ingest_text_output_lists_the_skipped_files(binary, ingest_setup):
    env, docs, data, _ = ingest_setup
    result = run(binary, "ingest", str(docs), "--technology", "notes", "--data-dir", str(data), env=env)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    summary = re.match(r"(\d+) files: (\d+) written, (\d+) unchanged, (\d+) skipped; (\d+) passages added", lines[0])
    assert summary, lines[0]
    assert [int(g) for g in summary.groups()[:4]] == [len(TEXT_FILES) + len(BINARY_FILES), len(TEXT_FILES), 0,
                                                      len(BINARY_FILES)]
    assert sorted(line.split(":")[0] for line in lines[1:]) == sorted(
        f"  skipped {docs / name}" for name in BINARY_FILES)


def test_ingesting_again_writes_nothing(binary, ingest_setup):
    env, _, data, ingest = ingest_setup
    first, _ = ingest()
    ids = sorted(p["id"] for p in all_passages(binary, data, env))
    again, _ = ingest()
    assert again["files_scanned"] == first["files_scanned"]
    assert again["files_written"] == 0
    assert again["files_unchanged"] == first["files_written"]
    assert len(again["files_skipped"]) == len(first["files_skipped"])
    for key in ("chunks_added", "chunks_removed", "chunks_embedded", "chunks_unchanged"):
        assert again[key] == 0, key
    assert again["sources_removed"] == []
    assert sorted(p["id"] for p in all_passages(binary, data, env)) == ids


def test_changing_one_section_replaces_only_that_passage(binary, ingest_setup):
    env, docs, data, ingest = ingest_setup
    first, _ = ingest()
    before = {p["id"]: p for p in all_passages(binary, data, env)}
    aquarium = docs / "aquarium.md"
    in_file = [p for p in before.values() if p["source"] == str(aquarium)]
    aquarium.write_text(TEXT_FILES["aquarium.md"].replace("brine shrimp", "bloodworms"), encoding="utf-8")

    report, _ = ingest()
    assert report["files_written"] == 1
    assert report["files_unchanged"] == first["files_written"] - 1
    assert report["chunks_added"] == 1 and report["chunks_removed"] == 1 and report["chunks_embedded"] == 1
    assert report["chunks_unchanged"] == len(in_file) - 1

    after = {p["id"]: p for p in all_passages(binary, data, env)}
    gone, new = set(before) - set(after), set(after) - set(before)
    assert len(gone) == 1 and len(new) == 1
    assert "brine shrimp" in before[gone.pop()]["text"]
    assert "bloodworms" in after[new.pop()]["text"]
    hits, _ = run_json(binary, "query", "shrimp", "--mode", "keyword", "--data-dir", str(data), env=env)
    assert hits["results"] == []


def test_a_deleted_file_is_pruned_unless_no_prune(binary, ingest_setup):
    env, docs, data, ingest = ingest_setup
    first, _ = ingest()
    kettles = docs / "kettles.rst"
    kettle_ids = {p["id"] for p in all_passages(binary, data, env) if p["source"] == str(kettles)}
    assert kettle_ids
    kettles.unlink()

    kept, _ = ingest("--no-prune")
    assert kept["files_scanned"] == first["files_scanned"] - 1
    assert kept["sources_removed"] == [] and kept["chunks_removed"] == 0
    assert kettle_ids <= {p["id"] for p in all_passages(binary, data, env)}

    pruned, _ = ingest()
    assert pruned["sources_removed"] == [str(kettles)]
    assert pruned["chunks_removed"] == len(kettle_ids)
    assert pruned["files_written"] == 0
    remaining = all_passages(binary, data, env)
    assert all(p["source"] != str(kettles) for p in remaining)
    assert {p["source"] for p in remaining} == {str(docs / n) for n in TEXT_FILES if n != "kettles.rst"}


def test_a_new_label_rewrites_the_files_under_it(binary, ingest_setup):
    env, docs, data, ingest = ingest_setup
    first, _ = ingest()
    relabelled, _ = run_json(binary, "ingest", str(docs), "--technology", "renamed", "--data-dir", str(data), env=env)
    assert relabelled["files_written"] == first["files_written"]
    assert relabelled["chunks_embedded"] == 0, "an unchanged text was embedded again"
    assert {p["technology"] for p in all_passages(binary, data, env)} == {"renamed"}


@pytest.mark.parametrize("args, phrases", [
    (["{missing}", "--technology", "notes"], ["does not exist"]),
    (["{docs}", "--technology", "bad\tlabel"], ["technology", "control", "U+0009"]),
    (["{docs}"], ["--technology"]),
    (["{docs}", "/dev/null", "--technology", "notes"], ["/dev/null", "not a regular file or folder"]),
    (["--technology", "notes"], ["<paths>"]),
], ids=["missing-path", "bad-label", "no-label", "not-a-file", "no-path"])
def test_ingest_refuses_bad_input(binary, ingest_setup, tmp_path, args, phrases):
    env, docs, data, _ = ingest_setup
    args = [a.format(missing=tmp_path / "nope", docs=docs) for a in args]
    result = run(binary, "ingest", *args, "--data-dir", str(data), "--json", env=env)
    assert_refused(result, *phrases)
    # Refused before anything opened: no model load racing the error onto stderr, no folder made.
    assert not data.exists(), "a refused ingest created the knowledge base"


def test_ingest_without_a_model_fails_and_says_why(binary, ingest_setup, tmp_path):
    env, docs, data, _ = ingest_setup
    missing = tmp_path / "no-model"
    result = run(binary, "ingest", str(docs), "--technology", "notes", "--data-dir", str(data),
                 "--model-dir", str(missing), "--json", env=env)
    assert result.returncode == 1
    assert result.stdout == ""
    assert f"Error: the embedding model is not available: {missing}" in result.stderr


# --- query ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def knowledge_base(binary, model_dir, tmp_path_factory):
    """One data folder filled once: the mixed folder as "notes", a garden note as "garden"."""
    tmp = tmp_path_factory.mktemp("query")
    env = clean_env(tmp, model_dir)
    docs, garden, data = tmp / "docs", tmp / "garden", tmp / "data"
    write_folder(docs)
    garden.mkdir()
    (garden / "orchids.md").write_text(
        "# Orchids\n\nOrchids grow on bark in a warm greenhouse. A zebrafish tank nearby keeps the air humid"
        " enough for their roots.\n", encoding="utf-8")
    notes, _ = run_json(binary, "ingest", str(docs), "--technology", "notes", "--data-dir", str(data), env=env)
    plants, _ = run_json(binary, "ingest", str(garden), "--technology", "garden", "--data-dir", str(data), env=env)
    return {"env": env, "data": data, "docs": docs.resolve(), "garden": garden.resolve(), "tmp": tmp,
            "total": notes["chunks_added"] + plants["chunks_added"]}


def query(binary, kb, *args: str):
    return run_json(binary, "query", *args, "--data-dir", str(kb["data"]), env=kb["env"])[0]


@pytest.mark.parametrize("mode", ["hybrid", "semantic", "keyword"])
def test_query_puts_the_passage_with_the_word_first_and_reports_the_mode(binary, knowledge_base, mode):
    answer = query(binary, knowledge_base, "zebrafish", "--mode", mode)
    assert answer["mode"] == mode
    assert answer["query"] == "zebrafish"
    assert answer["degraded"] is False and "degraded_reason" not in answer
    assert answer["cache_hit"] is False
    results = answer["results"]
    assert results, answer
    top = results[0]
    assert top["source"] == str(knowledge_base["docs"] / "aquarium.md")
    assert top["heading"] == "Aquarium > Zebrafish"
    assert "zebrafish" in top["text"] and top["technology"] == "notes"
    assert [r["rank"] for r in results] == list(range(1, len(results) + 1))
    scores = [r["score"] for r in results]
    assert scores == sorted(scores, reverse=True)
    assert len({r["id"] for r in results}) == len(results)


def test_keyword_query_matches_only_passages_holding_the_word(binary, knowledge_base):
    answer = query(binary, knowledge_base, "zebrafish", "--mode", "keyword", "-n", "50")
    # The word is in aquarium.md, the garden note, and a <script> of lanterns.html (which is dropped).
    assert {r["source"] for r in answer["results"]} == {str(knowledge_base["docs"] / "aquarium.md"),
                                                        str(knowledge_base["garden"] / "orchids.md")}
    assert all("zebrafish" in r["text"].lower() for r in answer["results"])


@pytest.mark.parametrize("n", [1, 2, 3, 50])
def test_n_bounds_the_number_of_results(binary, knowledge_base, n):
    answer = query(binary, knowledge_base, "zebrafish", "--mode", "semantic", "-n", str(n))
    assert len(answer["results"]) == min(n, knowledge_base["total"])
    long = query(binary, knowledge_base, "zebrafish", "--mode", "semantic", "--n-results", str(n))
    assert [r["id"] for r in long["results"]] == [r["id"] for r in answer["results"]]


def test_default_returns_five_results(binary, knowledge_base):
    assert knowledge_base["total"] > 5
    answer = query(binary, knowledge_base, "zebrafish", "--mode", "semantic")
    assert len(answer["results"]) == 5


def test_technology_filters_the_results(binary, knowledge_base):
    everything = query(binary, knowledge_base, "zebrafish", "-n", "50")
    assert {r["technology"] for r in everything["results"]} == {"notes", "garden"}
    garden = query(binary, knowledge_base, "zebrafish", "--technology", "garden", "-n", "50")
    assert garden["results"], garden
    assert {r["technology"] for r in garden["results"]} == {"garden"}
    assert garden["results"][0]["source"] == str(knowledge_base["garden"] / "orchids.md")
    nothing = query(binary, knowledge_base, "zebrafish", "--technology", "no-such-label")
    assert nothing["results"] == []


def test_query_text_output_is_readable(binary, knowledge_base):
    kb = knowledge_base
    result = run(binary, "query", "zebrafish", "-n", "2", "--data-dir", str(kb["data"]), env=kb["env"])
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"1. {kb['docs'] / 'aquarium.md'} — Aquarium > Zebrafish  [notes, score ")
    assert lines[1].startswith("   ") and "zebrafish" in lines[1]
    assert sum(1 for line in lines if re.match(r"^\d+\. /", line)) == 2
    with pytest.raises(json.JSONDecodeError):
        json.loads(result.stdout)


def test_query_on_an_empty_knowledge_base_finds_nothing(binary, model_dir, tmp_path):
    env = clean_env(tmp_path, model_dir)
    data = tmp_path / "empty"
    answer, _ = run_json(binary, "query", "zebrafish", "--data-dir", str(data), env=env)
    assert answer["results"] == [] and answer["mode"] == "hybrid"
    text = run(binary, "query", "zebrafish", "--mode", "keyword", "--data-dir", str(data), env=env)
    assert text.returncode == 0
    assert text.stdout.startswith("No passages found (keyword search")


def test_query_without_a_model_answers_from_keywords_and_says_so(binary, knowledge_base):
    kb = knowledge_base
    missing = kb["tmp"] / "no-model"
    answer, result = run_json(binary, "query", "zebrafish", "--model-dir", str(missing),
                              "--data-dir", str(kb["data"]), env=kb["env"])
    assert answer["degraded"] is True and answer["mode"] == "keyword"
    assert str(missing) in answer["degraded_reason"]
    assert answer["results"][0]["source"] == str(kb["docs"] / "aquarium.md")
    text = run(binary, "query", "zebrafish", "--model-dir", str(missing), "--data-dir", str(kb["data"]), env=kb["env"])
    assert text.returncode == 0
    assert "warning: semantic search is unavailable" in text.stderr
    assert text.stdout.startswith("1. ")


@pytest.mark.parametrize("args, phrase", [
    ([""], "query is empty"),
    (["   "], "query is empty"),
    (["zebrafish", "-n", "0"], "n_results must be between 1 and 50; got 0"),
    (["zebrafish", "-n", "51"], "n_results must be between 1 and 50; got 51"),
    (["zebrafish", "--n-results=-3"], "n_results must be between 1 and 50; got -3"),
    (["zebrafish", "-n", "five"], "five"),
    (["zebrafish", "--mode", "fuzzy"], "provide one of 'hybrid', 'semantic' or 'keyword'"),
], ids=["empty", "blank", "n-0", "n-51", "n-negative", "n-not-a-number", "unknown-mode"])
def test_query_refuses_bad_input(binary, knowledge_base, tmp_path, args, phrase):
    kb = knowledge_base
    result = run(binary, "query", *args, "--json", "--data-dir", str(kb["data"]), env=kb["env"])
    assert_refused(result, phrase)
    # Refused before a knowledge base opens: none is made where there was none.
    fresh = tmp_path / "fresh"
    assert_refused(run(binary, "query", *args, "--json", "--data-dir", str(fresh), env=kb["env"]), phrase)
    assert not fresh.exists(), "a refused query created a knowledge base"


# --- settings refused at startup ---------------------------------------------------------------


@pytest.mark.parametrize("args", [["serve"], ["selftest"], ["query", "anything"]], ids=["serve", "selftest", "query"])
def test_an_unknown_log_level_in_the_environment_is_refused_as_the_flag_is(binary, model_dir, tmp_path, args):
    env = clean_env(tmp_path, model_dir)
    refused = run(binary, *args, env={**env, "MCP_RAG_LOG_LEVEL": "verbose"}, cwd=tmp_path)
    assert_refused(refused, "MCP_RAG_LOG_LEVEL=verbose is not a log level", "trace", "critical")
    assert_refused(run(binary, *args, "--log-level", "verbose", env=env, cwd=tmp_path), "--log-level")
    # Any case of a real level is fine, as for the flag.
    assert run(binary, "query", "anything", "--json", env={**env, "MCP_RAG_LOG_LEVEL": "Error"}, cwd=tmp_path).returncode == 0


@pytest.mark.parametrize("args", [["serve"], ["selftest"], ["query", "anything"], ["embed", "--text", "x"]],
                         ids=["serve", "selftest", "query", "embed"])
@pytest.mark.parametrize("value", ["", "  "], ids=["empty", "blank"])
def test_an_empty_data_dir_variable_is_refused_rather_than_the_default_folder_used(binary, model_dir, tmp_path, args, value):
    env = clean_env(tmp_path, model_dir)
    assert_refused(run(binary, *args, env={**env, "MCP_RAG_DATA_DIR": value}, cwd=tmp_path),
                   "MCP_RAG_DATA_DIR is set but empty")
    # Nothing went to the default folder (or a folder named by the blanks) instead.
    assert not (tmp_path / "home" / ".local" / "share" / "mcp-rag").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["home", "scratch"]


# --- config -----------------------------------------------------------------------------------


def config_env(tmp: Path) -> dict[str, str]:
    """`clean_env` without a data folder: `config` writes nothing, and pins the shell's data folder."""
    env = clean_env(tmp, None)
    del env["MCP_RAG_DATA_DIR"]
    return env


def config_entry(binary: str, env: dict[str, str], *args: str, cwd: Path | None = None) -> dict:
    result = run(binary, "config", *args, env=env, cwd=cwd)
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert list(document) == ["mcpServers"] and list(document["mcpServers"]) == ["mcp-rag"]
    return document["mcpServers"]["mcp-rag"]


@pytest.mark.parametrize("client", ["claude", "gemini"])
def test_config_names_this_binary_and_serve(binary, tmp_path, client):
    entry = config_entry(binary, config_env(tmp_path), client)
    command = entry["command"]
    assert os.path.isabs(command)
    assert os.path.isfile(command) and os.access(command, os.X_OK)
    assert command == os.path.realpath(binary)
    assert entry["args"] == ["serve"]
    assert "env" not in entry, "an entry without --allow-root must not allow any folder"
    if client == "gemini":
        assert entry["timeout"] >= 600_000  # ingesting a folder can take minutes
    else:
        assert "timeout" not in entry


@pytest.mark.parametrize("client", ["claude", "gemini"])
def test_config_command_resolves_a_symlinked_binary(binary, tmp_path, client):
    link = tmp_path / "bin" / "mcp-rag"
    link.parent.mkdir()
    link.symlink_to(os.path.realpath(binary))
    entry = config_entry(str(link), config_env(tmp_path), client)
    assert entry["command"] == os.path.realpath(binary)


@pytest.mark.parametrize("client", ["claude", "gemini"])
def test_config_allow_root_is_absolute_and_resolved(binary, tmp_path, client):
    notes = tmp_path / "notes"
    code = tmp_path / "work" / "code"
    notes.mkdir()
    code.mkdir(parents=True)
    # A relative path from another folder, and one with `..`.
    entry = config_entry(binary, config_env(tmp_path), client, "--allow-root", "notes",
                         "--allow-root", str(tmp_path / "work" / ".." / "work" / "code"), cwd=tmp_path)
    assert entry["args"] == ["serve"]
    roots = entry["env"]["MCP_RAG_ALLOWED_ROOTS"].split(":")
    assert roots == [str(notes.resolve()), str(code.resolve())]
    assert list(entry["env"]) == ["MCP_RAG_ALLOWED_ROOTS"]


def test_config_allow_root_through_a_symlink_names_the_folder_meant(binary, tmp_path):
    """`link/..` is the link target's parent, not the folder holding the link."""
    target = tmp_path / "elsewhere" / "deep"
    (tmp_path / "elsewhere" / "notes").mkdir(parents=True)
    target.mkdir()
    (tmp_path / "link").symlink_to(target)
    (tmp_path / "notes").mkdir()  # the folder a lexical `..` would wrongly land on
    given = [tmp_path / "link" / ".." / "notes", tmp_path / "link"]
    entry = config_entry(binary, config_env(tmp_path), "claude",
                         "--allow-root", str(given[0]), "--allow-root", str(given[1]))
    roots = entry["env"]["MCP_RAG_ALLOWED_ROOTS"].split(":")
    assert len(roots) == 2 and all(os.path.isabs(root) for root in roots)
    assert roots[0] == str(tmp_path / "elsewhere" / "notes")
    # The server resolves each root when it starts, so a link may stay a link; it must name the same folder.
    assert os.path.realpath(roots[1]) == str(target)


def test_config_data_dir_is_pinned_in_the_entry(binary, tmp_path):
    entry = config_entry(binary, config_env(tmp_path), "gemini", "--data-dir", "kb", cwd=tmp_path)
    assert entry["env"] == {"MCP_RAG_DATA_DIR": str(tmp_path / "kb")}


def test_config_watch_asks_the_server_to_keep_the_folders_in_sync(binary, tmp_path):
    entry = config_entry(binary, config_env(tmp_path), "claude", "--watch")
    assert entry["args"] == ["serve", "--watch"]
    refused = run(binary, "config", "claude", "--watch", "--http", "http://10.0.0.5:8765/mcp", env=clean_env(tmp_path, None))
    assert refused.returncode != 0 and "--watch are the server's settings" in refused.stderr


@pytest.mark.parametrize("variable", ["MCP_RAG_READ_ONLY", "MCP_RAG_WATCH"])
def test_a_yes_no_variable_that_is_neither_is_an_error_naming_it(binary, tmp_path, variable):
    result = subprocess.run([binary, "serve"], input="", capture_output=True, text=True, timeout=30,
                            env={**clean_env(tmp_path, None), variable: "maybe"})
    assert result.returncode != 0 and result.stdout == ""
    assert f"{variable}=maybe must be 1 or 0 (true or false" in result.stderr
    # on and off are yes and no, as elsewhere.
    accepted = subprocess.run([binary, "serve"], input="", capture_output=True, text=True, timeout=60,
                              env={**clean_env(tmp_path, None), variable: "on"})
    assert accepted.returncode == 0, accepted.stderr


def test_embed_reads_the_thread_count_the_server_reads(binary, model_dir, tmp_path):
    bad = run(binary, "embed", "--text", "hi", env={**clean_env(tmp_path, model_dir), "MCP_RAG_THREADS": "abc"})
    assert bad.returncode != 0 and "MCP_RAG_THREADS=abc is not a whole number between 1 and 1024" in bad.stderr
    good = run(binary, "embed", "--text", "hi", env={**clean_env(tmp_path, model_dir), "MCP_RAG_THREADS": "1"})
    assert good.returncode == 0 and json.loads(good.stdout)["input_ids"], good.stderr


@pytest.mark.parametrize("client", ["claude", "gemini"])
def test_config_carries_the_model_chosen_here_and_never_the_key(binary, tmp_path, client):
    """A client starts the server with its own environment: an entry without this shell's model
    would serve a knowledge base built with bge on MiniLM, by keywords alone."""
    key = "sk-" + "k" * 40
    env = {**config_env(tmp_path), "MCP_RAG_MODEL": "BAAI/bge-small-en-v1.5", "HF_HOME": "hf",
           "MCP_RAG_EMBEDDINGS_URL": "http://127.0.0.1:9/v1", "MCP_RAG_EMBEDDINGS_MODEL": "e5",
           "MCP_RAG_EMBEDDINGS_KEY": key}
    result = subprocess.run([binary, "config", client], env=env, capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    carried = json.loads(result.stdout)["mcpServers"]["mcp-rag"]["env"]
    assert carried == {"MCP_RAG_MODEL": "BAAI/bge-small-en-v1.5", "HF_HOME": str(tmp_path / "hf"),
                       "MCP_RAG_EMBEDDINGS_URL": "http://127.0.0.1:9/v1", "MCP_RAG_EMBEDDINGS_MODEL": "e5",
                       "MCP_RAG_EMBEDDINGS_KEY": "${MCP_RAG_EMBEDDINGS_KEY}" if client == "gemini" else "<KEY>"}
    assert key not in result.stdout + result.stderr
    assert "MCP_RAG_MODEL" in result.stderr and ("<KEY>" in result.stderr) == (client == "claude")
    # A model of the data folder's models/, named by its folder: the entry names the folder itself,
    # as the client's server has its own data folder.
    folder = tmp_path / "data" / "models" / "my-tune"
    folder.mkdir(parents=True)
    (folder / "config.json").write_text("{}")
    local = subprocess.run([binary, "config", client], capture_output=True, text=True, timeout=60, cwd=tmp_path,
                           env={**clean_env(tmp_path, None), "MCP_RAG_DATA_DIR": str(tmp_path / "data"), "MCP_RAG_MODEL": "my-tune"})
    assert local.returncode == 0, local.stderr
    assert json.loads(local.stdout)["mcpServers"]["mcp-rag"]["env"] == {
        "MCP_RAG_MODEL_DIR": str(folder), "MCP_RAG_DATA_DIR": str(tmp_path / "data")}


def test_config_pins_the_data_folder_this_shell_uses(binary, tmp_path):
    """A knowledge base kept in MCP_RAG_DATA_DIR: the assistant's server must open that one, not an
    empty default folder. --data-dir names another."""
    env = {**config_env(tmp_path), "MCP_RAG_DATA_DIR": "kb"}
    assert config_entry(binary, env, "claude", cwd=tmp_path)["env"] == {"MCP_RAG_DATA_DIR": str(tmp_path / "kb")}
    assert config_entry(binary, env, "gemini", "--data-dir", "other", cwd=tmp_path)["env"] == {
        "MCP_RAG_DATA_DIR": str(tmp_path / "other")}
    # A model named by its folder is found in the data folder the entry pins, as its server would.
    for folder in ("kb", "other"):
        (tmp_path / folder / "models" / "tune").mkdir(parents=True)
        (tmp_path / folder / "models" / "tune" / "config.json").write_text("{}")
    pinned = config_entry(binary, {**env, "MCP_RAG_MODEL": "tune"}, "claude", "--data-dir", "other", cwd=tmp_path)["env"]
    assert pinned["MCP_RAG_MODEL_DIR"] == str(tmp_path / "other" / "models" / "tune"), pinned
    blank = config_entry(binary, {**config_env(tmp_path), "MCP_RAG_DATA_DIR": "  "}, "claude", cwd=tmp_path)
    assert "env" not in blank, "a blank folder is none (the server refuses it)"


def test_config_says_where_to_merge_it_on_stderr(binary, tmp_path):
    result = run(binary, "config", "gemini", env=clean_env(tmp_path, None))
    assert result.returncode == 0
    assert "settings.json" in result.stderr
    assert "settings.json" not in result.stdout


@pytest.mark.parametrize("args", [["codex"], [], ["Claude"]], ids=["unknown", "missing", "wrong-case"])
def test_config_refuses_an_unknown_client(binary, tmp_path, args):
    result = run(binary, "config", *args, env=clean_env(tmp_path, None))
    assert result.returncode == 64, result.stderr
    assert result.stdout == ""
    assert "claude" in result.stderr and "gemini" in result.stderr
