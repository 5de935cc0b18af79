import BytePaths
import Foundation
import Storage

/// What `list_sources` asks: an optional label filter and a page.
public struct SourceListRequest: Sendable {
    /// Sources per page when the client names no `limit`.
    public static let defaultLimit = 50
    /// The pages a client may ask for.
    public static let limitRange = 1...500

    /// Only sources whose label matches (ignoring case); nil or blank for all.
    public var technology: String?
    /// Where the page starts: the `next_cursor` of the previous page; nil for the first.
    public var cursor: String?
    /// Sources on this page at most (fewer when their paths are long: see `AnswerBudget`).
    public var limit: Int

    public init(technology: String? = nil, cursor: String? = nil, limit: Int = Self.defaultLimit) {
        self.technology = technology
        self.cursor = cursor
        self.limit = limit
    }
}

/// What the knowledge base holds, summarised first and then listed a page at a time, so that a
/// knowledge base of many thousands of files answers in a few kilobytes.
public struct SourceListing: Sendable, Encodable, Equatable {
    /// The sources and passages under one label or one folder.
    public struct Group: Sendable, Encodable, Equatable {
        public var name: String
        public var sources: Int
        public var chunks: Int
        public var lastIngestedAt: Date

        enum CodingKeys: String, CodingKey {
            case name, sources, chunks
            case lastIngestedAt = "last_ingested_at"
        }
    }

    /// One file of the knowledge base.
    public struct Source: Sendable, Encodable, Equatable {
        public var source: String
        public var technology: String
        public var chunks: Int
        public var ingestedAt: Date
        /// Its page count when it is a PDF; absent otherwise.
        public var pages: Int?

        enum CodingKeys: String, CodingKey {
            case source, technology, chunks, pages
            case ingestedAt = "ingested_at"
        }
    }

    /// Sources matching the filter.
    public var totalSources: Int
    /// Their passages.
    public var totalChunks: Int
    /// Per technology label, by label.
    public var technologies: [Group]
    public var technologiesOmitted: Int
    /// Per folder directly under the folder that holds every listed source, by path.
    public var folders: [Group]
    public var foldersOmitted: Int
    /// This page of sources, by path (byte order).
    public var sources: [Source]
    /// Pass it as `cursor` for the next page; nil on the last.
    public var nextCursor: String?

    enum CodingKeys: String, CodingKey {
        case totalSources = "total_sources"
        case totalChunks = "total_chunks"
        case technologies
        case technologiesOmitted = "technologies_omitted"
        case folders
        case foldersOmitted = "folders_omitted"
        case sources
        case nextCursor = "next_cursor"
    }

    /// Summaries at most this long each; the rest is counted in `*_omitted`.
    static let maxGroups = 50

    /// The listing of `records` (every source, ordered by path bytes) for `request`.
    public static func make(_ records: [SourceRecord], request: SourceListRequest) throws -> SourceListing {
        guard SourceListRequest.limitRange.contains(request.limit) else {
            throw InvalidRequest("limit must be between \(SourceListRequest.limitRange.lowerBound) and "
                + "\(SourceListRequest.limitRange.upperBound); got \(request.limit)")
        }
        var matching = records
        if let filter = request.technology, !filter.allSatisfy(\.isWhitespace) {
            let label = try TechnologyLabel.validate(filter, field: "technology_filter")
            matching = records.filter { TechnologyLabel.matches($0.technology, filter: label) }
        }
        let start = try request.cursor.map(SourceCursor.decode) ?? ""
        let after = matching.drop { !start.utf8.isEmpty && !start.utf8.lexicographicallyPrecedes($0.source.utf8) }
        // Two thirds of the budget for the page, a sixth for each summary.
        let page = AnswerBudget.prefix(Array(after.prefix(request.limit)),
                                       maxBytes: AnswerBudget.listBytes * 2 / 3) {
            AnswerBudget.perCopy($0.source) + $0.technology.utf8.count + 90
        }
        let technologies = AnswerBudget.prefix(groups(matching, by: { $0.technology }), maxItems: maxGroups,
                                               maxBytes: AnswerBudget.listBytes / 6, bytes: \.approximateBytes)
        let folders = AnswerBudget.prefix(groups(matching, by: folderKey(commonFolder(matching))), maxItems: maxGroups,
                                          maxBytes: AnswerBudget.listBytes / 6, bytes: \.approximateBytes)
        let more = page.kept.count < after.count
        return SourceListing(
            totalSources: matching.count, totalChunks: matching.reduce(0) { $0 + $1.chunkCount },
            technologies: technologies.kept, technologiesOmitted: technologies.omitted,
            folders: folders.kept, foldersOmitted: folders.omitted,
            sources: page.kept.map { Source(source: $0.source, technology: $0.technology, chunks: $0.chunkCount,
                                            ingestedAt: $0.ingestedAt, pages: $0.pages) },
            nextCursor: more ? page.kept.last.map { SourceCursor.encode($0.source) } : nil)
    }

