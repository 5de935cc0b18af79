"""PDF, Word, OpenDocument and EPUB files through the MCP server (issue 29): files written by the
libraries people make them with (fpdf2, python-docx, odfpy, EbookLib), answers from the right page
and section, and hostile or unreadable files skipped with their reason while the server keeps
serving."""

from __future__ import annotations

import io
import os
import struct
import subprocess
import uuid
import zipfile

import pytest
from docx import Document
from fpdf import FPDF
from PIL import Image

from mcp_support import command_env, connected, drop_chroma_collection, passages_collection, read_store, server_parameters, structured

pytestmark = pytest.mark.anyio

PAGES = [
    "Chapter 1. Inspection.\nThe impeller must be inspected every 500 operating hours for pitting.",
    "Chapter 2. Seals.\nReplace the mechanical seal when it weeps more than ten drops a minute.",
    "Chapter 3. Assembly.\nTorque the flange bolts to 45 newton metres in a star pattern.",
]
W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"


def write_pdf(path, pages=PAGES, title="Pump Maintenance Manual", password=None):
    pdf = FPDF()
    pdf.set_title(title)
    if password:
        pdf.set_encryption(owner_password="owner", user_password=password)
    pdf.set_font("helvetica", size=12)
    for text in pages:
        pdf.add_page()
        pdf.multi_cell(0, 8, text)
    pdf.output(str(path))
    return path


def write_scanned_pdf(path):
    """Pages that are pictures of text: no text layer."""
    pdf = FPDF()
    picture = io.BytesIO()
    Image.new("L", (200, 100), color=255).save(picture, format="PNG")
    for _ in range(2):
        pdf.add_page()
        pdf.image(picture, x=10, y=10, w=100)
    pdf.output(str(path))
    return path


def write_docx(path):
    document = Document()
    document.core_properties.title = "Field Guide"
    document.add_heading("Field Guide", level=0)
    document.add_paragraph("Read this before touching the controller.")
    document.add_heading("Installation", level=1)
    document.add_paragraph("Mount the controller cabinet on a vibration-free wall, two metres above the floor.")
    document.add_paragraph("Check the earth connection first.", style="List Bullet")
    document.add_heading("Wiring", level=2)
    table = document.add_table(rows=2, cols=2)
    for row, cells in enumerate([("Terminal", "Conductor"), ("L1", "brown phase conductor")]):
        for column, text in enumerate(cells):
            table.cell(row, column).text = text
    document.save(str(path))
    return path


def rewrite_part(source, target, part, data):
    """`source`'s zip with `part` replaced by `data` (a Word file with one hostile part)."""
    with zipfile.ZipFile(source) as original, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as copy:
        for item in original.infolist():
            copy.writestr(item, data if item.filename == part else original.read(item))
    return target


def write_zip_bomb(source, target, unpacked=300 << 20):
    """A Word file whose document part unpacks to 300 MiB (of one repeated paragraph): a few
    hundred kilobytes on disk."""
    with zipfile.ZipFile(source) as original, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as copy:
        for item in original.infolist():
            if item.filename != "word/document.xml":
                copy.writestr(item, original.read(item))
        with copy.open("word/document.xml", "w", force_zip64=True) as part:
            part.write(f'<w:document xmlns:w="{W}"><w:body>'.encode())
            block = b"<w:p><w:r><w:t>boom</w:t></w:r></w:p>" * 30_000
            written = 0
            while written < unpacked:
                part.write(block)
                written += len(block)
            part.write(b"</w:body></w:document>")
    return target


def lie_about_sizes(path):
    """Rewrites every size in the zip's central directory and local headers to 1 KiB, as a bomb
    that hides what it unpacks to would."""
    data = bytearray(path.read_bytes())
    for signature, offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        start = 0
        while (start := data.find(signature, start)) >= 0:
            if data[start + offset:start + offset + 4] != b"\xff\xff\xff\xff":
                struct.pack_into("<I", data, start + offset, 1024)
            start += 4
    path.write_bytes(bytes(data))
    return path


BILLION_LAUGHS = (f'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
                  + "".join(f'<!ENTITY lol{n} "{("&lol" + str(n - 1) + ";") * 10 if n > 1 else "&lol;" * 10}">'
                            for n in range(1, 10))
                  + f']><w:document xmlns:w="{W}"><w:body><w:p><w:r><w:t>&lol9;</w:t></w:r></w:p></w:body></w:document>')


