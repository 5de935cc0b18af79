import Blocking
import Foundation
import Logging
import Resilience
import Storage

/// Puts a remote tracker (Redis) behind a bounded buffer, a writer and a circuit breaker, so that
/// tracking never slows or fails a query.
///
/// `track` only appends to the buffer. One writer, `runWriter()` (a child task of the knowledge
/// base's `run()`; each write on the blocking executor), sends what has accumulated, up to
/// `batchLimit` uses per round trip, through the breaker, each batch under an id of its own. A
/// failed write keeps its batch whole, to be sent first and under the same id (so a batch that was
/// applied as its connection broke counts once, see `BatchQueryTracker`), and waits: until the
/// breaker's next trial while it is open, otherwise by the retry policy's backoff (×2 from 1 s up
/// to 30 s, with jitter). The write after the pause is the breaker's trial, so a server that comes
/// back is noticed within one pause without any query asking, and the buffered counts arrive. The pause also ends as soon as anything else sharing the breaker (the
/// result cache, a health check) finds the server answering again: a busy server would otherwise fill
/// the buffer while the writer slept out a long backoff. A full buffer drops its oldest uses and
/// counts them.
///
/// Before a report reads (`topQueries`, `totals`), `waitForPendingUses()` gives the writer a
/// moment to send what is buffered, without holding a thread, so a report shows this process's own
/// recent queries; reads go through the breaker and throw when the server is unavailable.
public final class BufferedQueryTracker: QueryTracker {
    /// Uses held while the server is unavailable.
    public static let defaultCapacity = 10_000
    /// Uses sent in one pipelined round trip.
    static let batchLimit = 256

    public var backendName: String { inner.backendName }
    private let inner: any BatchQueryTracker
    private let breaker: CircuitBreaker
    private let buffer: TrackingBuffer
    /// How long a read waits for buffered uses to be written.
    private let readPatience: TimeInterval

    public convenience init(inner: any BatchQueryTracker, breaker: CircuitBreaker,
                            capacity: Int = BufferedQueryTracker.defaultCapacity, backoff: RetryPolicy = RetryPolicy(),
                            readPatience: TimeInterval = 1, logger: Logger) {
        self.init(inner: inner, breaker: breaker, capacity: capacity, backoff: backoff, readPatience: readPatience,
                  logger: logger, pauseKept: {})
    }

    /// As the public init, and `pauseKept` is called each time the writer, pausing after a failed
    /// write, wakes and keeps its pause (see `TrackingBuffer`): tests wait on it, not on a clock.
    init(inner: any BatchQueryTracker, breaker: CircuitBreaker, capacity: Int, backoff: RetryPolicy,
         readPatience: TimeInterval, logger: Logger, pauseKept: @escaping @Sendable () -> Void) {
        self.inner = inner
        self.breaker = breaker
        self.readPatience = readPatience
        let dependencyAnswers: @Sendable () -> Bool = { [breaker] in
            // Closed with no failure counted: some call succeeded since the writer's last failure.
            let state = breaker.snapshot
            return state.state == .closed && state.consecutiveFailures == 0
        }
        buffer = TrackingBuffer(capacity: capacity, backoff: backoff, logger: logger, pauseKept: pauseKept,
                                dependencyAnswers: dependencyAnswers) { [inner, breaker] uses, id in
            try await breaker.run(isFailure: RedisDependency.countsAsOutage) { try await inner.track(uses, batch: id) }
        }
    }

    deinit { buffer.stop() }

    /// Sends what is buffered as it comes, until `close` (or `stop`) ends it, or at once when the
    /// task is cancelled. Uses are only written while this runs.
    public func runWriter() async { await buffer.runWriter() }

    public func track(query: String, technologyFilter: String?, at date: Date) throws {
        guard !QueryNormalizer.normalize(query).isEmpty else { return }
        buffer.append(QueryUse(query: query, technologyFilter: technologyFilter, date: date))
    }

    public func reportTopQueries(limit: Int, now: Date) async throws -> [TrackedQuery] {
        try await breaker.run(isFailure: RedisDependency.countsAsOutage) { try await inner.reportTopQueries(limit: limit, now: now) }
    }

