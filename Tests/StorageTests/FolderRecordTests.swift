import Foundation
@testable import SQLiteLedger
import Testing

/// The folders people ingested, for `serve --watch`: the last ingest of a folder decides the labels
/// under it, removing a folder forgets what is inside it, and a store of the version before gains
/// the table empty.
@Suite struct FolderRecordTests {
    @Test func aFolderReplacesTheRecordsInsideItAndIsForgottenWithThem() throws {
        try withStore { store, _ in
            try store.recordFolder(FolderRecord(path: "/docs/api", technology: "api", confined: true))
            try store.recordFolder(FolderRecord(path: "/docs/apis", technology: "other", confined: false))
            try store.recordFolder(FolderRecord(path: "/docs/api/v2", technology: "v2", confined: true))
            #expect(try store.folders().map(\.path) == ["/docs/api", "/docs/api/v2", "/docs/apis"])
            // Ingesting the parent labelled everything below it: the inner record goes.
            try store.recordFolder(FolderRecord(path: "/docs", technology: "docs", confined: false))
            let folders = try store.folders()
            #expect(folders.map(\.path) == ["/docs"])
            #expect(folders.first?.technology == "docs" && folders.first?.confined == false)

            try store.recordFolder(FolderRecord(path: "/docs/api", technology: "api", confined: true))
            #expect(try store.forgetFolders(under: "/docs/ap") == 0)  // a prefix of bytes is not a folder
            #expect(try store.forgetFolders(under: "/docs/api") == 1)
            #expect(try store.folders().map(\.path) == ["/docs"])
            #expect(try store.forgetFolders(under: "/") == 1)
            #expect(try store.folders().isEmpty)
        }
    }

    @Test func aVersion6StoreGainsAnEmptyTable() throws {
        try withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("kb.sqlite").path
            try writeOldStore(at: path, version: 6, text: "an ocelot")
            let store = try SQLiteKnowledgeStore(path: path, dimension: testDimension, logger: quietLogger)
            #expect(try store.folders().isEmpty)
            #expect(try store.keywordSearch("ocelot", limit: 5, technology: nil).map(\.id) == ["old"])
            try store.recordFolder(FolderRecord(path: "/notes", technology: "notes", confined: false))
            #expect(try store.folders().map(\.technology) == ["notes"])
            #expect(try store.integrityCheck() == "ok")
        }
    }
}
