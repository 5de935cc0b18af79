import CKernels
import Foundation
import Storage

/// The chunk vectors for semantic search. A search scans their int8 codes (see `Int8Codes`: a
/// quarter of the float32 size, so a scan streams a quarter of the bytes), whose scores are off by
/// about 1e-3 for unit vectors of 384 values, and scores its best candidates exactly with their
/// float32 vectors, which the index keeps beside the codes (in memory, or in the snapshot file):
/// the scores it returns are exact.
///
/// The rows live in two places: a `VectorSnapshot` file mapped read-only (shared with every
/// process that maps it), and the rows changed since it was written, held in memory (`HeldRows`).
/// A large file's rows are scanned in two passes: their 4-bit codes (`Int4Codes`) choose
/// candidates, whose int8 codes then rank them; the rows in memory are scanned in int8 directly.
/// A row of the snapshot that is removed or replaced is only marked gone; `SQLiteKnowledgeStore`
/// writes a new snapshot once enough rows are outside it (see `rowsOutsideSnapshot`).
///
/// Vectors are expected to be unit length, so the dot product is the cosine similarity. Each row
/// carries its technology as a small integer code, so a filtered search compares integers, not
/// strings. Not thread-safe: the store keeps it under a lock.
public final class VectorIndex {
    /// Number of values in each vector.
    public let dimension: Int
    /// The mapped rows, if any.
    package private(set) var snapshot: VectorSnapshot?
    /// Each snapshot row's technology code, or `Self.gone` once the row was removed or replaced:
    /// a private copy, since the mapping is read-only.
    private var snapshotTechnology: [Int32] = []
    private var snapshotLiveRows = 0
    /// Snapshot rows relabelled since it was written (a row relabelled twice counts twice).
    private var snapshotRelabels = 0
    /// The rows not in the snapshot.
    private var recent: HeldRows
    private var labels = TechnologyLabels()
    /// The ids changed since `snapshotRows()` was taken, while a snapshot is being written from
    /// it: they are replayed on top of the new file when it is adopted. Nil when none is.
    private var changedSinceCopy: Set<String>?

    /// The technology code of a snapshot row that is no longer stored.
    static let gone: Int32 = -1

    /// An empty index for vectors of `dimension` values.
    public init(dimension: Int) {
        precondition(dimension > 0, "a vector index needs a positive dimension")
        self.dimension = dimension
        recent = HeldRows(dimension: dimension)
    }

    /// An index holding the rows of `snapshot` (whose dimension must be `dimension`).
    package init(snapshot: VectorSnapshot) {
        self.dimension = snapshot.dimension
        recent = HeldRows(dimension: snapshot.dimension)
        reset(to: snapshot)
    }

    /// Number of vectors stored.
    public var count: Int { snapshotLiveRows + recent.count }

    /// Rows the snapshot does not reflect: those held in memory, those of the snapshot marked
    /// gone, and those of it relabelled.
    public var rowsOutsideSnapshot: Int {
        recent.count + (snapshot?.rowCount ?? 0) - snapshotLiveRows + snapshotRelabels
    }

    /// Bytes the vectors take: those held in memory by capacity (the id strings' own bytes are not
    /// counted) and the mapped part of the snapshot file.
    public var memoryBytes: Int {
        recent.memoryBytes + snapshotTechnology.capacity * MemoryLayout<Int32>.stride + mappedBytes
    }

    /// Bytes of the snapshot file mapped into memory (all but its float32 vectors): memory the
    /// page cache holds once for every process.
    public var mappedBytes: Int { snapshot?.mappedByteCount ?? 0 }

    /// True when a vector is stored under `id`.
    public func contains(_ id: String) -> Bool {
        recent.row(of: id) != nil || liveSnapshotRow(of: id) != nil
    }

    /// Every technology label a row has carried since the index was built or reset: a superset
    /// of the labels stored now.
    public var knownLabels: [String] { labels.all }

    /// The technology label stored with `id`, if any.
    public func technology(for id: String) -> String? {
        if let row = recent.row(of: id) { return labels.label(recent.technology[row]) }
        return liveSnapshotRow(of: id).map { labels.label(snapshotTechnology[$0]) }
    }

    /// Makes room for `rows` vectors in all, so loading a large store grows the tables once.
    public func reserveCapacity(_ rows: Int) {
        recent.reserveCapacity(max(0, rows - snapshotLiveRows))
    }

