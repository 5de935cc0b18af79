"""`mcp-rag eval` on a tiny BEIR folder built here: the report, its agreement with the rankings it
wrote, a kept store, and the refusals."""

from __future__ import annotations

import json
import math
import sqlite3
from pathlib import Path

import pytest

from test_cli import assert_refused, clean_env, run, run_json

# Ten short documents on unrelated subjects, and one long enough (well over the model's 256-token
# window) to be split, whose answer is only in its last part.
DOCUMENTS = {
    "bees": ("Honeybee dances", "Forager honeybees perform a waggle dance inside the hive; the angle and duration of the "
             "dance tell nestmates the direction and distance of a patch of flowers."),
    "tides": ("Ocean tides", "Tides are the rise and fall of sea levels caused by the gravitational pull of the Moon "
              "and the Sun acting on the rotating Earth."),
    "mercury": ("Mercury", "Mercury is the only metal that is liquid at standard room temperature and pressure; it "
                "was used in thermometers and barometers."),
    "volcano": ("Volcanoes", "A volcano is a rupture in the crust through which lava, ash and gases escape from a "
                "magma chamber below the surface."),
    "bread": ("Sourdough", "Sourdough bread rises through the fermentation of wild yeast and lactic acid bacteria, "
              "which give it a sour taste."),
    "chess": ("Chess openings", "The Sicilian Defence is a chess opening that begins with the moves e4 c5 and leads "
              "to sharp, asymmetrical positions."),
    "vaccine": ("Vaccines", "Vaccines train the immune system by exposing it to a harmless form of a pathogen, so "
                "that antibodies are ready when the real infection comes."),
    "glacier": ("Glaciers", "Glaciers form where snow accumulates faster than it melts and is compressed into dense "
                "ice that slowly flows downhill under its own weight."),
    "violin": ("Violins", "A violin has four strings tuned in perfect fifths and is played with a bow strung with "
               "horsehair."),
    "empty": ("", ""),
}
FILLER = ("The early history of two-wheeled transport is told in many museums, with drawings, patents and letters "
          "from the workshops of the nineteenth century. ")
DOCUMENTS["bicycle"] = ("History of the bicycle", FILLER * 14 + "The penny-farthing had a huge front wheel because the "
                        "pedals drove that wheel directly, so a larger wheel covered more ground per turn of the pedals.")

QUERIES = {
    "q-bees": "How do honeybees tell each other where flowers are?",
    "q-tides": "What causes the tides of the sea?",
    "q-mercury": "Which metal is liquid at room temperature?",
    "q-bicycle": "Why did the penny-farthing have such a huge front wheel?",
    "q-unjudged": "a query without judgements is not run",
}
QRELS = [("q-bees", "bees", 1), ("q-tides", "tides", 2), ("q-tides", "glacier", 0), ("q-mercury", "mercury", 1),
         ("q-bicycle", "bicycle", 1)]
MODES = ["hybrid", "semantic", "keyword"]


def write_dataset(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "corpus.jsonl").open("w", encoding="utf-8") as corpus:
        for doc_id, (title, text) in DOCUMENTS.items():
            corpus.write(json.dumps({"_id": doc_id, "title": title, "text": text}) + "\n")
    with (folder / "queries.jsonl").open("w", encoding="utf-8") as queries:
        for query_id, text in QUERIES.items():
            # A label beside the text, as SciFact has: it must not be read.
            queries.write(json.dumps({"_id": query_id, "text": text, "metadata": {"bicycle": "SUPPORT"}}) + "\n")
    (folder / "qrels").mkdir(exist_ok=True)
    (folder / "qrels" / "test.tsv").write_text(
        "query-id\tcorpus-id\tscore\n" + "".join(f"{q}\t{d}\t{s}\n" for q, d, s in QRELS), encoding="utf-8")
    return folder


