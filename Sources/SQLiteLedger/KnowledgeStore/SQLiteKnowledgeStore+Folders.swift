import BytePaths
import Foundation

/// A folder someone ingested, which `serve --watch` keeps in sync.
public struct FolderRecord: Sendable, Equatable {
    /// The folder's real path (links resolved).
    public var path: String
    /// The label its files were ingested under.
    public var technology: String
    /// Whether it came through a client of the server, whose files must stay inside the allowed
    /// folders (the command line's own user reads anywhere).
    public var confined: Bool
    public var recordedAt: Date

    public init(path: String, technology: String, confined: Bool, recordedAt: Date = Date()) {
        self.path = path
        self.technology = technology
        self.confined = confined
        self.recordedAt = recordedAt
    }
}

extension SQLiteKnowledgeStore {
    /// Records `folder`, replacing the records of folders inside it: its ingest labelled their files
    /// too, and the last ingest decides a file's label.
    public func recordFolder(_ folder: FolderRecord) throws {
        try writer.withLock { connection in
            try connection.transaction {
                _ = try Self.deleteFolders(under: folder.path, on: connection)
                let insert = try connection.cached("""
                    INSERT INTO folders(path, technology, confined, recorded_at) VALUES (?1, ?2, ?3, ?4)
                    """)
                defer { insert.reset() }
                try insert.bind(folder.path, at: 1)
                try insert.bind(folder.technology, at: 2)
                try insert.bind(folder.confined ? 1 : 0, at: 3)
                try insert.bind(folder.recordedAt.timeIntervalSince1970, at: 4)
                try insert.run()
            }
        }
    }

    /// Forgets the records of `path` and of the folders inside it; returns how many there were.
    @discardableResult
    public func forgetFolders(under path: String) throws -> Int {
        try writer.withLock { connection in
            try connection.transaction { try Self.deleteFolders(under: path, on: connection) }
        }
    }

    /// Every recorded folder, ordered by path.
    public func folders() throws -> [FolderRecord] {
        try reader.withLock { connection in
            let select = try connection.cached("SELECT path, technology, confined, recorded_at FROM folders ORDER BY path")
            var records: [FolderRecord] = []
            try select.forEachRow {
                records.append(FolderRecord(path: select.string(at: 0), technology: select.string(at: 1),
                                            confined: select.int(at: 2) != 0,
                                            recordedAt: Date(timeIntervalSince1970: select.double(at: 3))))
            }
            return records
        }
    }

    private static func deleteFolders(under path: String, on connection: SQLiteConnection) throws -> Int {
        let select = try connection.cached("SELECT path FROM folders")
        var inside: [String] = []
        try select.forEachRow {
            let recorded = select.string(at: 0)
            if PathBytes.isInside(recorded, path) { inside.append(recorded) }
        }
        let delete = try connection.cached("DELETE FROM folders WHERE path = ?1")
        for recorded in inside {
            defer { delete.reset() }
            try delete.bind(recorded, at: 1)
            try delete.run()
        }
        return inside.count
    }
}