    /// Stores `vector` (exactly `dimension` values) and `technology` under `id`, replacing any
    /// vector already stored under it.
    public func upsert(id: String, technology: String, vector: [Float]) {
        precondition(vector.count == dimension, "vector has \(vector.count) values, the index \(dimension)")
        markSnapshotRowGone(id)
        recent.upsert(id: id, technology: labels.code(for: technology), vector: vector)
        changedSinceCopy?.insert(id)
    }

    /// Changes the technology stored with `id`; returns false when `id` is not stored.
    @discardableResult
    public func setTechnology(_ technology: String, for id: String) -> Bool {
        let code = labels.code(for: technology)
        if let row = recent.row(of: id) {
            recent.setTechnology(code, row: row)
        } else if let row = liveSnapshotRow(of: id) {
            snapshotTechnology[row] = code
            snapshotRelabels += 1
        } else {
            return false
        }
        changedSinceCopy?.insert(id)
        return true
    }

    /// Removes the vector stored under `id`; returns false when there was none.
    @discardableResult
    public func remove(_ id: String) -> Bool {
        guard recent.remove(id) || markSnapshotRowGone(id) else { return false }
        changedSinceCopy?.insert(id)
        return true
    }

    /// Candidates the int8 scan keeps for a search of `limit`, to be scored exactly: the int8
    /// scores are within about 1e-3 of the true ones, so the true best `limit` are among these far
    /// more often than not (recall@10 against an exact float32 search is 1.0 on the tests' data).
    static func rescoredCandidates(limit: Int) -> Int {
        max(limit * 2, limit + 40)
    }

    /// The `limit` stored vectors most similar to `query` (exactly `dimension` values), best first,
    /// with their exact scores (the dot product of the float32 vectors); ties go to the smaller id
    /// so results are reproducible.
    ///
    /// With `technology` set, only rows carrying that label take part.
    public func search(query: [Float], limit: Int, technology: String?) -> [ScoredChunk] {
        search(query: query, limit: limit, technology: technology, instructionSet: CKernels_isa())
    }

    /// `search(query:limit:technology:)` with the scan kernels for `instructionSet` (see
    /// `CKernels_isa`), so that the tests can compare every variant.
    func search(query: [Float], limit: Int, technology: String?, instructionSet: Int32) -> [ScoredChunk] {
        guard limit > 0 else { return [] }
        let candidates = scan(query: query, limit: Self.rescoredCandidates(limit: limit), technology: technology,
                              instructionSet: instructionSet)
        var buffer = [Float](repeating: 0, count: dimension)
        let exact = query.withUnsafeBufferPointer { query in
            buffer.withUnsafeMutableBufferPointer { buffer in
                candidates.map { ScoredChunk(id: $0.hit.id, score: exactScore(of: $0, query: query.baseAddress!, buffer: buffer.baseAddress!)) }
            }
        }
        return Array(exact.sorted(by: ScoredChunk.ranksBefore).prefix(limit))
    }

    /// The `limit` best rows by their int8 scores alone, best first, with those scores: what
    /// `search` scores exactly. For the tests of the scan.
    func approximateSearch(query: [Float], limit: Int, technology: String?,
                           instructionSet: Int32 = CKernels_isa()) -> [ScoredChunk] {
        scan(query: query, limit: limit, technology: technology, instructionSet: instructionSet).map(\.hit)
    }

    /// A row of the index: in the snapshot file, or held in memory.
    private enum Row {
        case snapshot(Int)
        case held(Int)
    }

    /// A row the int8 scan kept: where it is, and its id with the approximate score.
    private struct Candidate {
        let row: Row
        let hit: ScoredChunk

        init(row: Row, id: String, score: Double) {
            self.row = row
            hit = ScoredChunk(id: id, score: score)
        }
    }

