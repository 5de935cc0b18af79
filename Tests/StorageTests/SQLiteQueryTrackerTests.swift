import Foundation
@testable import SQLiteLedger
@testable import Storage
import Testing

@Suite struct SQLiteQueryTrackerTests {
    private let start = Date(timeIntervalSince1970: 1_700_000_000)

    private func withTracker(retention: TimeInterval = 30 * 86400,
                             _ body: (SQLiteQueryTracker, String) throws -> Void) throws {
        try withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("data/kb.sqlite").path
            try body(try SQLiteQueryTracker(path: path, retention: retention, logger: quietLogger), path)
        }
    }

    private func rowCount(_ path: String) throws -> Int? {
        try SQLiteConnection(path: path, readOnly: true).scalarInt("SELECT count(*) FROM query_stats")
    }

    @Test func countsAndMergesVariants() throws {
        try withTracker { tracker, _ in
            #expect(tracker.backendName == "sqlite")
            try tracker.track(query: "  How do I  INSTALL? ", technologyFilter: nil, at: start)
            try tracker.track(query: "how do i install?", technologyFilter: "swift", at: start + 10)
            try tracker.track(query: "How\tdo I\ninstall?", technologyFilter: "swift", at: start + 20)
            let top = try tracker.topQueries(limit: 10, now: start + 30)
            #expect(top == [TrackedQuery(query: "How do I install?", count: 3, lastAccessed: start + 20,
                                         technologyFilter: "swift")])
            #expect(try tracker.totals(now: start + 30) == (1, 3))
        }
    }

    @Test func blankQueriesAreIgnored() throws {
        try withTracker { tracker, path in
            try tracker.track(query: " \n\t ", technologyFilter: "swift", at: start)
            try tracker.track(query: "", technologyFilter: nil, at: start)
            #expect(try tracker.totals(now: start) == (0, 0))
            #expect(try rowCount(path) == 0)
        }
    }

    @Test func ordersByCountThenRecency() throws {
        try withTracker { tracker, _ in
            for (query, offsets) in [("a", [1.0, 2, 3]), ("b", [4, 5]), ("c", [6, 7]), ("d", [0])] {
                for offset in offsets { try tracker.track(query: query, technologyFilter: nil, at: start + offset) }
            }
            #expect(try tracker.topQueries(limit: 10, now: start + 10).map(\.query) == ["a", "c", "b", "d"])
            #expect(try tracker.topQueries(limit: 2, now: start + 10).map(\.query) == ["a", "c"])
            #expect(try tracker.topQueries(limit: 0, now: start + 10).isEmpty)
            #expect(try tracker.totals(now: start + 10) == (4, 8))
        }
    }

    @Test func latestUseWinsEvenOutOfOrder() throws {
        try withTracker { tracker, _ in
            try tracker.track(query: "Vacuum", technologyFilter: "postgres", at: start + 100)
            try tracker.track(query: "VACUUM", technologyFilter: nil, at: start + 50)
            let entry = try #require(try tracker.topQueries(limit: 1, now: start + 200).first)
            #expect(entry == TrackedQuery(query: "Vacuum", count: 2, lastAccessed: start + 100,
                                          technologyFilter: "postgres"))
            try tracker.track(query: "vacuum", technologyFilter: nil, at: start + 150)
            let latest = try #require(try tracker.topQueries(limit: 1, now: start + 200).first)
            #expect(latest == TrackedQuery(query: "vacuum", count: 3, lastAccessed: start + 150, technologyFilter: nil))
        }
    }

    @Test func expiredEntriesLeaveReportsAndTheTable() throws {
        try withTracker(retention: 1000) { tracker, path in
            try tracker.track(query: "old", technologyFilter: nil, at: start)
            try tracker.track(query: "old", technologyFilter: nil, at: start + 1)
            try tracker.track(query: "new", technologyFilter: nil, at: start + 900)
            #expect(try tracker.totals(now: start + 1000) == (2, 3))
            // At exactly `retention` after its last use an entry still counts; just after, not.
            #expect(try tracker.totals(now: start + 1001) == (2, 3))
            #expect(try tracker.topQueries(limit: 10, now: start + 1002).map(\.query) == ["new"])
            #expect(try tracker.totals(now: start + 1002) == (1, 1))
            #expect(try rowCount(path) == 2)  // reports only filter; track deletes

            try tracker.track(query: "other", technologyFilter: nil, at: start + 1100)
            #expect(try rowCount(path) == 2)
            // Asked again after expiring, it starts over.
            try tracker.track(query: "new", technologyFilter: nil, at: start + 5000)
            try tracker.track(query: "old", technologyFilter: nil, at: start + 5000)
            #expect(try tracker.topQueries(limit: 10, now: start + 5000).map(\.count) == [1, 1])
            #expect(try rowCount(path) == 2)
        }
    }

    @Test func expiredRowsGoAtMostOncePerInterval() throws {
        try withTracker(retention: 30) { tracker, path in
            try tracker.track(query: "first", technologyFilter: nil, at: start)  // purges (nothing yet)
            // "first" has expired, but the last purge was 40 s ago: it stays in the table, unreported.
            try tracker.track(query: "second", technologyFilter: nil, at: start + 40)
            #expect(try rowCount(path) == 2)
            #expect(try tracker.topQueries(limit: 10, now: start + 40).map(\.query) == ["second"])
            // A minute after the last purge, the next one deletes "first" and keeps "second".
            try tracker.track(query: "third", technologyFilter: nil, at: start + 60)
            #expect(try rowCount(path) == 2)
            #expect(try tracker.topQueries(limit: 10, now: start + 60).map(\.query) == ["third", "second"])
        }
    }

    @Test func survivesReopening() throws {
        try withTracker { tracker, path in
            try tracker.track(query: "kept", technologyFilter: nil, at: start)
            let reopened = try SQLiteQueryTracker(path: path, logger: quietLogger)
            try reopened.track(query: "Kept", technologyFilter: nil, at: start + 1)
            #expect(try reopened.totals(now: start + 2) == (1, 2))
        }
    }

    /// Before statistics had a file of their own they were a table of the knowledge base's file:
    /// an opening moves them, once, and leaves the knowledge base whole.
    @Test func countsInTheKnowledgeBaseFileAreMovedOnce() throws {
        try withTemporaryDirectory { directory in
            let knowledge = directory.appendingPathComponent("knowledge.sqlite3").path
            let statistics = directory.appendingPathComponent("queries.sqlite3").path
            let store = try SQLiteKnowledgeStore(path: knowledge, dimension: testDimension, logger: quietLogger)
            let chunks = [makeChunk("a", text: "shared file contents")]
            _ = try store.replaceSource(makeRecord(chunks: chunks), chunks: chunks)
            do {
                let former = try SQLiteQueryTracker(path: knowledge, logger: quietLogger)
                for offset in [0.0, 1, 2] { try former.track(query: "moved", technologyFilter: "t", at: start + offset) }
                try former.track(query: "once", technologyFilter: nil, at: start + 3)
            }
            let expected = [TrackedQuery(query: "moved", count: 3, lastAccessed: start + 2, technologyFilter: "t"),
                            TrackedQuery(query: "once", count: 1, lastAccessed: start + 3, technologyFilter: nil)]

            let tracker = try SQLiteQueryTracker(path: statistics, movedFrom: knowledge, logger: quietLogger)
            #expect(try tracker.topQueries(limit: 10, now: start + 4) == expected)
            #expect(try SQLiteConnection(path: knowledge, readOnly: true)
                .scalarInt("SELECT count(*) FROM sqlite_master WHERE name LIKE 'query_stats%'") == 0)
            // Opened again, nothing more to move: nothing counted twice.
            let again = try SQLiteQueryTracker(path: statistics, movedFrom: knowledge, logger: quietLogger)
            #expect(try again.totals(now: start + 4) == (2, 4))
            // An older version still running goes on counting in the old table: added at the next opening.
            do {
                let older = try SQLiteQueryTracker(path: knowledge, logger: quietLogger)
                for offset in [5.0, 6] { try older.track(query: "Moved", technologyFilter: nil, at: start + offset) }
            }
            #expect(try SQLiteQueryTracker(path: statistics, movedFrom: knowledge, logger: quietLogger)
                .topQueries(limit: 10, now: start + 7) == [
                    TrackedQuery(query: "Moved", count: 5, lastAccessed: start + 6, technologyFilter: nil), expected[1],
                ])
            #expect(try store.keywordSearch("shared", limit: 1, technology: nil).map(\.id) == ["a"])
            #expect(try store.integrityCheck() == "ok")
        }
    }
}
