"""PDF, Word and HTML files made from SciFact's abstracts, and `mcp-rag bench documents` on them:
files and pages per second extracted and chunked per format, against the time embedding the same
passages takes (the goal: extraction at least 20 times faster, so formats never hold an ingest up).

    .venv/bin/python tools/bench_documents.py --binary .build/release/mcp-rag \\
        --dataset ../shared/datasets/scifact [--documents 60] [--folder DIR] [--json]

Each document holds 8 abstracts: a PDF (fpdf2) puts two on a page, with each title as a line; a
Word file (python-docx) makes each title a Heading 1 and adds one table; the HTML page uses h2 and
p. The files are written once into --folder (a temporary folder by default)."""

from __future__ import annotations

import argparse
import html
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ABSTRACTS_PER_DOCUMENT = 8


def latin1(text: str) -> str:
    """fpdf2's core fonts hold Latin-1 only; other characters become '?' (the speed is what counts)."""
    return text.encode("latin-1", "replace").decode("latin-1")


def abstracts(dataset: Path, count: int) -> list[dict]:
    rows = []
    with open(dataset / "corpus.jsonl", encoding="utf-8") as corpus:
        for line in corpus:
            row = json.loads(line)
            if row.get("text"):
                rows.append(row)
            if len(rows) == count:
                break
    return rows


def write_pdf(path: Path, rows: list[dict]) -> None:
    from fpdf import FPDF
    pdf = FPDF()
    pdf.set_title(latin1(rows[0]["title"]))
    pdf.set_font("helvetica", size=10)
    for index, row in enumerate(rows):
        if index % 2 == 0:
            pdf.add_page()
        pdf.multi_cell(0, 5, latin1(row["title"] + "\n" + row["text"]) + "\n")
    pdf.output(str(path))


def write_docx(path: Path, rows: list[dict]) -> None:
    from docx import Document
    document = Document()
    document.core_properties.title = rows[0]["title"]
    for row in rows:
        document.add_heading(row["title"], level=1)
        document.add_paragraph(row["text"])
    table = document.add_table(rows=len(rows), cols=2)
    for index, row in enumerate(rows):
        table.cell(index, 0).text = row["_id"]
        table.cell(index, 1).text = row["title"]
    document.save(str(path))


def write_html(path: Path, rows: list[dict]) -> None:
    body = "".join(f"<h2>{html.escape(row['title'])}</h2><p>{html.escape(row['text'])}</p>" for row in rows)
    path.write_text(f"<!DOCTYPE html><html><head><title>SciFact</title></head><body><nav><a href='/'>home</a></nav>"
                    f"{body}</body></html>", encoding="utf-8")


def make_folder(dataset: Path, folder: Path, documents: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rows = abstracts(dataset, documents * ABSTRACTS_PER_DOCUMENT)
    for number in range(documents):
        chunk = rows[number * ABSTRACTS_PER_DOCUMENT:(number + 1) * ABSTRACTS_PER_DOCUMENT]
        if len(chunk) < ABSTRACTS_PER_DOCUMENT:
            break
        for suffix, write in ((".pdf", write_pdf), (".docx", write_docx), (".html", write_html)):
            path = folder / f"scifact-{number:04d}{suffix}"
            if not path.exists():
                write(path, chunk)
    return folder


def bench(binary: str, folder: Path, rounds: int = 3) -> dict:
    process = subprocess.run([binary, "bench", "documents", str(folder), "--rounds", str(rounds), "--json"],
                             capture_output=True, text=True)
    if process.returncode != 0:
        raise RuntimeError(process.stderr.strip().splitlines()[-1] if process.stderr.strip() else "bench documents failed")
    return json.loads(process.stdout)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--binary", required=True)
    parser.add_argument("--dataset", type=Path, required=True, help="a BEIR folder with corpus.jsonl (SciFact)")
    parser.add_argument("--documents", type=int, default=60, help="files of each format")
    parser.add_argument("--folder", type=Path, help="where the files are written (and kept)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        folder = make_folder(arguments.dataset, arguments.folder or Path(scratch) / "documents", arguments.documents)
        report = bench(arguments.binary, folder, arguments.rounds)
    if arguments.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"embedding: {report['embeddingPassagesPerSecond']:.1f} passages/s ({report['embeddingBackend']})")
    for row in report["formats"]:
        pages = f", {row['pagesPerSecond']:.0f} pages/s" if row["pages"] else ""
        print(f"{row['format']:>5}: {row['files']} files, {row['passages']} passages in {row['seconds'] * 1000:.1f} ms: "
              f"{row['filesPerSecond']:.0f} files/s{pages}; embedding them takes {row['embeddingOverExtraction']:.0f}× as long")
    return 0


if __name__ == "__main__":
    sys.exit(main())
