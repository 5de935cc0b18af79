"""The Redis password in REDIS_URL and the Chroma token never show: not in logs (at trace level), tool
output, the self-test report or error messages, whether the secret is right or wrong."""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from mcp_support import command_env, connected, server_parameters, write_corpus

pytestmark = pytest.mark.anyio


def scenarios() -> dict[str, tuple[dict[str, str], list[str]]]:
    """name → (environment, the secrets it holds)."""
    redis = urlsplit(os.environ["MCP_RAG_TEST_REDIS_AUTH_URL"])
    password = redis.password
    assert password, "tools/test starts a redis-server with a password"
    wrong_password = f"wrong-pass-{uuid.uuid4().hex}"
    chroma_url, token = os.environ["MCP_RAG_TEST_CHROMA_AUTH_URL"], os.environ["MCP_RAG_TEST_CHROMA_TOKEN"]
    wrong_token = f"wrong-token-{uuid.uuid4().hex}"

    def redis_url(secret: str) -> str:
        return f"redis://:{secret}@{redis.hostname}:{redis.port}/0"

    collection = f"secrets-{uuid.uuid4().hex[:8]}"
    return {
        "right secrets": ({"REDIS_URL": redis_url(password), "CHROMA_URL": chroma_url, "CHROMA_TOKEN": token,
                           "CHROMA_COLLECTION": collection}, [password, token]),
        "wrong secrets": ({"REDIS_URL": redis_url(wrong_password), "CHROMA_URL": chroma_url,
                           "CHROMA_TOKEN": wrong_token, "CHROMA_COLLECTION": collection},
                          [wrong_password, wrong_token, password, token]),
        "a user and password": ({"REDIS_URL": f"redis://default:{password}@{redis.hostname}:{redis.port}/0"}, [password]),
    }


def assert_secret_free(where: str, text: str, secrets: list[str]) -> None:
    for secret in secrets:
        assert secret not in text, f"a secret appears in {where}"
        # Nor URL-encoded or as part of a login header.
        assert secret.replace("-", "%2D") not in text


@pytest.mark.parametrize("name", ["right secrets", "wrong secrets", "a user and password"])
async def test_no_secret_appears_in_logs_tool_output_or_the_selftest(binary, model_dir, tmp_path, name):
    environment, secrets = scenarios()[name]
    docs = write_corpus(tmp_path / "docs", 4)[0].parent
    params = server_parameters(binary, tmp_path / "data", model_dir, allowed_roots=[docs],
                               extra_env={**environment, "MCP_RAG_LOG_LEVEL": "trace", "MCP_RAG_BREAKER_FAILURES": "1"})
    errlog_path = tmp_path / "server.stderr"
    outputs: list[str] = []
    with open(errlog_path, "w") as errlog:
        async with connected(params, errlog=errlog) as (session, init):
            outputs.append(init.model_dump_json())
            calls = [("ingest_documents", {"paths": [str(docs)], "technology": "notes"}),
                     ("query_knowledge_base", {"query": "storage layer"}),
                     ("query_knowledge_base", {"query": "storage layer"}),
                     ("query_knowledge_base", {"query": "network", "mode": "semantic"}),
                     ("list_sources", {}),
                     ("remove_source", {"source": str(docs / "nowhere.md")}),
                     ("get_cache_warming_stats", {}),
                     ("verify_gpu_acceleration", {"run_benchmark": False}),
                     ("health_check", {"level": "liveness"}), ("health_check", {"level": "readiness"}),
                     ("health_check", {"level": "deep"})]
            for tool, arguments in calls:
                outputs.append((await session.call_tool(tool, arguments)).model_dump_json())
            outputs.append((await session.list_tools()).model_dump_json())
    assert_secret_free("tool output", "\n".join(outputs), secrets)
    logs = errlog_path.read_text(errors="replace")
    assert "trace" in logs.lower() or len(logs) > 1000, "the logs were captured at trace level"
    assert_secret_free("the server's logs", logs, secrets)

    env = command_env(tmp_path, model_dir, MCP_RAG_LOG_LEVEL="trace", **environment)
    for args in (["selftest"], ["selftest", "--json"], ["query", "storage", "--data-dir", str(tmp_path / "data")],
                 ["ingest", str(docs), "--technology", "notes", "--data-dir", str(tmp_path / "data")]):
        run = subprocess.run([binary, *args], env=env, capture_output=True, text=True, timeout=300,
                             stdin=subprocess.DEVNULL)
        assert_secret_free(f"mcp-rag {' '.join(args)} (exit {run.returncode})", run.stdout + run.stderr, secrets)


@pytest.mark.parametrize("variable, value", [
    ("REDIS_URL", "redis://:{secret}@127.0.0.1:notaport/0"),
    ("REDIS_URL", "rediss://:{secret}@127.0.0.1:6380/0"),
    ("REDIS_URL", "redis://:{secret}@127.0.0.1:6379/first"),
    ("REDIS_URL", "unix:///tmp/nowhere.sock?password={secret}&db=x"),
    ("CHROMA_URL", "http://user:{secret}@127.0.0.1:8000"),
    ("CHROMA_URL", "http://127.0.0.1:8000/path?token={secret}"),
])
def test_a_setting_refused_at_startup_does_not_repeat_its_secret(binary, model_dir, tmp_path, variable, value):
    secret = f"s3cret-{uuid.uuid4().hex}"
    env = command_env(tmp_path, model_dir, MCP_RAG_DATA_DIR=str(tmp_path / "data"), **{variable: value.format(secret=secret)})
    for args in (["serve"], ["selftest"], ["query", "anything"]):
        run = subprocess.run([binary, *args], env=env, capture_output=True, text=True, timeout=60, input="")
        assert run.returncode != 0, f"{variable}={value} was accepted by {args}"
        assert variable in run.stderr, run.stderr
        assert secret not in run.stdout + run.stderr, f"{args}: {run.stderr}"


async def test_a_redis_that_is_unreachable_is_reported_without_its_password(binary, model_dir, tmp_path):
    secret = f"s3cret-{uuid.uuid4().hex}"
    from mcp_support import free_port, structured
    url = f"redis://:{secret}@127.0.0.1:{free_port()}/0"
    params = server_parameters(binary, tmp_path / "data", model_dir,
                               extra_env={"REDIS_URL": url, "MCP_RAG_LOG_LEVEL": "trace"})
    errlog_path = tmp_path / "server.stderr"
    with open(errlog_path, "w") as errlog:
        async with connected(params, errlog=errlog) as (session, _):
            health = structured(await session.call_tool("health_check", {}))
            stats = (await session.call_tool("get_cache_warming_stats", {})).model_dump_json()
    tracker = health["dependencies"]["query_tracker"]
    assert tracker["status"] != "healthy" and ":***@" in tracker["facts"]["endpoint"]
    assert_secret_free("health and stats", json.dumps(health) + stats, [secret])
    assert_secret_free("logs", Path(errlog_path).read_text(errors="replace"), [secret])
