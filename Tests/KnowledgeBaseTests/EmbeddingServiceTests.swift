import Dispatch
import Embeddings
import Foundation
@testable import KnowledgeBase
import Logging
import Synchronization
import Testing

@Suite("Embedding service: which thread runs what")
struct EmbeddingScheduleTests {
    typealias Schedule = EmbeddingService.Schedule
    let most = EmbeddingService.maxQueriesPerPass

    /// `count` queries of one text each.
    private func queries(_ count: Int) -> Schedule.Waiting { Schedule.Waiting(queryTexts: count, queryJobs: count) }

    @Test("a query that comes alone, or a few, get one pass over every thread")
    func fewQueriesShareEveryThread() {
        let idle = Schedule()
        #expect(idle.plan(thread: 0, lanes: 2, waiting: queries(1)) == .queries(texts: most, lane: nil))
        #expect(idle.plan(thread: 1, lanes: 2, waiting: queries(3)) == .queries(texts: most, lane: nil))
        #expect(idle.plan(thread: 0, lanes: 4, waiting: queries(7)) == .queries(texts: most, lane: nil))
        // One job of many texts (the encoder cuts its pass into one a thread).
        #expect(idle.plan(thread: 0, lanes: 2, waiting: .init(queryTexts: 10, queryJobs: 1)) == .queries(texts: most, lane: nil))
        // One lane (a GPU, an API, one core): every pass takes all that waits.
        #expect(idle.plan(thread: 0, lanes: 1, waiting: queries(40)) == .queries(texts: most, lane: nil))
    }

    @Test("queued queries are shared evenly among the lanes, each pass on its thread alone")
    func queuedQueriesGoToLanes() {
        let idle = Schedule()
        #expect(idle.plan(thread: 0, lanes: 2, waiting: queries(4)) == .queries(texts: 2, lane: 0))
        // A long queue: half an even share, but at least a few queries a pass.
        #expect(idle.plan(thread: 1, lanes: 2, waiting: queries(9)) == .queries(texts: 4, lane: 1))
        #expect(idle.plan(thread: 1, lanes: 2, waiting: queries(24)) == .queries(texts: 6, lane: 1))
        #expect(idle.plan(thread: 2, lanes: 4, waiting: queries(9)) == .queries(texts: 3, lane: 2))
        #expect(idle.plan(thread: 0, lanes: 2, waiting: queries(500)) == .queries(texts: most, lane: 0))
        // Beside a lane that runs, even one query takes a lane: a pass over every thread would wait for it.
        let oneRunning = Schedule(lanesRunning: 1)
        #expect(oneRunning.plan(thread: 1, lanes: 2, waiting: queries(1)) == .queries(texts: 1, lane: 1))
        // Its share, not all: the rest waits for the lane that frees up next.
        #expect(oneRunning.plan(thread: 0, lanes: 2, waiting: queries(8)) == .queries(texts: 4, lane: 0))
        // Every lane busy, or fewer lanes now (a GPU took over) than the thread's number: it waits.
        #expect(Schedule(lanesRunning: 2).plan(thread: 1, lanes: 2, waiting: queries(8)) == .wait)
        #expect(oneRunning.plan(thread: 1, lanes: 1, waiting: queries(8)) == .wait)
    }

    @Test("what needs the model to itself waits for the lanes, and nothing starts beside it")
    func aloneMeansAlone() {
        let laneRunning = Schedule(lanesRunning: 1)
        let alone = Schedule(aloneRunning: true)
        #expect(alone.plan(thread: 1, lanes: 2, waiting: queries(8)) == .wait)
        #expect(alone.plan(thread: 1, lanes: 2, waiting: .init(bulk: true)) == .wait)
        #expect(laneRunning.plan(thread: 0, lanes: 2, waiting: .init(otherJobFirst: true)) == .wait)
        #expect(Schedule().plan(thread: 1, lanes: 2, waiting: .init(otherJobFirst: true)) == .interactiveJob)
        #expect(laneRunning.plan(thread: 0, lanes: 2, waiting: .init(bulk: true)) == .wait)
        #expect(Schedule().plan(thread: 0, lanes: 2, waiting: .init(bulk: true)) == .bulkJob)
        // Queries go ahead of bulk work.
        #expect(Schedule().plan(thread: 0, lanes: 2, waiting: .init(queryTexts: 1, queryJobs: 1, bulk: true)) == .queries(texts: most, lane: nil))
    }

