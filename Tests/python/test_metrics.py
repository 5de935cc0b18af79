"""The operations endpoint beside stdio (`mcp-rag serve --metrics HOST:PORT`): the probes, the
Prometheus exposition (checked by promtool and scraped by a real Prometheus, Debian's package) and
the token rule."""

from __future__ import annotations

import json
import re
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from mcp.shared.exceptions import MCPError

from http_support import HTTPServer, sample
from mcp_support import command_env, connected, free_port, server_parameters, structured, write_corpus

pytestmark = pytest.mark.anyio

REPOSITORY = Path(__file__).resolve().parents[2]
TOKEN = "metrics-test-token-7f3a9c"


def get(url: str, token: str | None = None) -> tuple[int, dict, str]:
    """Status, headers and body of a GET, error statuses included; status 0 when nothing listens yet."""
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, dict(answer.headers), answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read().decode()
    except (urllib.error.URLError, ConnectionError):
        return 0, {}, ""


def wait_until(condition, what: str, seconds: float = 60):
    """Polls `condition` (a server's state, asked over its API) until it returns a true value."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def server_with(binary, model_dir, tmp_path, extra_env):
    """A server's parameters over a folder of three notes it may ingest, and a file for its stderr."""
    notes = tmp_path / "notes"
    write_corpus(notes, 3)
    params = server_parameters(binary, tmp_path / "data", model_dir, allowed_roots=[notes], extra_env=extra_env)
    return params, (tmp_path / "stderr.log").open("w"), notes