def write_folder(folder):
    folder.mkdir()
    write_pdf(folder / "manual.pdf")
    guide = write_docx(folder / "guide.docx")
    (folder / "notes.md").write_text("# Notes\n\nThe spare impeller is on shelf B4.\n")
    write_pdf(folder / "locked.pdf", password="secret")
    write_scanned_pdf(folder / "scanned.pdf")
    whole = (folder / "manual.pdf").read_bytes()
    (folder / "truncated.pdf").write_bytes(whole[: len(whole) // 3])
    (folder / "empty.docx").write_bytes(b"")
    rewrite_part(guide, folder / "laughs.docx", "word/document.xml", BILLION_LAUGHS.encode())
    deep = f'<w:document xmlns:w="{W}"><w:body>' + "<w:sdt>" * 100_000 + "</w:sdt>" * 100_000 + "</w:body></w:document>"
    rewrite_part(guide, folder / "deep.docx", "word/document.xml", deep.encode())
    write_zip_bomb(guide, folder / "bomb.docx")
    lie_about_sizes(write_zip_bomb(guide, folder / "hidden-bomb.docx"))
    return folder


async def test_pdf_and_word_files_answer_with_their_page_and_section(binary, model_dir, tmp_path):
    docs = write_folder(tmp_path / "docs")
    data = tmp_path / "data"
    async with connected(server_parameters(binary, data, model_dir, allowed_roots=[docs])) as (session, _):
        report = structured(await session.call_tool("ingest_documents", {"paths": [str(docs)], "technology": "plant"}))
        skipped = {entry["path"].rsplit("/", 1)[1]: entry["reason"] for entry in report["files_skipped"]}
        assert report["files_written"] == 3, report
        assert "encrypted PDF" in skipped.pop("locked.pdf")
        assert "no text layer on any of its 2 pages" in skipped.pop("scanned.pdf")
        assert "damaged" in skipped.pop("truncated.pdf")
        assert "no word/document.xml inside" in skipped.pop("empty.docx")
        assert "declares a document type" in skipped.pop("laughs.docx")
        assert "nests elements deeper than 256 levels" in skipped.pop("deep.docx")
        assert "unpacks to more than 268435456 bytes (at word/document.xml)" in skipped.pop("bomb.docx")
        # Sizes that lie change nothing: libzip finds them inconsistent, or the budget counts what
        # comes out; memory stays bounded either way (below).
        hidden = skipped.pop("hidden-bomb.docx")
        assert "unpacks to more than 268435456 bytes" in hidden or "damaged" in hidden, hidden
        assert skipped == {}

        answer = structured(await session.call_tool("query_knowledge_base", {"query": "flange bolt torque", "n_results": 3}))
        top = answer["results"][0]
        assert top["source"] == str(docs / "manual.pdf") and top["page"] == 3, top
        assert top["heading"] == "Pump Maintenance Manual"
        assert "45 newton metres" in top["text"] and "impeller" not in top["text"], "a passage never spans two pages"
        seal = structured(await session.call_tool("query_knowledge_base", {"query": "mechanical seal leaking", "n_results": 1}))
        assert seal["results"][0]["page"] == 2

        wiring = structured(await session.call_tool("query_knowledge_base", {"query": "which terminal takes the brown conductor",
                                                                             "n_results": 1}))
        hit = wiring["results"][0]
        assert hit["source"] == str(docs / "guide.docx") and "page" not in hit, hit
        assert hit["heading"] == "Field Guide > Installation > Wiring"
        assert "L1 | brown phase conductor" in hit["text"]
        mount = structured(await session.call_tool("query_knowledge_base", {"query": "where to mount the cabinet", "n_results": 1}))
        assert mount["results"][0]["heading"] == "Field Guide > Installation"
        assert "- Check the earth connection first." in mount["results"][0]["text"]

        sources = structured(await session.call_tool("list_sources", {}))["sources"]
        pages = {entry["source"].rsplit("/", 1)[1]: entry.get("pages") for entry in sources}
        assert pages == {"manual.pdf": 3, "guide.docx": None, "notes.md": None}

        health = structured(await session.call_tool("health_check", {}))
        assert health["status"] in ("healthy", "degraded"), health
        # Nothing was unpacked past the budget, nor expanded from the entities: far below the bomb.
        assert health["process"]["peak_resident_bytes"] < 1 << 30, health["process"]
    stored = read_store(data, "SELECT page, count(*) FROM chunks WHERE source LIKE '%manual.pdf' GROUP BY page ORDER BY page")
    assert stored == [(1, 1), (2, 1), (3, 1)]
    printed = subprocess.run([binary, "query", "flange bolt torque", "-n", "1"], capture_output=True, text=True, timeout=60,
                             env=command_env(tmp_path, model_dir, MCP_RAG_DATA_DIR=str(data)))
    assert printed.returncode == 0, printed.stderr
    assert printed.stdout.startswith(f"1. {docs / 'manual.pdf'}, page 3 — Pump Maintenance Manual"), printed.stdout


async def test_a_pdf_changed_around_its_passages_keeps_them_and_their_new_pages(binary, model_dir, tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    manual = write_pdf(docs / "manual.pdf")
    data = tmp_path / "data"
    question = {"query": "flange bolt torque", "n_results": 1}
    async with connected(server_parameters(binary, data, model_dir, allowed_roots=[docs])) as (session, _):
        structured(await session.call_tool("ingest_documents", {"paths": [str(docs)], "technology": "plant"}))
        before = dict(read_store(data, "SELECT id, page FROM chunks"))
        assert structured(await session.call_tool("query_knowledge_base", question))["results"][0]["page"] == 3
        # A blank page in front: every passage the same, one page later; the cached answer goes.
        write_pdf(manual, pages=[""] + PAGES)
        report = structured(await session.call_tool("ingest_documents", {"paths": [str(docs)], "technology": "plant"}))
        assert report["chunks_added"] == 0 and report["chunks_unchanged"] == 3 and report["chunks_embedded"] == 0, report
        after = dict(read_store(data, "SELECT id, page FROM chunks"))
        assert after == {chunk: page + 1 for chunk, page in before.items()}, (before, after)
        answer = structured(await session.call_tool("query_knowledge_base", question))
        assert answer["results"][0]["page"] == 4 and not answer["cache_hit"], answer
        # A page of text in front: one passage more, the others keep their vectors.
        write_pdf(manual, pages=["Preface.\nSafety first: isolate the pump before any work."] + PAGES)
        report = structured(await session.call_tool("ingest_documents", {"paths": [str(docs)], "technology": "plant"}))
        assert report["chunks_added"] == 1 and report["chunks_unchanged"] == 3 and report["chunks_embedded"] == 1, report
        sources = structured(await session.call_tool("list_sources", {}))["sources"]
        assert sources[0]["pages"] == 4


async def test_pages_travel_through_chroma_to_a_process_that_never_read_the_pdf(binary, model_dir, tmp_path):
    url = os.environ["MCP_RAG_TEST_CHROMA_URL"]
    collection = f"pages-{uuid.uuid4().hex[:8]}"
    docs = tmp_path / "docs"
    docs.mkdir()
    write_pdf(docs / "manual.pdf")
    env = {"CHROMA_URL": url, "CHROMA_COLLECTION": collection}
    writer = server_parameters(binary, tmp_path / "writer", model_dir, allowed_roots=[docs], extra_env=env)
    try:
        async with connected(writer) as (session, _):
            structured(await session.call_tool("ingest_documents", {"paths": [str(docs)], "technology": "plant"}))
            answer = structured(await session.call_tool("query_knowledge_base",
                                                        {"query": "flange bolt torque", "mode": "semantic", "n_results": 1}))
            assert answer["results"][0]["page"] == 3, answer
            health = structured(await session.call_tool("health_check", {}))
            assert health["dependencies"]["vector_store"]["facts"]["pending"] == "0"
        records = passages_collection(url, collection).get(include=["metadatas"])
        assert sorted(metadata["page"] for metadata in records["metadatas"]) == [1, 2, 3]
        # Another machine's process, with a data folder of its own, learns the pages from Chroma.
        reader = server_parameters(binary, tmp_path / "reader", model_dir, allowed_roots=[docs], extra_env=env)
        async with connected(reader) as (session, _):
            keyword = structured(await session.call_tool("query_knowledge_base",
                                                         {"query": "mechanical seal", "mode": "keyword", "n_results": 1}))
            assert keyword["results"][0]["page"] == 2, keyword
            sources = structured(await session.call_tool("list_sources", {}))["sources"]
            assert [(entry["source"], entry.get("pages")) for entry in sources] == [(str(docs / "manual.pdf"), 3)]
    finally:
        drop_chroma_collection(url, collection)


def write_odt(path):
    """An OpenDocument text as LibreOffice writes one, through odfpy: a title, headings, a list, a
    table and a footnote."""
    from odf import dc
    from odf.opendocument import OpenDocumentText
    from odf.table import Table, TableCell, TableColumn, TableRow
    from odf.text import H, List, ListItem, Note, NoteBody, NoteCitation, P

    document = OpenDocumentText()
    document.meta.addElement(dc.Title(text="Boiler Handbook"))
    document.text.addElement(H(outlinelevel=1, text="Commissioning"))
    first = P(text="Bleed the radiators before the first firing")
    note = Note(noteclass="footnote", id="ftn1")
    note.addElement(NoteCitation(text="1"))
    body = NoteBody()
    body.addElement(P(text="Use the square key from the accessory bag."))
    note.addElement(body)
    first.addElement(note)
    first.addText(".")
    document.text.addElement(first)
    steps = List()
    item = ListItem()
    item.addElement(P(text="Check the expansion vessel pressure."))
    steps.addElement(item)
    document.text.addElement(steps)
    document.text.addElement(H(outlinelevel=2, text="Fault codes"))
    table = Table(name="codes")
    table.addElement(TableColumn(numbercolumnsrepeated=2))
    for code, meaning in (("Code", "Meaning"), ("F28", "ignition lockout after five attempts")):
        row = TableRow()
        for text in (code, meaning):
            cell = TableCell()
            cell.addElement(P(text=text))
            row.addElement(cell)
        table.addElement(row)
    document.text.addElement(table)
    document.save(str(path))
    return path


def write_epub(path):
    """An EPUB 3 book through EbookLib: two chapters, in a spine order that is not the files' order."""
    from ebooklib import epub

    book = epub.EpubBook()
    book.set_identifier("mcp-rag-test-book")
    book.set_title("The Lighthouse Keeper")
    book.set_language("en")
    second = epub.EpubHtml(title="Storms", file_name="a_storms.xhtml", lang="en")
    second.content = "<h1>Storms</h1><p>During the equinox gales the keeper trimmed the wick every hour.</p>"
    first = epub.EpubHtml(title="Arrival", file_name="b_arrival.xhtml", lang="en")
    first.content = ("<h1>Arrival</h1><p>The relief boat landed the new keeper on the north jetty.</p>"
                     "<h2>Provisions</h2><ul><li>paraffin for the lamp</li></ul>")
    for chapter in (first, second):
        book.add_item(chapter)
    book.toc = (first, second)
    book.add_item(epub.EpubNcx())
    book.add_item(epub.EpubNav())
    book.spine = ["nav", first, second]
    epub.write_epub(str(path), book)
    return path


async def test_opendocument_and_epub_files_answer_from_their_sections(binary, model_dir, tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    write_odt(docs / "handbook.odt")
    book = write_epub(docs / "keeper.epub")
    whole = book.read_bytes()
    (docs / "torn.epub").write_bytes(whole[: len(whole) // 2])
    async with connected(server_parameters(binary, tmp_path / "data", model_dir, allowed_roots=[docs])) as (session, _):
        report = structured(await session.call_tool("ingest_documents", {"paths": [str(docs)], "technology": "library"}))
        assert report["files_written"] == 2, report
        [(torn, reason)] = [(entry["path"], entry["reason"]) for entry in report["files_skipped"]]
        assert torn.endswith("torn.epub") and "damaged" in reason, reason

        async def best(query):
            return structured(await session.call_tool("query_knowledge_base", {"query": query, "n_results": 1}))["results"][0]

        code = await best("what does fault F28 mean")
        assert code["source"] == str(docs / "handbook.odt") and code["heading"] == "Boiler Handbook > Commissioning > Fault codes"
        assert "F28 | ignition lockout after five attempts" in code["text"]
        bleed = await best("bleeding radiators before firing")
        assert bleed["heading"] == "Boiler Handbook > Commissioning"
        assert "[1] Use the square key from the accessory bag." in bleed["text"], bleed["text"]
        assert "- Check the expansion vessel pressure." in bleed["text"]

        wick = await best("how often was the wick trimmed in gales")
        assert wick["source"] == str(docs / "keeper.epub") and wick["heading"] == "The Lighthouse Keeper > Storms", wick
        provisions = await best("paraffin for the lamp")
        assert provisions["heading"] == "The Lighthouse Keeper > Arrival > Provisions"
