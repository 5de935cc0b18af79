import CBLASCore
import Embeddings
import Foundation
import Testing

/// The startup correction of OpenBLAS's kernel choice (CBLASCore).
@Suite struct BLASKernelsTests {
    private func better(_ current: String?, _ level: Int32) -> String? {
        CBLASCore_better_core(current, level).map { String(cString: $0) }
    }

    @Test func onlyKernelsOlderThanAVX2AreReplaced() {
        // The fallback for CPUs OpenBLAS does not know, and other pre-AVX2 families.
        #expect(better("Prescott", 2) == "SkylakeX")
        #expect(better("Prescott", 1) == "Haswell")
        #expect(better("Sandybridge", 1) == "Haswell")
        #expect(better("Nehalem", 2) == "SkylakeX")
        // Nothing better to offer.
        #expect(better("Prescott", 0) == nil)
        // Modern families are OpenBLAS's informed choice, whatever the CPU has.
        for modern in ["Haswell", "Zen", "SkylakeX", "Cooperlake", "SapphireRapids", "haswell"] {
            #expect(better(modern, 2) == nil, "\(modern)")
        }
        #expect(better(nil, 2) == nil)
    }

    /// In this process (corrected at load time, like the binary) OpenBLAS runs kernels as wide as
    /// the CPU allows, unless the environment chose them.
    @Test func theProcessRunsKernelsAsWideAsTheCPUAllows() {
        guard ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"] == nil else { return }
        let current = BLASKernels.current
        #expect(current != "unknown")
        #expect(better(current, CBLASCore_cpu_level()) == nil, "OpenBLAS runs \(current)")
        if let replaced = BLASKernels.replaced {
            #expect(replaced != current)
            #expect(BLASKernels.correction?.contains(replaced) == true)
        } else {
            #expect(BLASKernels.correction == nil)
        }
    }
}
