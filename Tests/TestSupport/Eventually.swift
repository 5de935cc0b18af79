import Foundation

/// Polls `condition` every millisecond until it holds or `timeout` seconds pass; returns whether it
/// held. For outcomes that arrive on another thread (a writer catching up): the test asserts the
/// outcome, never how long it took.
public func eventually(timeout: TimeInterval = 10, _ condition: () throws -> Bool) rethrows -> Bool {
    let deadline = Date(timeIntervalSinceNow: timeout)
    while true {
        if try condition() { return true }
        if Date() >= deadline { return false }
        Thread.sleep(forTimeInterval: 0.001)
    }
}

/// As `eventually`, for async tests whose outcome arrives from another task: polls without holding
/// a thread of the cooperative pool, which that task may need.
public func eventuallyAsync(timeout: TimeInterval = 10, _ condition: () async throws -> Bool) async rethrows -> Bool {
    let deadline = Date(timeIntervalSinceNow: timeout)
    while true {
        if try await condition() { return true }
        if Date() >= deadline { return false }
        try? await Task.sleep(for: .milliseconds(1))
    }
}
