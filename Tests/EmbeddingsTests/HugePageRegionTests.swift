import Foundation
import Testing

@testable import Embeddings

/// The packed weights' memory: aligned to 2 MiB and, where the kernel offers transparent huge pages
/// for regions that ask, backed by them (a query streams all of it; see `PackedLayerWeights`).
@Suite struct HugePageRegionTests {
    @Test func isAlignedForHugePagesAndGetsThemWhereTheKernelOffersThem() throws {
        let bytes = 8 << 20
        let region = HugePageRegion(bytes: bytes)
        let address = UInt(bitPattern: region.floats)
        #expect(address % UInt(2 << 20) == 0)
        // Pages come at first touch.
        for index in stride(from: 0, to: bytes / MemoryLayout<Float>.stride, by: 1024) { region.floats[index] = Float(index) }
        #expect(region.floats[1024] == 1024)

        #if os(Linux)
        let setting = (try? String(contentsOfFile: "/sys/kernel/mm/transparent_hugepage/enabled", encoding: .utf8)) ?? ""
        // "[never]" (or no such file) leaves 4 KiB pages, which the region works with all the same.
        guard setting.contains("[madvise]") || setting.contains("[always]") else { return }
        #expect(try hugePageBytes(mappingHolding: address) > 0, "none of 8 MiB asked for in huge pages got one")
        #endif
    }

    /// `AnonHugePages` of the mapping that holds `address`, from /proc/self/smaps (read to its end:
    /// procfs gives its files no size).
    private func hugePageBytes(mappingHolding address: UInt) throws -> Int {
        let file = try #require(FileHandle(forReadingAtPath: "/proc/self/smaps"))
        let smaps = String(decoding: file.readDataToEndOfFile(), as: UTF8.self)
        var inside = false
        for line in smaps.split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            if let range = fields.first, range.contains("-"), !range.hasSuffix(":") {
                let bounds = range.split(separator: "-").compactMap { UInt($0, radix: 16) }
                inside = bounds.count == 2 && bounds[0] <= address && address < bounds[1]
            } else if inside, fields.first == "AnonHugePages:", fields.count >= 2, let kilobytes = Int(fields[1]) {
                return kilobytes * 1024
            }
        }
        return 0
    }
}
