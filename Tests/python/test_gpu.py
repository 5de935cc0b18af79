"""The device choice end to end, on a machine without a GPU (as CI is): what the server reports by
default, what MCP_RAG_DEVICE=cuda gets when CUDA cannot serve, and how a bad setting is refused.
Without /dev/kfd (no AMD driver) the HIP runtime is not started; CUDA is not installed at all."""

from __future__ import annotations

import os
import subprocess

import pytest

from mcp_support import connected, server_parameters, structured, write_corpus

pytestmark = pytest.mark.anyio


@pytest.fixture
def data(binary, model_dir, tmp_path):
    write_corpus(tmp_path / "docs", 3)
    env = {**os.environ, "MCP_RAG_DATA_DIR": str(tmp_path / "data"), "MCP_RAG_MODEL_DIR": str(model_dir)}
    subprocess.run([binary, "ingest", str(tmp_path / "docs"), "--technology", "notes"], env=env, check=True, capture_output=True, timeout=120)
    return tmp_path / "data"


def no_gpu_env(**extra: str) -> dict[str, str]:
    # An empty folder first, so the fakes of no other test and no real install are in the way.
    return {"MCP_RAG_GPU_LIBRARY_PATH": "/nonexistent", **extra}


async def test_by_default_the_cpu_serves_and_every_runtime_says_why(binary, model_dir, data):
    async with connected(server_parameters(binary, data, model_dir, extra_env=no_gpu_env())) as (session, _):
        report = structured(await session.call_tool("verify_gpu_acceleration", {"run_benchmark": False}))
        health = structured(await session.call_tool("health_check", {}))
    assert report["selected_backend"] == "cpu" and report["device_preference"] == "auto"
    assert report["gpu_available"] is False and report["startup_benchmark"] == [] and "error" not in report
    reasons = {runtime["name"]: runtime["reason"] for runtime in report["runtimes"]}
    assert set(reasons) == {"hip", "cuda"}
    assert reasons["hip"].startswith("no AMD GPU driver (/dev/kfd is missing"), reasons
    assert reasons["cuda"].startswith("the NVIDIA driver library: not installed (none of libcuda.so.1"), reasons
    assert report["detail"].startswith("no GPU runtime is usable, so embeddings run on the CPU")
    gpu = health["dependencies"]["gpu"]
    assert gpu["status"] == "not_configured" and gpu["detail"] == report["detail"]
    assert health["dependencies"]["embedding_model"]["facts"]["backend"] == "cpu"


async def test_asking_for_cuda_without_it_is_an_error_in_the_reports_and_queries_still_work(binary, model_dir, data):
    params = server_parameters(binary, data, model_dir, extra_env=no_gpu_env(MCP_RAG_DEVICE="cuda"))
    async with connected(params) as (session, _):
        answer = structured(await session.call_tool("query_knowledge_base", {"query": "how the storage layer handles case 7"}))
        report = structured(await session.call_tool("verify_gpu_acceleration", {"run_benchmark": False}))
        health = structured(await session.call_tool("health_check", {}))
    assert answer["mode"] == "hybrid" and not answer["degraded"] and answer["results"]
    assert report["selected_backend"] == "cpu" and [r["name"] for r in report["runtimes"]] == ["cuda"]
    assert report["error"].startswith("MCP_RAG_DEVICE=cuda, but CUDA cannot serve: the NVIDIA driver library: not installed")
    gpu = health["dependencies"]["gpu"]
    assert gpu["status"] == "unhealthy" and gpu["detail"] == report["error"]
    assert health["status"] == "unhealthy", "a device asked for and missing is not healthy"


def test_an_unknown_device_stops_the_server_with_the_reason(binary, model_dir, tmp_path):
    env = {**os.environ, "MCP_RAG_DATA_DIR": str(tmp_path / "data"), "MCP_RAG_MODEL_DIR": str(model_dir), "MCP_RAG_DEVICE": "gpu"}
    run = subprocess.run([binary, "serve"], env=env, input=b"", capture_output=True, timeout=30)
    assert run.returncode != 0 and run.stdout == b""
    assert b'MCP_RAG_DEVICE: device "gpu" is not one of auto, cpu, hip, cuda' in run.stderr


def test_embed_on_a_gpu_that_is_not_there_fails_saying_so(binary, model_dir):
    env = {**os.environ, **no_gpu_env()}
    run = subprocess.run([binary, "embed", "--device", "hip", "--text", "hello", "--model-dir", str(model_dir)],
                         env=env, capture_output=True, text=True, timeout=60)
    assert run.returncode == 1 and run.stdout == ""
    assert "--device hip: ROCm HIP cannot serve: no AMD GPU driver (/dev/kfd is missing" in run.stderr, run.stderr
    run = subprocess.run([binary, "embed", "--device", "cuda", "--text", "hello", "--model-dir", str(model_dir)],
                         env=env, capture_output=True, text=True, timeout=60)
    assert run.returncode == 1 and "--device cuda: CUDA cannot serve: the NVIDIA driver library: not installed" in run.stderr
    run = subprocess.run([binary, "embed", "--device", "cpu", "--text", "hello", "--model-dir", str(model_dir)],
                         env=env, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0 and '"embedding"' in run.stdout
