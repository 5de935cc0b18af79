"""On the GPU machine: the golden texts through mcp-rag's GPU and CPU paths and through
sentence-transformers on the same GPU, all with the same fp16 weights; prints one JSON report.

    python compare.py BUNDLE_DIR OUT_DIR
"""

import json
import os
import subprocess
import sys
import time


def embed(binary: str, model: str, device: str, texts: list[str]) -> list[list[float]]:
    lines = "".join(json.dumps(text) + "\n" for text in texts)
    run = subprocess.run([binary, "embed", "--device", device, "--model-dir", model, "--batch-size", "64"],
                         input=lines, capture_output=True, text=True, timeout=600)
    if run.returncode != 0:
        raise RuntimeError(f"mcp-rag embed --device {device}: {run.stderr.strip()}")
    return [json.loads(line)["embedding"] for line in run.stdout.splitlines()]


def cosine(a, b) -> float:
    dot = sum(x * y for x, y in zip(a, b))
    return dot / ((sum(x * x for x in a) ** 0.5) * (sum(y * y for y in b) ** 0.5))


def main(bundle: str, out: str) -> None:
    binary, model = os.path.join(bundle, "mcp-rag"), os.path.join(bundle, "model")
    golden = [json.loads(line) for line in open(os.path.join(bundle, "golden.jsonl"), encoding="utf-8")]
    texts = [case["text"] for case in golden]
    report = {}
    cpu = embed(binary, model, "cpu", texts)
    try:
        gpu = embed(binary, model, "cuda", texts)
        cosines = [cosine(g, c) for g, c in zip(gpu, cpu)]
        report["gpu_vs_cpu"] = {"texts": len(texts), "min_cosine": min(cosines),
                                "max_abs_difference": max(abs(x - y) for g, c in zip(gpu, cpu) for x, y in zip(g, c)),
                                "passes": min(cosines) >= 0.99999}
    except RuntimeError as error:
        report["gpu_vs_cpu"] = {"error": str(error)}
    # fp16 weights move the vectors away from the fp32 golden ones a little; this shows how far.
    report["cpu_vs_golden_fp32"] = {"min_cosine": min(cosine(c, case["embedding"]) for c, case in zip(cpu, golden))}
    try:
        import torch
        from sentence_transformers import SentenceTransformer
        st = SentenceTransformer(model, device="cuda")
        st_vectors = st.encode(texts, normalize_embeddings=True, convert_to_numpy=True).tolist()
        report["sentence_transformers_vs_cpu"] = {"min_cosine": min(cosine(s, c) for s, c in zip(st_vectors, cpu))}
        batch = [" ".join(["retrieval"] * 126)] * 64
        st.encode(batch, batch_size=64)
        torch.cuda.synchronize()
        start = time.perf_counter()
        for _ in range(10):
            st.encode(batch, batch_size=64)
        torch.cuda.synchronize()
        report["sentence_transformers_gpu"] = {"sentences_per_second": 640 / (time.perf_counter() - start),
                                               "device": torch.cuda.get_device_name(0), "batch": "64 × 128 tokens"}
    except Exception as error:  # noqa: BLE001 - reported, not fatal
        report["sentence_transformers_gpu"] = {"error": repr(error)}
    text = json.dumps(report, indent=2)
    print(text)
    with open(os.path.join(out, "compare.json"), "w", encoding="utf-8") as file:
        file.write(text + "\n")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
