import BytePaths
import Embeddings
import Foundation
@testable import KnowledgeBase
import Logging
@testable import SQLiteLedger
import Storage
import Synchronization
import Telemetry
import Testing

/// Ingestion and queries over a real store and the real model.
@Suite(.serialized) struct KnowledgeBaseEngineTests {
    let folder: TemporaryFolder
    let docs: URL

    init() throws {
        folder = try TemporaryFolder()
        docs = folder.url.appendingPathComponent("docs")
        try FileManager.default.createDirectory(at: docs, withIntermediateDirectories: true)
        try write("a.md", "# Alpha\n\nThe alpha service stores invoices in a ledger.\n\nIt rotates keys every night.\n")
        try write("b.txt", "Beta answers questions about parking permits and street cleaning days.\n")
    }

    private func write(_ name: String, _ text: String) throws {
        try text.write(to: docs.appendingPathComponent(name), atomically: true, encoding: .utf8)
    }

    private func runtime(modelDirectory: String? = nil) throws -> KnowledgeBaseEngine {
        var configuration = KnowledgeBaseConfiguration(dataDirectory: folder.url.appendingPathComponent("data"))
        configuration.modelDirectory = try modelDirectory ?? realModelDirectory().path
        configuration.allowedRoots = [docs]
        let runtime = try KnowledgeBaseEngine(configuration: configuration, logger: Logger(label: "test"))
        runtime.embeddings.start()
        return runtime
    }

    private func ingest(_ runtime: KnowledgeBaseEngine, technology: String = "demo") async throws -> IngestReport {
        try await runtime.ingestor.ingest(IngestRequest(paths: [docs.path], technology: technology))
    }

    @Test func reingestingUnchangedFilesWritesNothing() async throws {
        let runtime = try runtime()
        let first = try await ingest(runtime)
        #expect(first.filesWritten == 2 && first.chunksAdded == first.chunksEmbedded && first.chunksAdded >= 2)
        let second = try await ingest(runtime)
        #expect(second.filesUnchanged == 2 && second.filesWritten == 0)
        #expect(second.chunksAdded == 0 && second.chunksEmbedded == 0)
        #expect(runtime.store.chunkCount() == first.chunksAdded)
    }

    @Test func aRenamedFileKeepsItsVectorsButACodeFileIsEmbeddedAgain() async throws {
        let runtime = try runtime()
        try write("tool.swift", "func rotateKeys() {\n    // every night\n}\n")
        _ = try await ingest(runtime)
        let old = docs.appendingPathComponent("a.md").path, new = docs.appendingPathComponent("renamed.md").path
        try FileManager.default.moveItem(atPath: old, toPath: new)
        var request = IngestRequest(paths: [new], technology: "demo", pruneMissing: false)
        request.formerPath = { $0 == new ? old : nil }
        let renamed = try await runtime.ingestor.ingest(request)
        // Ids include the path, so every passage is new; none went through the model.
        #expect(renamed.filesWritten == 1 && renamed.chunksAdded >= 1 && renamed.chunksEmbedded == 0)
        // A code file's passages are headed by its file name, so what the model reads changed.
        let code = docs.appendingPathComponent("tool.swift").path, moved = docs.appendingPathComponent("tools.swift").path
        try FileManager.default.moveItem(atPath: code, toPath: moved)
        request = IngestRequest(paths: [moved], technology: "demo", pruneMissing: false)
        request.formerPath = { $0 == moved ? code : nil }
        let movedCode = try await runtime.ingestor.ingest(request)
        #expect(movedCode.chunksAdded == 1 && movedCode.chunksEmbedded == 1)
    }

    @Test func aChangedFileReplacesOnlyItsChangedChunks() async throws {
        let runtime = try runtime()
        let first = try await ingest(runtime)
        try write("a.md", "# Alpha\n\nThe alpha service stores invoices in a ledger.\n\nIt rotates keys every hour.\n")
        let second = try await ingest(runtime)
        #expect(second.filesWritten == 1 && second.filesUnchanged == 1)
        // One paragraph changed: its chunk is replaced; the rest reuse their vectors.
        #expect(second.chunksAdded == second.chunksEmbedded)
        #expect(second.chunksAdded >= 1 && second.chunksRemoved == second.chunksAdded)
        #expect(runtime.store.chunkCount() == first.chunksAdded)
        let hits = try await runtime.queries.query(QueryRequest(query: "every hour", mode: .keyword, useCache: false))
        #expect(hits.results.first?.text.contains("every hour") == true)
        let stale = try await runtime.queries.query(QueryRequest(query: "every night", mode: .keyword, useCache: false))
        #expect(stale.results.allSatisfy { !$0.text.contains("every night") })
    }

