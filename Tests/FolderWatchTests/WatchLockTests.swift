import Foundation
@testable import FolderWatch
import Testing

/// One holder at a time (`flock` is per open file, so two locks in one process exclude each other as
/// two processes do); the holder's process id is readable; letting go lets the next take it.
@Suite struct WatchLockTests {
    @Test func oneHolderAtATime() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("watch-lock-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("watch.lock").path
        let first = WatchLock(path: path), second = WatchLock(path: path)
        #expect(first.tryAcquire())
        #expect(first.tryAcquire())  // held already
        #expect(!second.tryAcquire())
        #expect(second.holder() == getpid())
        first.release()
        #expect(!first.isHeld)
        #expect(second.tryAcquire() && second.isHeld)
        #expect(!first.tryAcquire())
    }

    @Test func aLockInAFolderThatCannotBeWrittenIsNotTaken() {
        #expect(!WatchLock(path: "/proc/mcp-rag-no-such-folder/watch.lock").tryAcquire())
    }
}