    /// The records grouped by `key`, ordered by the key's bytes.
    private static func groups(_ records: [SourceRecord], by key: (SourceRecord) -> String) -> [Group] {
        var byKey: [[UInt8]: Group] = [:]
        for record in records {
            let name = key(record)
            let bytes = Array(name.utf8)
            var group = byKey[bytes] ?? Group(name: name, sources: 0, chunks: 0, lastIngestedAt: record.ingestedAt)
            group.sources += 1
            group.chunks += record.chunkCount
            group.lastIngestedAt = max(group.lastIngestedAt, record.ingestedAt)
            byKey[bytes] = group
        }
        return byKey.sorted { $0.key.lexicographicallyPrecedes($1.key) }.map(\.value)
    }

    /// The deepest folder holding every record, as path components.
    static func commonFolder(_ records: [SourceRecord]) -> [Substring] {
        guard let first = records.first else { return [] }
        var common = PathBytes.components(first.source).dropLast()
        for record in records.dropFirst() where !common.isEmpty {
            let components = PathBytes.components(record.source).dropLast()
            var shared = 0
            for (a, b) in zip(common, components) {
                guard a.utf8.elementsEqual(b.utf8) else { break }
                shared += 1
            }
            common = common.prefix(shared)
        }
        return Array(common)
    }

    /// The folder a record is summarised under: the common folder's child that holds it, or the
    /// common folder itself for a file directly inside it.
    private static func folderKey(_ common: [Substring]) -> (SourceRecord) -> String {
        { record in
            let components = PathBytes.components(record.source)
            let depth = components.count > common.count + 1 ? common.count + 1 : common.count
            return "/" + components.prefix(depth).joined(separator: "/")
        }
    }
}

extension SourceListing.Group {
    /// Roughly the bytes its JSON takes.
    var approximateBytes: Int { name.utf8.count + 80 }
}

/// A page position that reads as opaque to clients (MCP's cursors are): the last path listed,
/// base64url-encoded, so that any path bytes survive and a client is not tempted to make one up.
enum SourceCursor {
    private static let prefix = "p1."

    static func encode(_ lastSource: String) -> String {
        prefix + Data(lastSource.utf8).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    static func decode(_ cursor: String) throws -> String {
        let invalid = InvalidRequest("cursor is not one this server gave; start again without a cursor")
        guard cursor.hasPrefix(prefix), cursor.utf8.count <= 8_192 else { throw invalid }
        var base64 = String(cursor.dropFirst(prefix.count))
            .replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        base64 += String(repeating: "=", count: (4 - base64.utf8.count % 4) % 4)
        guard let data = Data(base64Encoded: base64), let path = String(data: data, encoding: .utf8), !path.isEmpty else {
            throw invalid
        }
        return path
    }
}