    public func reportTotals(now: Date) async throws -> (unique: Int, total: Int) {
        try await breaker.run(isFailure: RedisDependency.countsAsOutage) { try await inner.reportTotals(now: now) }
    }

    /// Waits up to the read patience for the uses accepted so far to be written.
    public func waitForPendingUses() async {
        await flush(timeout: .seconds(readPatience))
    }

    public var backlog: TrackingBacklog { buffer.backlog }

    /// `track` appends to the buffer and returns.
    public var tracksWithoutBlocking: Bool { true }

    /// Waits up to `timeout`, holding no thread, for every use accepted so far to be written; true
    /// when they were. Returns early, false, when a write fails meanwhile (the server is not taking
    /// them now), the writer stops, or the task is cancelled.
    @discardableResult
    public func flush(timeout: Duration) async -> Bool {
        await buffer.waitUntilWritten(timeout: timeout)
    }

    /// Makes a last attempt to write what is buffered (waiting up to `timeout`, or not at all when
    /// the task is cancelled), then stops the writer. Uses still buffered after that are lost, and
    /// logged as such.
    public func close(timeout: Duration) async {
        await flush(timeout: timeout)
        buffer.stop()
    }
}

/// The buffer and writer behind `BufferedQueryTracker`.
///
/// `@unchecked Sendable`: every stored property that changes is read and written only while
/// `lock` is held.
final class TrackingBuffer: @unchecked Sendable {
    /// How often a writer pausing after an outage looks whether the server answers others again.
    static let recoveryCheckInterval: TimeInterval = 0.25

    private let capacity: Int
    private let backoff: RetryPolicy
    private let logger: Logger
    private let write: @Sendable ([QueryUse], String) async throws -> Void
    /// Batch ids are this and a sequence number: unique across processes sharing the server.
    private let batchPrefix = UUID().uuidString
    /// Whether the server has answered someone since the last failure counted against it.
    private let dependencyAnswers: @Sendable () -> Bool
    /// Called with `lock` held each time the writer wakes during a pause and keeps pausing
    /// (the server not yet seen answering, or the failure no outage).
    private let pauseKept: @Sendable () -> Void
    private let lock = NSLock()

    // Guarded by `lock`.
    private var queue: [QueryUse] = []
    /// The batch whose write failed, sent again first and under the same id; the oldest uses held.
    private var retry: (id: String, uses: [QueryUse])?
    private var batchesFormed = 0
    /// Uses accepted so far, and uses settled (written or dropped): everything accepted before the
    /// n-th was settled once `settled >= n`, because the queue keeps its order.
    private var accepted = 0
    private var settled = 0
    private var dropped = 0
    private var inFlight = 0
    private var consecutiveFailures = 0
    /// Counts failed writes, so a waiting reader can tell that one failed while it waited.
    private var failureEpoch = 0
    private var lastError: String?
    private var nextAttempt: Date?
    /// Whether the pause before `nextAttempt` may end early, when `dependencyAnswers` turns true.
    /// False when it was already true as the write failed: that failure was no outage.
    private var pauseEndsOnRecovery = false
    private var stopping = false
    /// The writer, while it waits for something to change (see `wake`).
    private var writerWaiting: CheckedContinuation<Void, Never>?
    /// Something changed while the writer was not waiting: its next wait returns at once.
    private var wakePending = false
    /// Callers of `waitUntilWritten` waiting: the uses before `target`, the failures counted when
    /// they began, and how to tell them.
    private var writtenWaiters: [(target: Int, epoch: Int, done: @Sendable () -> Void)] = []

    init(capacity: Int, backoff: RetryPolicy, logger: Logger, pauseKept: @escaping @Sendable () -> Void = {},
         dependencyAnswers: @escaping @Sendable () -> Bool = { false },
         write: @escaping @Sendable ([QueryUse], String) async throws -> Void) {
        self.capacity = max(1, capacity)
        self.backoff = backoff
        self.logger = logger
        self.pauseKept = pauseKept
        self.dependencyAnswers = dependencyAnswers
        self.write = write
    }