    /// The best `limit` rows by their int8 scores, best first; ties go to the smaller id.
    private func scan(query: [Float], limit: Int, technology: String?, instructionSet: Int32) -> [Candidate] {
        precondition(query.count == dimension, "query has \(query.count) values, the index \(dimension)")
        guard limit > 0, count > 0 else { return [] }
        var wanted: Int32?
        if let technology {
            // A label never stored matches nothing.
            guard let code = labels.existingCode(for: technology) else { return [] }
            wanted = code
        }
        let (queryCodes, queryScale) = Int8Codes.quantize(query)
        var found: [Candidate] = []
        if let snapshot, snapshotLiveRows > 0 {
            found += scanSnapshot(snapshot, queryCodes: queryCodes, queryScale: queryScale, limit: limit, wanted: wanted,
                                  instructionSet: instructionSet)
        }
        if recent.count > 0 {
            let scores = recent.codes.withUnsafeBufferPointer { codes in
                recent.scales.withUnsafeBufferPointer { scales in
                    Int8Scan.similarities(codes: codes.baseAddress!, scales: scales.baseAddress!, rows: recent.count,
                                          dimension: dimension, query: queryCodes, queryScale: queryScale,
                                          instructionSet: instructionSet)
                }
            }
            let ids = recent.ids
            let best = recent.technology.withUnsafeBufferPointer {
                Int8Scan.best(limit: limit, scores: scores, technology: $0, wanted: wanted) { ids[$0] < ids[$1] }
            }
            found += best.map { Candidate(row: .held($0), id: ids[$0], score: Double(scores[$0])) }
        }
        guard snapshot != nil, recent.count > 0 else { return found }
        return Array(found.sorted { ScoredChunk.ranksBefore($0.hit, $1.hit) }.prefix(limit))
    }

    /// The best `limit` live rows of `snapshot` among those labelled `wanted` (any when nil), best
    /// first by their int8 scores. A first pass over every row's 4-bit codes keeps the
    /// `Int4Codes.firstPassCandidates`, and only their int8 codes are read; when that would be
    /// more than an eighth of the rows, every row's int8 codes are read instead: one pass in file
    /// order costs less than so many reads here and there.
    private func scanSnapshot(_ snapshot: VectorSnapshot, queryCodes: [Int8], queryScale: Float, limit: Int,
                              wanted: Int32?, instructionSet: Int32) -> [Candidate] {
        // Snapshot rows are in the byte order of their ids' UTF-8, which is String order for the
        // ASCII ids mcp-rag makes: the smaller row is the smaller id.
        let firstPass = Int4Codes.firstPassCandidates(limit: limit)
        guard firstPass * 8 < snapshot.rowCount else {
            let scores = Int8Scan.similarities(codes: snapshot.codes, scales: snapshot.scales, rows: snapshot.rowCount,
                                               dimension: dimension, query: queryCodes, queryScale: queryScale,
                                               instructionSet: instructionSet)
            let best = snapshotTechnology.withUnsafeBufferPointer {
                Int8Scan.best(limit: limit, scores: scores, technology: $0, wanted: wanted, isBefore: <)
            }
            return best.map { Candidate(row: .snapshot($0), id: snapshot.id(at: $0), score: Double(scores[$0])) }
        }
        let rough = Int4Codes.similarities(codes: snapshot.int4Codes, scales: snapshot.int4Scales, rows: snapshot.rowCount,
                                           dimension: dimension, query: Int4Codes.Query(codes: queryCodes, scale: queryScale),
                                           instructionSet: instructionSet)
        // Only which rows pass matters, not their order; in row order their int8 codes are read
        // forward through the file.
        let candidates = snapshotTechnology.withUnsafeBufferPointer {
            Int8Scan.kept(limit: firstPass, scores: rough, technology: $0, wanted: wanted)
        }
        let scores = Int8Scan.similarities(of: candidates, codes: snapshot.codes, scales: snapshot.scales, dimension: dimension,
                                           query: queryCodes, queryScale: queryScale, instructionSet: instructionSet)
        var selector = TopKSelector<Int>(capacity: limit) { first, second in
            scores[first] > scores[second] || (scores[first] == scores[second] && first < second)
        }
        for candidate in candidates.indices { selector.offer(candidate) }
        return selector.sortedBestFirst().map {
            Candidate(row: .snapshot(candidates[$0]), id: snapshot.id(at: candidates[$0]), score: Double(scores[$0]))
        }
    }

    /// The dot product of `query` with the candidate's float32 vector (read from the snapshot
    /// file into `buffer` when it is there). Should the file fail to read, the candidate keeps its
    /// int8 score: an answer a little less exact rather than none.
    private func exactScore(of candidate: Candidate, query: UnsafePointer<Float>, buffer: UnsafeMutablePointer<Float>) -> Double {
        switch candidate.row {
        case let .snapshot(row):
            guard snapshot!.readVector(at: row, into: buffer) else { return candidate.hit.score }
            return Self.dot(query, buffer, count: dimension)
        case let .held(row):
            return recent.vector(at: row).withUnsafeBufferPointer { Self.dot(query, $0.baseAddress!, count: dimension) }
        }
    }

