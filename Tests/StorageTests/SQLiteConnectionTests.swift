import CSQLite
import Foundation
@testable import SQLiteLedger
import Testing

@Suite struct SQLiteConnectionTests {
    @Test func bindsAndReadsEveryType() throws {
        try withTemporaryDirectory { directory in
            let connection = try SQLiteConnection(path: directory.appendingPathComponent("t.db").path)
            try connection.execute("CREATE TABLE t(i INTEGER, d REAL, s TEXT, b BLOB, n TEXT)")
            let insert = try connection.prepare("INSERT INTO t VALUES (?, ?, ?, ?, ?)")
            try insert.bind(-42, at: 1)
            try insert.bind(2.5, at: 2)
            try insert.bind("héllo 👋", at: 3)
            try insert.bind(floats: [1, -0.5, .pi], at: 4)
            try insert.bind(nil as String?, at: 5)
            try insert.run()

            let select = try connection.prepare("SELECT i, d, s, b, n FROM t")
            var rows = 0
            try select.forEachRow {
                rows += 1
                #expect(select.int(at: 0) == -42)
                #expect(select.double(at: 1) == 2.5)
                #expect(select.string(at: 2) == "héllo 👋")
                #expect(select.byteCount(at: 3) == 12)
                #expect(select.floats(at: 3) == [1, -0.5, .pi])
                #expect(select.isNull(at: 4))
                #expect(select.optionalString(at: 4) == nil)
            }
            #expect(rows == 1)
        }
    }

    @Test func appliesThePragmas() throws {
        try withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("t.db").path
            let writer = try SQLiteConnection(path: path)
            let mode = try writer.prepare("PRAGMA journal_mode")
            #expect(try mode.step())
            #expect(mode.string(at: 0) == "wal")
            mode.reset()
            #expect(try writer.scalarInt("PRAGMA foreign_keys") == 1)
            #expect(try writer.scalarInt("PRAGMA synchronous") == 1)  // NORMAL
            #expect(try writer.scalarInt("PRAGMA busy_timeout") == 5000)

            let reader = try SQLiteConnection(path: path, readOnly: true)
            #expect(try reader.scalarInt("PRAGMA busy_timeout") == 5000)
            #expect(throws: SQLiteError.self) { try reader.execute("CREATE TABLE nope(x)") }
        }
    }

    @Test func errorsCarryCodeMessageAndSQL() throws {
        try withTemporaryDirectory { directory in
            let connection = try SQLiteConnection(path: directory.appendingPathComponent("t.db").path)
            let error = try #require(throws: SQLiteError.self) { try connection.prepare("SELEC 1") }
            #expect(error.primaryCode == SQLITE_ERROR)
            #expect(error.message.contains("syntax error"))
            #expect(error.context == "SELEC 1")
            #expect(error.description.contains("SELEC 1"))

            try connection.execute("CREATE TABLE u(x TEXT UNIQUE)")
            try connection.execute("INSERT INTO u VALUES ('a')")
            let insert = try connection.prepare("INSERT INTO u VALUES ('a')")
            let unique = try #require(throws: SQLiteError.self) { try insert.run() }
            #expect(unique.code == SQLITE_CONSTRAINT | (8 << 8))  // SQLITE_CONSTRAINT_UNIQUE, a macro Swift cannot import
            #expect(unique.isConstraintViolation)
            #expect(unique.message.contains("UNIQUE"))
        }
    }

    @Test func openingAMissingFileReadOnlyFails() throws {
        try withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("absent.db").path
            let error = try #require(throws: SQLiteError.self) { try SQLiteConnection(path: path, readOnly: true) }
            #expect(error.primaryCode == SQLITE_CANTOPEN)
            #expect(error.context.contains(path))
        }
    }

    @Test func transactionCommitsOrRollsBack() throws {
        struct Planned: Error {}
        try withTemporaryDirectory { directory in
            let connection = try SQLiteConnection(path: directory.appendingPathComponent("t.db").path)
            try connection.execute("CREATE TABLE t(x INTEGER)")
            try connection.transaction { try connection.execute("INSERT INTO t VALUES (1)") }
            #expect(throws: Planned.self) {
                try connection.transaction {
                    try connection.execute("INSERT INTO t VALUES (2)")
                    throw Planned()
                }
            }
            #expect(connection.isAutocommit)
            #expect(try connection.scalarInt("SELECT count(*) FROM t") == 1)
            #expect(try connection.scalarInt("SELECT max(x) FROM t") == 1)
        }
    }

    @Test func cachedStatementsAreReusedAndReset() throws {
        try withTemporaryDirectory { directory in
            let connection = try SQLiteConnection(path: directory.appendingPathComponent("t.db").path)
            let first = try connection.cached("SELECT ?1 + 1")
            try first.bind(1, at: 1)
            #expect(try first.step())
            #expect(first.int(at: 0) == 2)
            // Left mid-way on purpose: the cache must hand it back rewound and unbound.
            let second = try connection.cached("SELECT ?1 + 1")
            #expect(first === second)
            #expect(try second.step())
            #expect(second.isNull(at: 0))
            second.reset()
        }
    }

    @Test func statementOutlivingItsConnectionIsSafe() throws {
        try withTemporaryDirectory { directory in
            var connection: SQLiteConnection? = try SQLiteConnection(path: directory.appendingPathComponent("t.db").path)
            let statement = try #require(connection).prepare("SELECT 7")
            connection = nil
            // close_v2 keeps the handle alive until the statement is finalized.
            #expect(try statement.step())
            #expect(statement.int(at: 0) == 7)
            statement.reset()
        }
    }
}
