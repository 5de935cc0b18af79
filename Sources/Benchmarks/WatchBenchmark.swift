import Dispatch
import Foundation
import KnowledgeBase

/// How soon a file saved in a watched folder can be found, and how a burst of files is taken: a
/// knowledge base of its own watching a folder of its own, through the same watcher, batches and
/// ingest as `serve --watch`.
public struct WatchBenchmark: Sendable {
    public struct Report: Sendable, Codable {
        /// Files saved one at a time, each waited for.
        public var saves: Int
        /// From the save's return to its passage found by a keyword query.
        public var saveToSearchableP50Ms: Double
        public var saveToSearchableP90Ms: Double
        public var saveToSearchableMaxMs: Double
        /// Files written at once (a checkout), and what taking them cost.
        public var burstFiles: Int
        /// Batches the burst was applied in.
        public var burstBatches: Int
        /// From the first file written to the last one found.
        public var burstSeconds: Double
        public var burstFilesPerSecond: Double

        enum CodingKeys: String, CodingKey {
            case saves
            case saveToSearchableP50Ms = "save_to_searchable_p50_ms"
            case saveToSearchableP90Ms = "save_to_searchable_p90_ms"
            case saveToSearchableMaxMs = "save_to_searchable_max_ms"
            case burstFiles = "burst_files"
            case burstBatches = "burst_batches"
            case burstSeconds = "burst_seconds"
            case burstFilesPerSecond = "burst_files_per_second"
        }
    }

    public var saves: Int
    public var burstFiles: Int

    public init(saves: Int = 20, burstFiles: Int = 500) {
        self.saves = saves
        self.burstFiles = burstFiles
    }

    /// Runs in `knowledgeBase`, which must watch (`watchFolders`) and be empty, over the empty folder `folder`.
    public func run(on knowledgeBase: KnowledgeBase, folder: URL) async throws -> Report {
        let seed = folder.appendingPathComponent("seed.md")
        try "# Seed\n\nThe folder's first note.\n".write(to: seed, atomically: false, encoding: .utf8)
        _ = try await knowledgeBase.ingest(paths: [folder.path], technology: "bench", reach: .anywhere)
        guard var count = knowledgeBase.watchedSyncCount else {
            throw InvalidRequest("the knowledge base does not watch its folders")
        }
        // The folder is read in full once watched (the ingest above asked for it to be).
        await knowledgeBase.waitForWatchedSync(after: count)
        count = knowledgeBase.watchedSyncCount ?? count

        var latencies: [Double] = []
        for index in 0..<saves {
            let word = "zebrafinch\(index)x"
            let path = folder.appendingPathComponent("saved-\(index).md")
            try "# Saved \(index)\n\nNote \(index) mentions the \(word).\n".write(to: path, atomically: false, encoding: .utf8)
            let start = DispatchTime.now().uptimeNanoseconds
            while try await !Self.finds(word, in: knowledgeBase) {
                await knowledgeBase.waitForWatchedSync(after: count)
                count = knowledgeBase.watchedSyncCount ?? count
            }
            latencies.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6)
        }

        let before = count
        let start = DispatchTime.now().uptimeNanoseconds
        for index in 0..<burstFiles {
            try "# Burst \(index)\n\nBurst note \(index) about the quokka\(index)y.\n"
                .write(to: folder.appendingPathComponent("burst-\(index).md"), atomically: false, encoding: .utf8)
        }
        let last = "quokka\(burstFiles - 1)y"
        while burstFiles > 0, try await !Self.finds(last, in: knowledgeBase) {
            await knowledgeBase.waitForWatchedSync(after: count)
            count = knowledgeBase.watchedSyncCount ?? count
        }
        let burstSeconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        let sorted = latencies.sorted()
        return Report(saves: saves, saveToSearchableP50Ms: nearestRank(sorted, 0.5), saveToSearchableP90Ms: nearestRank(sorted, 0.9),
                      saveToSearchableMaxMs: sorted.last ?? 0, burstFiles: burstFiles, burstBatches: count - before,
                      burstSeconds: burstSeconds, burstFilesPerSecond: burstSeconds > 0 ? Double(burstFiles) / burstSeconds : 0)
    }

    private static func finds(_ word: String, in knowledgeBase: KnowledgeBase) async throws -> Bool {
        let answer = try await knowledgeBase.query(QueryRequest(query: word, limit: 1, mode: .keyword))
        return answer.results.first?.text.contains(word) == true
    }
}