    @Test("a thread stops only once nothing waits")
    func stopping() {
        #expect(Schedule().plan(thread: 0, lanes: 2, waiting: .init(stopping: true)) == .stop)
        #expect(Schedule().plan(thread: 0, lanes: 2, waiting: .init(bulk: true, stopping: true)) == .bulkJob)
        #expect(Schedule().plan(thread: 0, lanes: 2, waiting: .init(queryTexts: 1, queryJobs: 1, stopping: true)) == .queries(texts: most, lane: nil))
        #expect(Schedule().plan(thread: 0, lanes: 2, waiting: .init()) == .wait)
    }

    @Test("a plan's work is marked running until it is marked finished")
    func marking() {
        var schedule = Schedule()
        schedule.mark(.queries(texts: 2, lane: 0), starting: true)
        schedule.mark(.queries(texts: 2, lane: 1), starting: true)
        #expect(schedule == Schedule(lanesRunning: 2))
        schedule.mark(.queries(texts: 2, lane: 0), starting: false)
        schedule.mark(.queries(texts: 2, lane: 1), starting: false)
        #expect(schedule == Schedule())
        for plan: Schedule.Plan in [.queries(texts: 1, lane: nil), .interactiveJob, .bulkJob] {
            schedule.mark(plan, starting: true)
            #expect(schedule == Schedule(aloneRunning: true))
            schedule.mark(plan, starting: false)
            #expect(schedule == Schedule())
        }
        schedule.mark(.wait, starting: true)
        #expect(schedule == Schedule())
    }

    @Test("queries queued together run in two lanes at once, each query answered with its own vector")
    func lanesRunSideBySide() async throws {
        let model = TwoLaneModel()
        let embeddings = EmbeddingService(logger: Logger(label: "test")) { model }
        embeddings.start()
        _ = try await embeddings.model()
        let gate = await EmbeddingThreadGate.holding(embeddings)
        let questions = ["a", "bb", "ccc", "dddd"]
        // Task.immediate: each query has joined the queue when the call returns.
        let answers = questions.map { question in
            Task.immediate { try await embeddings.embed([question], priority: .interactive) }
        }
        try await gate.open()
        for (answer, question) in zip(answers, questions) {
            #expect(try await answer.value == EmbeddingService.unitLength([TwoLaneModel.vector(question)], from: model))
        }
        let seen = model.seen.withLock { $0 }
        #expect(seen.mostAtOnce == 2, "the lanes ran side by side")
        #expect(seen.lanes == [0, 1])
        await embeddings.stop()
    }

    @Test("stopped while a job has the model to itself and another waits, every thread ends")
    func everyThreadEnds() async throws {
        let freed = DispatchSemaphore(value: 0)
        do {
            let embeddings = EmbeddingService(logger: Logger(label: "test")) { TwoLaneModel(onFree: { freed.signal() }) }
            embeddings.start()
            _ = try await embeddings.model()
            // Thread 0 holds the model alone; thread 1, woken by stop(), can only wait again.
            let gate = await EmbeddingThreadGate.holding(embeddings)
            let queued = Task.immediate { try await embeddings.onEmbeddingThread(priority: .bulk) { _ in "ran" } }
            // Task.immediate: stop() has been asked when the call returns; it returns once every thread ended.
            let stopped = Task.immediate { await embeddings.stop() }
            try await gate.open()
            #expect(try await queued.value == "ran", "a job queued before stop() still runs")
            await stopped.value
            await #expect(throws: EmbeddingUnavailable.self, "jobs asked for after stop() fail") {
                try await embeddings.onEmbeddingThread(priority: .bulk) { _ in "late" }
            }
        }
        // The threads hold the service, which holds the model: it is freed once every thread ended.
        let ended = await withCheckedContinuation { continuation in
            DispatchQueue.global().async { continuation.resume(returning: freed.wait(timeout: .now() + 10) == .success) }
        }
        #expect(ended, "every embedding thread ended")
    }
}

