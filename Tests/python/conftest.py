"""Shared fixtures for the tests that drive the real mcp-rag binary (run by tools/test)."""

import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _required_env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        # Fail rather than skip: tools/test always provides these.
        pytest.fail(f"{name} is not set: run the suite with tools/test")
    return value


@pytest.fixture(scope="session")
def binary() -> str:
    path = _required_env("MCP_RAG_BINARY")
    assert os.access(path, os.X_OK), f"{path} is not an executable: build it with swift build -c release"
    return path


@pytest.fixture(scope="session")
def model_dir() -> Path:
    path = Path(_required_env("MCP_RAG_MODEL_DIR"))
    assert (path / "model.safetensors").is_file(), f"no model in {path}: run tools/fetch-model"
    return path


@pytest.fixture(scope="session")
def golden() -> list:
    import json

    fixture = ROOT / "Tests" / "EmbeddingsTests" / "Fixtures" / "golden.jsonl"
    return [json.loads(line) for line in fixture.read_text(encoding="utf-8").splitlines()]


@pytest.fixture
def redis_server(tmp_path):
    """A redis-server of the test's own (see servers.RedisServer), stopped after the test."""
    from servers import RedisServer

    assert shutil.which("redis-server"), "redis-server is missing: tools/setup installs it"
    server = RedisServer(tmp_path / "redis")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


_figures: list[str] = []


@pytest.fixture
def report_figure():
    """Records a line of measured figures (frames sent, faults injected, kills survived); they are
    printed together at the end of the run, in a section of their own, passing or not."""
    return _figures.append


def pytest_terminal_summary(terminalreporter) -> None:
    if _figures:
        terminalreporter.section("figures")
        for line in _figures:
            terminalreporter.write_line(line)
