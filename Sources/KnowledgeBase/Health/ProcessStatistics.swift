import Foundation

/// Figures about this process, read from the kernel (Linux /proc; getrusage elsewhere).
public struct ProcessStatistics: Sendable, Codable, Equatable {
    /// Resident memory in bytes.
    public var residentBytes: Int
    /// Peak resident memory in bytes.
    public var peakResidentBytes: Int
    /// User plus system CPU time, in seconds.
    public var cpuSeconds: Double
    /// Open file descriptors, or -1 where they cannot be counted.
    public var openFileDescriptors: Int

    enum CodingKeys: String, CodingKey {
        case residentBytes = "resident_bytes"
        case peakResidentBytes = "peak_resident_bytes"
        case cpuSeconds = "cpu_seconds"
        case openFileDescriptors = "open_file_descriptors"
    }

    /// Figures that could not be read: none counted.
    static let unread = ProcessStatistics(residentBytes: 0, peakResidentBytes: 0, cpuSeconds: 0, openFileDescriptors: -1)

    /// The current figures.
    public static func current() -> ProcessStatistics {
        var usage = rusage()
        #if os(Linux)
        getrusage(RUSAGE_SELF.rawValue, &usage)  // Glibc imports RUSAGE_SELF as an enum case
        #else
        getrusage(RUSAGE_SELF, &usage)
        #endif
        let cpu = Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6
            + Double(usage.ru_stime.tv_sec) + Double(usage.ru_stime.tv_usec) / 1e6
        // ru_maxrss is in kilobytes on Linux.
        let peak = Int(usage.ru_maxrss) * 1024
        return ProcessStatistics(residentBytes: residentBytes() ?? peak, peakResidentBytes: peak, cpuSeconds: cpu,
                                 openFileDescriptors: openDescriptors())
    }

    /// Resident pages from /proc/self/statm (its second field) times the page size.
    private static func residentBytes() -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return nil }
        let fields = text.split(separator: " ")
        guard fields.count > 1, let pages = Int(fields[1]) else { return nil }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }

    private static func openDescriptors() -> Int {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd") else { return -1 }
        // Listing the folder opens one descriptor of its own, which the listing includes.
        return max(entries.count - 1, 0)
    }
}
