"""The Redis password in REDIS_URL and the Chroma token never show: not in logs (at trace level), tool
output, the self-test report or error messages, whether the secret is right or wrong."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from urllib.parse import quote, urlsplit

import pytest

from mcp_support import command_env, connected, free_port, server_parameters, structured, write_corpus

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
        # Userinfo without a colon is the password (the IANA provisional redis: scheme's form).
        "a password alone": ({"REDIS_URL": f"redis://{password}@{redis.hostname}:{redis.port}"}, [password]),
    }


# The scenarios whose Redis settings are right: the server must log in with them.
LOGS_IN_TO_REDIS = {"right secrets", "a user and password", "a password alone"}


def assert_secret_free(where: str, text: str, secrets: list[str]) -> None:
    for secret in secrets:
        assert secret not in text, f"a secret appears in {where}"
        # Nor URL-encoded or as part of a login header.
        assert secret.replace("-", "%2D") not in text


@pytest.mark.parametrize("name", ["right secrets", "wrong secrets", "a user and password", "a password alone"])
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
            health = structured(await session.call_tool("health_check", {"level": "deep"}))
    assert_secret_free("tool output", "\n".join(outputs) + json.dumps(health), secrets)
    if name in LOGS_IN_TO_REDIS:
        tracker = health["dependencies"]["query_tracker"]
        assert tracker["status"] == "healthy", f"{environment['REDIS_URL']!r} did not log in: {tracker}"
        assert ":***@" in tracker["facts"]["endpoint"]
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


def assert_no_trace_of(where: str, text: str, secret: str, core: str) -> None:
    """Neither `secret` nor any 8 characters of `core` (its random part) in `text`: not plainly,
    not encoded (URL or JSON), not cut short."""
    assert secret not in text and quote(secret, safe="") not in text, f"the secret appears in {where}"
    for start in range(len(core) - 7):
        assert core[start:start + 8] not in text, f"part of the secret ({core[start:start + 8]}) appears in {where}"


@pytest.fixture
def echoing_chroma():
    """The test Chroma behind an auth proxy that repeats the credentials it received in its error
    bodies (see chroma_auth_proxy.py --echo-credentials); yields its URL and the token it accepts."""
    core = uuid.uuid4().hex
    token = f"tok/{core}+="
    port = free_port()
    proxy = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("chroma_auth_proxy.py")), "--listen-port", str(port),
         "--upstream", os.environ["MCP_RAG_TEST_CHROMA_URL"], "--token", token, "--echo-credentials"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(url + "/api/v2/heartbeat", timeout=1)
            break
        except urllib.error.HTTPError:
            break  # it answers (401 without a token)
        except OSError:
            assert time.monotonic() < deadline, "the echoing proxy did not start"
            time.sleep(0.1)
    try:
        yield url, token, core
    finally:
        proxy.terminate()
        proxy.wait(timeout=10)


@pytest.mark.parametrize("token_is, header", [("right", "x-chroma-token"), ("wrong", "authorization")])
async def test_a_chroma_that_echoes_the_token_never_gets_it_repeated(binary, model_dir, tmp_path, echoing_chroma,
                                                                     token_is, header):
    """A proxy that quotes the credentials it received in its error bodies (a 401 for a wrong token;
    a failing version and upload for the right one): its words reach health_check, the ingest's
    answer, the logs and the self-test, the token never does, whole, encoded or cut short."""
    url, right_token, core = echoing_chroma
    if token_is == "wrong":
        core = uuid.uuid4().hex
    token = right_token if token_is == "right" else f"tok/{core}+="
    environment = {"CHROMA_URL": url, "CHROMA_TOKEN": token, "CHROMA_AUTH_HEADER": header,
                   "CHROMA_COLLECTION": f"echo-{uuid.uuid4().hex[:8]}"}
    docs = write_corpus(tmp_path / "docs", 3)[0].parent
    params = server_parameters(binary, tmp_path / "data", model_dir, allowed_roots=[docs],
                               extra_env={**environment, "MCP_RAG_LOG_LEVEL": "trace"})
    errlog_path = tmp_path / "server.stderr"
    outputs: list[str] = []
    with open(errlog_path, "w") as errlog:
        async with connected(params, errlog=errlog) as (session, _):
            for tool, arguments in [("health_check", {"level": "deep"}),
                                    ("ingest_documents", {"paths": [str(docs)], "technology": "notes"}),
                                    ("query_knowledge_base", {"query": "storage layer", "mode": "semantic"}),
                                    ("health_check", {"level": "deep"})]:
                outputs.append((await session.call_tool(tool, arguments)).model_dump_json())
    answers = "\n".join(outputs)
    # The proxy's words did reach the answers (so the test checks something), with the token taken out.
    assert "credentials echoed" in answers, answers[:2000]
    assert_no_trace_of("the tool answers", answers, token, core)
    assert "[redacted]" in answers
    logs = errlog_path.read_text(errors="replace")
    assert "credentials echoed" in logs, "the proxy's answers were logged at trace level"
    assert_no_trace_of("the server's logs", logs, token, core)

    env = command_env(tmp_path, model_dir, MCP_RAG_LOG_LEVEL="trace", **environment)
    for args in (["selftest"], ["selftest", "--json"]):
        run = subprocess.run([binary, *args], env=env, capture_output=True, text=True, timeout=300,
                             stdin=subprocess.DEVNULL)
        assert "credentials echoed" in run.stdout + run.stderr, f"mcp-rag {' '.join(args)}: {run.stdout[-2000:]}"
        assert_no_trace_of(f"mcp-rag {' '.join(args)} (exit {run.returncode})", run.stdout + run.stderr, token, core)