    /// The dot product in double precision: exact enough that rankings do not depend on the
    /// summation order.
    private static func dot(_ first: UnsafePointer<Float>, _ second: UnsafePointer<Float>, count: Int) -> Double {
        var sum = 0.0
        for index in 0..<count { sum += Double(first[index]) * Double(second[index]) }
        return sum
    }

    /// Everything a snapshot writer needs, detached from the index: it stays valid while the index
    /// changes (the arrays are copied on write). From now on the index notes which ids change, for
    /// `adoptWrittenSnapshot(_:)` or `endSnapshotCopy()`.
    package func snapshotRows() -> VectorSnapshotRows {
        changedSinceCopy = []
        return VectorSnapshotRows(dimension: dimension, labels: labels.all, snapshot: snapshot,
                                  snapshotTechnology: snapshotTechnology, recent: recent)
    }

    /// Stops noting changes: the snapshot written from `snapshotRows()` will not be adopted.
    package func endSnapshotCopy() {
        changedSinceCopy = nil
    }

    /// Serves from `snapshot`, written from this index's `snapshotRows()`, from now on: its rows
    /// replace those held in memory, and the rows changed since the copy are carried over on top.
    /// Returns false, changing nothing, when this index took no copy (the store replaced the
    /// index meanwhile, reloading it), or when a row to carry over cannot be read from the file
    /// it is in (the index then serves on as it was, and the store writes a file again later).
    @discardableResult
    package func adoptWrittenSnapshot(_ snapshot: VectorSnapshot) -> Bool {
        guard let changed = changedSinceCopy else { return false }
        // Rows added, replaced or relabelled since the copy, read before anything changes.
        var carried: [(id: String, technology: String, vector: [Float])] = []
        for id in changed {
            if let row = recent.row(of: id) {
                carried.append((id, labels.label(recent.technology[row]), Array(recent.vector(at: row))))
            } else if let row = liveSnapshotRow(of: id) {
                // A row of the old file relabelled since the copy.
                var vector = [Float](repeating: 0, count: dimension)
                guard vector.withUnsafeMutableBufferPointer({ self.snapshot!.readVector(at: row, into: $0.baseAddress!) }) else {
                    return false
                }
                carried.append((id, labels.label(snapshotTechnology[row]), vector))
            }
        }
        changedSinceCopy = nil
        reset(to: snapshot)
        for id in changed { markSnapshotRowGone(id) }
        for row in carried { recent.upsert(id: row.id, technology: labels.code(for: row.technology), vector: row.vector) }
        return true
    }

    /// Serves every row from `snapshot`, dropping the rows held in memory: a fresh index over a file.
    private func reset(to snapshot: VectorSnapshot) {
        precondition(snapshot.dimension == dimension, "a snapshot of \(snapshot.dimension) values for an index of \(dimension)")
        labels = TechnologyLabels(snapshot.labels)
        snapshotTechnology = Array(UnsafeBufferPointer(start: snapshot.technology, count: snapshot.rowCount))
        snapshotLiveRows = snapshot.rowCount
        snapshotRelabels = 0
        self.snapshot = snapshot
        recent = HeldRows(dimension: dimension)
    }

    private func liveSnapshotRow(of id: String) -> Int? {
        guard let row = snapshot?.row(of: id), snapshotTechnology[row] != Self.gone else { return nil }
        return row
    }

    @discardableResult
    private func markSnapshotRowGone(_ id: String) -> Bool {
        guard let row = liveSnapshotRow(of: id) else { return false }
        snapshotTechnology[row] = Self.gone
        snapshotLiveRows -= 1
        return true
    }
}

/// Technology labels and their codes. Labels are never removed: there are a handful, and keeping
/// them keeps codes stable.
struct TechnologyLabels {
    private(set) var all: [String] = []
    private var codes: [String: Int32] = [:]

    init(_ labels: [String] = []) {
        for label in labels { _ = code(for: label) }
    }

    func label(_ code: Int32) -> String { all[Int(code)] }

    func existingCode(for label: String) -> Int32? { codes[label] }

    mutating func code(for label: String) -> Int32 {
        if let code = codes[label] { return code }
        let code = Int32(all.count)
        all.append(label)
        codes[label] = code
        return code
    }
}