def read_run(path: Path) -> dict[str, list[tuple[str, int, float]]]:
    run_lines: dict[str, list[tuple[str, int, float]]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        query, q0, doc, rank, score, tag = line.split(" ")
        assert q0 == "Q0" and tag == f"mcp-rag-{path.stem}", line
        run_lines.setdefault(query, []).append((doc, int(rank), float(score)))
    return run_lines


def metrics(ranking: list[str], judged: dict[str, int]) -> dict[str, float]:
    """nDCG@10 (linear gain), Recall@10/@100 and MRR@10, written out from trec_eval's definitions."""
    gains = [judged.get(doc, 0) for doc in ranking]
    dcg = sum(g / math.log2(i + 2) for i, g in enumerate(gains[:10]))
    ideal = sorted(judged.values(), reverse=True)[:10]
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    relevant = {doc for doc, grade in judged.items() if grade > 0}
    first = next((i for i, doc in enumerate(ranking[:10]) if doc in relevant), None)
    return {"ndcg@10": dcg / idcg, "recall@10": len(relevant & set(ranking[:10])) / len(relevant),
            "recall@100": len(relevant & set(ranking[:100])) / len(relevant),
            "mrr@10": 0.0 if first is None else 1 / (first + 1)}


@pytest.fixture(scope="module")
def evaluated(binary, model_dir, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("eval")
    dataset = write_dataset(tmp / "tiny")
    env = clean_env(tmp, model_dir)
    report, _ = run_json(binary, "eval", str(dataset), "--data-dir", str(tmp / "kept"), "--runs", str(tmp / "runs"),
                         env=env, timeout=180)
    return report, tmp, dataset, env


def test_report_covers_every_mode_and_the_judged_queries(evaluated):
    report, _, _, _ = evaluated
    assert [mode["mode"] for mode in report["modes"]] == MODES
    assert report["queries"] == 4 and report["dataset"] == "tiny" and report["split"] == "test"
    ingest = report["ingest"]
    # The model that ran, by name and by what its files compute.
    assert ingest["model"].endswith("all-MiniLM-L6-v2") and len(ingest["model_fingerprint"]) == 16
    assert ingest["documents"] == len(DOCUMENTS)
    assert ingest["documents_empty"] == 1 and ingest["documents_written"] == len(DOCUMENTS) - 1
    # The long document is split; every other one is a single chunk.
    assert ingest["chunks"] > len(DOCUMENTS) - 1
    assert ingest["chunks_embedded"] == ingest["chunks"]
    for mode in report["modes"]:
        assert mode["scores"]["queries"] == 4
        assert mode["seconds"] > 0 and mode["p50_ms"] > 0


def test_easy_queries_find_their_document_first(evaluated):
    report, _, _, _ = evaluated
    for mode in report["modes"]:
        # Including the long document, whose answer lies only in a later chunk.
        assert mode["scores"]["mrr@10"] == 1.0, mode
        assert mode["scores"]["recall@100"] == 1.0, mode


def test_scores_agree_with_the_rankings_written_as_trec_runs(evaluated):
    report, tmp, _, _ = evaluated
    judgements: dict[str, dict[str, int]] = {}
    for query, doc, grade in QRELS:
        judgements.setdefault(query, {})[doc] = grade
    for mode in report["modes"]:
        run_lines = read_run(tmp / "runs" / f"{mode['mode']}.trec")
        assert set(run_lines) == set(judgements), "exactly the judged queries are run"
        sums = dict.fromkeys(mode["scores"].keys() - {"queries"}, 0.0)
        for query, lines in run_lines.items():
            docs = [doc for doc, _, _ in lines]
            # Chunks of one document collapse into one entry; ranks count from 1; best first.
            assert len(docs) == len(set(docs)), (mode["mode"], query, docs)
            assert [rank for _, rank, _ in lines] == list(range(1, len(lines) + 1))
            scores = [score for _, _, score in lines]
            assert scores == sorted(scores, reverse=True)
            assert set(docs) <= set(DOCUMENTS) - {"empty"}
            for name, value in metrics(docs, judgements[query]).items():
                sums[name] += value
        for name, total in sums.items():
            assert mode["scores"][name] == pytest.approx(total / len(judgements), abs=1e-9), (mode["mode"], name)


def test_a_kept_store_is_reused_without_embedding_again(evaluated, binary):
    report, tmp, dataset, env = evaluated
    again, _ = run_json(binary, "eval", str(dataset), "--data-dir", str(tmp / "kept"), "--mode", "semantic",
                        env=env, timeout=180)
    assert again["ingest"]["documents_unchanged"] == len(DOCUMENTS) - 1
    assert again["ingest"]["chunks_embedded"] == 0
    assert again["ingest"]["chunks"] == report["ingest"]["chunks"]
    assert [mode["mode"] for mode in again["modes"]] == ["semantic"]
    semantic = next(mode for mode in report["modes"] if mode["mode"] == "semantic")
    assert again["modes"][0]["scores"] == semantic["scores"]


def test_a_process_that_never_ingested_scores_the_same_through_chroma(evaluated, binary, tmp_path):
    """The kept store sent to a real Chroma (its vectors, no embedding), then every query asked of an
    empty data folder that copies the collection: the scores of the embedded store, in every mode."""
    import os
    import shutil
    import uuid

    from mcp_support import drop_chroma_collection
    report, tmp, dataset, env = evaluated
    kept = tmp_path / "kept"
    shutil.copytree(tmp / "kept", kept)
    collection = f"eval-{uuid.uuid4().hex[:8]}"
    shared = {**env, "CHROMA_URL": os.environ["MCP_RAG_TEST_CHROMA_URL"], "CHROMA_COLLECTION": collection}
    try:
        through, _ = run_json(binary, "eval", str(dataset), "--data-dir", str(kept), "--through-chroma",
                              env=shared, timeout=180)
    finally:
        drop_chroma_collection(os.environ["MCP_RAG_TEST_CHROMA_URL"], collection)
    assert through["searched"].startswith("in Chroma") and report["searched"] == "in the embedded store"
    assert through["ingest"]["chunks_embedded"] == 0, "the kept vectors are sent, not computed again"
    embedded = {mode["mode"]: mode["scores"] for mode in report["modes"]}
    for mode in through["modes"]:
        for name in ("ndcg@10", "recall@10", "mrr@10"):
            assert abs(mode["scores"][name] - embedded[mode["mode"]][name]) <= 0.005, (mode["mode"], name)
        assert mode["p99_ms"] >= mode["p50_ms"] > 0


def test_through_chroma_without_a_collection_of_its_own_is_refused(evaluated, binary):
    import os
    _, tmp, dataset, env = evaluated
    assert_refused(run(binary, "eval", str(dataset), "--through-chroma", env=env, timeout=60), "CHROMA_URL")
    # Never the default collection, which may be someone's knowledge base.
    shared = {**env, "CHROMA_URL": os.environ["MCP_RAG_TEST_CHROMA_URL"]}
    assert_refused(run(binary, "eval", str(dataset), "--through-chroma", env=shared, timeout=60), "CHROMA_COLLECTION")


def test_through_chroma_into_a_collection_holding_other_sources_is_refused_and_writes_nothing(
        evaluated, binary, tmp_path):
    import os
    import uuid

    from mcp_support import drop_chroma_collection, passages_collection
    _, _, dataset, env = evaluated
    url, collection = os.environ["MCP_RAG_TEST_CHROMA_URL"], f"real-{uuid.uuid4().hex[:8]}"
    shared = {**env, "CHROMA_URL": url, "CHROMA_COLLECTION": collection}
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "mine.md").write_text("# Mine\n\nA note that must survive.\n", encoding="utf-8")
    try:
        ingested = run(binary, "ingest", str(notes), "--technology", "notes", "--data-dir", str(tmp_path / "real"),
                       env=shared, timeout=120)
        assert ingested.returncode == 0, ingested.stderr
        before = passages_collection(url, collection).count()
        result = run(binary, "eval", str(dataset), "--through-chroma", env=shared, timeout=120)
        assert_refused(result, "not documents of this dataset", "mine.md", "CHROMA_COLLECTION")
        assert passages_collection(url, collection).count() == before
    finally:
        drop_chroma_collection(url, collection)


def test_the_text_report_is_a_table(evaluated, binary):
    _, tmp, dataset, env = evaluated
    result = run(binary, "eval", str(dataset), "--data-dir", str(tmp / "kept"), env=env, timeout=180)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("mcp-rag eval — tiny (test): 11 documents")
    header = next(i for i, line in enumerate(lines) if line.startswith("mode"))
    assert "nDCG@10" in lines[header] and "MRR@10" in lines[header]
    assert [line.split()[0] for line in lines[header + 1:]] == MODES


def test_a_store_holding_other_sources_is_refused_and_left_alone(evaluated, binary, tmp_path):
    _, _, dataset, env = evaluated
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "mine.md").write_text("# Mine\n\nA note that must survive.\n", encoding="utf-8")
    data = tmp_path / "real-kb"
    ingested = run(binary, "ingest", str(notes), "--technology", "notes", "--data-dir", str(data), env=env, timeout=120)
    assert ingested.returncode == 0, ingested.stderr
    result = run(binary, "eval", str(dataset), "--data-dir", str(data), env=env, timeout=120)
    assert_refused(result, "not documents of this dataset", "mine.md")
    with sqlite3.connect(data / "knowledge.sqlite3") as db:
        assert db.execute("SELECT source FROM sources").fetchall() == [(str(notes / "mine.md"),)]
        assert db.execute("SELECT count(*) FROM chunks").fetchone()[0] >= 1


