import Foundation

/// hipBLAS (`libhipblas.so.3`, `.2`, `.1`, `.0`): the encoder's matrix products on AMD GPUs.
///
/// Its operation values are rocBLAS's (111, 112), not cuBLAS's (0, 1); passing CUDA's gives
/// HIPBLAS_STATUS_INVALID_ENUM.
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

    static let symbols = ["hipblasCreate", "hipblasDestroy", "hipblasSetStream", "hipblasSgemm", "hipblasSgemmStridedBatched"]

    /// The library names tried, newest first.
    public static let libraryNames = ["libhipblas.so.3", "libhipblas.so.2", "libhipblas.so.1", "libhipblas.so.0", "libhipblas.so"]

    static let operationNone: Int32 = 111
    static let operationTranspose: Int32 = 112

    public init(library: DynamicLibrary) throws(LibraryLoadError) {
        try library.require(Self.symbols)
        self.library = library
        hipblasCreate = try library.function("hipblasCreate")
        hipblasDestroy = try library.function("hipblasDestroy")
        hipblasSetStream = try library.function("hipblasSetStream")
        hipblasSgemm = try library.function("hipblasSgemm")
        hipblasSgemmStridedBatched = try library.function("hipblasSgemmStridedBatched")
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
