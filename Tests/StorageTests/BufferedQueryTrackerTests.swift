import Foundation
import Logging
@testable import Redis
import Resilience
@testable import Storage
import Synchronization
import Testing
import TestSupport

/// A tracker that keeps what it is given in memory and fails while told to: the writer's
/// behaviour, without a server. Like the Redis tracker, it records a batch id once.
private final class RecordingTracker: BatchQueryTracker {
    struct Refused: Error, CustomStringConvertible {
        var description: String { "the server went away" }
    }

    let backendName = "recording"
    private let state = Mutex((failure: (any Error & Sendable)?.none, written: [QueryUse](), batches: 0, attempts: 0,
                               attemptIDs: [String](), recorded: Set<String>(), losesReplies: false))

    /// Whether writes fail, as if the server had gone away.
    var failing: Bool {
        get { state.withLock { $0.failure != nil } }
        set { state.withLock { $0.failure = newValue ? Refused() : nil } }
    }
    /// What writes fail with; nil while they succeed.
    var failure: (any Error & Sendable)? {
        get { state.withLock { $0.failure } }
        set { state.withLock { $0.failure = newValue } }
    }
    /// Whether writes are applied and then fail, as when a connection breaks before the reply.
    var losesReplies: Bool {
        get { state.withLock { $0.losesReplies } }
        set { state.withLock { $0.losesReplies = newValue } }
    }
    var written: [QueryUse] { state.withLock { $0.written } }
    var batches: Int { state.withLock { $0.batches } }
    var attempts: Int { state.withLock { $0.attempts } }
    /// The batch id of each write attempted, in order.
    var attemptIDs: [String] { state.withLock { $0.attemptIDs } }

    func track(_ uses: [QueryUse], batch id: String) async throws {
        try state.withLock { state in
            state.attempts += 1
            state.attemptIDs.append(id)
            if let failure = state.failure { throw failure }
            if state.recorded.insert(id).inserted {
                state.written += uses
                state.batches += 1
            }
            if state.losesReplies { throw Refused() }
        }
    }

    func reportTopQueries(limit: Int, now: Date) async throws -> [TrackedQuery] {
        if failing { throw Refused() }
        return []
    }

    func reportTotals(now: Date) async throws -> (unique: Int, total: Int) {
        if failing { throw Refused() }
        return (Set(written.map { QueryNormalizer.normalize($0.query) }).count, written.count)
    }
}

/// Counts the writer's pauses kept (`BufferedQueryTracker`'s `pauseKept` hook): each is a moment the
/// writer woke during a pause and decided to go on waiting.
private final class PauseWatcher: Sendable {
    private let kept = Mutex(0)

    var count: Int { kept.withLock { $0 } }

    func record() { kept.withLock { $0 += 1 } }
}

