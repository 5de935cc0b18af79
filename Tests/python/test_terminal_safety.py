"""Text from files reaches a log line or a terminal escaped (issue 24): a file name holding a newline
cannot forge a log line, and a passage holding ESC cannot drive the terminal of `mcp-rag query`."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

TIMESTAMPED = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}[+-]\d{4} \w+ ")
FORGED = "2026-12-05T00:00:00+0000 critical mcp-rag: [KnowledgeBase] forged"


def run(binary: str, *args: str, home: Path, model_dir) -> subprocess.CompletedProcess:
    env = {"PATH": os.environ["PATH"], "HOME": str(home), "MCP_RAG_MODEL_DIR": str(model_dir),
           "MCP_RAG_LOG_LEVEL": "info"}
    return subprocess.run([binary, *args], env=env, capture_output=True, stdin=subprocess.DEVNULL, timeout=120)


def test_a_file_name_with_a_newline_cannot_forge_a_log_line(binary, model_dir, tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "real.md").write_text("# Real\n\nThe heron nests by the mill.\n", encoding="utf-8")
    # Skipped (not a supported type), so its name is logged in a warning.
    (docs / f"x.bin\n{FORGED}").write_bytes(b"\x00\x01")
    result = run(binary, "ingest", str(docs), "--technology", "t", "--data-dir", str(tmp_path / "data"),
                 home=tmp_path, model_dir=model_dir)
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    lines = result.stderr.decode().splitlines()
    assert lines and all(TIMESTAMPED.match(line) for line in lines if line.strip() and "\r" not in line), lines
    assert not any(line.startswith(FORGED) for line in lines)
    assert any("x.bin\\n" + FORGED in line for line in lines), lines
    # The command's own report escapes the name too.
    assert b"x.bin\\n" + FORGED.encode() in result.stdout


def test_query_output_shows_control_characters_instead_of_sending_them(binary, model_dir, tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "colour.md").write_text("# Colour\n\nThe \x1b[31mred\x1b[0m heron \x07 nests by the mill.\n",
                                    encoding="utf-8")
    data = str(tmp_path / "data")
    ingest = run(binary, "ingest", str(docs), "--technology", "t", "--data-dir", data, home=tmp_path, model_dir=model_dir)
    assert ingest.returncode == 0, ingest.stderr.decode(errors="replace")
    result = run(binary, "query", "heron", "--data-dir", data, home=tmp_path, model_dir=model_dir)
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    assert b"heron" in result.stdout
    assert b"\x1b" not in result.stdout and b"\x07" not in result.stdout
    assert b"\\u{1B}[31mred\\u{1B}[0m" in result.stdout
