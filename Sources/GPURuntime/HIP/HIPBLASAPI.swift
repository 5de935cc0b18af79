import Foundation

/// hipBLAS (`libhipblas.so.3`, `.2`, `.1`, `.0`): the encoder's matrix products on AMD GPUs.
///
/// Its operation values are rocBLAS's (111, 112), not cuBLAS's (0, 1); passing CUDA's gives
/// HIPBLAS_STATUS_INVALID_ENUM.
///
/// `@unchecked Sendable`: every stored property is a `let` (the library, and C function pointers
/// looked up once). A hipBLAS handle is used by one thread at a time: its device's user serialises
/// calls (`GPUBackend`'s lock).
public struct HIPBLASAPI: @unchecked Sendable {
    public let library: DynamicLibrary
    let hipblasCreate: @convention(c) (UnsafeMutablePointer<OpaquePointer?>) -> Int32
    let hipblasDestroy: @convention(c) (OpaquePointer?) -> Int32
    let hipblasSetStream: @convention(c) (OpaquePointer?, OpaquePointer?) -> Int32
    /// (handle, transa, transb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc)
    let hipblasSgemm: @convention(c) (
        OpaquePointer?, Int32, Int32, Int32, Int32, Int32, UnsafePointer<Float>, UInt64, Int32, UInt64, Int32,
        UnsafePointer<Float>, UInt64, Int32) -> Int32
    let hipblasSgemmStridedBatched: @convention(c) (
        OpaquePointer?, Int32, Int32, Int32, Int32, Int32, UnsafePointer<Float>, UInt64, Int32, Int64, UInt64, Int32, Int64,
        UnsafePointer<Float>, UInt64, Int32, Int64, Int32) -> Int32

    /// (handle, transa, transb, m, n, k, alpha, A, Atype, lda, B, Btype, ldb, beta, C, Ctype, ldc, computeType, algo),
    /// and the type codes the symbol found takes: hipBLAS 2.x's `hipblasGemmEx_v2` and 3.x's
    /// `hipblasGemmEx` take hipDataType and hipblasComputeType_t; 1.x's `hipblasGemmEx` the older
    /// hipblasDatatype_t for all four.
    let hipblasGemmEx: (function: @convention(c) (
        OpaquePointer?, Int32, Int32, Int32, Int32, Int32, UnsafeRawPointer, UInt64, Int32, Int32, UInt64, Int32, Int32,
        UnsafeRawPointer, UInt64, Int32, Int32, Int32, Int32) -> Int32, half: Int32, float: Int32, compute: Int32)

    static let symbols = ["hipblasCreate", "hipblasDestroy", "hipblasSetStream", "hipblasSgemm", "hipblasSgemmStridedBatched",
                          "hipblasGemmEx"]

    /// The library names tried, newest first.
    public static let libraryNames = ["libhipblas.so.3", "libhipblas.so.2", "libhipblas.so.1", "libhipblas.so.0", "libhipblas.so"]

    static let operationNone: Int32 = 111
    static let operationTranspose: Int32 = 112
    static let algorithmDefault: Int32 = 160  // HIPBLAS_GEMM_DEFAULT

    public init(library: DynamicLibrary) throws(LibraryLoadError) {
        try library.require(Self.symbols)
        self.library = library
        hipblasCreate = try library.function("hipblasCreate")
        hipblasDestroy = try library.function("hipblasDestroy")
        hipblasSetStream = try library.function("hipblasSetStream")
        hipblasSgemm = try library.function("hipblasSgemm")
        hipblasSgemmStridedBatched = try library.function("hipblasSgemmStridedBatched")
        let soname = (library.path as NSString).lastPathComponent
        if let versioned: @convention(c) (
            OpaquePointer?, Int32, Int32, Int32, Int32, Int32, UnsafeRawPointer, UInt64, Int32, Int32, UInt64, Int32, Int32,
            UnsafeRawPointer, UInt64, Int32, Int32, Int32, Int32) -> Int32 = library.optionalFunction("hipblasGemmEx_v2") {
            hipblasGemmEx = (versioned, 2, 0, 2)  // HIP_R_16F, HIP_R_32F, HIPBLAS_COMPUTE_32F
        } else if soname.hasPrefix("libhipblas.so.0") || soname.hasPrefix("libhipblas.so.1") {
            hipblasGemmEx = (try library.function("hipblasGemmEx"), 150, 151, 151)  // HIPBLAS_R_16F, HIPBLAS_R_32F
        } else {
            hipblasGemmEx = (try library.function("hipblasGemmEx"), 2, 0, 2)
        }
    }

    func check(_ status: Int32, _ call: String) throws(GPUCallError) {
        guard status != 0 else { return }
        throw GPUCallError(runtime: "hipblas", call: call, code: status, message: Self.statusNames[status] ?? "")
    }

    static let statusNames: [Int32: String] = [
        1: "HIPBLAS_STATUS_NOT_INITIALIZED", 2: "HIPBLAS_STATUS_ALLOC_FAILED", 3: "HIPBLAS_STATUS_INVALID_VALUE",
        4: "HIPBLAS_STATUS_MAPPING_ERROR", 5: "HIPBLAS_STATUS_EXECUTION_FAILED", 6: "HIPBLAS_STATUS_INTERNAL_ERROR",
        7: "HIPBLAS_STATUS_NOT_SUPPORTED", 8: "HIPBLAS_STATUS_ARCH_MISMATCH", 10: "HIPBLAS_STATUS_INVALID_ENUM",
    ]
}
