import Foundation

/// A value passed to a kernel, in the C type its parameter has.
public enum KernelArgument: Sendable {
    case pointer(UInt64)
    case int32(Int32)
    case int64(Int64)
    case float(Float)
}

/// What the GPU encoder needs of a device, whichever runtime drives it: memory, copies, the
/// encoder kernels and single-precision matrix products (column-major, as BLAS has them).
///
/// Calls are made from one thread at a time (the embedding service's); work runs in order on one
/// stream, and `download` waits for everything before it.
public protocol ComputeDevice: AnyObject, Sendable {
    var runtime: GPURuntimeKind { get }
    var info: GPUDeviceInfo { get }
    /// How the kernels were obtained (compiled now or from the cache), for reports.
    var kernelBuild: KernelBuilder.Built { get }
    func allocate(bytes: Int) throws(GPUCallError) -> UInt64
    func release(_ address: UInt64)
    func upload(_ source: UnsafeRawBufferPointer, to address: UInt64) throws(GPUCallError)
    func download(from address: UInt64, into target: UnsafeMutableRawBufferPointer) throws(GPUCallError)
    /// Launches one of ``EncoderKernels/functionNames``, `EncoderKernels.blockThreads` threads per block.
    func launch(_ kernel: String, grid: (x: Int, y: Int, z: Int), sharedBytes: Int, _ arguments: [KernelArgument]) throws(GPUCallError)
    /// C = alpha · op(A) · op(B) + beta · C, column-major, optionally `batch` times with strides.
    func gemm(_ shape: GEMMShape, a: UInt64, b: UInt64, c: UInt64) throws(GPUCallError)
    /// The same with A and B in IEEE half precision and C in single, accumulated in single
    /// precision (the fp16 mode); `batch` must be 1.
    func gemmHalf(_ shape: GEMMShape, a: UInt64, b: UInt64, c: UInt64) throws(GPUCallError)
    /// Bytes free and in all on the device.
    func memory() throws(GPUCallError) -> (free: Int, total: Int)
}

/// One (optionally batched) column-major matrix product: C[m×n] = alpha·op(A)·op(B) + beta·C.
public struct GEMMShape: Sendable, Equatable {
    public var transposeA: Bool
    public var transposeB: Bool
    public var m: Int, n: Int, k: Int
    public var lda: Int, ldb: Int, ldc: Int
    public var alpha: Float = 1
    public var beta: Float = 0
    public var batch: Int = 1
    public var strideA = 0, strideB = 0, strideC = 0

    public init(transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, lda: Int, ldb: Int, ldc: Int) {
        self.transposeA = transposeA
        self.transposeB = transposeB
        self.m = m
        self.n = n
        self.k = k
        self.lda = lda
        self.ldb = ldb
        self.ldc = ldc
    }

    /// Y[rows × outputs] = X[rows × inputs] · Wᵀ for row-major X and Y and a PyTorch Linear weight W
    /// ([outputs × inputs], row-major): in column-major terms Yᵀ = W · Xᵀ, with W read transposed.
    public static func linear(rows: Int, inputs: Int, outputs: Int) -> GEMMShape {
        GEMMShape(transposeA: true, transposeB: false, m: outputs, n: rows, k: inputs, lda: inputs, ldb: inputs, ldc: outputs)
    }
}

/// Calls `body` with a C array of pointers to each argument's value (what `cuLaunchKernel` and
/// `hipModuleLaunchKernel` take), valid for the call.
func withKernelParameters<Result>(_ arguments: [KernelArgument],
                                  _ body: (UnsafeMutablePointer<UnsafeMutableRawPointer?>) -> Result) -> Result {
    let storage = UnsafeMutableRawPointer.allocate(byteCount: max(8 * arguments.count, 8), alignment: 8)
    defer { storage.deallocate() }
    var pointers = [UnsafeMutableRawPointer?]()
    for (index, argument) in arguments.enumerated() {
        let slot = storage + 8 * index
        switch argument {
        case .pointer(let value): slot.storeBytes(of: value, as: UInt64.self)
        case .int32(let value): slot.storeBytes(of: value, as: Int32.self)
        case .int64(let value): slot.storeBytes(of: value, as: Int64.self)
        case .float(let value): slot.storeBytes(of: value, as: Float.self)
        }
        pointers.append(slot)
    }
    return pointers.withUnsafeMutableBufferPointer { body($0.baseAddress!) }
}