def test_a_folder_without_the_beir_files_is_a_clear_error(binary, model_dir, tmp_path):
    env = clean_env(tmp_path, model_dir)
    (tmp_path / "empty").mkdir()
    assert_refused(run(binary, "eval", str(tmp_path / "empty"), env=env), "qrels/test.tsv")
    broken = write_dataset(tmp_path / "broken")
    with (broken / "corpus.jsonl").open("a", encoding="utf-8") as corpus:
        corpus.write("{not json\n")
    assert_refused(run(binary, "eval", str(broken), env=env), f"corpus.jsonl:{len(DOCUMENTS) + 1}")
    assert not any((tmp_path / "scratch").iterdir()), "no temporary store is left behind"


def test_truncate_indexes_each_document_whole(evaluated, binary, tmp_path):
    chunked, _, dataset, env = evaluated
    report, _ = run_json(binary, "eval", str(dataset), "--truncate", "--data-dir", str(tmp_path / "whole"),
                         env=env, timeout=180)
    assert report["passages"] == "whole documents, truncated by the model"
    assert report["ingest"]["chunks"] == len(DOCUMENTS) - 1 < chunked["ingest"]["chunks"]
    keyword = next(mode for mode in report["modes"] if mode["mode"] == "keyword")
    # The keyword index holds all of a long document, past what the model reads.
    assert keyword["scores"]["mrr@10"] == 1.0
