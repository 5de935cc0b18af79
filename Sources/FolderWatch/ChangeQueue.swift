import Dispatch
import Synchronization

/// Where the watcher's thread leaves changes and the applying side takes them in batches.
///
/// A batch is taken once the changes have settled: nothing new for `quiet`, or `longest` since its
/// first change, whichever comes first. An editor's save (a temporary file written, renamed over
/// the old one) is one batch, a `git checkout` of thousands of files written within `longest` is
/// one batch, and changes that never rest (a build writing file after file) are still taken every
/// `longest`.
public final class ChangeQueue: Sendable {
    /// How long the changes must rest before they are taken.
    public let quiet: Duration
    /// The most a change waits for the changes after it to rest.
    public let longest: Duration

    private struct State {
        var changes = FolderChanges()
        /// When the first and the latest change of the waiting ones came (uptime nanoseconds).
        var firstAt: UInt64 = 0
        var lastAt: UInt64 = 0
    }

    private let state = Mutex(State())
    private let wakes: AsyncStream<Void>.Continuation
    /// Yields whenever changes arrive (and on the watcher's ticks); holds at most one.
    public let wakeups: AsyncStream<Void>

    public init(quiet: Duration = .milliseconds(200), longest: Duration = .seconds(3)) {
        self.quiet = quiet
        self.longest = longest
        (wakeups, wakes) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    /// How many paths wait.
    public var count: Int { state.withLock { $0.changes.count } }

    /// Adds changes made by `body`, at `now` (uptime nanoseconds).
    public func add(now: UInt64 = DispatchTime.now().uptimeNanoseconds, _ body: (inout FolderChanges) -> Void) {
        let added = state.withLock { state in
            let wasEmpty = state.changes.isEmpty
            body(&state.changes)
            guard !state.changes.isEmpty else { return false }
            if wasEmpty { state.firstAt = now }
            state.lastAt = now
            return true
        }
        if added { wakes.yield() }
    }

    /// Puts a batch that could not be applied back, ahead of what came since.
    public func putBack(_ changes: FolderChanges, now: UInt64 = DispatchTime.now().uptimeNanoseconds) {
        add(now: now) { $0.merge(changes) }
    }

    /// Wakes whoever waits on `wakeups`, without a change (the watcher's periodic tick).
    public func tick() { wakes.yield() }

    /// Ends `wakeups`.
    public func finish() { wakes.finish() }

    /// When the waiting changes will have settled (uptime nanoseconds); nil when none wait.
    public func settlesAt() -> UInt64? {
        state.withLock { state in
            guard !state.changes.isEmpty else { return nil }
            return min(state.lastAt + Self.nanoseconds(quiet), state.firstAt + Self.nanoseconds(longest))
        }
    }

    /// The waiting changes, if they have settled by `now`; they leave the queue.
    public func takeIfSettled(now: UInt64 = DispatchTime.now().uptimeNanoseconds) -> FolderChanges? {
        state.withLock { state in
            guard !state.changes.isEmpty,
                  now >= min(state.lastAt + Self.nanoseconds(quiet), state.firstAt + Self.nanoseconds(longest))
            else { return nil }
            defer { state.changes = FolderChanges() }
            return state.changes
        }
    }

    /// Waits until the waiting changes settle and takes them; nil when none wait or the task is
    /// cancelled.
    public func settled() async -> FolderChanges? {
        while let deadline = settlesAt() {
            if let changes = takeIfSettled() { return changes }
            let now = DispatchTime.now().uptimeNanoseconds
            guard deadline > now else { continue }
            do {
                try await Task.sleep(for: .nanoseconds(Int64(deadline - now)))
            } catch {
                return nil
            }
        }
        return nil
    }

    private static func nanoseconds(_ duration: Duration) -> UInt64 {
        let (seconds, attoseconds) = duration.components
        return UInt64(max(seconds, 0)) * 1_000_000_000 + UInt64(max(attoseconds, 0) / 1_000_000_000)
    }
}