@Suite("Embedding service: unit vectors")
struct UnitVectorTests {
    /// A model that gives every text the vector (3, 4), or one already of unit length.
    private struct FixedModel: EmbeddingModel {
        let normalizes: Bool
        let vector: [Float]
        var name: String { "fixed" }
        var location: String { "memory" }
        var dimension: Int { 2 }
        var backendName: String { "test" }
        var bulkJobSize: Int? { nil }
        var passageWindow: Int { 256 }
        var local: SentenceEmbedder? { nil }
        func passageChunker(fillingWindow: Bool) -> Chunker { Chunker(tokenCount: { $0.count }) }
        func embed(_ texts: [String], work: EmbeddingWork) throws -> [[Float]] { texts.map { _ in vector } }
    }

    @Test("a model that does not normalise gets unit vectors, for queries and passages; one that does is left as it is")
    func vectorsHaveUnitLength() async throws {
        for (model, expected) in [(FixedModel(normalizes: false, vector: [3, 4]), [Float(0.6), 0.8]),
                                  (FixedModel(normalizes: false, vector: [0, 0]), [0, 0]),
                                  // Already unit length to float precision: kept bit for bit.
                                  (FixedModel(normalizes: false, vector: [0.6, 0.8000001]), [0.6, 0.8000001]),
                                  (FixedModel(normalizes: true, vector: [3, 4]), [3, 4])] {
            let embeddings = EmbeddingService(logger: Logger(label: "test")) { model }
            embeddings.start()
            #expect(try await embeddings.embed(["a question"], priority: .interactive) == [expected], "\(model)")
            #expect(try await embeddings.embed(["a passage", "another"], priority: .bulk) == [expected, expected], "\(model)")
            await embeddings.stop()
        }
    }
}

/// A model with two lanes whose lane passes wait (up to ten seconds) until both lanes are inside:
/// the first pass returns at once only if the second runs beside it.
private final class TwoLaneModel: EmbeddingModel, Sendable {
    struct Seen {
        var inside = 0
        var mostAtOnce = 0
        var lanes: Set<Int> = []
    }

    let seen = Mutex(Seen())
    private let bothInside = DispatchSemaphore(value: 0)
    private let onFree: @Sendable () -> Void

    init(onFree: @escaping @Sendable () -> Void = {}) {
        self.onFree = onFree
    }

    deinit {
        onFree()
    }

    static func vector(_ text: String) -> [Float] { [Float(text.count), 1] }

    var name: String { "two-lane" }
    var location: String { "memory" }
    var dimension: Int { 2 }
    var backendName: String { "test" }
    var normalizes: Bool { false }
    var bulkJobSize: Int? { nil }
    var passageWindow: Int { 256 }
    var local: SentenceEmbedder? { nil }
    var queryLanes: Int { 2 }

    func passageChunker(fillingWindow: Bool) -> Chunker { Chunker(tokenCount: { $0.count }) }

    func embed(_ texts: [String], work: EmbeddingWork) throws -> [[Float]] { texts.map(Self.vector) }

    func embedQueries(_ texts: [String], lane: Int) throws -> [[Float]] {
        let (inside, first) = seen.withLock { seen in
            seen.inside += 1
            seen.mostAtOnce = max(seen.mostAtOnce, seen.inside)
            defer { seen.lanes.insert(lane) }
            return (seen.inside, seen.lanes.isEmpty)
        }
        if first, inside == 1 {
            _ = bothInside.wait(timeout: .now() + 10)
        } else if inside == 2 {
            bothInside.signal()
        }
        seen.withLock { $0.inside -= 1 }
        return texts.map(Self.vector)
    }
}
