import CBLASCore

/// Which OpenBLAS kernels the process runs, and whether the startup correction (see CBLASCore)
/// replaced the ones OpenBLAS chose.
public enum BLASKernels {
    /// The kernel family in use, as OpenBLAS names it ("SkylakeX", "Haswell", …).
    public static var current: String { String(cString: CBLASCore_current_core()) }

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
