import Blocking
import EmbeddedVectors
import Foundation

/// When a store writes its vectors to a snapshot file (see `VectorSnapshot`).
public struct VectorSnapshotPolicy: Sendable {
    /// Stores with fewer chunks keep every vector in memory: they load from SQLite in well under a
    /// second (10,000 chunks: about 80 ms), and a file would gain nothing.
    public var minimumRows: Int
    /// Chunks changed since the snapshot (held in memory, or marked gone in it) beyond which a
    /// new one is written: the next store to open applies these from the chunk journal, reading
    /// each from SQLite (about 10 µs each), so this bounds its opening time.
    public var maximumRowsOutside: Int

    public init(minimumRows: Int = 10_000, maximumRowsOutside: Int = 50_000) {
        self.minimumRows = minimumRows
        self.maximumRowsOutside = maximumRowsOutside
    }

    /// True when an index of `rows` rows, `outside` of them not in its snapshot, should have a
    /// new one. Between a quarter of the rows and `maximumRowsOutside`: a store that is filling up
    /// rewrites its file a dozen times on the way to a million chunks, not once per batch.
    func isDue(rows: Int, outside: Int) -> Bool {
        guard rows >= minimumRows, outside > 0 else { return false }
        return outside >= min(maximumRowsOutside, max(minimumRows, rows / 4))
    }
}

/// How the vectors in memory were loaded, for the log.
enum VectorOrigin: CustomStringConvertible {
    /// Mapped from the snapshot file, then brought up to date with this many journal entries.
    case snapshot(appliedEntries: Int)
    /// Read from SQLite, with why the snapshot file was not used.
    case database(reason: String)
    /// None held: another store searches the vectors.
    case notKept

    var description: String {
        switch self {
        case let .snapshot(applied): "snapshot file, \(applied) journal entries applied"
        case let .database(reason): "SQLite (\(reason))"
        case .notKept: "none (another store searches them)"
        }
    }
}

extension SQLiteKnowledgeStore {
    /// The snapshot file beside the database, named like SQLite's own `-wal` and `-shm` files.
    public var snapshotPath: String { Self.snapshotPath(for: path) }

    static func snapshotPath(for databasePath: String) -> String { databasePath + "-vectors" }

    /// Every vector as of the newest commit, and the journal entry that includes: the snapshot
    /// file with the journal entries after it applied when it belongs to this database and the
    /// journal still reaches back to it, otherwise every vector read from SQLite. Runs inside a
    /// read transaction on `connection`, so the two agree.
    static func openVectors(on connection: SQLiteConnection, dimension: Int, storeID: String,
                            snapshotPath: String) throws -> (index: VectorIndex, seen: Int, origin: VectorOrigin) {
        let last = try lastJournalEntry(on: connection)
        let reason: String
        do {
            let snapshot = try VectorSnapshot(path: snapshotPath)
            if let problem = try mismatch(of: snapshot, dimension: dimension, storeID: storeID, last: last, on: connection) {
                reason = problem
            } else {
                let (index, applied) = try index(from: snapshot, upTo: last, on: connection)
                return (index, last, .snapshot(appliedEntries: applied))
            }
        } catch let error as VectorSnapshotError {
            if case let .unreadable(_, code) = error, code == ENOENT { reason = "no snapshot file" } else { reason = "\(error)" }
        }
        return (try loadVectors(from: connection, dimension: dimension), last, .database(reason: reason))
    }

    /// An index over `snapshot` with the journal entries after it up to `last` applied, and how
    /// many chunks those changed. Runs inside a read transaction on `connection`.
    private static func index(from snapshot: VectorSnapshot, upTo last: Int,
                              on connection: SQLiteConnection) throws -> (index: VectorIndex, applied: Int) {
        let index = VectorIndex(snapshot: snapshot)
        let changes = try journalChanges(after: snapshot.journalSequence, upTo: last, on: connection)
        changes.apply(to: index)
        return (index, changes.count)
    }

