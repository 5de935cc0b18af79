import Foundation
@testable import SQLiteLedger
@testable import Storage
import Testing
import TestSupport

/// Pages of paged documents (PDF): kept with each passage and with the source, brought up to date
/// when text moves to another page, and sent to the remote store.
@Suite struct PageTests {
    static func paged(_ id: String, page: Int?, axis: Int = 0) -> ChunkRecord {
        var chunk = makeChunk(id, source: "manual.pdf", axis: axis)
        chunk.page = page
        return chunk
    }

    static func record(_ chunks: [ChunkRecord], pages: Int?, hash: String = "h1") -> SourceRecord {
        var record = makeRecord("manual.pdf", hash: hash, chunks: chunks)
        record.pages = pages
        return record
    }

    @Test func passagesAndSourcesKeepTheirPages() throws {
        try withStore { store, _ in
            let chunks = [Self.paged("a", page: 1), Self.paged("b", page: 3, axis: 1)]
            _ = try store.replaceSource(Self.record(chunks, pages: 3), chunks: chunks)
            #expect(try store.source("manual.pdf")?.pages == 3)
            #expect(try store.listSources().map(\.pages) == [3])
            let stored = try store.chunks(ids: ["a", "b"])
            #expect(stored["a"]?.page == 1 && stored["b"]?.page == 3)

            let plain = [makeChunk("m")]
            _ = try store.replaceSource(makeRecord(chunks: plain), chunks: plain)
            #expect(try store.source("guide.md")?.pages == nil)
            #expect(try store.chunks(ids: ["m"])["m"]?.page == nil)
        }
    }

    @Test func textThatMovedToAnotherPageKeepsItsRowAndLearnsThePage() throws {
        try withStore { store, _ in
            let first = [Self.paged("a", page: 1), Self.paged("b", page: 2, axis: 1)]
            _ = try store.replaceSource(Self.record(first, pages: 2), chunks: first)
            #expect(try store.bindVectorTarget("chroma") == 3)
            let pending = try store.pendingVectorChanges(limit: 10)
            try store.acknowledgeVectorChanges(through: pending.last?.sequence ?? 0)
            // A page inserted in front: the same passages, one page later.
            let second = [Self.paged("a", page: 2), Self.paged("b", page: 3, axis: 1)]
            let outcome = try store.replaceSource(Self.record(second, pages: 3, hash: "h2"), chunks: second)
            #expect(outcome == ReplaceOutcome(added: 0, removed: 0, unchanged: 2))
            let stored = try store.chunks(ids: ["a", "b"])
            #expect(stored["a"]?.page == 2 && stored["b"]?.page == 3)
            #expect(try store.source("manual.pdf")?.pages == 3)
            // The remote store hears of the new pages: both passages again, then the source.
            let changes = try store.pendingVectorChanges(limit: 10)
            let pages = changes.compactMap { change -> Int? in
                if case .upsert(_, let passage, _, _, _) = change.operation { return passage.page }
                return nil
            }
            #expect(pages == [2, 3])
            guard case .source(let source?) = changes.last?.operation else {
                Issue.record("the source entry comes last")
                return
            }
            #expect(source.pages == 3)
            // The same pages again: the passages are not sent again, only the source's entry.
            try store.acknowledgeVectorChanges(through: changes.last?.sequence ?? 0)
            _ = try store.replaceSource(Self.record(second, pages: 3, hash: "h3"), chunks: second)
            let again = try store.pendingVectorChanges(limit: 10)
            #expect(again.count == 1)
            guard case .source = again.first?.operation else {
                Issue.record("only the source entry is queued")
                return
            }
        }
    }

    @Test func aVersion5StoreGainsPagesWithoutLosingAnything() throws {
        try withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("kb.sqlite").path
            try writeOldStore(at: path, version: 5, text: "an ocelot")
            let store = try SQLiteKnowledgeStore(path: path, dimension: testDimension, logger: quietLogger)
            #expect(try store.keywordSearch("ocelot", limit: 5, technology: nil).map(\.id) == ["old"])
            #expect(try store.chunks(ids: ["old"])["old"] == StoredChunk(id: "old", source: "old.md", heading: "",
                                                                         technology: "swift", text: "an ocelot"))
            #expect(try store.source("old.md")?.pages == nil)
            let chunks = [Self.paged("p", page: 4)]
            _ = try store.replaceSource(Self.record(chunks, pages: 9), chunks: chunks)
            #expect(try store.chunks(ids: ["p"])["p"]?.page == 4)
            // The upgraded triggers send a page change to the remote store.
            _ = try store.bindVectorTarget("chroma")
            try store.acknowledgeVectorChanges(through: try store.pendingVectorChanges(limit: 10).last?.sequence ?? 0)
            let moved = [Self.paged("p", page: 5)]
            _ = try store.replaceSource(Self.record(moved, pages: 9, hash: "h2"), chunks: moved)
            let sent = try store.pendingVectorChanges(limit: 10).compactMap { change -> Int? in
                if case .upsert(_, let passage, _, _, _) = change.operation { return passage.page }
                return nil
            }
            #expect(sent == [5])
            #expect(try store.integrityCheck() == "ok")
        }
    }
}