async def test_the_probes_and_the_exposition_follow_what_the_session_did(binary, model_dir, tmp_path):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    params, errlog, notes = server_with(binary, model_dir, tmp_path, {"MCP_RAG_METRICS": f"127.0.0.1:{port}"})
    with errlog:
        async with connected(params, errlog) as (session, _):
            status, _, body = wait_until(lambda: (answer := get(f"{base}/livez"))[0] == 200 and answer, "the endpoint")
            assert json.loads(body) == {"status": "alive"}
            ingest = structured(await session.call_tool("ingest_documents", {"paths": [str(notes)], "technology": "notes"}))
            for question in ["what do the notes say", "how is it configured", "what do the notes say"]:
                structured(await session.call_tool("query_knowledge_base", {"query": question}))
            with pytest.raises(MCPError, match="Unknown tool"):
                await session.call_tool("no_such_tool", {})
            _, _, body = wait_until(lambda: (answer := get(f"{base}/readyz"))[0] == 200 and answer, "readiness")
            assert json.loads(body) == {"status": "ready"}
            status, headers, exposition = get(f"{base}/metrics")
            assert status == 200 and headers["Content-Type"].startswith("text/plain; version=0.0.4")
            assert get(f"{base}/nothing-here")[0] == 404

    tool = 'mcp_rag_tool_calls_total{tool="%s",outcome="%s"}'
    assert sample(exposition, tool % ("query_knowledge_base", "ok")) == 3
    assert sample(exposition, tool % ("ingest_documents", "ok")) == 1
    assert sample(exposition, tool % ("unknown", "error")) == 1, "a made-up tool name is not a series of its own"
    assert sample(exposition, 'mcp_rag_result_cache_requests_total{result="hit"}') == 1
    assert sample(exposition, 'mcp_rag_result_cache_requests_total{result="miss"}') == 2
    assert sample(exposition, "mcp_rag_ingested_files_total") == ingest["files_written"] == 3
    assert sample(exposition, "mcp_rag_ingested_passages_total") == ingest["chunks_added"]
    assert sample(exposition, 'mcp_rag_query_duration_seconds_count{mode="hybrid"}') == 3
    for stage in ["embedding", "keyword", "vector", "fusion", "passages"]:
        assert sample(exposition, 'mcp_rag_query_stage_duration_seconds_count{stage="%s"}' % stage) == 2, stage
    assert sample(exposition, "mcp_rag_ready") == 1
    assert sample(exposition, 'mcp_rag_dependency_status{dependency="vector_store",status="healthy"}') == 1
    assert sample(exposition, 'mcp_rag_embedding_backend_info{backend="cpu"}') == 1
    assert sample(exposition, "process_resident_memory_bytes") > 10_000_000
    assert sample(exposition, "process_cpu_seconds_total") > 0

    # Prometheus' own linter: names, types, help texts, units.
    check = subprocess.run(["promtool", "check", "metrics"], input=exposition, capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr


async def test_a_real_prometheus_scrapes_the_series(binary, model_dir, tmp_path):
    """Prometheus scrapes a stdio server's `--metrics` endpoint and a `serve --http` server's
    `/metrics`, each with its token."""
    port, prometheus_port = free_port(), free_port()
    http_server = HTTPServer(binary, model_dir, tmp_path, env={"MCP_RAG_DATA_DIR": str(tmp_path / "http-data")})
    config = tmp_path / "prometheus.yml"
    config.write_text(f"""
global:
  scrape_interval: 1s
scrape_configs:
  - job_name: mcp-rag
    authorization:
      credentials: {TOKEN}
    static_configs:
      - targets: ["127.0.0.1:{port}"]
  - job_name: mcp-rag-http
    authorization:
      credentials: {http_server.token}
    static_configs:
      - targets: ["127.0.0.1:{http_server.port}"]
""")
    prometheus = subprocess.Popen(
        ["prometheus", f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
         f"--web.listen-address=127.0.0.1:{prometheus_port}"],
        stdout=subprocess.DEVNULL, stderr=(tmp_path / "prometheus.log").open("w"))
    api = f"http://127.0.0.1:{prometheus_port}/api/v1/query?query="

    def series(query: str) -> list:
        status, _, body = get(api + urllib.request.quote(query))
        return json.loads(body)["data"]["result"] if status == 200 else []

    params, errlog, notes = server_with(
        binary, model_dir, tmp_path, {"MCP_RAG_METRICS": f"127.0.0.1:{port}", "MCP_RAG_HTTP_TOKEN": TOKEN})
    try:
        with errlog:
            async with connected(params, errlog) as (session, _):
                structured(await session.call_tool("ingest_documents", {"paths": [str(notes)], "technology": "notes"}))
                structured(await session.call_tool("query_knowledge_base", {"query": "what do the notes say"}))
                found = wait_until(lambda: series('mcp_rag_tool_calls_total{tool="query_knowledge_base"}'),
                                   "Prometheus to scrape the tool calls")
                assert found[0]["metric"]["outcome"] == "ok" and float(found[0]["value"][1]) == 1
                up = wait_until(lambda: series('up{job="mcp-rag"} == 1'), "the scrape to succeed")
                assert up[0]["metric"]["instance"] == f"127.0.0.1:{port}"
                assert wait_until(lambda: series("mcp_rag_ready == 1"), "readiness in Prometheus")
                # Every expression the dashboard draws and the alerts watch is one Prometheus
                # evaluates (over these series; $instance as the dashboard's "All").
                dashboard = json.loads((REPOSITORY / "docs" / "operations" / "grafana-dashboard.json").read_text())
                expressions = [target["expr"].replace("$instance", ".*") for panel in dashboard["panels"]
                               for target in panel["targets"]]
                expressions += [line.split("expr:", 1)[1].strip() for line in
                                (REPOSITORY / "docs" / "operations" / "alerts.yml").read_text().splitlines() if "expr:" in line]
                for expression in expressions:
                    status, _, body = get(api + urllib.request.quote(expression))
                    assert status == 200 and json.loads(body)["status"] == "success", (expression, body)
                # The HTTP server's sessions, read through Prometheus: the one opened here.
                http_server.wait_ready()
                http_server.session_id()
                opened = wait_until(lambda: series('mcp_rag_http_sessions_open{job="mcp-rag-http"} >= 1'),
                                    "Prometheus to scrape the HTTP server's open session")
                assert opened[0]["metric"]["instance"] == f"127.0.0.1:{http_server.port}"
                # ... and names series the servers have: a misspelt name would evaluate, to nothing.
                exposed = {line.split("{")[0].split(" ")[0]
                           for text in (get(f"http://127.0.0.1:{port}/metrics", TOKEN)[2], http_server.metrics())
                           for line in text.splitlines() if line and not line.startswith("#")}
                named = {name for expression in expressions for name in re.findall(r"\b(?:mcp_rag|process)_[a-z_]+", expression)}
                # One exists only elsewhere: breakers, with Redis or Chroma (test_redis, test_chroma).
                elsewhere = {"mcp_rag_circuit_breaker_state"}
                assert named and named <= exposed | elsewhere, sorted(named - exposed - elsewhere)
        assert TOKEN not in (tmp_path / "stderr.log").read_text(), "the token never reaches the log"
        assert http_server.token not in http_server.log()
    finally:
        prometheus.terminate()
        prometheus.wait(timeout=30)
        http_server.stop()


async def test_metrics_need_the_token_and_the_probes_do_not(binary, model_dir, tmp_path):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    params, errlog, _ = server_with(
        binary, model_dir, tmp_path, {"MCP_RAG_METRICS": f"127.0.0.1:{port}", "MCP_RAG_HTTP_TOKEN": TOKEN})
    with errlog:
        async with connected(params, errlog) as (session, _):
            wait_until(lambda: get(f"{base}/livez")[0] == 200, "the endpoint")
            for token in [None, "wrong-token-0123456789", TOKEN + "x", TOKEN[:-1]]:
                status, headers, body = get(f"{base}/metrics", token)
                assert status == 401 and headers["WWW-Authenticate"].startswith("Bearer"), token
                assert "mcp_rag" not in body
            assert get(f"{base}/metrics?token={TOKEN}")[0] == 401, "a token in the query string is no token"
            assert get(f"{base}/metrics", TOKEN)[0] == 200
            assert get(f"{base}/readyz")[0] in (200, 503)
    assert TOKEN not in (tmp_path / "stderr.log").read_text()


@pytest.mark.parametrize("address, token, reason", [
    ("0.0.0.0:{port}", None, "MCP_RAG_HTTP_TOKEN"),
    ("127.0.0.1:http", None, "port must be a number"),
    ("127.0.0.1:{port}", "short", "at least 16"),
])
def test_an_endpoint_that_must_not_start_stops_the_server_with_the_reason(binary, model_dir, tmp_path, address, token, reason):
    env = command_env(tmp_path, model_dir, MCP_RAG_DATA_DIR=str(tmp_path / "data"),
                      MCP_RAG_METRICS=address.format(port=free_port()), **({"MCP_RAG_HTTP_TOKEN": token} if token else {}))
    result = subprocess.run([binary, "serve"], input=b"", capture_output=True, env=env, timeout=60)
    assert result.returncode != 0
    assert reason in result.stderr.decode(), result.stderr.decode()
    assert result.stdout == b"", "stdout carries MCP messages only"
    assert not (tmp_path / "data").exists(), "nothing was opened"


def test_the_alert_rules_pass_promtool():
    check = subprocess.run(["promtool", "check", "rules", str(REPOSITORY / "docs" / "operations" / "alerts.yml")],
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "SUCCESS: 3 rules found" in check.stdout