    /// Why `snapshot` cannot stand for this database's vectors, nil when it can: it must come from
    /// this database (`meta.store_id`), hold vectors of `dimension` values, and end at a journal
    /// entry that is still there, under the same chunk id (a database restored from a backup
    /// reuses sequence numbers for other changes).
    private static func mismatch(of snapshot: VectorSnapshot, dimension: Int, storeID: String, last: Int,
                                 on connection: SQLiteConnection) throws -> String? {
        guard snapshot.storeID == storeID else { return "the snapshot file belongs to another database" }
        guard snapshot.dimension == dimension else { return "the snapshot file holds vectors of \(snapshot.dimension) values" }
        guard snapshot.journalSequence <= last else { return "the snapshot file is ahead of the database" }
        if snapshot.journalSequence == 0 {
            let first = try firstJournalEntry(on: connection) ?? 1
            return first <= 1 ? nil : "the chunk journal no longer reaches back to the snapshot file"
        }
        guard let marker = try journalChunkID(at: snapshot.journalSequence, on: connection) else {
            return "the chunk journal no longer reaches back to the snapshot file"
        }
        return marker == snapshot.journalChunkID ? nil : "the snapshot file follows another history of this database"
    }

    /// The chunk id of journal entry `sequence` ("" for 0, before the first), nil once trimmed.
    static func journalChunkID(at sequence: Int, on connection: SQLiteConnection) throws -> String? {
        guard sequence > 0 else { return "" }
        let select = try connection.cached("SELECT chunk_id FROM chunk_journal WHERE seq = ?1")
        try select.bind(sequence, at: 1)
        defer { select.reset() }
        return try select.step() ? select.string(at: 0) : nil
    }

    // MARK: writing the file

    /// Writes the snapshot file in the background, on the blocking executor (whose `drain()` at
    /// shutdown waits for it), when the policy says it is due and no write is under way. Called
    /// after each change to the vectors in memory.
    func scheduleSnapshotIfDue() {
        guard snapshotIsDue, snapshotTurn.take(waiting: false) else { return }
        BlockingExecutor.detach { [self] in
            defer { snapshotTurn.release() }
            do {
                _ = try refreshSnapshot()
            } catch {
                // The vectors in memory are whole; only the next opening is slower.
                logger.warning("vector snapshot not written", metadata: ["rag.store.error": "\(error)"])
            }
        }
    }

    private var snapshotIsDue: Bool {
        keepsVectorIndex && vectors.withLock { snapshotPolicy.isDue(rows: $0.count, outside: $0.rowsOutsideSnapshot) }
    }

    /// Brings the snapshot file up to date with the vectors in memory now, whatever the policy
    /// says: adopts a newer file another process wrote, then writes one if vectors are still
    /// outside it. Returns false when nothing was written (nothing outside, or the journal entry
    /// the vectors reflect has already been trimmed). Waits for a write under way, so it is not
    /// for a blocking-executor job (the write it waits for may be queued behind it).
    @discardableResult
    public func writeSnapshot() throws -> Bool {
        guard keepsVectorIndex else { return false }
        _ = snapshotTurn.take(waiting: true)
        defer { snapshotTurn.release() }
        return try refreshSnapshot(evenIfNotDue: true)
    }

    /// Waits for a snapshot file being written in the background, so a process about to exit does
    /// not leave it half-written (a temporary file the next opening removes). Not for a
    /// blocking-executor job, as `writeSnapshot()`; `BlockingExecutor.drain()` waits for it too.
    public func waitForSnapshot() {
        snapshotTurn.waitUntilFree()
    }

    /// Adopts a newer snapshot another process wrote when there is one; then writes one if still
    /// due (or, `evenIfNotDue`, if any vector is outside it).
    private func refreshSnapshot(evenIfNotDue: Bool = false) throws -> Bool {
        if try adoptNewerSnapshot(), !evenIfNotDue, !snapshotIsDue { return false }
        return try writeSnapshotNow()
    }

