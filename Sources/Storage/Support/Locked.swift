import Foundation

/// A value reachable only while holding its lock.
///
/// `@unchecked Sendable` holds because the value is only ever touched inside `withLock`, under
/// the `NSLock`, so no two threads see it at once; callers must not let the value itself (a
/// connection, an index) escape from the closure. Why not `Synchronization.Mutex` (used for plain
/// values elsewhere): it takes and hands back its value as `sending`, and the compiler cannot tell
/// that an index built by reading through a connection shares nothing with it, so the store's
/// connections and vector index would need `@unchecked Sendable` themselves, which is less true.
package final class Locked<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value

    package init(_ value: Value) {
        self.value = value
    }

    /// Runs `body` with exclusive access to the value.
    package func withLock<Result>(_ body: (inout Value) throws -> Result) rethrows -> Result {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }
}