    @Test func relabellingReusesVectorsAndMovesTheFilter() async throws {
        let runtime = try runtime()
        _ = try await ingest(runtime, technology: "old")
        let relabelled = try await ingest(runtime, technology: "new")
        #expect(relabelled.filesWritten == 2 && relabelled.chunksEmbedded == 0)
        let old = try await runtime.queries.query(QueryRequest(query: "invoices", technology: "old", mode: .semantic))
        let new = try await runtime.queries.query(QueryRequest(query: "invoices", technology: "new", mode: .semantic))
        #expect(old.results.isEmpty)
        #expect(new.results.first?.source.hasSuffix("/a.md") == true)
    }

    @Test func deletedFilesArePrunedAndSourcesRemovable() async throws {
        let runtime = try runtime()
        _ = try await ingest(runtime)
        try FileManager.default.removeItem(at: docs.appendingPathComponent("b.txt"))
        let pruned = try await ingest(runtime)
        #expect(pruned.sourcesRemoved.count == 1 && pruned.sourcesRemoved[0].hasSuffix("/b.txt"))
        #expect(try runtime.store.listSources().count == 1)
        let removal = try await runtime.ingestor.remove(try #require(PathBytes.resolve(docs.path)))
        #expect(removal.sources.count == 1 && removal.chunks >= 1)
        #expect(runtime.store.chunkCount() == 0)
    }

    /// Writes `count` one-passage sources straight to the store, one transaction each (as an ingest
    /// of as many files would): each adds a b-tree to the keyword index.
    private func writeSources(_ count: Int, from first: Int, into store: SQLiteKnowledgeStore) throws {
        var vector = [Float](repeating: 0, count: store.dimension)
        vector[0] = 1
        for number in first..<(first + count) {
            let source = "/elsewhere/s\(number).md"
            let chunk = ChunkRecord(id: "s\(number)", source: source, heading: "", technology: "demo",
                                    text: "note \(number) about topic \(number % 17)", ordinal: 0, vector: vector)
            _ = try store.replaceSource(SourceRecord(source: source, technology: "demo", contentHash: "h\(number)",
                                                     chunkCount: 1, ingestedAt: Date()), chunks: [chunk])
        }
    }

    @Test func ingestsAndRemovalsMergeTheKeywordIndexOnceEnoughTextChanged() async throws {
        let runtime = try runtime()
        try writeSources(300, from: 0, into: runtime.store)
        _ = try await ingest(runtime)
        // The ingest merged it: nothing changed since.
        #expect(try runtime.store.compactKeywordIndex() == .notDue)
        try writeSources(300, from: 300, into: runtime.store)
        #expect(try await runtime.ingestor.remove("/elsewhere/s0.md").chunks == 1)
        #expect(try runtime.store.compactKeywordIndex() == .notDue)
        #expect(try runtime.store.keywordSearch("topic", limit: 1_000, technology: nil).count == 599)
    }

    @Test func anIngestInvalidatesCachedAnswers() async throws {
        let runtime = try runtime()
        _ = try await ingest(runtime)
        let request = QueryRequest(query: "parking permits")
        _ = try await runtime.queries.query(request)
        #expect(try await runtime.queries.query(request).cacheHit)
        try write("c.md", "# Permits\n\nParking permits are issued by the town hall.\n")
        _ = try await ingest(runtime)
        let fresh = try await runtime.queries.query(request)
        #expect(!fresh.cacheHit)
        #expect(fresh.results.contains { $0.source.hasSuffix("/c.md") })
    }

    @Test func withoutAModelQueriesDegradeToKeywordSearch() async throws {
        let ready = try runtime()
        _ = try await ingest(ready)
        let broken = try runtime(modelDirectory: folder.url.appendingPathComponent("no-model").path)
        let answer = try await broken.queries.query(QueryRequest(query: "parking permits", mode: .hybrid))
        #expect(answer.degraded && answer.mode == .keyword)
        #expect(answer.degradedReason?.contains("keyword search alone") == true)
        #expect(answer.results.first?.source.hasSuffix("/b.txt") == true)
        let health = await broken.health.report(level: .readiness)
        #expect(health.status == .unhealthy)
        #expect(health.dependencies["embedding_model"]?.status == .unhealthy)
        await #expect(throws: EmbeddingUnavailable.self) { _ = try await broken.ingestor.ingest(IngestRequest(paths: [docs.path], technology: "x")) }
    }

    /// The real model's files, linked into a folder of its own, with `config.json` or the pooling
    /// settings replaced: another model as far as the knowledge base can tell.
    private func otherModel(named name: String, pooling: String? = nil, hiddenSize: Int? = nil, normalize: Bool = true) throws -> URL {
        let real = try realModelDirectory()
        let other = folder.url.appendingPathComponent(name)
        let manager = FileManager.default
        try manager.createDirectory(at: other.appendingPathComponent("1_Pooling"), withIntermediateDirectories: true)
        if !normalize {
            try Data("""
                [{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
                 {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}]
                """.utf8).write(to: other.appendingPathComponent("modules.json"))
        }
        let replaced = ["1_Pooling", "config.json"] + (normalize ? [] : ["modules.json"])
        for file in try manager.contentsOfDirectory(atPath: real.path) where !replaced.contains(file) {
            try manager.createSymbolicLink(at: other.appendingPathComponent(file), withDestinationURL: real.appendingPathComponent(file))
        }
        var config = try #require(try JSONSerialization.jsonObject(
            with: Data(contentsOf: real.appendingPathComponent("config.json"))) as? [String: Any])
        if let hiddenSize { config["hidden_size"] = hiddenSize }
        try JSONSerialization.data(withJSONObject: config).write(to: other.appendingPathComponent("config.json"))
        try Data(#"{"pooling_mode": "\#(pooling ?? "mean")"}"#.utf8).write(to: other.appendingPathComponent("1_Pooling/config.json"))
        return other
    }