@Suite struct BufferedQueryTrackerTests {
    private let logger = Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }
    /// How long an outcome may take to arrive: the writer is a task, and in a test process whose
    /// other tests block the cooperative pool's threads (synchronous tests, forward passes) it can
    /// wait its turn for many seconds. In a server nothing blocks that pool.
    private static let patience: TimeInterval = 120
    /// Pauses short enough that recovery is quick, so the tests wait on outcomes, not on clocks.
    private let quickBackoff = RetryPolicy(initialDelay: .milliseconds(5), maxDelay: .milliseconds(20))

    /// A tracker over `inner` with its writer running, as the knowledge base's `run()` runs it; the
    /// writer ends when the test closes the tracker.
    private func makeTracker(_ inner: RecordingTracker, capacity: Int = 10_000,
                             breaker: CircuitBreaker = CircuitBreaker(name: "test"),
                             backoff: RetryPolicy? = nil, pauses: PauseWatcher = PauseWatcher()) -> BufferedQueryTracker {
        let tracker = BufferedQueryTracker(inner: inner, breaker: breaker, capacity: capacity, backoff: backoff ?? quickBackoff,
                                           readPatience: 1, logger: logger, pauseKept: { pauses.record() })
        Task { await tracker.runWriter() }
        return tracker
    }

    private func uses(_ count: Int, from start: Int = 0) -> [String] { (start..<start + count).map { "query \($0)" } }

    @Test func everyUseIsWrittenInOrderInBatches() async throws {
        let inner = RecordingTracker()
        let tracker = makeTracker(inner)
        let queries = uses(1_000)
        for query in queries { try tracker.track(query: query, technologyFilter: nil, at: Date()) }
        #expect(await tracker.flush(timeout: .seconds(Self.patience)))
        #expect(inner.written.map(\.query) == queries)
        // Sent as they accumulated, but never more than a batch per round trip.
        #expect(inner.batches >= queries.count / BufferedQueryTracker.batchLimit)
        #expect(tracker.backlog == TrackingBacklog(pending: 0, dropped: 0, lastError: nil))
        await tracker.close(timeout: .seconds(1))
    }

    @Test func blankQueriesAreNotBuffered() async throws {
        let inner = RecordingTracker()
        let tracker = makeTracker(inner)
        try tracker.track(query: " \n\t ", technologyFilter: nil, at: Date())
        #expect(tracker.backlog.pending == 0)
        #expect(inner.attempts == 0)
        await tracker.close(timeout: .seconds(0))
    }

    @Test func usesWaitWhileTheTrackerFailsAndArriveWhenItReturns() async throws {
        let inner = RecordingTracker()
        inner.failing = true
        let tracker = makeTracker(inner)
        let queries = uses(50)
        for query in queries { try tracker.track(query: query, technologyFilter: "docs", at: Date()) }
        #expect(await tracker.flush(timeout: .seconds(Self.patience)) == false, "a failed write ends the wait early")
        let backlog = tracker.backlog
        #expect(backlog.pending == 50)
        #expect(backlog.lastError == "the server went away")
        #expect(inner.written.isEmpty)

        inner.failing = false
        try tracker.track(query: "query 50", technologyFilter: nil, at: Date())
        #expect(await eventuallyAsync(timeout: Self.patience) { await tracker.flush(timeout: .milliseconds(50)) })
        #expect(inner.written.map(\.query) == queries + ["query 50"], "nothing lost, order kept")
        #expect(tracker.backlog == TrackingBacklog(pending: 0, dropped: 0, lastError: nil))
        await tracker.close(timeout: .seconds(1))
    }

    @Test func aBatchWhoseReplyWasLostIsSentAgainUnderItsIDAndCountsOnce() async throws {
        let inner = RecordingTracker()
        inner.losesReplies = true
        let tracker = makeTracker(inner)
        let first = uses(3)
        for query in first { try tracker.track(query: query, technologyFilter: nil, at: Date()) }
        #expect(await tracker.flush(timeout: .seconds(Self.patience)) == false, "the write was applied, but its reply never came")
        let failedID = try #require(inner.attemptIDs.first)
        // Queued meanwhile: sent after the failed batch, in a batch of its own.
        try tracker.track(query: "later", technologyFilter: nil, at: Date())
        inner.losesReplies = false
        #expect(await eventuallyAsync(timeout: Self.patience) { await tracker.flush(timeout: .milliseconds(50)) })
        let ids = inner.attemptIDs
        let resent = ids.prefix { $0 == failedID }
        #expect(resent.count >= 2, "sent again under the same id: \(ids)")
        #expect(ids.dropFirst(resent.count).allSatisfy { $0 != failedID })
        #expect(inner.written.map(\.query) == first + ["later"], "each use once, in order")
        #expect(tracker.backlog == TrackingBacklog(pending: 0, dropped: 0, lastError: nil))
        await tracker.close(timeout: .seconds(1))
    }

    @Test func aFullBufferDropsTheOldestAndCountsThem() async throws {
        let inner = RecordingTracker()
        inner.failing = true
        let tracker = makeTracker(inner, capacity: 5)
        for query in uses(8) { try tracker.track(query: query, technologyFilter: nil, at: Date()) }
        #expect(tracker.backlog.pending == 5)
        #expect(tracker.backlog.dropped == 3)
        inner.failing = false
        #expect(await eventuallyAsync(timeout: Self.patience) { await tracker.flush(timeout: .milliseconds(50)) })
        #expect(inner.written.map(\.query) == uses(5, from: 3), "the newest five were kept")
        #expect(tracker.backlog.dropped == 3)
        await tracker.close(timeout: .seconds(1))
    }

    @Test func failuresOpenTheBreakerAndItsTrialBringsTheCountsBack() async throws {
        let inner = RecordingTracker()
        inner.failing = true
        let breaker = CircuitBreaker(name: "recording", configuration: .init(failureThreshold: 3, openDuration: .milliseconds(50)))
        let tracker = makeTracker(inner, breaker: breaker)
        try tracker.track(query: "kept", technologyFilter: nil, at: Date())
        #expect(await eventuallyAsync(timeout: Self.patience) { breaker.snapshot.timesOpened >= 1 })
        // While open, reads fail fast with the breaker's refusal (or the failure itself during a trial).
        await #expect(throws: (any Error).self) { try await tracker.reportTotals(now: Date()) }

        inner.failing = false
        #expect(await eventuallyAsync(timeout: Self.patience) { await tracker.flush(timeout: .milliseconds(50)) }, "the writer's own trial closed the breaker; no query had to")
        #expect(breaker.snapshot.state == .closed)
        #expect(inner.written.map(\.query) == ["kept"])
        #expect(try await tracker.reportTotals(now: Date()) == (unique: 1, total: 1))
        await tracker.close(timeout: .seconds(1))
    }

    @Test func theServerAnsweringAnotherCallerEndsTheWritersPause() async throws {
        let inner = RecordingTracker()
        inner.failing = true
        // A pause far longer than the test, and a breaker that stays closed: only recovery ends it.
        let breaker = CircuitBreaker(name: "recording", configuration: .init(failureThreshold: 100))
        let pauses = PauseWatcher()
        let tracker = makeTracker(inner, breaker: breaker, backoff: RetryPolicy(initialDelay: .seconds(600), maxDelay: .seconds(600)),
                                  pauses: pauses)
        try tracker.track(query: "kept", technologyFilter: nil, at: Date())
        #expect(await eventuallyAsync(timeout: Self.patience) { tracker.backlog.lastError != nil })
        inner.failing = false
        // The writer looks whether the server answers others every recoveryCheckInterval: two
        // looks begun after the server came back, each ending in a pause kept.
        let before = pauses.count
        #expect(await eventuallyAsync(timeout: Self.patience) { pauses.count >= before + 2 }, "the writer woke during its pause and kept it")
        #expect(inner.attempts == 1, "nobody has seen the server answer yet: the writer keeps its pause")

        // A read through the same breaker (as the result cache or health_check would make) succeeds.
        _ = try await tracker.reportTotals(now: Date())
        #expect(await eventuallyAsync(timeout: Self.patience) { inner.written.map(\.query) == ["kept"] }, "the writer noticed and sent what it held")
        #expect(tracker.backlog == TrackingBacklog(pending: 0, dropped: 0, lastError: nil))
        await tracker.close(timeout: .seconds(1))
    }

    @Test func aRefusalThatIsNoOutageKeepsTheWritersPause() async throws {
        let inner = RecordingTracker()
        // An error reply: the server answers, so the breaker counts no failure, and an early retry
        // would only be refused again.
        inner.failure = RedisError.server("ERR the command was refused")
        let breaker = CircuitBreaker(name: "recording")
        let pauses = PauseWatcher()
        let tracker = makeTracker(inner, breaker: breaker, backoff: RetryPolicy(initialDelay: .seconds(600), maxDelay: .seconds(600)),
                                  pauses: pauses)
        try tracker.track(query: "kept", technologyFilter: nil, at: Date())
        #expect(await eventuallyAsync(timeout: Self.patience) { tracker.backlog.lastError != nil })
        #expect(breaker.snapshot.consecutiveFailures == 0, "the server answered: the breaker saw no outage")
        // The writer's first look after the failure, then one it is woken for by a new use: the
        // server answers the breaker both times, and the pause is kept all the same.
        #expect(await eventuallyAsync(timeout: Self.patience) { pauses.count >= 1 }, "the writer kept its pause after the failure")
        let before = pauses.count
        try tracker.track(query: "later", technologyFilter: nil, at: Date())
        #expect(await eventuallyAsync(timeout: Self.patience) { pauses.count > before }, "woken by the new use, the writer kept its pause")
        #expect(inner.attempts == 1)
        #expect(tracker.backlog.pending == 2)
        await tracker.close(timeout: .seconds(0))
    }

    @Test func closingStopsTheWriterAndLaterUsesAreIgnored() async throws {
        let inner = RecordingTracker()
        let tracker = makeTracker(inner)
        try tracker.track(query: "before", technologyFilter: nil, at: Date())
        await tracker.close(timeout: .seconds(5))
        #expect(inner.written.map(\.query) == ["before"])
        try tracker.track(query: "after", technologyFilter: nil, at: Date())
        #expect(tracker.backlog.pending == 0)
    }
}
