import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The lock that lets one process of those sharing a data folder watch its folders: an exclusive
/// `flock` on a file there, released by the kernel when the process ends however it ends (kill -9
/// included), so another can take over.
///
/// The holder writes its process id into the file, for the others to say who watches.
public final class WatchLock: Sendable {
    /// The lock file's path.
    public let path: String
    /// The descriptor holding the lock, while held.
    private let descriptor = Mutex<Int32?>(nil)

    public init(path: String) {
        self.path = path
    }

    deinit {
        release()
    }

    /// Takes the lock if no other process (or other `WatchLock` of this file) holds it; true once held.
    public func tryAcquire() -> Bool {
        descriptor.withLock { held in
            if held != nil { return true }
            // Not through a link: the holder writes into the file it opens.
            let opened = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o600)
            guard opened >= 0 else { return false }
            guard flock(opened, LOCK_EX | LOCK_NB) == 0 else {
                close(opened)
                return false
            }
            let pid = Array("\(getpid())\n".utf8)
            if ftruncate(opened, 0) == 0 { _ = pid.withUnsafeBytes { pwrite(opened, $0.baseAddress, $0.count, 0) } }
            held = opened
            return true
        }
    }

    /// Whether this object holds the lock.
    public var isHeld: Bool { descriptor.withLock { $0 != nil } }

    /// The process id the holder wrote, if the file names one.
    public func holder() -> Int32? {
        guard let data = FileManager.default.contents(atPath: path), data.count < 32,
              let text = String(data: data, encoding: .utf8) else { return nil }
        return Int32(text.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    /// Lets the lock go (closing the descriptor releases it).
    public func release() {
        descriptor.withLock { held in
            if let opened = held { close(opened) }
            held = nil
        }
    }
}
