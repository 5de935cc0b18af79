import Storage

/// A query's technology filter resolved against the labels the store holds: it names every stored
/// label equal to it ignoring case (`TechnologyLabel.matches`), and each search runs once per
/// label, exactly. Nearly always that is one label; "React Docs" and "react docs" both stored make
/// two, whose results are merged by score (each search scores a passage the same whatever the
/// filter, so the merged list is the best of their union).
struct LabelFilter: Sendable {
    /// The stored labels to search; nil when the query has no filter.
    let labels: [String]?

    /// `filter` (already validated) resolved against `known`.
    init(_ filter: String?, known: [String]) {
        labels = filter.map { filter in known.filter { TechnologyLabel.matches($0, filter: filter) } }
    }

    /// True when a filter was given and no stored label answers it.
    var matchesNothing: Bool { labels?.isEmpty == true }

    /// The best `limit` hits of `search` over the filter's labels (nil: unfiltered).
    func search(limit: Int, _ search: (String?) async throws -> [ScoredChunk]) async rethrows -> [ScoredChunk] {
        guard let labels else { return try await search(nil) }
        if labels.count == 1 { return try await search(labels[0]) }
        var merged: [ScoredChunk] = []
        for label in labels { merged += try await search(label) }
        return Array(merged.sorted(by: ScoredChunk.ranksBefore).prefix(limit))
    }
}
