import COpenBLAS
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Makes OpenBLAS use its AVX-512 kernels on CPUs it does not recognise.
///
/// OpenBLAS picks its kernels once, while the library loads, from the CPU model; releases older
/// than the CPU (Debian 12 ships 0.3.21, which predates AMD Zen 4 and Zen 5) fall back to the
/// AVX2 "Haswell" kernels and leave half the matrix-product speed unused (measured here: 225 vs
/// 428 GFLOP/s on two Zen 5 cores). The documented override, `OPENBLAS_CORETYPE`, is only read at
/// load time, so when it would help we set it and replace the process image with a fresh copy of
/// ourselves before anything else happens.
enum BLASCoreSelection {
    /// Kernel families that already use AVX-512.
    private static let wideCores: Set<String> = ["skylakex", "cooperlake", "sapphirerapids"]

    /// Re-executes the program with `OPENBLAS_CORETYPE=SkylakeX` when the CPU and kernel support
    /// AVX-512 (F, CD, BW, DQ, VL) but OpenBLAS chose narrower kernels. Does nothing when the user
    /// set `OPENBLAS_CORETYPE` or `MCP_RAG_BLAS_CORE=auto-off`, or when anything about the check fails.
    static func reexecIfBeneficial() {
        let environment = ProcessInfo.processInfo.environment
        guard environment["OPENBLAS_CORETYPE"] == nil, environment["MCP_RAG_BLAS_CORE"] != "auto-off" else { return }
        guard let core = openblas_get_corename().map({ String(cString: $0).lowercased() }),
              !wideCores.contains(core), cpuHasAVX512() else { return }
        setenv("OPENBLAS_CORETYPE", "SkylakeX", 1)
        // execv returns only on failure, and then we simply carry on with the kernels we have.
        var arguments = CommandLine.arguments.map { strdup($0) }
        arguments.append(nil)
        execv("/proc/self/exe", &arguments)
        unsetenv("OPENBLAS_CORETYPE")
    }

    /// The kernel lists a CPU flag in /proc/cpuinfo only when it also saves that register state,
    /// so these flags are a safe test for usable AVX-512.
    private static func cpuHasAVX512() -> Bool {
        // procfs files report a size of 0, so read them as a stream rather than by size.
        guard let handle = FileHandle(forReadingAtPath: "/proc/cpuinfo"),
              let data = try? handle.readToEnd(),
              let info = String(data: data, encoding: .utf8),
              let flagsLine = info.split(separator: "\n").first(where: { $0.hasPrefix("flags") }) else { return false }
        let flags = Set(flagsLine.split(separator: " ").map(String.init))
        return ["avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl"].allSatisfy(flags.contains)
    }
}