    func append(_ use: QueryUse) {
        lock.lock()
        defer { lock.unlock() }
        guard !stopping else { return }
        queue.append(use)
        accepted += 1
        dropOverflow()
        wake()
        notifyWaiters()
    }

    var backlog: TrackingBacklog {
        lock.lock()
        defer { lock.unlock() }
        return TrackingBacklog(pending: queue.count + inFlight + (retry?.uses.count ?? 0), dropped: dropped, lastError: lastError)
    }

    /// Returns once every use accepted before the call is written, a write fails, the buffer stops,
    /// `timeout` passes or the task is cancelled, holding no thread meanwhile; true when they were
    /// written.
    func waitUntilWritten(timeout: Duration) async -> Bool {
        let (target, epoch) = locked { (accepted, failureEpoch) }
        await Self.wait(atMost: timeout) {
            await waitForCallback { done in
                let now = self.locked { () -> Bool in
                    // Already failing: the next write waits out a pause, so waiting would only be slower.
                    if self.writeWaitEnds(target: target, epoch: epoch) || self.nextAttempt != nil { return true }
                    self.writtenWaiters.append((target, epoch, done))
                    return false
                }
                if now { done() }
            }
        }
        return locked { settled >= target }
    }

    /// Whether a wait for the uses before `target` ends: they are settled, a write failed since
    /// `epoch`, or the buffer stops. `lock` held.
    private func writeWaitEnds(target: Int, epoch: Int) -> Bool {
        settled >= target || failureEpoch != epoch || stopping
    }

    /// Tells the waiters whose wait ended. `lock` held.
    private func notifyWaiters() {
        writtenWaiters.removeAll { waiter in
            guard writeWaitEnds(target: waiter.target, epoch: waiter.epoch) else { return false }
            waiter.done()
            return true
        }
    }

    private func locked<T>(_ body: () -> T) -> T {
        lock.lock()
        defer { lock.unlock() }
        return body()
    }

    func stop() {
        lock.lock()
        stopping = true
        let lost = queue.count + (retry?.uses.count ?? 0)
        wake()
        notifyWaiters()
        lock.unlock()
        if lost > 0 {
            logger.warning("query tracking stopped with uses not written", metadata: ["rag.tracker.lost": "\(lost)"])
        }
    }

    /// Drops the oldest uses beyond `capacity` (those being written count too): first from the
    /// batch waiting to be sent again, then from the queue. While a batch is being written, the
    /// oldest queued ones go: the batch itself is older, but may yet succeed; if it fails, the
    /// overflow then drops from it.
    private func dropOverflow() {
        var excess = queue.count + inFlight + (retry?.uses.count ?? 0) - capacity
        guard excess > 0 else { return }
        if let held = retry {
            let removed = min(excess, held.uses.count)
            retry = removed == held.uses.count ? nil : (held.id, Array(held.uses.dropFirst(removed)))
            excess -= removed
            dropped += removed
            settled += removed
        }
        let removed = min(excess, queue.count)
        queue.removeFirst(removed)
        dropped += removed
        settled += removed
    }

    /// What the writer does next.
    private enum Step {
        /// Nothing to write: wait until something changes.
        case wait
        /// Paused after a failed write: wait until something changes or `until`.
        case pause(until: Date)
        case write(id: String, uses: [QueryUse])
        case stop
    }

    /// The writer's loop: one step at a time until `stop()`, or cancellation.
    func runWriter() async {
        while !Task.isCancelled {
            switch nextStep() {
            case .stop:
                return
            case .wait:
                await waitForChange(until: nil)
            case .pause(let until):
                await waitForChange(until: until)
            case .write(let id, let uses):
                let outcome: Result<Void, any Error>
                do {
                    try await write(uses, id)
                    outcome = .success(())
                } catch {
                    outcome = .failure(error)
                }
                if case .failure = outcome, Task.isCancelled {
                    // Stopped by a shutdown out of time, not refused by the server: kept to be
                    // counted as lost, not as a failure.
                    locked {
                        inFlight = 0
                        retry = (id, uses)
                    }
                    return
                }
                record(outcome, id: id, uses: uses)
            }
        }
    }

