"""mcp-rag beside sentence-transformers on full-size BERT models with random weights, in one run.

The published weights of bge-small, e5-base and their kind cannot be downloaded on the machines this
project runs on, and speed does not depend on the weights' values: this script makes models of the
same shapes with random weights (seeded), writes them as sentence-transformers folders outside git,
and measures both engines on them:

- bge-small shape: BERT, 12 layers, 384 wide, 12 heads, 1536 intermediate, CLS pooling, normalised;
- base shape: BERT, 12 layers, 768 wide, 12 heads, 3072 intermediate, mean pooling, normalised.

For each: sentences per second at 32 and 240 tokens in batches of 32, and one query's latency
(p50), from `mcp-rag bench --json` and from sentence-transformers' `encode` (PyTorch, fp32, the same
thread count) on the same model folder, measured in turn `--rounds` times (the best of each kept),
then the ratios. The vectors agree too: both embed the same
texts and the lowest cosine is reported (it must be ≥ 0.99999).

all-MiniLM-L6-v2 itself (the folder `--model-dir` names) is measured on real text: SciFact passages
(`--dataset`) cut to exactly 32 and 240 word pieces, through `mcp-rag embed --batch-size 32` (its
whole process, less the same process's time with nothing to embed: start and model load) beside
sentence-transformers' `encode` of the same texts in batches of 32. mcp-rag's figure also pays for
writing every vector as JSON text, which `encode` does not: a few percent at 32 tokens.

Needs PyTorch and sentence-transformers in a virtual environment of their own (as
tools/make_settings_fixtures.py):

    python3 -m venv .venv-fixtures
    .venv-fixtures/bin/pip install -r tools/requirements-fixtures.txt
    .venv-fixtures/bin/python tools/bench_models.py --binary .build/release/mcp-rag --model-dir MINILM_DIR
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import torch
from sentence_transformers import SentenceTransformer, models
from transformers import AutoTokenizer, BertConfig, BertModel, BertTokenizerFast

ROOT = Path(__file__).resolve().parents[1]
SHAPES = {
    "bge-small-shape": {"hidden": 384, "layers": 12, "heads": 12, "intermediate": 1536, "pooling": "cls"},
    "base-shape": {"hidden": 768, "layers": 12, "heads": 12, "intermediate": 3072, "pooling": "mean"},
}
QUERY = "How do I configure the connection pool timeout for Redis?"


def make_model(shape: dict, tokenizer_dir: Path, folder: Path) -> None:
    """A sentence-transformers folder with a random BERT of `shape` and MiniLM's WordPiece tokenizer."""
    torch.manual_seed(20261206)
    config = BertConfig(vocab_size=30522, hidden_size=shape["hidden"], num_hidden_layers=shape["layers"],
                        num_attention_heads=shape["heads"], intermediate_size=shape["intermediate"],
                        max_position_embeddings=512, hidden_act="gelu")
    scratch = folder.with_name(folder.name + ".transformer")
    shutil.rmtree(scratch, ignore_errors=True)
    BertModel(config).save_pretrained(scratch, safe_serialization=True)
    BertTokenizerFast.from_pretrained(str(tokenizer_dir)).save_pretrained(scratch)
    transformer = models.Transformer(str(scratch), max_seq_length=256)
    pooling = models.Pooling(shape["hidden"], pooling_mode=shape["pooling"])
    SentenceTransformer(modules=[transformer, pooling, models.Normalize()], device="cpu").save(
        str(folder), safe_serialization=True)
    shutil.rmtree(scratch)


def texts_of_length(tokenizer, tokens: int, count: int) -> list[str]:
    """`count` distinct texts of exactly `tokens` word pieces, [CLS] and [SEP] included."""
    words = ("the pool keeps every connection open until the timeout passes and then closes it so that "
             "a burst of requests finds one ready while an idle service holds nothing it does not need").split()
    texts = []
    for index in range(count):
        pieces: list[int] = []
        n = index
        while len(pieces) < tokens - 2:
            pieces += tokenizer.encode(words[n % len(words)] + f" {n % 97}", add_special_tokens=False)
            n += 7
        texts.append(tokenizer.decode(pieces[:tokens - 2]))
    assert all(len(tokenizer.encode(text)) == tokens for text in texts), "texts of the wrong length"
    return texts


