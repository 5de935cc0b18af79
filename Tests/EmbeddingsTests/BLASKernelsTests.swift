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

    @Test func familiesAreRankedByTheirWidestVectors() {
        func level(_ name: String?) -> Int32 { CBLASCore_core_level(name) }
        for family in ["SkylakeX", "Cooperlake", "SapphireRapids", "skylakex"] {
            #expect(level(family) == 2, "\(family)")
        }
        for family in ["Haswell", "Zen", "ZEN"] {
            #expect(level(family) == 1, "\(family)")
        }
        // Not known here: nothing is decided from its width.
        for family in ["Prescott", "Sandybridge", "NeoverseN1", "unknown", ""] {
            #expect(level(family) == -1, "\(family)")
        }
        #expect(level(nil) == -1)
        // The process's own family, where this process was started naming one.
        switch BLASKernelsTests.chosenKernels?.lowercased() {
        case "haswell": #expect(BLASKernels.vectorLevel == 1)
        case "skylakex", "cooperlake": #expect(BLASKernels.vectorLevel == 2)
        default: break
        }
    }

    /// What OPENBLAS_CORETYPE said when this process started (nil when unset): the correction runs
    /// at load time, so each of the two tests below can run only in a process started one way.
    fileprivate static let chosenKernels = ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"]

    /// In this process (corrected at load time, like the binary) OpenBLAS runs kernels as wide as
    /// the CPU allows.
    @Test(.enabled(if: BLASKernelsTests.chosenKernels == nil,
                   "OPENBLAS_CORETYPE is set, so this process runs the kernels it names (theKernelsTheUserChoseAreKept)"))
    func theProcessRunsKernelsAsWideAsTheCPUAllows() {
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

    /// With OPENBLAS_CORETYPE set, the choice is the user's: nothing is replaced, nothing is logged,
    /// and the variable is left in place for OpenBLAS and child processes. Runs in a process started
    /// with the variable set: the next test starts one on every run.
    @Test(.disabled(if: BLASKernelsTests.chosenKernels == nil,
                    "OPENBLAS_CORETYPE is not set in this process (aProcessStartedWithOPENBLAS_CORETYPERunsWhatItNames runs it)"))
    func theKernelsTheUserChoseAreKept() throws {
        let chosen = try #require(Self.chosenKernels)
        #expect(BLASKernels.replaced == nil)
        #expect(BLASKernels.correction == nil)
        #expect(getenv("OPENBLAS_CORETYPE").map { String(cString: $0) } == chosen)
        if chosen == "Prescott" {
            // The family the correction replaces on any CPU with AVX2: it runs as named.
            #expect(BLASKernels.current == "Prescott")
        }
    }

    /// The branch above, run on every run: this test binary started again with
    /// OPENBLAS_CORETYPE=Prescott (the kernels the correction would replace here) and asked for
    /// that one test. It must run there, and pass.
    #if arch(x86_64)
    @Test(.enabled(if: BLASKernelsTests.chosenKernels == nil, "this process already runs theKernelsTheUserChoseAreKept"))
    func aProcessStartedWithOPENBLAS_CORETYPERunsWhatItNames() throws {
        let process = Process()
        // The test binary itself (Linux: the tests run in an executable, not a loaded bundle).
        process.executableURL = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        process.arguments = ["--testing-library", "swift-testing", "--filter", "BLASKernelsTests/theKernelsTheUserChoseAreKept"]
        var environment = ProcessInfo.processInfo.environment
        environment["OPENBLAS_CORETYPE"] = "Prescott"
        environment["NO_COLOR"] = "1"
        process.environment = environment
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "\(text)")
        #expect(text.contains("Test theKernelsTheUserChoseAreKept() passed"), "it ran, and passed: \(text)")
    }
    #endif
}