    /// Decides the writer's next step, with what it writes taken out of the queue.
    private func nextStep() -> Step {
        lock.lock()
        defer { lock.unlock() }
        while true {
            if stopping { return .stop }
            if queue.isEmpty && retry == nil { return .wait }
            if let nextAttempt, nextAttempt > Date() {
                if pauseEndsOnRecovery && dependencyAnswers() {
                    self.nextAttempt = nil
                    continue
                }
                pauseKept()
                let wake = pauseEndsOnRecovery ? min(nextAttempt, Date(timeIntervalSinceNow: Self.recoveryCheckInterval)) : nextAttempt
                return .pause(until: wake)
            }
            let (id, batch) = retry ?? nextBatch()
            retry = nil
            inFlight = batch.count
            return .write(id: id, uses: batch)
        }
    }

    /// Books a write's outcome.
    private func record(_ outcome: Result<Void, any Error>, id: String, uses batch: [QueryUse]) {
        lock.lock()
        defer { lock.unlock() }
        inFlight = 0
        switch outcome {
        case .success:
            if consecutiveFailures > 0 {
                logger.notice("query tracking recovered: buffered uses are being written",
                              metadata: ["rag.tracker.pending": "\(queue.count + batch.count)"])
            }
            settled += batch.count
            consecutiveFailures = 0
            nextAttempt = nil
            lastError = nil
        case .failure(let error):
            retry = (id, batch)
            dropOverflow()
            consecutiveFailures += 1
            failureEpoch += 1
            lastError = String(describing: error)
            nextAttempt = Date().addingTimeInterval(pause(after: error).seconds)
            pauseEndsOnRecovery = !dependencyAnswers()
            if consecutiveFailures == 1 {
                logger.warning("query tracking is buffering: the tracker does not answer",
                               metadata: ["rag.tracker.error": "\(error)"])
            }
        }
        notifyWaiters()
    }

    /// Wakes the writer if it waits, or makes its next wait return at once. `lock` held.
    private func wake() {
        if let waiting = writerWaiting {
            writerWaiting = nil
            waiting.resume()
        } else {
            wakePending = true
        }
    }

    /// Returns when something changes (`wake`), at `until` when given, or when the task is cancelled.
    private func waitForChange(until: Date?) async {
        await Self.wait(atMost: until.map { .seconds(max(0, $0.timeIntervalSinceNow)) }) { await self.waitForWake() }
    }

    /// Runs `wait` until it returns or, when `timeout` is given, until that passes (then it is cancelled).
    private static func wait(atMost timeout: Duration?, _ wait: @escaping @Sendable () async -> Void) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await wait() }
            if let timeout { group.addTask { try? await Task.sleep(for: timeout) } }
            await group.next()
            group.cancelAll()
        }
    }

    private func waitForWake() async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                lock.lock()
                defer { lock.unlock() }
                // Checked under the lock the cancellation handler takes: a handler that ran before
                // this found nothing to resume, and this sees the cancellation.
                if wakePending || Task.isCancelled {
                    wakePending = false
                    continuation.resume()
                } else {
                    writerWaiting = continuation
                }
            }
        } onCancel: {
            lock.lock()
            defer { lock.unlock() }
            if let waiting = writerWaiting {
                writerWaiting = nil
                waiting.resume()
            }
        }
    }

    /// The oldest queued uses, up to `batchLimit`, taken out of the queue under a new id.
    private func nextBatch() -> (id: String, uses: [QueryUse]) {
        let uses = Array(queue.prefix(BufferedQueryTracker.batchLimit))
        queue.removeFirst(uses.count)
        batchesFormed += 1
        return ("\(batchPrefix)-\(batchesFormed)", uses)
    }

    /// How long to wait before the next write: until an open breaker's trial, else the backoff.
    private func pause(after error: any Error) -> Duration {
        if let refused = error as? CircuitOpenError, refused.retryIn > .zero { return refused.retryIn }
        return backoff.delay(afterAttempt: consecutiveFailures, unit: Double.random(in: 0..<1))
    }
}
