import Synchronization

/// A task's cancellation, visible to blocking work on another thread: the task's cancellation
/// handler sets it, and the loop doing the work asks it now and then.
public final class CancellationFlag: Sendable {
    private let flag = Atomic<Bool>(false)

    public init() {}

    /// Asks the work to stop.
    public func set() { flag.store(true, ordering: .relaxed) }

    /// Whether the work should stop.
    public var isSet: Bool { flag.load(ordering: .relaxed) }
}
