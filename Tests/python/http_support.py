"""Helpers for driving `mcp-rag serve --http` with the official Python MCP client's Streamable
HTTP transport, and with plain HTTP requests."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path

import httpx
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

from mcp_support import free_port

TOKEN = "http-test-token-6c1f0e93b2d4a857"
ACCEPT = "application/json, text/event-stream"
INITIALIZE = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
    "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "raw", "version": "0"}}}


class HTTPServer:
    """`mcp-rag serve --http` on a free loopback port (or `host`), its stderr in a file."""

    def __init__(self, binary: str, model_dir: Path, folder: Path, *, args: list[str] | None = None,
                 env: dict[str, str] | None = None, host: str = "127.0.0.1", token: str | None = TOKEN):
        self.port = free_port()
        # A wildcard address is reached on 127.0.0.1; any other through the address itself.
        self.base = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{self.port}"
        self.url = self.base + "/mcp"
        self.token = token
        self.stderr_path = folder / f"http-server-{self.port}.stderr"
        environment = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(folder),
                       "MCP_RAG_MODEL_DIR": str(model_dir), "MCP_RAG_LOG_LEVEL": "info", **(env or {})}
        if token:
            environment["MCP_RAG_HTTP_TOKEN"] = token
        self.process = subprocess.Popen([binary, "serve", "--http", f"{host}:{self.port}", *(args or [])],
                                        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                        stderr=self.stderr_path.open("wb"), env=environment)

    def wait_ready(self, seconds: float = 120) -> None:
        """Waits until /readyz says ready (the model loaded), or fails with the server's log."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"the server exited: {self.log()[-3000:]}"
            try:
                if httpx.get(self.base + "/readyz", timeout=5).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"the server never became ready: {self.log()[-3000:]}")

    def headers(self, **extra: str) -> dict[str, str]:
        headers = {"Accept": ACCEPT, "Content-Type": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        headers.update(extra)
        return headers

    def session_id(self) -> str:
        """A new session's id, opened with a raw initialize."""
        answer = httpx.post(self.url, json=INITIALIZE, headers=self.headers(), timeout=30)
        assert answer.status_code == 200, answer.text
        return answer.headers["mcp-session-id"]

    def metrics(self) -> str:
        answer = httpx.get(self.base + "/metrics", headers=self.headers(), timeout=30)
        assert answer.status_code == 200, answer.text
        return answer.text

    def log(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def terminate(self, seconds: float = 10) -> int:
        """SIGTERM, and the exit status once it has exited (within `seconds`)."""
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=seconds)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        assert b"" == (self.process.stdout.read() or b""), "an HTTP server writes nothing to stdout"


@contextlib.asynccontextmanager
async def http_session(url: str, token: str | None = TOKEN):
    """An initialised ClientSession over Streamable HTTP, the token in each request's headers."""
    client = create_mcp_http_client(headers={"Authorization": f"Bearer {token}"} if token else None)
    async with client:
        async with streamable_http_client(url, http_client=client) as (read, write):
            async with ClientSession(read, write) as session:
                await session.initialize()
                yield session


def sample(exposition: str, line_prefix: str) -> float:
    """The value of the one sample whose line starts with `line_prefix`."""
    values = [float(line.rsplit(" ", 1)[1]) for line in exposition.splitlines() if line.startswith(line_prefix)]
    assert len(values) == 1, (line_prefix, values)
    return values[0]
