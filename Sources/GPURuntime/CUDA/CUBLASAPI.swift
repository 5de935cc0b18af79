import Foundation

/// cuBLAS (`libcublas.so.13` or `.12`): the encoder's matrix products on NVIDIA GPUs.
///
/// Only the v2 API is bound, by its exported `_v2` names where cublas_v2.h renames them; the
/// unsuffixed `cublasSgemm` is the legacy API with different arguments.
///
/// `@unchecked Sendable`: every stored property is a `let` (the library, and C function pointers
/// looked up once). A cuBLAS handle is used by one thread at a time: its device's user serialises
/// calls (`GPUBackend`'s lock).
public struct CUBLASAPI: @unchecked Sendable {
    public let library: DynamicLibrary
    let cublasCreate: @convention(c) (UnsafeMutablePointer<OpaquePointer?>) -> Int32
    let cublasDestroy: @convention(c) (OpaquePointer?) -> Int32
    let cublasSetStream: @convention(c) (OpaquePointer?, OpaquePointer?) -> Int32
    let cublasGetVersion: @convention(c) (OpaquePointer?, UnsafeMutablePointer<Int32>) -> Int32
    /// (handle, transa, transb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc)
    let cublasSgemm: @convention(c) (
        OpaquePointer?, Int32, Int32, Int32, Int32, Int32, UnsafePointer<Float>, UInt64, Int32, UInt64, Int32,
        UnsafePointer<Float>, UInt64, Int32) -> Int32
    /// The same with a batch of matrices `stride` elements apart (attention's per-head products).
    let cublasSgemmStridedBatched: @convention(c) (
        OpaquePointer?, Int32, Int32, Int32, Int32, Int32, UnsafePointer<Float>, UInt64, Int32, Int64, UInt64, Int32, Int64,
        UnsafePointer<Float>, UInt64, Int32, Int64, Int32) -> Int32

    /// (handle, transa, transb, m, n, k, alpha, A, Atype, lda, B, Btype, ldb, beta, C, Ctype, ldc, computeType, algo)
    let cublasGemmEx: @convention(c) (
        OpaquePointer?, Int32, Int32, Int32, Int32, Int32, UnsafeRawPointer, UInt64, Int32, Int32, UInt64, Int32, Int32,
        UnsafeRawPointer, UInt64, Int32, Int32, Int32, Int32) -> Int32

    /// "13.1.0", from cublasGetProperty (no handle, so no context, is needed); nil if not exported.
    public let version: String?

    static let symbols = ["cublasCreate_v2", "cublasDestroy_v2", "cublasSetStream_v2", "cublasGetVersion_v2",
                          "cublasSgemm_v2", "cublasSgemmStridedBatched", "cublasGemmEx"]

    /// The library names tried, newest first.
    public static let libraryNames = ["libcublas.so.13", "libcublas.so.12", "libcublas.so"]

    // cublas_api.h's values.
    static let operationNone: Int32 = 0
    static let operationTranspose: Int32 = 1
    static let typeFloat: Int32 = 0        // CUDA_R_32F
    static let typeHalf: Int32 = 2         // CUDA_R_16F
    static let computeFloat: Int32 = 68    // CUBLAS_COMPUTE_32F
    static let algorithmDefault: Int32 = -1  // CUBLAS_GEMM_DEFAULT

    public init(library: DynamicLibrary) throws(LibraryLoadError) {
        try library.require(Self.symbols)
        self.library = library
        cublasCreate = try library.function("cublasCreate_v2")
        cublasDestroy = try library.function("cublasDestroy_v2")
        cublasSetStream = try library.function("cublasSetStream_v2")
        cublasGetVersion = try library.function("cublasGetVersion_v2")
        cublasSgemm = try library.function("cublasSgemm_v2")
        cublasSgemmStridedBatched = try library.function("cublasSgemmStridedBatched")
        cublasGemmEx = try library.function("cublasGemmEx")
        let property: (@convention(c) (Int32, UnsafeMutablePointer<Int32>) -> Int32)? = library.optionalFunction("cublasGetProperty")
        version = property.flatMap { get in
            // libraryPropertyType: MAJOR_VERSION 0, MINOR_VERSION 1, PATCH_LEVEL 2.
            var parts: [Int32] = []
            for which: Int32 in 0...2 {
                var value: Int32 = 0
                guard get(which, &value) == 0 else { return nil }
                parts.append(value)
            }
            return parts.map(String.init).joined(separator: ".")
        }
    }

    func check(_ status: Int32, _ call: String) throws(GPUCallError) {
        guard status != 0 else { return }
        throw GPUCallError(runtime: "cublas", call: call, code: status, message: Self.statusNames[status] ?? "")
    }

    static let statusNames: [Int32: String] = [
        1: "CUBLAS_STATUS_NOT_INITIALIZED", 3: "CUBLAS_STATUS_ALLOC_FAILED", 7: "CUBLAS_STATUS_INVALID_VALUE",
        8: "CUBLAS_STATUS_ARCH_MISMATCH", 11: "CUBLAS_STATUS_MAPPING_ERROR", 13: "CUBLAS_STATUS_EXECUTION_FAILED",
        14: "CUBLAS_STATUS_INTERNAL_ERROR", 15: "CUBLAS_STATUS_NOT_SUPPORTED",
    ]
}