    /// The real model with one layer's query weights scaled by 1.01, as a fine-tune merged into
    /// that layer leaves them: the weights file's first and last MiB, which the fingerprint
    /// samples, are as they were.
    private func fineTunedModel(named name: String) throws -> URL {
        let real = try realModelDirectory()
        let tuned = folder.url.appendingPathComponent(name)
        let manager = FileManager.default
        try manager.createDirectory(at: tuned, withIntermediateDirectories: true)
        for file in try manager.contentsOfDirectory(atPath: real.path) where file != "model.safetensors" {
            try manager.createSymbolicLink(at: tuned.appendingPathComponent(file), withDestinationURL: real.appendingPathComponent(file))
        }
        var weights = try Data(contentsOf: real.appendingPathComponent("model.safetensors"))
        let headerLength = Int(weights.prefix(8).withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) })
        let header = try #require(try JSONSerialization.jsonObject(with: weights.subdata(in: 8..<(8 + headerLength))) as? [String: Any])
        let name = try #require(header.keys.first { $0.hasSuffix("encoder.layer.2.attention.self.query.weight") })
        let offsets = try #require((header[name] as? [String: Any])?["data_offsets"] as? [Int])
        let (start, end) = (8 + headerLength + offsets[0], 8 + headerLength + offsets[1])
        #expect(start > 1 << 20 && end < weights.count - (1 << 20), "inside the part the fingerprint does not read")
        weights.withUnsafeMutableBytes { bytes in
            for offset in stride(from: start, to: end, by: 4) {
                let value = Float(bitPattern: UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt32.self)))
                bytes.storeBytes(of: (value * 1.01).bitPattern.littleEndian, toByteOffset: offset, as: UInt32.self)
            }
        }
        try weights.write(to: tuned.appendingPathComponent("model.safetensors"))
        return tuned
    }

    @Test func aFineTuneWithTheSameFingerprintIsStillAnotherModel() async throws {
        _ = try await ingest(try runtime())
        let tuned = try fineTunedModel(named: "tuned-model")
        #expect(ModelFingerprint.of(directory: tuned) == ModelFingerprint.of(directory: try realModelDirectory()))
        let other = try runtime(modelDirectory: tuned.path)
        let answer = try await other.queries.query(QueryRequest(query: "parking permits", mode: .hybrid, useCache: false))
        #expect(answer.degraded && answer.mode == .keyword)
        let reason = try #require(answer.degradedReason)
        #expect(reason.contains("made by another embedding model") && reason.contains("other weights"), "\(reason)")
        await #expect(throws: VectorsFromAnotherModel.self) { _ = try await ingest(other) }
        #expect(reason.contains("a knowledge base of its own") && !reason.contains("reembed"), "\(reason)")
        // reembed cannot move the knowledge base over: everything that names it goes by the fingerprint.
        let refusal = await #expect(throws: ClientError.self) {
            _ = try await Reembedder(store: other.store, embeddings: other.embeddings, fingerprint: try #require(other.modelFingerprint),
                                     weights: other.modelWeights).run { _ in }
        }
        #expect(refusal?.code == .invalidRequest && refusal?.message.contains("other weights") == true)
        // The model that made them still searches them.
        let again = try runtime()
        #expect(again.modelState.current == nil)
        #expect(try again.store.embeddingModelWeights() == again.modelWeights && again.modelWeights != nil)
    }

    @Test func vectorsOfAnotherModelTurnSemanticSearchOffAndIngestsAway() async throws {
        _ = try await ingest(try runtime())
        // The same weights pooled by CLS: vectors of the same width, from another model.
        let other = try runtime(modelDirectory: try otherModel(named: "cls-model", pooling: "cls").path)
        _ = try await other.embeddings.model()
        let answer = try await other.queries.query(QueryRequest(query: "parking permits", mode: .hybrid, useCache: false))
        #expect(answer.degraded && answer.mode == .keyword)
        let reason = try #require(answer.degradedReason)
        #expect(reason.contains("made by another embedding model"))
        // Both models by name, so that a person knows which to go back to.
        let recorded = try runtime().store.embeddingModelName()
        #expect(recorded != nil && recorded != "cls-model")
        #expect(reason.contains("model (\(recorded ?? "?"), fingerprint ") && reason.contains("loads (cls-model, fingerprint "), "\(reason)")
        #expect(answer.results.first?.source.hasSuffix("/b.txt") == true, "keyword search still answers")
        await #expect(throws: VectorsFromAnotherModel.self) { _ = try await ingest(other) }
        let health = await other.health.report(level: .readiness)
        #expect(health.dependencies["embedding_model"]?.status == .degraded)
        #expect(health.dependencies["embedding_model"]?.detail.contains("made by another embedding model") == true)
        // The model that made them still searches them.
        let again = try runtime()
        let fine = try await again.queries.query(QueryRequest(query: "parking permits", mode: .hybrid, useCache: false))
        #expect(!fine.degraded && fine.mode == .hybrid)
    }

    @Test func vectorsAnEarlierVersionStoredAtTheirOwnLengthAreEmbeddedAgain() async throws {
        // A model without Normalize: this version stores its vectors scaled to unit length.
        let raw = try otherModel(named: "raw-model", normalize: false).path
        let first = try runtime(modelDirectory: raw)
        _ = try await ingest(first)
        #expect(try first.store.hasUnitVectors(), "a new store is marked when it first meets this version")
        let fine = try await first.queries.query(QueryRequest(query: "parking permits", mode: .semantic, useCache: false))
        #expect(!fine.degraded && fine.mode == .semantic)
        // As an earlier version left it: no mark (its vectors were at their own length).
        let sqlite = try SQLiteConnection(path: folder.url.appendingPathComponent("data/knowledge.sqlite3").path)
        try sqlite.execute("DELETE FROM meta WHERE key = 'unit_vectors'")
        let earlier = try runtime(modelDirectory: raw)
        let answer = try await earlier.queries.query(QueryRequest(query: "parking permits", mode: .semantic, useCache: false))
        #expect(answer.degraded && answer.mode == .keyword)
        #expect(answer.degradedReason?.contains("stored at their own length by an earlier mcp-rag") == true, "\(answer)")
        await #expect(throws: VectorsFromAnotherModel.self) { _ = try await ingest(earlier) }
        // reembed is the cure, though the model is the same.
        let report = try await Reembedder(store: earlier.store, embeddings: earlier.embeddings,
                                          fingerprint: try #require(earlier.modelFingerprint), weights: earlier.modelWeights).run { _ in }
        #expect(!report.alreadyDone && report.passages >= 2)
        let after = try runtime(modelDirectory: raw)
        let healed = try await after.queries.query(QueryRequest(query: "parking permits", mode: .semantic, useCache: false))
        #expect(!healed.degraded && healed.mode == .semantic && healed.results.first?.source.hasSuffix("/b.txt") == true)
        #expect(try after.store.hasUnitVectors())
    }

    @Test func aStoreOfAModelThatNormalisesIsMarkedWithoutEmbeddingAgain() async throws {
        _ = try await ingest(try runtime())
        let sqlite = try SQLiteConnection(path: folder.url.appendingPathComponent("data/knowledge.sqlite3").path)
        try sqlite.execute("DELETE FROM meta WHERE key = 'unit_vectors'")
        let again = try runtime()
        #expect(again.modelState.current == nil)
        #expect(try again.store.hasUnitVectors(), "its vectors were unit vectors already")
    }

    @Test func anEmptyKnowledgeBaseTakesWhicheverModelOpensIt() async throws {
        // Opened with one model and nothing ingested, then with another: nothing to mismatch.
        let first = try runtime(modelDirectory: try otherModel(named: "cls-model", pooling: "cls").path)
        #expect(first.modelState.current == nil)
        let second = try runtime()
        #expect(second.modelState.current == nil)
        #expect(try await ingest(second).filesWritten == 2)
        let answer = try await second.queries.query(QueryRequest(query: "parking permits", mode: .hybrid, useCache: false))
        #expect(!answer.degraded)
    }

    @Test func vectorsOfAnotherWidthStillLetTheKnowledgeBaseOpen() async throws {
        _ = try await ingest(try runtime())
        // A model 768 wide (its weights do not fit: it will not load, and need not).
        let wide = try runtime(modelDirectory: try otherModel(named: "wide-model", hiddenSize: 768).path)
        let answer = try await wide.queries.query(QueryRequest(query: "parking permits", mode: .semantic, useCache: false))
        #expect(answer.degraded && answer.mode == .keyword)
        let reason = answer.degradedReason ?? ""
        #expect(reason.contains("vectors of 384 dimensions") && reason.contains("768 dimensions"), "\(reason)")
        // Both models by name: the one the store records, and the one loaded.
        #expect(reason.contains("(all-MiniLM-L6-v2, fingerprint ") && reason.contains("loads (wide-model, fingerprint "), "\(reason)")
        #expect(answer.results.first?.source.hasSuffix("/b.txt") == true)
    }

    @Test func queriesGoAheadOfQueuedIngestionBatches() async throws {
        let runtime = try runtime()
        let embeddings = runtime.embeddings
        let batch = BenchmarkTextsForTests.long(embedder: try #require(try await embeddings.model().local), count: 2)
        let order = RunOrder()
        // The batches and the query below all wait in the queues.
        let gate = await EmbeddingThreadGate.holding(embeddings)
        // Task.immediate runs each task here up to its first suspension: the job has joined its
        // queue when the call returns, so six batches are queued, in order, before the query.
        var jobs: [Task<Void, Error>] = []
        for index in 0..<6 {
            jobs.append(Task.immediate {
                try await embeddings.onEmbeddingThread(priority: .bulk) { embedder in
                    order.record("bulk\(index)")
                    _ = try embedder.embed(batch, work: .passages)
                }
            })
        }
        jobs.append(Task.immediate {
            try await embeddings.onEmbeddingThread(priority: .interactive) { embedder in
                order.record("query")
                _ = try embedder.embed(["a question"], work: .passages)
            }
        })
        try await gate.open()
        for job in jobs { try await job.value }
        // Run in the order the embedding thread took them: the query first, then the batches.
        #expect(order.names == ["query"] + (0..<6).map { "bulk\($0)" })
    }

    @Test func queriesWaitingTogetherSharePassesAndEachGetsItsOwnVector() async throws {
        let exposition = MetricsExposition()
        let embeddings = EmbeddingService(logger: Logger(label: "test"), metrics: exposition.metrics) {
            try SentenceEmbedder(directory: try realModelDirectory())
        }
        embeddings.start()
        let embedder = try await embeddings.model()
        let lanes = try #require(embedder.local).queryLanes
        let topics = ["where are invoices kept?", "parking permits", "key rotation",
                      "how does the alpha service keep its ledger of invoices, and how often are the keys rotated?"]
        // Enough questions for two a lane, however many lanes this machine has.
        let questions = (0..<max(topics.count, 2 * lanes)).map { "\(topics[$0 % topics.count]) (\($0))" }
        let alone = try questions.map { try embedder.embed([$0], work: .queries)[0] }
        /// Query passes counted so far (none before the first).
        func passes() -> Int {
            let prefix = "mcp_rag_embedding_passes_total{work=\"query\"} "
            let text = String(decoding: exposition.text(), as: UTF8.self)
            return text.split(separator: "\n").first { $0.hasPrefix(prefix) }.flatMap { Int($0.dropFirst(prefix.count)) } ?? 0
        }
        /// Queues `asked` while the threads are held, and returns the passes they took.
        func askTogether(_ asked: ArraySlice<String>) async throws -> Int {
            let before = passes()
            let gate = await EmbeddingThreadGate.holding(embeddings)
            let queries = asked.map { question in
                Task.immediate { try await embeddings.embed([question], priority: .interactive) }
            }
            try await gate.open()
            for (query, expected) in zip(queries, alone[asked.indices]) {
                #expect(try await query.value == [expected])
            }
            return passes() - before
        }
        // Two a lane or more: each lane takes its share into a pass of its own (thread 0 two of
        // them first), and whichever lane frees up first takes what is left.
        let queued = try await askTogether(questions[...])
        if lanes == 1 {
            #expect(queued == 1, "one pass for all of them")
        } else {
            #expect((2..<questions.count).contains(queued), "\(questions.count) queries in lane passes, not one each: \(queued)")
        }
        // Fewer than two a lane: one pass over every thread.
        #expect(try await askTogether(questions[..<max(1, 2 * lanes - 1)]) == 1)
        await embeddings.stop()
    }

    @Test func cacheWarmingAnswersTheTopQueriesWithoutCountingThem() async throws {
        let runtime = try runtime()
        _ = try await ingest(runtime)
        try runtime.tracker.track(query: "parking permits", technologyFilter: nil, at: Date())
        try runtime.tracker.track(query: "key rotation", technologyFilter: "demo", at: Date())
        await runtime.warmer.warm()
        #expect(runtime.warmer.current.warmed == 2)
        #expect(try await runtime.tracker.reportTotals(now: Date()).total == 2)
        #expect(try await runtime.queries.query(QueryRequest(query: "Parking  permits")).cacheHit)
        let report = await runtime.cacheWarmingReport(top: 5)
        #expect(report.cache.warmed == 2 && report.cache.lastWarmAt != nil)
    }
}

/// A bulk job that holds the embedding thread, so that the jobs asked for meanwhile all wait in the
/// queues, until `open()`.
struct EmbeddingThreadGate {
    private let release: DispatchSemaphore
    private let job: Task<Void, Error>

    /// Returns once the job holds the thread.
    static func holding(_ embeddings: EmbeddingService) async -> EmbeddingThreadGate {
        let (holding, held) = AsyncStream<Void>.makeStream()
        let release = DispatchSemaphore(value: 0)
        let job = Task {
            try await embeddings.onEmbeddingThread(priority: .bulk) { _ in
                held.yield()
                release.wait()
            }
        }
        for await _ in holding { break }
        return EmbeddingThreadGate(release: release, job: job)
    }

    /// Lets the thread go on to the queued jobs.
    func open() async throws {
        release.signal()
        try await job.value
    }
}

/// Names recorded in the order jobs ran, from the thread that ran them.
final class RunOrder: Sendable {
    private let recorded = Mutex<[String]>([])

    var names: [String] { recorded.withLock { $0 } }

    func record(_ name: String) { recorded.withLock { $0.append(name) } }
}

enum BenchmarkTextsForTests {
    /// `count` different texts of about 200 word pieces.
    static func long(embedder: SentenceEmbedder, count: Int) -> [String] {
        BenchmarkTexts(tokenizer: embedder.tokenizer, maxLength: 256).texts(count: count, tokens: 200)
    }
}
