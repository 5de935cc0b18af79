import Foundation
@testable import KnowledgeBase
import Storage
import Testing

@Suite("list_sources: summaries first, then pages that stay small")
struct SourceListingTests {
    private func record(_ path: String, _ label: String = "docs", chunks: Int = 2, at seconds: Double = 0) -> SourceRecord {
        SourceRecord(source: path, technology: label, contentHash: "h", chunkCount: chunks,
                     ingestedAt: Date(timeIntervalSince1970: seconds))
    }

    /// Every source, in byte order, as the store lists them.
    private func records(_ count: Int, pathLength: Int = 40) -> [SourceRecord] {
        let padding = String(repeating: "x", count: max(0, pathLength - 30))
        return (0..<count).map { index in
            record("/kb/\(["api", "guides", "notes"][index % 3])/\(padding)-\(String(format: "%06d", index)).md",
                   index % 2 == 0 ? "Swift" : "React Docs", chunks: index % 5 + 1, at: Double(index))
        }.sorted { $0.source.utf8.lexicographicallyPrecedes($1.source.utf8) }
    }

    /// Every page of `request`'s listing, following the cursors.
    private func allPages(_ all: [SourceRecord], _ request: SourceListRequest) throws -> [SourceListing] {
        var pages: [SourceListing] = []
        var request = request
        repeat {
            let page = try SourceListing.make(all, request: request)
            pages.append(page)
            request.cursor = page.nextCursor
        } while request.cursor != nil && pages.count < 10_000
        return pages
    }

    @Test func pagesListEveryFileOnceInOrder() throws {
        let all = records(1_234)
        let pages = try allPages(all, SourceListRequest(limit: 100))
        #expect(pages.count == 13)
        #expect(pages.flatMap(\.sources).map(\.source) == all.map(\.source))
        #expect(pages.dropLast().allSatisfy { $0.sources.count == 100 && $0.nextCursor != nil })
        #expect(pages.last?.nextCursor == nil)
        #expect(pages.allSatisfy { $0.totalSources == 1_234 })
    }

    @Test func longPathsMakeShorterPagesNotBiggerAnswers() throws {
        let all = records(400, pathLength: 3_000)
        let pages = try allPages(all, SourceListRequest(limit: 500))
        #expect(pages.count > 1)
        #expect(pages.flatMap(\.sources).map(\.source) == all.map(\.source))
        let encoder = JSONEncoder()
        for page in pages {
            #expect(try encoder.encode(page).count < 32_000)
        }
    }

    @Test func aPageHoldsAtLeastOneFileHoweverLongItsPath() {
        let huge = (0..<3).map { "/kb/" + String(repeating: "p", count: 30_000) + "\($0)" }
        let kept = AnswerBudget.prefix(huge, maxBytes: 1_000) { $0.utf8.count }
        #expect(kept.kept == [huge[0]] && kept.omitted == 2)
    }

    @Test func summariesCountWhatTheFilterKeeps() throws {
        let all = records(30)
        let listing = try SourceListing.make(all, request: SourceListRequest(technology: "react docs", limit: 5))
        let react = all.filter { $0.technology == "React Docs" }
        #expect(listing.totalSources == react.count)
        #expect(listing.totalChunks == react.reduce(0) { $0 + $1.chunkCount })
        #expect(listing.technologies.map(\.name) == ["React Docs"])
        #expect(listing.folders.map(\.name) == ["/kb/api", "/kb/guides", "/kb/notes"])
        #expect(listing.folders.reduce(0) { $0 + $1.sources } == react.count)
        #expect(listing.folders[0].lastIngestedAt == react.filter { $0.source.hasPrefix("/kb/api/") }.map(\.ingestedAt).max())
        #expect(listing.sources.count == 5 && listing.sources.allSatisfy { $0.technology == "React Docs" })
    }

    @Test func filesDirectlyInTheCommonFolderAreSummarisedUnderIt() throws {
        let all = [record("/a/b/one.md"), record("/a/b/sub/two.md"), record("/a/b/sub/deeper/three.md")]
        let listing = try SourceListing.make(all, request: SourceListRequest())
        #expect(listing.folders.map(\.name) == ["/a/b", "/a/b/sub"])
        #expect(listing.folders.map(\.sources) == [1, 2])
        let single = try SourceListing.make([record("/a/b/one.md")], request: SourceListRequest())
        #expect(single.folders.map(\.name) == ["/a/b"])
        #expect(try SourceListing.make([], request: SourceListRequest()).folders.isEmpty)
    }

    @Test func manyLabelsAreCappedAndCounted() throws {
        let all = (0..<300).map { record("/kb/file-\(String(format: "%03d", $0)).md", "label \($0)") }
        let listing = try SourceListing.make(all, request: SourceListRequest())
        #expect(listing.technologies.count > 10 && listing.technologies.count <= SourceListing.maxGroups)
        #expect(listing.technologies.count + listing.technologiesOmitted == 300)
        let byBytes = all.map(\.technology).sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        #expect(listing.technologies.map(\.name) == Array(byBytes.prefix(listing.technologies.count)))
        #expect(try JSONEncoder().encode(listing).count < 32_000)
    }

    @Test(arguments: ["", "garbage", "p1.!!!", "p1."])
    func aCursorThisServerDidNotGiveIsRefused(_ cursor: String) {
        #expect(throws: InvalidRequest.self) {
            try SourceListing.make(records(3), request: SourceListRequest(cursor: cursor))
        }
    }

    @Test func cursorsCarryAnyPathBytes() throws {
        for path in ["/kb/caf\u{E9}.md", "/kb/cafe\u{301}.md", "/kb/a+b=c/?.md", "/kb/日本.md"] {
            #expect(try SourceCursor.decode(SourceCursor.encode(path)).utf8.elementsEqual(path.utf8))
        }
    }

    @Test(arguments: [0, 501])
    func aLimitOutsideTheRangeIsRefused(_ limit: Int) {
        #expect(throws: InvalidRequest.self) { try SourceListing.make([], request: SourceListRequest(limit: limit)) }
    }

    @Test func ingestReportsListTheFirstFilesAndCountTheRest() {
        var report = IngestReport()
        report.filesSkipped = (0..<5_000).map { SkippedFile(path: "/kb/blob-\($0).bin", reason: "binary (a NUL byte at offset 0)") }
        report.sourcesRemoved = (0..<3).map { "/kb/gone-\($0).md" }
        let capped = report.cappedForAnswer()
        #expect(capped.filesSkipped == Array(report.filesSkipped.prefix(capped.filesSkipped.count)))
        #expect(capped.filesSkipped.count == 100 && capped.filesSkippedOmitted == 4_900)
        #expect(capped.sourcesRemoved == report.sourcesRemoved && capped.sourcesRemovedOmitted == 0)
    }
}
