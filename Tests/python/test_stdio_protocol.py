"""The raw stdio stream: every byte on stdout is JSON-RPC, and the process ends when stdin closes."""

from __future__ import annotations

import json
import os
import subprocess
import threading

import pytest

from mcp_support import command_env, cpu_flags


def spawn(binary, model_dir, tmp_path):
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path),
           "MCP_RAG_DATA_DIR": str(tmp_path / "data"), "MCP_RAG_MODEL_DIR": str(model_dir),
           "MCP_RAG_LOG_LEVEL": "debug"}  # the most logging there is: all of it must go to stderr
    return subprocess.Popen([binary], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)


def test_stdout_carries_only_json_rpc(binary, model_dir, tmp_path):
    process = spawn(binary, model_dir, tmp_path)
    stderr_lines = []
    threading.Thread(target=lambda: stderr_lines.extend(process.stderr), daemon=True).start()
    requests = [
        {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "raw", "version": "0"}}},
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
        {"jsonrpc": "2.0", "id": 3, "method": "ping"},
        {"jsonrpc": "2.0", "id": 4, "method": "tools/call", "params": {
            "name": "query_knowledge_base", "arguments": {"query": "anything at all"}}},
        {"jsonrpc": "2.0", "id": 5, "method": "no/such/method"},
        {"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {"arguments": {}}},
    ]
    # Sent once the query has been answered, so the model has loaded by then.
    deep_health = {"jsonrpc": "2.0", "id": 6, "method": "tools/call",
                   "params": {"name": "health_check", "arguments": {"level": "deep"}}}
    for request in requests:
        process.stdin.write((json.dumps(request) + "\n").encode())
    process.stdin.flush()

    answers = {}
    lines = []
    while len(answers) < 7:
        if 4 in answers and 6 not in answers and deep_health:
            process.stdin.write((json.dumps(deep_health) + "\n").encode())
            process.stdin.flush()
            deep_health = None
        line = process.stdout.readline()
        assert line, f"stdout closed early; stderr: {b''.join(stderr_lines)[-2000:]!r}"
        lines.append(line)
        message = json.loads(line)
        assert message["jsonrpc"] == "2.0"
        if "id" in message:
            answers[message["id"]] = message
    process.stdin.close()
    assert process.wait(timeout=20) == 0
    rest = process.stdout.read()
    for line in rest.splitlines():
        assert json.loads(line)["jsonrpc"] == "2.0"

    assert answers[1]["result"]["serverInfo"]["name"] == "mcp-rag"
    assert len(answers[2]["result"]["tools"]) == 7
    assert answers[3]["result"] == {}
    assert answers[4]["result"]["isError"] is False
    assert answers[4]["result"]["structuredContent"]["results"] == []
    assert answers[5]["error"]["code"] == -32601
    assert answers[7]["error"]["code"] == -32602 and "name" in answers[7]["error"]["message"]
    assert answers[6]["result"]["structuredContent"]["status"] == "healthy"
    assert any(b"embedding model ready" in line for line in stderr_lines), "logs did not reach stderr"


def test_the_ready_log_names_the_kernel_that_computes_batches(binary, model_dir, tmp_path):
    """Told to use OpenBLAS's AVX2 kernels, a server on an AVX-512 CPU computes batches with its
    packed AVX-512 kernel, and says which in the line that reports the model ready."""
    flags = cpu_flags()
    if "avx2" not in flags or "fma" not in flags:
        pytest.skip("OpenBLAS's Haswell kernels need AVX2 and FMA")
    env = command_env(tmp_path, model_dir, MCP_RAG_DATA_DIR=str(tmp_path / "data"), MCP_RAG_LOG_LEVEL="info",
                      OPENBLAS_CORETYPE="Haswell")
    process = subprocess.Popen([binary], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    ready, seen = [], threading.Event()

    def read_logs():
        for line in process.stderr:
            if b"embedding model ready" in line:
                ready.append(line.decode())
                seen.set()

    threading.Thread(target=read_logs, daemon=True).start()
    requests = [
        {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "raw", "version": "0"}}},
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/call",
         "params": {"name": "query_knowledge_base", "arguments": {"query": "anything"}}},
    ]
    process.stdin.write(b"".join(json.dumps(r).encode() + b"\n" for r in requests))
    process.stdin.flush()
    # The process stays up (stdin open) until the model has loaded and said so.
    assert seen.wait(timeout=120), "the model never reported ready"
    process.stdin.close()
    assert process.wait(timeout=30) == 0
    expected = "packed AVX-512" if "avx512f" in flags else "OpenBLAS Haswell"
    assert f"rag.model.batch_kernel={expected}" in ready[0], ready[0]


def initialize_with(binary, model_dir, tmp_path, version):
    process = spawn(binary, model_dir, tmp_path)
    request = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": version, "capabilities": {}, "clientInfo": {"name": "raw", "version": "0"}}}
    output, _ = process.communicate((json.dumps(request) + "\n").encode(), timeout=20)
    assert process.returncode == 0
    return json.loads(output.splitlines()[0])["result"]


def test_older_protocol_versions_are_negotiated(binary, model_dir, tmp_path):
    for version in ["2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"]:
        assert initialize_with(binary, model_dir, tmp_path, version)["protocolVersion"] == version
    # A version newer than the server knows is answered with the newest it speaks.
    assert initialize_with(binary, model_dir, tmp_path, "2099-01-01")["protocolVersion"] == "2025-11-25"