    private func writeSnapshotNow() throws -> Bool {
        // The journal position is read before the rows are copied: they include at least every
        // change up to it, and a later change they include too is applied again at the next
        // opening, which changes nothing (the journal's chunks are read as they are then).
        let seen = journal.withLock { $0.seen }
        guard let marker = try reader.withLock({ try Self.journalChunkID(at: seen, on: $0) }) else { return false }
        let copied = vectors.withLock { $0.rowsOutsideSnapshot > 0 ? $0.snapshotRows() : nil }
        guard let rows = copied else { return false }
        let started = DispatchTime.now().uptimeNanoseconds
        let snapshot: VectorSnapshot
        do {
            try VectorSnapshotWriter.write(rows, journalSequence: seen, journalChunkID: marker, storeID: storeID, to: snapshotPath)
            snapshot = try VectorSnapshot(path: snapshotPath)
        } catch {
            vectors.withLock { $0.endSnapshotCopy() }
            throw error
        }
        // Changes made while the file was written are carried over on top of it.
        let adopted = vectors.withLock { $0.adoptWrittenSnapshot(snapshot) }
        logger.debug("vector snapshot written", metadata: [
            "rag.store.snapshot_adopted": "\(adopted)",
            "rag.store.chunks": "\(snapshot.rowCount)", "rag.store.snapshot_bytes": "\(snapshot.byteCount)",
            "rag.store.snapshot_ms": "\((DispatchTime.now().uptimeNanoseconds - started) / 1_000_000)",
        ])
        return true
    }

    /// Serves from the snapshot file on disk when another process has written one newer than the
    /// one this store maps (applying the journal entries after it): cheaper than writing one.
    private func adoptNewerSnapshot() throws -> Bool {
        let mapped = vectors.withLock { $0.snapshot?.journalSequence ?? -1 }
        // The header first: mapping and checking the whole file is only worth it when it is newer.
        guard let onDiskSequence = VectorSnapshot.journalSequence(ofFileAt: snapshotPath), onDiskSequence > mapped,
              let onDisk = try? VectorSnapshot(path: snapshotPath), onDisk.journalSequence > mapped else { return false }
        // The file mapped above is the one used: it is checked against the database once, here.
        return try writer.withLock { connection in
            try connection.readTransaction {
                let last = try Self.lastJournalEntry(on: connection)
                guard try Self.mismatch(of: onDisk, dimension: dimension, storeID: storeID, last: last, on: connection) == nil
                else { return false }
                let (index, applied) = try Self.index(from: onDisk, upTo: last, on: connection)
                vectors.withLock { $0 = index }
                journal.withLock { $0.seen = last }
                logger.debug("vectors served from another process's snapshot", metadata: ["rag.store.applied": "\(applied)"])
                return true
            }
        }
    }

    /// Removes the temporary snapshot files of processes that died while writing one.
    static func removeAbandonedSnapshots(beside snapshotPath: String) {
        let url = URL(fileURLWithPath: snapshotPath)
        let prefix = url.lastPathComponent + ".tmp-"
        let folder = url.deletingLastPathComponent()
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: folder.path) else { return }
        for name in names where name.hasPrefix(prefix) {
            guard let process = Int32(name.dropFirst(prefix.count)), process != getpid() else { continue }
            if kill(process, 0) != 0 && errno == ESRCH {
                unlink(folder.appendingPathComponent(name).path)
            }
        }
    }
}

/// Whose turn it is to write a snapshot file: at most one write is queued or running.
///
/// `@unchecked Sendable`: `busy` is read and written only with `condition` locked.
final class SnapshotTurn: @unchecked Sendable {
    private let condition = NSCondition()
    private var busy = false

    /// Takes the turn: at once, false when it is taken (`waiting` false), or once it is free.
    func take(waiting: Bool) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        if busy && !waiting { return false }
        while busy { condition.wait() }
        busy = true
        return true
    }

    func release() {
        condition.lock()
        busy = false
        condition.broadcast()
        condition.unlock()
    }

    /// Returns once no write is queued or running.
    func waitUntilFree() {
        condition.lock()
        while busy { condition.wait() }
        condition.unlock()
    }
}