def scifact_texts(tokenizer, dataset: Path, tokens: int, count: int = 256) -> list[str]:
    """The first `count` SciFact passages (title and abstract) cut to exactly `tokens` word pieces."""
    texts = []
    with open(dataset / "corpus.jsonl", encoding="utf-8") as corpus:
        for line in corpus:
            document = json.loads(line)
            pieces = tokenizer.encode(f"{document['title']} {document['text']}", add_special_tokens=False)
            if len(pieces) < tokens - 2:
                continue
            text = tokenizer.decode(pieces[:tokens - 2])
            if len(tokenizer.encode(text)) == tokens:  # a cut inside a word can tokenise differently
                texts.append(text)
                if len(texts) == count:
                    return texts
    raise SystemExit(f"{dataset} has fewer than {count} passages of {tokens} word pieces")


def sentence_transformers_figures(folder: Path, seconds: float, dataset: Path | None = None,
                                  query: bool = True) -> dict:
    """Sentences/s at 32 and 240 tokens (SciFact's passages when `dataset` is given, else made-up
    texts) and, when `query`, one query's p50."""
    model = SentenceTransformer(str(folder), device="cpu")
    tokenizer = model.tokenizer
    figures = {}
    for tokens in (32, 240):
        texts = (scifact_texts(tokenizer, dataset, tokens) if dataset else texts_of_length(tokenizer, tokens, 256))
        model.encode(texts[:32], batch_size=32)
        best = 0.0
        for _ in range(3):
            done, start = 0, time.perf_counter()
            while time.perf_counter() - start < seconds / 3:
                model.encode(texts[(done % 256):(done % 256) + 32], batch_size=32)
                done += 32
            best = max(best, done / (time.perf_counter() - start))
        figures[f"sentences_per_second_{tokens}"] = best
    if not query:
        return figures
    for _ in range(10):
        model.encode([QUERY])
    latencies = []
    for _ in range(100):
        start = time.perf_counter()
        model.encode([QUERY])
        latencies.append((time.perf_counter() - start) * 1000)
    figures["query_p50_ms"] = float(np.percentile(latencies, 50))
    return figures


def mcp_rag_figures(binary: str, folder: Path, threads: int, seconds: float) -> dict:
    result = subprocess.run([binary, "bench", "--json", "--model-dir", str(folder), "--threads", str(threads),
                             "--seconds", str(seconds)], capture_output=True, text=True, timeout=1800)
    if result.returncode != 0:
        raise SystemExit(f"mcp-rag bench failed on {folder}: {result.stderr}")
    report = json.loads(result.stdout)
    figures = {f"sentences_per_second_{row['tokensPerText']}": row["sentencesPerSecond"] for row in report["throughput"]}
    figures["query_p50_ms"] = report["singleQueryP50Milliseconds"]
    figures["sgemm_gflops"] = report["gemmGFLOPS"]
    return figures


def mcp_rag_embed_figures(binary: str, folder: Path, threads: int, seconds: float, dataset: Path) -> dict:
    """Sentences/s of `mcp-rag embed --batch-size 32` on the SciFact texts sentence-transformers gets:
    the process's wall time, less its time with no text (start and model load), the best of three."""
    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    command = [binary, "embed", "--model-dir", str(folder), "--threads", str(threads), "--batch-size", "32"]

    def wall(texts: list[str]) -> float:
        start = time.perf_counter()
        result = subprocess.run(command, input="".join(json.dumps(text) + "\n" for text in texts),
                                capture_output=True, text=True, timeout=1800)
        elapsed = time.perf_counter() - start
        if result.returncode != 0 or result.stdout.count("\n") != len(texts):
            raise SystemExit(f"mcp-rag embed failed on {folder}: {result.stderr}")
        return elapsed

    start_and_load = min(wall([]) for _ in range(3))
    figures = {}
    for tokens in (32, 240):
        texts = scifact_texts(tokenizer, dataset, tokens)
        per_text = max(1e-6, (wall(texts) - start_and_load) / len(texts))  # a noisy start could exceed it
        repeats = max(1, round(seconds / 3 / per_text / len(texts)))  # each trial about a third of `seconds`
        batch = texts * repeats
        figures[f"sentences_per_second_{tokens}"] = max(
            len(batch) / (wall(batch) - start_and_load) for _ in range(3))
    return figures


def lowest_cosine(binary: str, folder: Path, threads: int) -> float:
    """Both engines embed the same texts (1 to 240 tokens); the lowest cosine between their vectors."""
    model = SentenceTransformer(str(folder), device="cpu")
    texts = [QUERY] + [text for tokens in (8, 64, 240) for text in texts_of_length(model.tokenizer, tokens, 4)]
    theirs = model.encode(texts, batch_size=8, convert_to_numpy=True)
    result = subprocess.run([binary, "embed", "--model-dir", str(folder), "--threads", str(threads)],
                            input="\n".join(json.dumps(text) for text in texts), capture_output=True, text=True,
                            timeout=600)
    if result.returncode != 0:
        raise SystemExit(f"mcp-rag embed failed on {folder}: {result.stderr}")
    ours = np.array([json.loads(line)["embedding"] for line in result.stdout.splitlines()])
    cosines = (ours * theirs).sum(axis=1) / (np.linalg.norm(ours, axis=1) * np.linalg.norm(theirs, axis=1))
    return float(cosines.min())


