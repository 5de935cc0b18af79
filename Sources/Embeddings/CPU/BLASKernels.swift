import CBLASCore

/// Which OpenBLAS kernels the process runs, and whether the startup correction (see CBLASCore)
/// replaced the ones OpenBLAS chose.
public enum BLASKernels {
    /// The kernel family in use, as OpenBLAS names it ("SkylakeX", "Haswell", …).
    public static var current: String { String(cString: CBLASCore_current_core()) }

    /// The widest vectors the current family's kernels use, on CKernels's scale (2: AVX-512, 1: AVX2
    /// and FMA); nil for a family not known here. Fixed once the process has started.
    public static let vectorLevel: Int? = {
        let level = CBLASCore_core_level(CBLASCore_current_core())
        return level >= 0 ? Int(level) : nil
    }()

    /// The family OpenBLAS had chosen before it was replaced at startup; nil when it was kept.
    public static var replaced: String? { CBLASCore_replaced_core().map { String(cString: $0) } }

    /// A sentence for logs when the choice was corrected, nil otherwise.
    public static var correction: String? {
        replaced.map { old in
            "OpenBLAS did not recognise this CPU and chose its \(old) kernels, which leave its wider vectors unused; "
                + "switched to \(current) (set OPENBLAS_CORETYPE to choose the kernels yourself)"
        }
    }
}
