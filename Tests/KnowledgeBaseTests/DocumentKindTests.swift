import Foundation
import Testing
@testable import KnowledgeBase

@Suite struct DocumentKindTests {
    @Test func markupAndTextByExtension() {
        #expect(DocumentKind(fileName: "guide.md") == .markdown)
        #expect(DocumentKind(fileName: "guide.MARKDOWN") == .markdown)
        #expect(DocumentKind(fileName: "guide.mdown") == .markdown)
        #expect(DocumentKind(fileName: "page.mdx") == .mdx)
        #expect(DocumentKind(fileName: "notes.txt") == .text)
        #expect(DocumentKind(fileName: "notes.TEXT") == .text)
        #expect(DocumentKind(fileName: "index.rst") == .restructuredText)
        #expect(DocumentKind(fileName: "index.html") == .html)
        #expect(DocumentKind(fileName: "index.HTM") == .html)
        #expect(DocumentKind(fileName: "index.xhtml") == .html)
        #expect(DocumentKind(fileName: "paper.pdf") == .pdf)
        #expect(DocumentKind(fileName: "PAPER.PDF") == .pdf)
        #expect(DocumentKind(fileName: "report.docx") == .docx)
        #expect(DocumentKind.pdf.isBinaryFormat && DocumentKind.docx.isBinaryFormat && !DocumentKind.html.isBinaryFormat)
    }

    @Test func noExtensionIsText() {
        #expect(DocumentKind(fileName: "README") == .text)
        #expect(DocumentKind(fileName: "LICENSE") == .text)
        #expect(DocumentKind(url: URL(fileURLWithPath: "/repo/COPYING")) == .text)
        #expect(DocumentKind(fileName: "Makefile") == .sourceCode(language: "make"))
        #expect(DocumentKind(fileName: "Dockerfile") == .sourceCode(language: "dockerfile"))
    }

    @Test func sourceCode() {
        #expect(DocumentKind(fileName: "main.swift") == .sourceCode(language: "swift"))
        #expect(DocumentKind(fileName: "app.PY") == .sourceCode(language: "python"))
        #expect(DocumentKind(fileName: "x.tsx") == .sourceCode(language: "tsx"))
        #expect(DocumentKind(fileName: "lib.rs") == .sourceCode(language: "rust"))
        #expect(DocumentKind(fileName: "a.h") == .sourceCode(language: "c"))
        #expect(DocumentKind(fileName: "a.hpp") == .sourceCode(language: "cpp"))
        #expect(DocumentKind(fileName: "ci.yml") == .sourceCode(language: "yaml"))
        #expect(DocumentKind(fileName: "Package.resolved.json") == .sourceCode(language: "json"))
        for ext in ["go", "js", "ts", "jsx", "c", "cc", "cpp", "m", "java", "kt", "rb", "php", "cs", "sh", "bash",
                    "zsh", "sql", "yaml", "toml", "css", "scss", "lua", "r", "scala", "dart", "ex", "exs", "hs",
                    "ml", "zig"] {
            guard case .sourceCode = DocumentKind(fileExtension: ext) else {
                Issue.record("\(ext) is not source code")
                continue
            }
        }
    }

    @Test func unsupported() {
        #expect(DocumentKind(fileName: "photo.png") == nil)
        #expect(DocumentKind(fileName: "old.doc") == nil)
        #expect(DocumentKind(fileName: "archive.tar.gz") == nil)
        #expect(DocumentKind(fileName: "notes.md.bak") == nil)
        // A dot-file's name after the dot is its extension.
        #expect(DocumentKind(fileName: ".env") == nil)
        #expect(DocumentKind(fileName: ".gitignore") == nil)
        #expect(DocumentKind(fileName: ".eslintrc.json") == .sourceCode(language: "json"))
    }
}