def best(rounds: list[dict]) -> dict:
    """Each figure's best over the rounds: the highest rate, the lowest latency."""
    return {key: (min if key.endswith("_ms") else max)(figures[key] for figures in rounds) for key in rounds[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", default=str(ROOT / ".build" / "release" / "mcp-rag"))
    parser.add_argument("--model-dir", required=True, help="all-MiniLM-L6-v2's folder, for its tokenizer")
    parser.add_argument("--models", default=str(ROOT / ".build" / "bench-models"),
                        help="where the random models are written (outside git; made once)")
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--seconds", type=float, default=6, help="seconds per throughput figure, per engine")
    parser.add_argument("--rounds", type=int, default=2,
                        help="measurements of each engine, taken in turn; the best of each is kept (other tenants "
                             "of a shared host only ever slow a run down)")
    parser.add_argument("--dataset", default=str(ROOT.parent / "shared" / "datasets" / "scifact"),
                        help="SciFact's folder, for all-MiniLM-L6-v2 on real passages (skipped when missing)")
    parser.add_argument("--only", choices=("shapes", "minilm"),
                        help="measure only the random models' shapes, or only all-MiniLM-L6-v2 on SciFact")
    parser.add_argument("--json", help="also write the figures to this file")
    arguments = parser.parse_args()
    torch.set_num_threads(arguments.threads)
    results = {}
    for name, shape in (SHAPES.items() if arguments.only != "minilm" else []):
        folder = Path(arguments.models) / name
        if not (folder / "model.safetensors").exists():
            print(f"making {name} in {folder}", flush=True)
            make_model(shape, Path(arguments.model_dir), folder)
        rounds = [(mcp_rag_figures(arguments.binary, folder, arguments.threads, arguments.seconds),
                   sentence_transformers_figures(folder, arguments.seconds)) for _ in range(arguments.rounds)]
        ours, theirs = best([ours for ours, _ in rounds]), best([theirs for _, theirs in rounds])
        results[name] = {"mcp_rag": ours, "sentence_transformers": theirs, "rounds": rounds,
                         "lowest_cosine": lowest_cosine(arguments.binary, folder, arguments.threads)}
    dataset = Path(arguments.dataset)
    if arguments.only != "shapes" and not (dataset / "corpus.jsonl").exists():
        if arguments.only == "minilm":
            raise SystemExit(f"no SciFact in {dataset} (corpus.jsonl): give its folder with --dataset")
        print(f"no SciFact in {dataset}: all-MiniLM-L6-v2 on real passages skipped", flush=True)
    elif arguments.only != "shapes":
        folder = Path(arguments.model_dir)
        rounds = [(mcp_rag_embed_figures(arguments.binary, folder, arguments.threads, arguments.seconds, dataset),
                   sentence_transformers_figures(folder, arguments.seconds, dataset, query=False))
                  for _ in range(arguments.rounds)]
        results["all-MiniLM-L6-v2, SciFact passages"] = {
            "mcp_rag": best([ours for ours, _ in rounds]), "sentence_transformers": best([theirs for _, theirs in rounds]),
            "rounds": rounds, "lowest_cosine": lowest_cosine(arguments.binary, folder, arguments.threads)}
    print(f"\n{arguments.threads} threads, torch {torch.__version__}\n")
    print("| model | figure | mcp-rag | sentence-transformers | ratio |")
    print("| --- | --- | ---: | ---: | ---: |")
    for name, result in results.items():
        ours, theirs = result["mcp_rag"], result["sentence_transformers"]
        for tokens in (32, 240):
            key = f"sentences_per_second_{tokens}"
            print(f"| {name} | {tokens} tokens, batch 32 (sentences/s) | {ours[key]:.1f} | {theirs[key]:.1f} | "
                  f"{ours[key] / theirs[key]:.2f}× |")
        if "query_p50_ms" in ours:
            print(f"| {name} | one query, p50 (ms) | {ours['query_p50_ms']:.2f} | {theirs['query_p50_ms']:.2f} | "
                  f"{theirs['query_p50_ms'] / ours['query_p50_ms']:.2f}× |")
        print(f"| {name} | lowest cosine, mcp-rag against sentence-transformers | {result['lowest_cosine']:.7f} | | |")
    if arguments.json:
        Path(arguments.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
